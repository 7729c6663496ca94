"""What the DAW context adds to one answer: findings on the selected track and the session.

Given the parsed :class:`~codette_desktop.engine.context.DawContext` and what the question
is about, this picks the remarks worth making — the selected track's levels (judged as a
master or bus when it is one), its fader, mute/solo, its insert and send counts, kick/bass
masking, instruments crowding a vocal's presence range, the session tempo — plus the
arithmetic behind them and the DAW steps they call for.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from codette_desktop.engine.context import (
    LOW_END_FAMILIES,
    DawContext,
    fader_note,
    level_findings,
    level_summary,
    masking_note,
    routing_note,
    state_notes,
    tempo_math,
    tempo_note,
)
from codette_desktop.engine.retrieval import canonical
from codette_desktop.engine.wording import format_db, format_ms, join_words


def _terms(words: str) -> frozenset[str]:
    return frozenset(canonical(w) for w in words.split())


_TEMPO_TERMS = _terms(
    "reverb delay predelay tempo space depth ambience decay tail groove timing sync release"
)
_MASKING_TERMS = _terms("kick bass lowend mud masking sidechain drums boomy sub")
_MIDRANGE_TERMS = _terms("clarity masking presence buried sit mix balance vocal eq lost")
_COMPRESSION_TERMS = _terms("compression sidechain release")


@dataclass(frozen=True)
class ContextReport:
    """Sentences for the answer, their arithmetic, and DAW steps that come first."""

    notes: tuple[str, ...]
    math_lines: tuple[str, ...]
    steps_before: tuple[str, ...]


def report(
    context: DawContext,
    *,
    terms: Set[str],
    category: str,
    perspective: str,
    tempo_in_question: bool,
) -> ContextReport:
    """The context's findings that matter for a question with ``terms`` about ``category``.

    ``tempo_in_question``: the question (or the session) gave its own tempo, so the DAW's
    tempo is not repeated.
    """
    selected = context.selected
    notes: list[str] = []
    math: list[str] = []
    steps: list[str] = []
    if selected is not None:
        findings = level_findings(selected)
        steps = [f.step for f in findings]
        math = [f.math for f in findings]
        if findings and perspective != "copilot_developer":
            first = findings[0].text
            notes.append(f"On your {selected.label}, {first[0].lower()}{first[1:]}")
            notes += [f.text for f in findings[1:]]
        elif findings:
            which = "step 1" if len(findings) == 1 else f"steps 1-{len(findings)}"
            notes.append(f"On your {selected.label}, fix the level first ({which}).")
        else:
            summary = level_summary(selected)
            notes.append(
                f"On your {selected.label}, levels look healthy ({summary})."
                if summary
                else f"On your {selected.label}:"
            )
        for note in (fader_note(selected), routing_note(selected, category)):
            if note:
                notes.append(note)
        notes += state_notes(selected)
        if selected.plugins:
            notes.append(f"Current chain: {' → '.join(selected.plugins)}.")
        if not selected.is_programme and selected.peak_dbfs is not None:
            if selected.rms_dbfs is not None:
                crest = selected.peak_dbfs - selected.rms_dbfs
                math.append(
                    f"Crest factor = peak − RMS = {format_db(selected.peak_dbfs)} − "
                    f"({format_db(selected.rms_dbfs)}) = {crest:.1f} dB."
                )
            math.append(
                f"Headroom to 0 dBFS = 0 − ({format_db(selected.peak_dbfs)}) = "
                f"{format_db(-selected.peak_dbfs)} dB."
            )
    soloed = [t for t in context.soloed_others if t.name]
    if soloed:
        names = join_words([f"'{t.name}'" for t in soloed[:3]])
        notes.append(
            f"{names} {'is' if len(soloed) == 1 else 'are'} soloed, so you're hearing only part "
            f"of the mix; judge the final balance with everything playing."
        )
    notes += _session_notes(context, category)
    low_end = bool(_MASKING_TERMS & terms) or (
        selected is not None and selected.family in LOW_END_FAMILIES
    )
    if low_end and (note := masking_note(context)):
        notes.append(note)
    if midrange := _midrange_note(context, terms):
        notes.append(midrange)
    tempo = context.tempo
    if tempo is not None and not tempo_in_question:
        caveat = (
            " (That's the tempo your DAW reports; if the song runs at another tempo, tell me "
            "and I'll redo the maths.)"
            if context.bpm_is_default
            else ""
        )
        timed = _TEMPO_TERMS & terms or category in ("reverb", "delay")
        if timed:
            notes.append(tempo_note(tempo) + caveat)
        elif _COMPRESSION_TERMS & terms:
            notes.append(
                f"At {tempo.bpm:g} BPM a release near a 1/16 note "
                f"({format_ms(tempo.note_ms(1 / 16))} ms) lets the compressor breathe "
                f"with the groove.{caveat}"
            )
        if timed or _COMPRESSION_TERMS & terms:
            math.append(tempo_math(tempo))
    return ContextReport(tuple(notes), tuple(math), tuple(steps))


# Enough tracks that grouping them pays off.
_MANY_TRACKS = 12


def _session_notes(context: DawContext, category: str) -> list[str]:
    """Remarks from the session's track counts and transport, for the topics they touch."""
    notes: list[str] = []
    counts = context.track_counts
    if counts and category in ("reverb", "delay") and counts.get("aux", 0) == 0:
        notes.append(
            "Your session has no aux tracks yet: one or two shared reverb and delay returns "
            "keep every part in the same space."
        )
    total = counts.get("total", len(context.tracks))
    if category in ("workflow", "bus") and total >= _MANY_TRACKS:
        vca = counts.get("vca", 0)
        grouping = "" if vca else " and a VCA or two to ride whole sections"
        notes.append(
            f"With {total} tracks, group them into a few buses (drums, bass, music, vocals, "
            f"effects){grouping}."
        )
    if category == "workflow" and context.current_time is not None and context.current_time > 0:
        minutes, seconds = divmod(int(context.current_time), 60)
        state = "playing" if context.is_playing else "stopped"
        notes.append(
            f"The playhead is at {minutes}:{seconds:02d} ({state}); write moves from a section "
            f"start rather than mid-phrase."
        )
    return notes


def _midrange_note(context: DawContext, terms: Set[str]) -> str | None:
    selected = context.selected
    if selected is None or selected.family != "vocal" or not _MIDRANGE_TERMS & terms:
        return None
    rivals = [t for t in context.tracks if t.family in ("guitar", "keys", "synth") and t.name]
    if not rivals:
        return None
    names = join_words([f"'{t.name}'" for t in rivals[:3]])
    verb, them = ("shares", "it") if len(rivals[:3]) == 1 else ("share", "them")
    return (
        f"{names} {verb} the 1-4 kHz presence range with the vocal: a 2-3 dB dip around "
        f"2-3 kHz on {them} (or a dynamic EQ keyed from the vocal) opens space without "
        f"boosting the vocal."
    )
