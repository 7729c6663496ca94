"""What the numbers in a question mean: synced times, platform gain changes, headroom, and
values judged against the guidance.

"How much pre-delay at 90 BPM?" gets 60000 / 90 / 16 = 41.7 ms; "my master reads -6
LUFS" gets the gain change each streaming platform applies; "I high-pass at 250 Hz" is
compared with the range in the guidance line that answers the question. Each result is a
:class:`Worked` sentence plus its arithmetic (for the mathematical perspective), and says
whether it answers the question itself (then it leads the answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from codette_desktop.engine.context import TempoGrid
from codette_desktop.engine.intent import Intent
from codette_desktop.engine.numbers import NoteValue, Reading, ValueRange, describe, value_ranges
from codette_desktop.engine.references import (
    LOUD_MASTER_CEILING_DBTP,
    LOUD_MASTER_LUFS,
    MONITOR_SPL_RANGE,
    PREMASTER_PEAK_DBFS,
    STREAMING_PLATFORMS,
    TRUE_PEAK_CEILING_DBTP,
    Platform,
)
from codette_desktop.engine.wording import format_db, format_ms, format_number, join_words


@dataclass(frozen=True, slots=True)
class Worked:
    """One conclusion drawn from the question's numbers."""

    text: str
    math: str | None = None
    answers: bool = False  # it answers the question itself, so it leads


# Words for a value above / below a range, by unit (and label where it matters).
_ABOVE_BELOW = {
    "ms": ("slower", "faster"),
    "s": ("longer", "shorter"),
    "hz": ("higher", "lower"),
    "ratio": ("firmer", "gentler"),
    "percent": ("more", "less"),
    "db": ("more", "less"),
}
_TIME_LABELS = {"attack", "release", "hold", "lookahead", "predelay", "delay", "decay"}


def work(
    readings: Sequence[Reading],
    note: NoteValue | None,
    intent: Intent,
    key_lines: Sequence[str],
    other_lines: Sequence[str],
    *,
    tempo: TempoGrid | None,
    tempo_asked: bool,
    programme: bool,
    platforms_named: Sequence[str] = (),
    judge: bool = False,
) -> list[Worked]:
    """Everything the question's numbers (and the session tempo) tell, leading items first.

    ``tempo_asked`` is True when the tempo came from the question itself (or an earlier
    question), not only from the DAW; ``programme`` when the question is about a master or
    mix bus; ``platforms_named`` the streaming platforms the question names; ``judge``
    when the question asks whether its own value is right ("is 250 Hz too high?"), so
    Hz, ms, ratio and % values are compared with the guidance.
    """
    worked: list[Worked] = []
    if tempo is not None and note is not None:
        worked.append(_note_length(tempo, note))
    elif tempo is not None and tempo_asked:
        worked += _tempo_times(tempo, intent)
    by_unit = {r.unit: r for r in readings}
    lufs, dbtp = by_unit.get("lufs"), by_unit.get("dbtp")
    if lufs is not None:
        worked += _platform_changes(lufs.value, platforms_named, dbtp.value if dbtp else None)
    if dbtp is not None:
        worked.append(_true_peak(dbtp.value, lufs.value if lufs else None))
    if (dbfs := by_unit.get("dbfs")) is not None:
        worked.append(_sample_peak(dbfs.value, programme))
    if (spl := by_unit.get("spl")) is not None:
        worked.append(_monitoring(spl.value))
    for reading in readings if judge else ():
        if reading.unit in ("hz", "ms", "s", "ratio", "percent"):
            judged = _judge(reading, key_lines, other_lines)
            if judged is not None:
                worked.append(judged)
    return worked


_ASKS_JUDGEMENT = re.compile(
    r"\b(?:too|ok|okay|enough|right|fine|alright|correct|safe|bad|wrong|good idea|is that|"
    r"is it|should i|would|acceptable|reasonable)\b",
    re.IGNORECASE,
)


def asks_judgement(text: str) -> bool:
    """True when a question asks whether a value it gives is right."""
    return bool(_ASKS_JUDGEMENT.search(text))


def _note_length(tempo: TempoGrid, note: NoteValue) -> Worked:
    ms = tempo.note_ms(note.fraction)
    factor = note.fraction * 4.0
    return Worked(
        f"A {note.name} note at {tempo.bpm:g} BPM lasts {format_ms(ms)} ms.",
        f"Quarter note = 60000 / {tempo.bpm:g} = {format_ms(tempo.quarter_ms)} ms; "
        f"{note.name} = {format_ms(tempo.quarter_ms)} × {factor:g} = {format_ms(ms)} ms.",
        answers=True,
    )


def _tempo_times(tempo: TempoGrid, intent: Intent) -> list[Worked]:
    q = tempo.quarter_ms
    bpm = f"{tempo.bpm:g} BPM"
    aspects = intent.aspects
    if "predelay" in aspects:
        return [
            Worked(
                f"At {bpm} a 1/64 note is {format_ms(q / 16)} ms and a 1/32 note "
                f"{format_ms(q / 8)} ms: tempo-synced pre-delay values.",
                f"1/64 = 60000 / {tempo.bpm:g} / 16 = {format_ms(q / 16)} ms; "
                f"1/32 = 60000 / {tempo.bpm:g} / 8 = {format_ms(q / 8)} ms.",
                answers=True,
            )
        ]
    if "decay" in aspects:
        return [
            Worked(
                f"At {bpm} a half note is {format_ms(q * 2)} ms and a bar "
                f"{format_ms(tempo.bar_ms)} ms, so a decay of about "
                f"{q * 2 / 1000:.1f}-{tempo.bar_ms / 1000:.1f} s clears by the next beat or bar.",
                f"Half note = 60000 / {tempo.bpm:g} × 2 = {format_ms(q * 2)} ms; bar = "
                f"{format_ms(tempo.bar_ms)} ms.",
                answers=True,
            )
        ]
    if "releas" in aspects or "release" in aspects:
        return [
            Worked(
                f"At {bpm} a 1/16 note is {format_ms(q / 4)} ms and a 1/8 note "
                f"{format_ms(q / 2)} ms: release times that let the compressor recover "
                f"between hits.",
                f"1/16 = 60000 / {tempo.bpm:g} / 4 = {format_ms(q / 4)} ms.",
                answers=True,
            )
        ]
    return [
        Worked(
            f"At {bpm} a quarter note is {format_ms(q)} ms (60000 / {tempo.bpm:g}): 1/8 = "
            f"{format_ms(q / 2)} ms, dotted 1/8 = {format_ms(q * 0.75)} ms, 1/16 = "
            f"{format_ms(q / 4)} ms.",
            f"Quarter note = 60000 / {tempo.bpm:g} = {format_ms(q)} ms; dotted 1/8 = "
            f"{format_ms(q / 2)} × 1.5 = {format_ms(q * 0.75)} ms.",
            answers=intent.kind == "time",
        )
    ]


def _platform_changes(lufs: float, named: Sequence[str], dbtp: float | None) -> list[Worked]:
    chosen = [p for p in STREAMING_PLATFORMS if p.name in named] or list(STREAMING_PLATFORMS)
    groups: dict[float, list[Platform]] = {}
    for platform in chosen:
        groups.setdefault(platform.reference_lufs, []).append(platform)
    parts: list[str] = []
    math: list[str] = []
    level = f"{lufs:g} LUFS"
    for reference, platforms in groups.items():
        names = join_words([p.name for p in platforms])
        verb = "turns" if len(platforms) == 1 else "turn"
        plays = "plays" if len(platforms) == 1 else "play"
        change = reference - lufs
        math.append(f"{reference:g} − ({lufs:g}) = {change:+.1f} dB")
        if change < -0.5:
            parts.append(f"{names} ({reference:g} LUFS) {verb} it down about {-change:.1f} dB")
        elif change > 0.5:
            up = [p.name for p in platforms if p.turns_up]
            stay = [p.name for p in platforms if not p.turns_up]
            if up:
                ceiling_room = TRUE_PEAK_CEILING_DBTP - change
                parts.append(
                    f"{join_words(up)} ({reference:g} LUFS) turns it up about {change:.1f} dB only "
                    f"if its true peak is at or below {ceiling_room:.1f} dBTP"
                )
            if stay:
                leave = "leaves" if len(stay) == 1 else "leave"
                parts.append(
                    f"{join_words(stay)} ({reference:g} LUFS) {leave} it about {change:.1f} dB "
                    f"below the reference"
                )
        else:
            parts.append(f"{names} ({reference:g} LUFS) {plays} it at about the same level")
    worked = [
        Worked(
            f"At {level}, {'; '.join(parts)}.",
            "Gain change = platform reference − your loudness: " + "; ".join(math) + ".",
            answers=True,
        )
    ]
    if lufs > LOUD_MASTER_LUFS:
        extra = (
            f" Its PLR is {format_number(dbtp - lufs)} LU, the range of heavily limited masters."
            if dbtp is not None and dbtp - lufs < 9.0
            else ""
        )
        worked.append(
            Worked(
                f"A master that loud gains nothing on normalised services; if you keep it, use a "
                f"{LOUD_MASTER_CEILING_DBTP:.0f} dBTP ceiling, because lossy encoding adds "
                f"overshoots to dense, loud material.{extra}"
            )
        )
    return worked


def _true_peak(dbtp: float, lufs: float | None) -> Worked:
    over = dbtp - TRUE_PEAK_CEILING_DBTP
    plr = (
        f" PLR = {format_db(dbtp)} − ({lufs:g}) = {dbtp - lufs:.1f} LU." if lufs is not None else ""
    )
    if over > 0:
        text = (
            f"{format_db(dbtp)} dBTP is {over:.1f} dB above the {TRUE_PEAK_CEILING_DBTP:.0f} dBTP "
            f"ceiling for streaming: lower the limiter's true-peak ceiling by {over:.1f} dB."
        )
    elif over > -0.05:
        text = (
            f"{format_db(dbtp)} dBTP is right at the {TRUE_PEAK_CEILING_DBTP:.0f} dBTP ceiling "
            f"for streaming."
        )
    else:
        text = (
            f"{format_db(dbtp)} dBTP is within the {TRUE_PEAK_CEILING_DBTP:.0f} dBTP ceiling for "
            f"streaming ({-over:.1f} dB below it)."
        )
    if lufs is not None:
        text += f" Its peak-to-loudness ratio (PLR) is {format_number(dbtp - lufs)} LU."
    return Worked(
        text,
        f"Margin = {TRUE_PEAK_CEILING_DBTP:.1f} − ({format_db(dbtp)}) = {-over:+.1f} dB.{plr}",
        answers=True,
    )


def _sample_peak(dbfs: float, programme: bool) -> Worked:
    if programme:
        change = PREMASTER_PEAK_DBFS - dbfs
        if change < -0.5:
            text = (
                f"Peaks at {format_db(dbfs)} dBFS leave {-dbfs:.1f} dB of headroom; a premaster "
                f"for mastering usually peaks around {PREMASTER_PEAK_DBFS:.0f} dBFS, so bring the "
                f"mix down about {-change:.1f} dB (all tracks or a VCA, not a limiter)."
            )
        else:
            text = (
                f"Peaks at {format_db(dbfs)} dBFS leave {-dbfs:.1f} dB of headroom, enough for "
                f"mastering (around {PREMASTER_PEAK_DBFS:.0f} dBFS is the usual premaster peak)."
            )
        math = f"Headroom = 0 − ({format_db(dbfs)}) = {-dbfs:.1f} dB; change = {change:+.1f} dB."
    else:
        text = f"Peaks at {format_db(dbfs)} dBFS leave {-dbfs:.1f} dB of headroom before 0 dBFS."
        math = f"Headroom = 0 − ({format_db(dbfs)}) = {-dbfs:.1f} dB."
    return Worked(text, math, answers=True)


def _monitoring(spl: float) -> Worked:
    low, high = MONITOR_SPL_RANGE
    if spl > high:
        verdict = f"{spl - high:.0f} dB above the {low:.0f}-{high:.0f} dB SPL mixing reference"
    elif spl < low:
        verdict = f"{low - spl:.0f} dB below the {low:.0f}-{high:.0f} dB SPL mixing reference"
    else:
        verdict = f"within the {low:.0f}-{high:.0f} dB SPL mixing reference"
    return Worked(f"{spl:g} dB SPL is {verdict}.", None, answers=True)


def _judge(reading: Reading, key_lines: Sequence[str], other_lines: Sequence[str]) -> Worked | None:
    """Compare a value from the question with the range the guidance gives for it."""
    candidates = _matching_ranges(reading, key_lines) or _matching_ranges(reading, other_lines)
    if not candidates:
        return None
    low = min(r.low for r in candidates)
    high = max(r.high for r in candidates)
    span = _span(reading.unit, low, high)
    what = f" for the {_label_name(reading.label)}" if reading.label else ""
    above, below = _ABOVE_BELOW.get(reading.unit, ("more", "less"))
    if reading.value > high:
        verdict = f"{above} than" if reading.unit != "hz" else "above"
    elif reading.value < low:
        verdict = f"{below} than" if reading.unit != "hz" else "below"
    else:
        verdict = "within"
    return Worked(
        f"{reading.describe()} is {verdict} the {span} the guidance gives{what}.",
        None,
        answers=True,
    )


def _span(unit: str, low: float, high: float) -> str:
    if unit == "hz" and low >= 1000.0:
        unit, low, high = "khz", low / 1000.0, high / 1000.0
    if low == high:
        return describe(unit, low) if unit != "khz" else f"{low:g} kHz"
    if unit == "ratio":
        return f"{describe('ratio', low)}-{describe('ratio', high)}"
    text = describe(unit, high) if unit != "khz" else f"{high:g} kHz"
    return f"{low:g}-{text}"


def _matching_ranges(reading: Reading, lines: Sequence[str]) -> list[ValueRange]:
    found: list[ValueRange] = []
    for line in lines:
        ranges = [r for r in value_ranges(line) if r.unit == reading.unit]
        if reading.label is not None:
            labelled = [r for r in ranges if r.label == reading.label]
            ranges = labelled or ([] if any(r.label for r in ranges) else ranges)
        found += ranges
        if found:
            break  # the first line with a matching range is the one to judge against
    return found


def _label_name(label: str) -> str:
    return {"highpass": "high-pass", "lowpass": "low-pass", "predelay": "pre-delay"}.get(
        label, label
    )
