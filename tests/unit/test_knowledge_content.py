"""The shipped knowledge base as data: schema, required coverage, fixed facts, arithmetic.

Reads ``resources/knowledge/*.json`` directly (no engine), so a content mistake fails here
with the entry id and the offending text. The arithmetic checks re-compute the worked
numbers the entries write out (60000/BPM note lengths, dB sums, ratio gain reduction,
sound-travel delays, comb-filter notches, note frequencies, Q/bandwidth) and each one
asserts how many claims it checked, so a pattern that silently matches nothing fails too.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

KB_DIR = Path(__file__).resolve().parents[2] / "resources" / "knowledge"

README = (KB_DIR / "README.md").read_text(encoding="utf-8")
# The README's schema table is the one home of the field list and the allowed values.
SCHEMA = dict(re.findall(r"^\| `(\w+)` \| (string|list of strings) \|", README, flags=re.M))
FIELDS = tuple(SCHEMA)
STRING_FIELDS = tuple(name for name, kind in SCHEMA.items() if kind == "string")
LIST_FIELDS = tuple(name for name, kind in SCHEMA.items() if kind != "string")


def _schema_values(field: str) -> frozenset[str]:
    """The values the README's schema table allows for ``field``."""
    row = re.search(rf"^\| `{field}` \|.*$", README, flags=re.M)
    assert row, field
    return frozenset(re.findall(r"`([a-z_]+)`", row.group(0))[1:])


CATEGORIES = _schema_values("category")
TRACK_TYPES = _schema_values("track_types")
# Ids the engine's evaluation set and other code refer to (issue 11, item 6).
REQUIRED_IDS = (
    "podcast-dialogue",
    "spoken-word-loudness",
    "orchestral-film-mix",
    "compressor-vs-limiter",
    "compression-basics",
    "de-esser-placement",
    "multi-mic-polarity",
    "export-for-mastering",
    "vocal-masking-instruments",
    "loudness-normalisation-quieter",
    "genre-hiphop-trap",
    "genre-edm",
    "genre-rock-metal",
    "genre-pop",
    "genre-acoustic-folk",
    "genre-jazz",
    "genre-classical",
    "atsc-a85-loudness",
    "ebu-r128-broadcast",
    "streaming-loudness-targets",
)
SPEED_OF_SOUND = 343.0  # m/s at about 20 °C, the figure every entry uses


def _load() -> dict[str, list[dict[str, object]]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(KB_DIR.glob("*.json"))
    }


FILES = _load()
ENTRIES = [entry for entries in FILES.values() for entry in entries]
BY_ID = {str(entry["id"]): entry for entry in ENTRIES}


def _text(entry: dict[str, object]) -> str:
    parts: list[str] = []
    for name in FIELDS:
        value = entry[name]
        parts.extend(value if isinstance(value, list) else [str(value)])
    return " \n ".join(parts)


def _strings() -> Iterator[tuple[str, str]]:
    """(entry id, one text string) for every prose field of every entry."""
    for entry in ENTRIES:
        for name in ("summary", "guidance", "steps", "perception", "math", "pitfalls"):
            value = entry[name]
            for item in value if isinstance(value, list) else [value]:
                yield str(entry["id"]), str(item)


def _close(expected: float, written: float, *, rel: float = 0.03, abs_: float = 0.06) -> bool:
    """True when ``written`` is ``expected`` rounded the way prose rounds."""
    return math.isclose(expected, written, rel_tol=rel, abs_tol=abs_)


# --- schema --------------------------------------------------------------------------


def test_every_file_is_formatted_as_the_readme_says() -> None:
    for name, entries in FILES.items():
        text = (KB_DIR / name).read_text(encoding="utf-8")
        assert text == json.dumps(entries, indent=2, ensure_ascii=False) + "\n", name


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: str(e["id"]))
def test_entry_follows_the_schema(entry: dict[str, object]) -> None:
    assert tuple(entry) == FIELDS
    for name in STRING_FIELDS:
        assert isinstance(entry[name], str) and entry[name].strip(), name
    for name in LIST_FIELDS:
        value = entry[name]
        assert isinstance(value, list) and value, name
        assert all(isinstance(item, str) and item.strip() for item in value), name
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", str(entry["id"]))
    assert entry["category"] in CATEGORIES
    assert set(entry["track_types"]) <= TRACK_TYPES  # type: ignore[arg-type]
    keywords = entry["keywords"]
    assert isinstance(keywords, list)
    assert 8 <= len(keywords) <= 20
    assert all(k == k.lower() and not re.search(r"\s", k) for k in keywords), keywords
    assert len(set(keywords)) == len(keywords), "duplicate keyword"
    assert 4 <= len(entry["guidance"]) <= 7  # type: ignore[arg-type]
    assert 4 <= len(entry["steps"]) <= 7  # type: ignore[arg-type]
    assert 2 <= len(entry["pitfalls"]) <= 4  # type: ignore[arg-type]
    assert re.search(r"\d", str(entry["math"])), "math must work real numbers"


def test_schema_was_read_from_the_readme() -> None:
    assert FIELDS[:3] == ("id", "title", "category") and len(FIELDS) == 12
    assert {"eq", "loudness", "monitoring"} <= CATEGORIES and len(CATEGORIES) == 17
    assert {"vocal", "master", "any"} <= TRACK_TYPES and len(TRACK_TYPES) == 13


def test_ids_are_unique_and_the_base_is_large_enough() -> None:
    counts = Counter(str(entry["id"]) for entry in ENTRIES)
    assert [i for i, n in counts.items() if n > 1] == []
    assert len(ENTRIES) >= 150
    titles = Counter(str(entry["title"]).lower() for entry in ENTRIES)
    assert [t for t, n in titles.items() if n > 1] == []


def test_required_ids_are_present() -> None:
    assert [i for i in REQUIRED_IDS if i not in BY_ID] == []


def test_readme_table_matches_the_files() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+\.json)` \| (\d+) \|", README, flags=re.M))
    assert {name: len(entries) for name, entries in FILES.items()} == {
        name: int(count) for name, count in rows.items()
    }
    total = re.search(r"\| \*\*Total\*\* \| \*\*(\d+)\*\* \|", README)
    assert total and int(total.group(1)) == len(ENTRIES)


# --- facts fixed in issue 11 and reference figures ------------------------------------------


@pytest.mark.parametrize(
    ("entry_id", "present", "absent"),
    [
        ("snare-eq-compression", r"backbeat arrives every .*1\.2 s", r"backbeat arrives every 600"),
        ("saturation-harmonics", r"odd 3rd", r"even harmonics \(2nd, 3rd\)"),
        ("piano-eq-compression", r"27\.5-55 Hz", r"40-60 Hz for a solo piano"),
        ("streaming-loudness-targets", r"-10 to -6 LUFS", r"-14 to -10 LUFS"),
        ("plr-crest-factor", r"-10 to -6 LUFS", r"6-9 LU"),
        ("eq-q-bandwidth", r"Q 1 spans about 1\.39 octaves", r"2\+ octaves"),
        ("noise-gate-expander", r"low-pass the key at about 100-150 Hz", r"low-pass 1-2 kHz"),
        ("eq-linear-phase", r"choice, not a rule", r"Use linear phase for mastering"),
        ("mid-side-processing", r"it is a choice", r"Use linear-phase EQ for M/S"),
        ("atsc-a85-loudness", r"-24 LKFS.*±2 LU.*-2 dBTP", r"-23 LKFS"),
        ("ebu-r128-broadcast", r"-23 LUFS.*±0\.5 LU.*-1 dBTP", r"-24 LUFS"),
        ("streaming-loudness-targets", r"Spotify: -14 LUFS.*Apple Music: -16 LUFS", r"-18 LUFS"),
        (
            "spoken-word-loudness",
            r"-16 LUFS.*-19 LUFS.*-23 to -18 dB RMS.*-3 dB.*-60 dB",
            r"ACX.*LUFS-I",
        ),
        ("dolby-atmos-basics", r"-18 LKFS.*-1 dBTP", r"-14 LKFS"),
        ("export-for-mastering", r"32-bit float.*no limiter", r"dither the 32-bit"),
    ],
)
def test_fixed_and_reference_facts(entry_id: str, present: str, absent: str) -> None:
    text = _text(BY_ID[entry_id]).replace("\n", " ")
    assert re.search(present, text, flags=re.S), (entry_id, present)
    assert not re.search(absent, text), (entry_id, absent)


def test_loud_master_ranges_agree_across_entries() -> None:
    """Every entry that states the loudness of commercial pop/rock masters says -10 to -6."""
    claims = [
        (entry_id, text)
        for entry_id, text in _strings()
        if re.search(r"commercial (?:pop|masters)", text, flags=re.I) and "LUFS" in text
    ]
    assert len(claims) >= 5
    for entry_id, text in claims:
        assert "-10 to -6 LUFS" in text, (entry_id, text)


# --- arithmetic -------------------------------------------------------------------------

_NUMBER = r"[-+−]?\d+(?:\.\d+)?"
# (expected, written) pairs found in one text string.
Claims = Iterator[tuple[float, float]]


def _num(text: str) -> float:
    return float(text.replace("−", "-").replace("+", ""))


def _ms(value: str, unit: str) -> float:
    return _num(value) * (1000 if unit == "s" else 1)


def _check(claims: Callable[[str], Claims], *, minimum: int, rel: float, abs_: float) -> None:
    """Every claim in every prose string is right, and at least ``minimum`` were found."""
    checked = 0
    for entry_id, text in _strings():
        for expected, written in claims(text):
            assert _close(expected, written, rel=rel, abs_=abs_), (entry_id, text, expected)
            checked += 1
    assert checked >= minimum


_TEMPO_DIVISION = re.compile(
    rf"60000\s*/\s*(\d+(?:\.\d+)?)((?:\s*/\s*\d+)*)(?:\s*x\s*(\d+(?:\.\d+)?))?"
    rf"\s*(?:=|≈)\s*({_NUMBER})\s*(ms|s)\b"
)


def _tempo_divisions(text: str) -> Claims:
    for bpm, divisors, factor, value, unit in _TEMPO_DIVISION.findall(text):
        expected = 60000 / float(bpm) * (float(factor) if factor else 1.0)
        for divisor in re.findall(r"\d+", divisors):
            expected /= float(divisor)
        yield expected, _ms(value, unit)


def test_tempo_divisions_are_right() -> None:
    """``60000/BPM = x ms`` and its divisions (``60000/120/4 = 125 ms``)."""
    _check(_tempo_divisions, minimum=15, rel=0.005, abs_=0.6)


_NOTE_BEATS = {
    "whole note": 4.0,
    "half note": 2.0,
    "quarter note": 1.0,
    "quarter": 1.0,
    "1/4": 1.0,
    "8th": 0.5,
    "eighth": 0.5,
    "1/8": 0.5,
    "16th": 0.25,
    "1/16": 0.25,
    "1/32": 0.125,
    "1/64": 0.0625,
    "bar of 4/4": 4.0,
}
_NOTE_LENGTH = re.compile(
    r"\b(dotted |triplet )?(?:a |an )?(?:1/8 triplet|("
    + "|".join(re.escape(n) for n in sorted(_NOTE_BEATS, key=len, reverse=True))
    + rf"))(?: note)?(?: delay)? (?:is|=|lasts|of) (?:about |roughly )?({_NUMBER}) ?(ms|s)\b"
)


def _note_lengths(text: str) -> Claims:
    for clause in re.split(r"(?<=[.;])\s+(?=[A-Z])|;", text):
        tempo = re.search(r"(\d+(?:\.\d+)?) BPM", clause)
        if not tempo:
            continue
        beat_ms = 60000 / float(tempo.group(1))
        for modifier, name, value, unit in _NOTE_LENGTH.findall(clause):
            if name:  # "1/8 triplet" is written out as its own calculation
                scale = {"dotted ": 1.5, "triplet ": 2 / 3}.get(modifier, 1.0)
                yield beat_ms * _NOTE_BEATS[name] * scale, _ms(value, unit)


def test_note_lengths_at_a_stated_tempo_are_right() -> None:
    """``At 128 BPM a 16th is 117 ms``: every note value named after a tempo, same clause."""
    _check(_note_lengths, minimum=16, rel=0.01, abs_=1.0)


def _sum_of_quotients(expression: str) -> float:
    """Evaluate ``1 + 0.5`` or ``1/3``: the only arithmetic written inside a log10()."""
    total = 0.0
    for term in expression.split("+"):
        numerator, *denominators = (float(part) for part in term.split("/"))
        total += numerator / math.prod(denominators)
    return total


_DECIBEL_SUM = re.compile(
    rf"(?:({_NUMBER})\s*([+-])\s*)?(10|20)\s*x\s*log10\(([0-9.+/ ]+)\)"
    rf"\s*(?:=|≈)\s*({_NUMBER})"
)


def _decibel_sums(text: str) -> Claims:
    for offset, sign, scale, argument, value in _DECIBEL_SUM.findall(text):
        result = float(scale) * math.log10(_sum_of_quotients(argument))
        if offset:
            result = _num(offset) + (result if sign == "+" else -result)
        yield result, _num(value)


def test_decibel_sums_are_right() -> None:
    """``a + 20 x log10(x) = y`` and ``10 x log10(x) ≈ y`` (a leading offset is optional)."""
    _check(_decibel_sums, minimum=20, rel=0.03, abs_=0.3)


_DECIBEL_RATIO = re.compile(r"10\^\(([-−]?\d+(?:\.\d+)?)/(10|20)\)\s*(?:=|≈)\s*(\d+(?:\.\d+)?)")


def test_decibel_to_amplitude_is_right() -> None:
    """``10^(1.5/20) = 1.19`` and ``10^(-6/10) ≈ 0.25``."""

    def claims(text: str) -> Claims:
        for db, scale, value in _DECIBEL_RATIO.findall(text):
            yield 10 ** (_num(db) / float(scale)), float(value)

    _check(claims, minimum=8, rel=0.02, abs_=0.006)


_RATIO_REDUCTION = re.compile(
    r"(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) = (\d+(?:\.\d+)?)"
)


def test_ratio_gain_reduction_is_right() -> None:
    """``8 - 8/4 = 6 dB``: an overshoot minus overshoot/ratio."""

    def claims(text: str) -> Claims:
        for over, over_again, ratio, value in _RATIO_REDUCTION.findall(text):
            assert over == over_again, text
            yield float(over) - float(over) / float(ratio), float(value)

    _check(claims, minimum=12, rel=0.02, abs_=0.06)


_TRAVEL = re.compile(
    r"(?:(\d+(?:\.\d+)?)\s*x\s*)?(\d+(?:\.\d+)?)\s*/\s*343\s*(?:=|≈)\s*(\d+(?:\.\d+)?) ?ms"
)
_DISTANCE = re.compile(r"(\d+(?:\.\d+)?)\s*x\s*343\s*(?:=|≈)\s*(\d+(?:\.\d+)?) ?m\b")
_NOTCH = re.compile(r"1\s*/\s*\(2\s*x\s*(\d+(?:\.\d+)?)\)\s*(?:=|≈)\s*(\d+(?:\.\d+)?) ?(Hz|kHz)")


def test_sound_travel_and_comb_notches_are_right() -> None:
    """``1/343 = 2.9 ms``, ``0.1 x 343 = 34.3 m`` and ``1/(2 x 0.0029) = 172 Hz``."""

    def travel(text: str) -> Claims:
        for factor, metres, ms in _TRAVEL.findall(text):
            path = float(metres) * (float(factor) if factor else 1.0)
            yield path / SPEED_OF_SOUND * 1000, float(ms)
        for seconds, metres in _DISTANCE.findall(text):
            yield float(seconds) * SPEED_OF_SOUND, float(metres)

    def notches(text: str) -> Claims:
        for delay, value, unit in _NOTCH.findall(text):
            yield 1 / (2 * float(delay)), float(value) * (1000 if unit == "kHz" else 1)

    _check(travel, minimum=8, rel=0.03, abs_=0.06)
    _check(notches, minimum=8, rel=0.04, abs_=0.06)


_SEMITONE = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}
_NOTE_FREQUENCY = re.compile(r"\b([A-G])([#b]?)(-?\d)\)? (?:is|=|at) (\d+(?:\.\d+)?) Hz")


def test_note_frequencies_are_right() -> None:
    """``A0 is 27.5 Hz``, ``F1 is 43.7 Hz``, ``(C4) is 261.6 Hz`` in equal temperament."""

    def claims(text: str) -> Claims:
        for letter, accidental, octave, value in _NOTE_FREQUENCY.findall(text):
            semitones = _SEMITONE[letter] + {"#": 1, "b": -1}.get(accidental, 0)
            yield 440.0 * 2 ** ((semitones + 12 * (int(octave) - 4)) / 12), float(value)

    _check(claims, minimum=12, rel=0.006, abs_=0.06)


_Q_OCTAVES = re.compile(
    r"\bQ (\d+(?:\.\d+)?) (?:spans|is)(?: about| roughly)? "
    r"(\d+(?:\.\d+)?|one-third of an|one|two) octaves?"
)
_OCTAVE_WORDS = {"one-third of an": 1 / 3, "one": 1.0, "two": 2.0}


def test_q_and_octave_bandwidth_agree() -> None:
    """``Q 1 spans about 1.39 octaves``: N = 2/ln2 x asinh(1/(2Q))."""

    def claims(text: str) -> Claims:
        for q, octaves in _Q_OCTAVES.findall(text):
            expected = 2 / math.log(2) * math.asinh(1 / (2 * float(q)))
            yield expected, _OCTAVE_WORDS.get(octaves) or float(octaves)

    _check(claims, minimum=3, rel=0.03, abs_=0.02)
