"""Fader positions as the DAW's AI panel sends them, and what they can and cannot show.

The panel (``AIPanel.tsx``) sends each track's ``level`` as ``volume || -60``: the fader
position in dB, where unity (0 dB) is falsy in JavaScript and so arrives as -60 — the
same value as a fader pulled fully down (the fader range is -60..+12 dB). ``peak`` is
``level + 3``, invented, and ``hasClipping`` means some fader is above -1 dB. None of it
is a measured signal level. This module states what the positions do say (a fader above
unity adds gain after the plugins; one far below unity is doing a trim's job; identical
faders mean no balance yet) and never turns them into level or clipping measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.review_notes import Check, ReviewNotes
from codette_desktop.engine.studio.text import name_list

# The panel's value for both "unity" and "fully down" (AIPanel.tsx: volume || -60).
AMBIGUOUS_FADER_DB = -60.0
# The panel's invented peak: level + 3 dB.
DERIVED_PEAK_OFFSET_DB = 3.0
# The panel's hasClipping: some fader above -1 dB.
CLIP_FLAG_FADER_DB = -1.0
# A fader more than 30 dB below unity leaves the track at ~3 % of its amplitude, where a
# fader's travel is coarse: the level belongs in clip gain or the input trim instead.
FAR_BELOW_UNITY_DB = -30.0
# A boost of 6 dB or more at the fader doubles the amplitude after every plugin.
BIG_BOOST_DB = 6.0

MEASURE_ADVICE = (
    "For real levels send audio or start capture: these numbers are fader positions, "
    "not measured levels."
)
# Knowledge entries quoted for fader advice (resources/knowledge/*.json ids).
_GAIN_STAGING = "gain-staging-minus-18"
_MIXING_ORDER = "mixing-order"


@dataclass(frozen=True)
class Fader:
    """One track's fader position in dB as sent, with how to name and address it."""

    track_id: str
    label: str
    db: float

    @property
    def ambiguous(self) -> bool:
        return self.db <= AMBIGUOUS_FADER_DB

    @property
    def above_unity(self) -> bool:
        return self.db > 0.0

    @property
    def far_below_unity(self) -> bool:
        return not self.ambiguous and self.db < FAR_BELOW_UNITY_DB


def _faders(faders: Sequence[Fader]) -> str:
    return name_list([f"{f.label} ({f.db:+.1f} dB)" for f in faders])


def review_faders(
    kb: KnowledgeBase, faders: Sequence[Fader], *, peaks: Sequence[float | None] = ()
) -> ReviewNotes:
    """Findings, advice and checks from fader positions (see the module docstring).

    ``peaks`` are the ``peak`` values sent alongside, in the same order; they are only
    compared with ``level + 3`` to say whether they were derived, never used as levels.
    Checks: one per fader whose position is known, "between -30 dB and unity".
    """
    notes = ReviewNotes()
    notes.limitations.append("Levels here are fader positions in dB, not measured signal levels.")
    if not faders:
        return notes
    ambiguous = [f for f in faders if f.ambiguous]
    known = [f for f in faders if not f.ambiguous]
    if ambiguous:
        notes.limitations.append(
            f"{len(ambiguous)} of {len(faders)} faders arrive as -60 dB. The panel sends unity "
            "(0 dB) as -60, the same value as a fader pulled fully down, so these tracks are "
            "either at unity or silent: which one cannot be told."
        )
    given = [(f, p) for f, p in zip(faders, peaks, strict=False) if p is not None]
    if given:
        derived = all(abs(p - (f.db + DERIVED_PEAK_OFFSET_DB)) < 1e-6 for f, p in given)
        notes.limitations.append(
            "Every peak equals its fader + 3 dB: derived by the panel, not measured, so "
            "peaks are ignored."
            if derived
            else "The peak values are not measured by the panel, so they are not used."
        )
    boosted = [f for f in known if f.above_unity]
    buried = [f for f in known if f.far_below_unity]
    if boosted:
        notes.findings.append(
            f"Fader above unity on {_faders(boosted)}: "
            "the fader adds that gain after every plugin, a clipping risk on the mix bus if "
            "the track is already hot (a fader position, not a measured peak)."
        )
    if buried:
        notes.findings.append(
            f"Fader far below unity on {_faders(buried)}: "
            "the fader is doing a trim's job, usually because the source is too hot."
        )
    if boosted or buried:
        line = notes.cite(kb, _GAIN_STAGING, "clip gain input trim fader", r"clip gain|input trim")
        if line:
            notes.recommendations.append(line)
    for f in boosted:
        priority = "high" if f.db >= BIG_BOOST_DB else "medium"
        notes.action("lower_fader", f.track_id, 0.0, priority)
    for f in buried:
        notes.action("trim_input_gain", f.track_id, round(f.db, 1), "medium")
    if len(known) >= 2 and len({f.db for f in known}) == 1:
        notes.findings.append(
            f"All {len(known)} known faders sit at {known[0].db:+.1f} dB: no static "
            "balance has been set with the faders yet."
        )
        line = notes.cite(kb, _MIXING_ORDER, "static balance faders", r"static balance")
        if line:
            notes.recommendations.append(line)
    for f in known:
        notes.checks.append(
            Check(
                "fader between -30 dB and unity",
                not (f.above_unity or f.far_below_unity),
                f"{f.label} at {f.db:+.1f} dB",
            )
        )
    return notes


def clip_flag_note(faders: Sequence[Fader], has_clipping: object) -> str | None:
    """What the panel's ``hasClipping`` flag means for these faders (a limitation text)."""
    if has_clipping is not True:
        return None
    if any(f.above_unity for f in faders):
        return (
            f"The session's clip flag only says some fader is above {CLIP_FLAG_FADER_DB:g} dB; "
            "it is not a measured clip."
        )
    return (
        f"The session's clip flag is set because a fader sits between {CLIP_FLAG_FADER_DB:g} "
        "and 0 dB; that is a fader position just under unity, not clipping."
    )
