"""What the session's last stored analysis says, as sentences for an answer.

Asked "is my track too loud?", the engine cites the numbers of the last analysis the
client ran in this session (integrated loudness, true peak, LRA, PLR, clipped samples),
compares them with the streaming references, and notes the change since the analysis
before it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from codette_desktop.engine.references import STREAMING_REFERENCE_LUFS, TRUE_PEAK_CEILING_DBTP
from codette_desktop.engine.retrieval import canonical
from codette_desktop.engine.wording import format_db, join_words

# Below this PLR a master is heavily limited (masters commonly measure 6-9 LU then).
_LOW_PLR_DB = 8.0

_ANALYSIS_TEXT = """loudness peak truepeak master analysis clipping dynamics headroom limiter
    streaming level crest quiet result number"""
# Query terms that make the stored analyses relevant.
ANALYSIS_TERMS = frozenset(canonical(w) for w in _ANALYSIS_TEXT.split())
_ANALYSIS_PHRASES = re.compile(
    r"\b(my|this|the) (track|song|mix|master|tune|record|analysis|bounce|file)\b"
    r"|\b(last|latest|previous) analysis\b",
    re.IGNORECASE,
)


def wants_analysis(message: str, terms: Sequence[str]) -> bool:
    """True when a question is about loudness or "my track", so the analysis may help."""
    return bool(ANALYSIS_TERMS.intersection(terms)) or bool(_ANALYSIS_PHRASES.search(message))


def analysis_sentences(analyses: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sentences about the newest analysis (and the change from the one before), or []."""
    if not analyses:
        return []
    latest = analyses[0]
    analysis = latest.get("analysis")
    if not isinstance(analysis, Mapping):
        return []
    measured = analysis.get("measurements")
    m = measured if isinstance(measured, Mapping) else {}
    name = latest.get("track_name")
    what = f"of '{name}'" if isinstance(name, str) and name else "of your track"
    facts: list[str] = []
    notes: list[str] = []
    reference = STREAMING_REFERENCE_LUFS
    lufs = _num(m.get("integrated_lufs"))
    if lufs is not None:
        facts.append(f"{lufs:.1f} LUFS integrated")
        gap = lufs - reference
        if gap > 0.5:
            notes.append(
                f"That's {gap:.1f} dB above the {reference:.0f} LUFS that streaming "
                f"services normalise to, so they'll turn it down by about {gap:.1f} dB — "
                f"extra limiting buys no loudness there."
            )
        elif gap < -0.5:
            notes.append(
                f"That's {-gap:.1f} dB below the {reference:.0f} LUFS streaming "
                f"reference; it will play quieter than most releases on services that "
                f"don't turn quiet tracks up."
            )
        else:
            notes.append(
                f"That sits right at the usual streaming reference of {reference:.0f} LUFS."
            )
    true_peak = _num(m.get("true_peak_dbtp"))
    if true_peak is not None:
        facts.append(f"a true peak of {format_db(true_peak)} dBTP")
        if true_peak > TRUE_PEAK_CEILING_DBTP:
            notes.append(
                f"The true peak is above the {TRUE_PEAK_CEILING_DBTP:.0f} dBTP ceiling "
                f"recommended for lossy encoding (EBU R128, AES TD1004): lower the limiter "
                f"ceiling by {true_peak - TRUE_PEAK_CEILING_DBTP:.1f} dB."
            )
    elif (sample_peak := _num(m.get("sample_peak_dbfs"))) is not None:
        facts.append(f"a sample peak of {format_db(sample_peak)} dBFS")
    lra = _num(m.get("loudness_range_lu"))
    if lra is not None:
        facts.append(f"a loudness range of {lra:.1f} LU")
    plr = _num(m.get("plr_db"))
    if plr is not None:
        facts.append(f"a PLR of {plr:.1f} dB")
        if plr < _LOW_PLR_DB:
            notes.append(
                f"A PLR of {plr:.1f} dB means heavy limiting; backing the limiter off "
                f"1-2 dB usually restores punch."
            )
    clipped = _num(m.get("clipped_samples"))
    if clipped:
        notes.append(f"It also has {clipped:.0f} clipped samples to track down.")
    if not facts:
        rms = _num(m.get("rms_dbfs"))
        if rms is None:
            return []
        facts.append(f"an RMS of {format_db(rms)} dBFS")
    sentences = [f"Your last analysis {what} measured {join_words(facts)}.", *notes]
    if len(analyses) > 1:
        before = analyses[1].get("analysis")
        if isinstance(before, Mapping) and isinstance(before.get("measurements"), Mapping):
            previous = _num(before["measurements"].get("integrated_lufs"))
            if previous is not None and lufs is not None and abs(lufs - previous) >= 0.1:
                direction = "up" if lufs > previous else "down"
                sentences.append(
                    f"Compared with the analysis before it ({previous:.1f} LUFS), "
                    f"loudness went {direction} {abs(lufs - previous):.1f} dB."
                )
    return sentences


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
