"""Reviews of the session summaries the DAW's AI panel posts to ``/codette/analyze``.

Serves ``POST /codette/analyze`` for the bodies that carry no audio (the route sends
audio and audio metadata to the analysis service). :func:`shape_of` tells them apart:

===============  ==================================================================
gain_staging     ``{tracks: [{id, level, peak}]}`` — "Gain Staging Analysis"
mixing_chain     ``{trackType, metrics: {level, peak, plugins[]}}`` — "Suggest Mixing Chain"
routing          ``{trackCount, trackTypes[], hasAux}`` — "Suggest Routing"
full_session     ``{trackCount, totalDuration, sampleRate, trackMetrics[{trackId, name,
                 type, level, peak, plugins}], masterLevel, masterPeak, hasClipping}``
mastering        ``{masterLevel, masterPeak, hasClipping}`` (the panel's unused mastering call)
===============  ==================================================================

What the input can support: ``level`` is a fader position in dB with unity sent as -60,
``peak`` is level + 3 and ``hasClipping`` means a fader above -1 dB (see ``faders.py``);
plugin names arrive as ``'Unknown'``. So the review states fader facts as fader facts,
never as measured levels or clipping, says what cannot be concluded (``limitations``),
and gives real advice where the input allows it: the insert chain for the track's source
from the knowledge base, missing stages such as a de-esser on a vocal when plugin names
are known, shared reverb on an aux, subgroups and VCAs by track count.

Every reply has ``prediction`` (one paragraph: what was found and the first thing to do;
the Gain Staging button shows it), ``confidence``, ``actionItems``, ``recommendations``,
``findings``, ``quality_score`` and ``analysis`` (the same lists plus ``limitations``,
``checks`` and ``summary``; the panel reads ``analysis`` before the root).

- ``quality_score`` (0..1): the share of the checks the input allows that the session
  passes (faders between -30 dB and unity, an aux for shared effects from 3 tracks,
  groups from 8, VCAs from 24, the stages a finished chain has when plugin names are
  known, time effects after dynamics, a limiter last). 0 when no check applies, with a
  limitation saying so. The panel shows it as the confidence of Mixing, Routing and Full.
- ``confidence`` (0..1): how far the input supports the advice,
  ``min(0.95, 0.1 + 0.5 × input support + 0.3 × knowledge match)``. Input support is
  0.5 × the share of faders whose position is known for gain staging (faders never show
  levels); (source known + plugin names known + fader known) / 3 for a mixing chain;
  0.6 + 0.4 × the share of types naming a source for routing; the mean of those parts
  for a full session; 0.2 for the master fader alone. Knowledge match is the mean match
  confidence of the knowledge lines quoted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.chains import ChainTrack, review_chain
from codette_desktop.engine.studio.faders import (
    MEASURE_ADVICE,
    Fader,
    clip_flag_note,
    review_faders,
)
from codette_desktop.engine.studio.instrument_table import shipped_instruments
from codette_desktop.engine.studio.review_notes import ReviewNotes
from codette_desktop.engine.studio.routing import review_routing
from codette_desktop.engine.studio.text import name_list, quoted
from codette_desktop.errors import ProtocolError

SHAPES = ("gain_staging", "mixing_chain", "routing", "full_session", "mastering")
# A full-session answer spells out the chain order for at most this many sources.
MAX_CHAIN_ROLES = 4
_MAX_CONFIDENCE = 0.95
_MASTERING = (
    ("mastering-chain-basics", "limiter ceiling true peak", r"limiter"),
    ("streaming-loudness-targets", "streaming loudness lufs", r"lufs"),
)


def shape_of(body: object) -> str | None:
    """Which of :data:`SHAPES` ``body`` is, or None (see the module docstring)."""
    if not isinstance(body, Mapping):
        return None
    if "trackMetrics" in body:
        return "full_session"
    if "trackType" in body or "metrics" in body:
        return "mixing_chain"
    if "tracks" in body:
        return "gain_staging"
    if "trackTypes" in body or "hasAux" in body:
        return "routing"
    if "masterLevel" in body:
        return "mastering"
    return None


# --- reading the body: every problem names its field ------------------------------------


def _bad(field: str, message: str) -> ProtocolError:
    return ProtocolError("invalid_field", f"{field}: {message}", field=field)


def _number(raw: Mapping[str, object], key: str, path: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(path, "must be a finite number")
    return float(value)


def _optional_number(raw: Mapping[str, object], key: str, path: str) -> float | None:
    return None if raw.get(key) is None else _number(raw, key, path)


def _text(raw: Mapping[str, object], key: str, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(path, "must be a string")
    return value.strip() or None


def _texts(raw: Mapping[str, object], key: str, path: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(path, "must be a list of strings")
    return tuple(value)


def _records(raw: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise _bad(key, "must be a list of objects")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _bad(f"{key}[{index}]", "must be an object")
    return value


def _ident(raw: Mapping[str, object], key: str, path: str, fallback: str) -> str:
    value = raw.get(key)
    if value is None:
        return fallback
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(path, "must be a string or a number")
    return str(value)


def _count(raw: Mapping[str, object], key: str, default: int) -> int:
    value = raw.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or value != int(value)
    ):
        raise _bad(key, "must be a non-negative whole number")
    return int(value)


# --- the shapes ------------------------------------------------------------------------


def _gain_staging(
    kb: KnowledgeBase, body: Mapping[str, object]
) -> tuple[ReviewNotes, float, str, dict[str, object]]:
    faders, peaks = [], []
    for index, raw in enumerate(_records(body, "tracks")):
        track_id = _ident(raw, "id", f"tracks[{index}].id", str(index + 1))
        faders.append(
            Fader(track_id, f"track {track_id}", _number(raw, "level", f"tracks[{index}].level"))
        )
        peaks.append(_optional_number(raw, "peak", f"tracks[{index}].peak"))
    notes = review_faders(kb, faders, peaks=peaks)
    known = [f for f in faders if not f.ambiguous]
    share = len(known) / len(faders) if faders else 0.0
    if not faders:
        notes.findings.append("No tracks were sent, so there is nothing to review.")
    headline = _fader_headline(faders)
    return notes, 0.5 * share, headline, {"tracks": len(faders), "known_faders": len(known)}


def _fader_headline(faders: Sequence[Fader]) -> str:
    if not faders:
        return "No tracks to review."
    boosted = sum(1 for f in faders if f.above_unity)
    buried = sum(1 for f in faders if f.far_below_unity)
    ambiguous = sum(1 for f in faders if f.ambiguous)
    parts = [f"{boosted} above unity"] if boosted else ["none above unity"]
    if buried:
        parts.append(f"{buried} more than 30 dB below it")
    if ambiguous:
        parts.append(f"{ambiguous} at -60 dB (unity or silent, cannot tell which)")
    return f"{len(faders)} tracks, fader positions only: " + ", ".join(parts) + "."


def _mixing_chain(
    kb: KnowledgeBase, body: Mapping[str, object]
) -> tuple[ReviewNotes, float, str, dict[str, object]]:
    track_type = _text(body, "trackType", "trackType")
    if track_type is None:
        raise _bad("trackType", "must be a non-empty string")
    metrics = body.get("metrics")
    if not isinstance(metrics, Mapping):
        raise _bad("metrics", "must be an object with level, peak and plugins")
    level = _number(metrics, "level", "metrics.level")
    peak = _optional_number(metrics, "peak", "metrics.peak")
    plugins = _texts(metrics, "plugins", "metrics.plugins")
    role = shipped_instruments().identify(name=None, track_type=track_type)
    label = f"the selected {track_type} track"
    track = ChainTrack(label, role, track_type, plugins)
    notes = review_chain(kb, track, detailed=True)
    fader = Fader("selected", label, level)
    notes.merge(review_faders(kb, [fader], peaks=[peak]))
    support = (float(role is not None) + float(track.names_known) + float(not fader.ambiguous)) / 3
    kind = role.label.lower() if role else "source unknown"
    headline = (
        f"Chain review for the selected {track_type} track ({kind}), {len(plugins)} insert(s)."
    )
    return (
        notes,
        support,
        headline,
        {"track_type": track_type, "source": role.id if role else None, "inserts": len(plugins)},
    )


def _routing(
    kb: KnowledgeBase, body: Mapping[str, object]
) -> tuple[ReviewNotes, float, str, dict[str, object]]:
    types = _texts(body, "trackTypes", "trackTypes")
    count = _count(body, "trackCount", len(types))
    has_aux = body.get("hasAux", False)
    if not isinstance(has_aux, bool):
        raise _bad("hasAux", "must be true or false")
    notes, specific = review_routing(kb, track_count=count, track_types=types, has_aux=has_aux)
    headline = f"Routing review for {count} tracks ({'with' if has_aux else 'without'} aux tracks)."
    return notes, 0.6 + 0.4 * specific, headline, {"tracks": count, "has_aux": has_aux}


def _full_session(
    kb: KnowledgeBase, body: Mapping[str, object]
) -> tuple[ReviewNotes, float, str, dict[str, object]]:
    rows = _records(body, "trackMetrics")
    count = _count(body, "trackCount", len(rows))
    table = shipped_instruments()
    faders, peaks, tracks = [], [], []
    for index, raw in enumerate(rows):
        path = f"trackMetrics[{index}]"
        track_id = _ident(raw, "trackId", f"{path}.trackId", str(index + 1))
        name = _text(raw, "name", f"{path}.name")
        kind = _text(raw, "type", f"{path}.type")
        label = quoted(name) if name else f"track {track_id}"
        faders.append(Fader(track_id, label, _number(raw, "level", f"{path}.level")))
        peaks.append(_optional_number(raw, "peak", f"{path}.peak"))
        role = table.identify(name=name, track_type=kind)
        tracks.append(ChainTrack(label, role, kind, _texts(raw, "plugins", f"{path}.plugins")))
    notes = review_faders(kb, faders, peaks=peaks)
    flag = clip_flag_note(faders, body.get("hasClipping"))
    if flag:
        notes.limitations.append(flag)
    master = _optional_number(body, "masterLevel", "masterLevel")
    if master is not None and faders and master == max([*(f.db for f in faders), -60.0]):
        notes.limitations.append(
            "masterLevel is the highest track fader (and masterPeak that + 3 dB), not the "
            "master bus meter."
        )
    duration = _optional_number(body, "totalDuration", "totalDuration")
    if duration == 0:
        notes.limitations.append("The session duration was sent as 0 s, so length is not judged.")
    types = [t.declared_type or "audio" for t in tracks]
    has_aux = any(t.role is not None and t.role.id == "bus" for t in tracks)
    routing, _ = review_routing(kb, track_count=count, track_types=types, has_aux=has_aux)
    notes.merge(routing)
    shown: set[str] = set()
    unknown = [t.label for t in tracks if t.role is None]
    for track in tracks:
        if track.role is None:
            continue
        first = track.role.id not in shown and len(shown) < MAX_CHAIN_ROLES
        if first or track.names_known:
            notes.merge(review_chain(kb, track, detailed=False, with_order=first))
            shown.add(track.role.id)
    if unknown:
        notes.limitations.append(
            f"{name_list(unknown)}: the name and type do not say what the source is, so "
            "there is no chain advice for them."
        )
    known_faders = sum(1 for f in faders if not f.ambiguous) / len(faders) if faders else 0.0
    identified = 1 - len(unknown) / len(tracks) if tracks else 0.0
    names = sum(1 for t in tracks if t.names_known) / len(tracks) if tracks else 0.0
    support = statistics.fmean([0.5 * known_faders, identified, names, 1.0])
    headline = _fader_headline(faders).replace(" tracks,", " tracks in the session,", 1)
    summary: dict[str, object] = {
        "tracks": count,
        "identified_sources": len(tracks) - len(unknown),
        "known_faders": sum(1 for f in faders if not f.ambiguous),
        "has_aux": has_aux,
    }
    return notes, support, headline, summary


def _mastering(
    kb: KnowledgeBase, body: Mapping[str, object]
) -> tuple[ReviewNotes, float, str, dict[str, object]]:
    level = _number(body, "masterLevel", "masterLevel")
    peak = _optional_number(body, "masterPeak", "masterPeak")
    fader = Fader("master", "the master", level)
    notes = review_faders(kb, [fader], peaks=[peak])
    flag = clip_flag_note([fader], body.get("hasClipping"))
    if flag:
        notes.limitations.append(flag)
    notes.limitations.append(
        "Loudness (LUFS) and true peak need the audio: send the mix for a measured answer."
    )
    for entry_id, query, pattern in _MASTERING:
        line = notes.cite(kb, entry_id, query, pattern, track_type="master")
        if line:
            notes.recommendations.append(line)
    support = 0.1 if fader.ambiguous else 0.2
    return (
        notes,
        support,
        f"Master fader at {level:+.1f} dB (a fader position).",
        {"master_fader_db": level},
    )


_REVIEWS = {
    "gain_staging": _gain_staging,
    "mixing_chain": _mixing_chain,
    "routing": _routing,
    "full_session": _full_session,
    "mastering": _mastering,
}


def review(body: Mapping[str, object], *, kb: KnowledgeBase) -> dict[str, object]:
    """Review one AI-panel body (see the module docstring for shapes and scores).

    Serves ``POST /codette/analyze`` for bodies :func:`shape_of` recognises (levels in dB
    as fader positions; see ``faders.py``).

    Returns ``{prediction, confidence, actionItems, recommendations, findings,
    quality_score, analysis, limitations, analysis_type}``.

    Raises ProtocolError("invalid_field") naming the field when the body is not an
    object (``body``), matches no shape (``body``), or a field has the wrong type.
    """
    if not isinstance(body, Mapping):
        raise _bad("body", "must be a JSON object")
    shape = shape_of(body)
    if shape is None:
        raise _bad(
            "body",
            "unrecognised analyze body; expected {tracks: [...]} (gain staging), {trackType, "
            "metrics} (mixing chain), {trackCount, trackTypes, hasAux} (routing), "
            "{trackMetrics: [...], ...} (full session) or {masterLevel, ...} (mastering)",
        )
    notes, support, headline, summary = _REVIEWS[shape](kb, body)
    return _reply(shape, notes, support, headline, summary)


def _reply(
    shape: str, notes: ReviewNotes, support: float, headline: str, summary: dict[str, object]
) -> dict[str, object]:
    recommendations = list(notes.recommendations)
    levels_involved = shape != "routing"
    if levels_involved:
        recommendations.append(MEASURE_ADVICE)
        notes.action("measure_levels", "audio", "send audio or start capture", "high")
    passed = sum(1 for c in notes.checks if c.passed)
    quality = round(passed / len(notes.checks), 2) if notes.checks else 0.0
    limitations = list(notes.limitations)
    if not notes.checks:
        limitations.append("No check applies to this input, so the quality score is 0.")
    match = statistics.fmean(notes.advice_confidences) if notes.advice_confidences else 0.0
    confidence = round(min(_MAX_CONFIDENCE, 0.1 + 0.5 * support + 0.3 * match), 2)
    first_advice = [r for r in recommendations if r != MEASURE_ADVICE][:1]
    prediction = " ".join(
        [
            headline,
            *notes.findings[:2],
            *first_advice,
            *([MEASURE_ADVICE] if levels_involved else []),
        ]
    )
    analysis = {
        "analysis_type": shape,
        "findings": list(notes.findings),
        "recommendations": recommendations,
        "quality_score": quality,
        "limitations": limitations,
        "checks": [c.as_dict() for c in notes.checks],
        "summary": summary,
        "confidence_basis": {
            "input_support": round(support, 3),
            "knowledge_match": round(match, 3),
        },
    }
    return {
        "prediction": prediction,
        "confidence": confidence,
        "actionItems": list(notes.action_items),
        "recommendations": recommendations,
        "findings": list(notes.findings),
        "quality_score": quality,
        "analysis": analysis,
        "limitations": limitations,
        "analysis_type": shape,
    }
