"""A genre guess from a session's instrumentation: track names, types and plugins.

Serves ``POST /api/analysis/detect-genre`` (body ``{tracks: [Track, ...]}``; the frontend
sends full Track objects and no tempo). Cues come from ``resources/reference/genres.json``:
each cue (an instrument of the instrument table, or a word such as "trap", "drop",
"banjo") counts once per session and adds its weights to the genres it is typical of.

Confidence is honest about how little instrumentation proves:
``0.85 × strength × (0.4 + 0.6 × separation)``, where ``strength = 1 − e^(−top/3)``
grows with the winning genre's score (two signature cues ≈ 0.86) and ``separation =
(top − second) / top`` is how clearly it beats the runner-up. A single generic cue
("Lead Vox") gives about 0.1; "808", "Trap Hat", "Kick", "Lead Vox" give about 0.7; the
0.85 ceiling stays because no audio or tempo was analysed. No cue at all gives
``"Unknown"`` at 0.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from codette_desktop.engine.studio.instrument_table import shipped_instruments
from codette_desktop.engine.studio.reference import read_table
from codette_desktop.errors import ConfigError, ProtocolError

UNKNOWN = "Unknown"
MAX_CONFIDENCE = 0.85
STRENGTH_SCALE = 3.0
MAX_CANDIDATES = 3
_SEPARATORS = re.compile(r"[_\-.]+")


@dataclass(frozen=True)
class Genre:
    id: str
    name: str
    knowledge_entry: str | None


@dataclass(frozen=True)
class Cue:
    label: str
    instrument: str | None
    pattern: re.Pattern[str] | None
    weights: dict[str, float]


@dataclass(frozen=True)
class GenreTable:
    genres: tuple[Genre, ...]
    cues: tuple[Cue, ...]


@functools.cache
def shipped_genres() -> GenreTable:
    """The cue table shipped in ``resources/reference/genres.json``, read once."""
    table = read_table("genres.json")
    genres = tuple(
        Genre(row.text("id"), row.text("name"), row.optional_text("knowledge_entry"))
        for row in table.records("genres")
    )
    ids = {g.id for g in genres}
    instruments = shipped_instruments()
    cues = []
    for row in table.records("cues"):
        instrument = row.optional_text("instrument")
        pattern_text = row.optional_text("pattern")
        if (instrument is None) == (pattern_text is None):
            raise ConfigError(f"{row.where}: give exactly one of 'instrument' or 'pattern'")
        if instrument is not None:
            try:
                instruments.get(instrument)
            except KeyError:
                raise ConfigError(f"{row.where}: unknown instrument {instrument!r}") from None
        try:
            pattern = re.compile(pattern_text) if pattern_text else None
        except re.error as exc:
            raise ConfigError(f"{row.where}.pattern: {exc}") from exc
        weights_row = row.record("weights")
        weights = {g: weights_row.number(g) for g in weights_row.names()}
        if not weights or not set(weights) <= ids or min(weights.values()) <= 0:
            raise ConfigError(f"{row.where}.weights: positive weights for known genres")
        cues.append(Cue(row.text("label"), instrument, pattern, weights))
    return GenreTable(genres, tuple(cues))


def _track_text(track: Mapping[str, object]) -> tuple[str, str | None, str | None]:
    """(searchable text, name, declared type) of one frontend Track object."""
    name = track.get("name")
    kind = track.get("type")
    parts = [v for v in (name, kind) if isinstance(v, str)]
    # ``inserts`` holds Plugin objects ({name, type}) in the frontend, ``plugins`` names.
    for key in ("inserts", "plugins"):
        value = track.get(key)
        if isinstance(value, list):
            for plugin in value:
                if isinstance(plugin, str):
                    parts.append(plugin)
                elif isinstance(plugin, Mapping) and isinstance(plugin.get("name"), str):
                    parts.append(str(plugin["name"]))
    text = _SEPARATORS.sub(" ", " ".join(parts).lower())
    return (
        text,
        name.strip() if isinstance(name, str) and name.strip() else None,
        kind if isinstance(kind, str) else None,
    )


def _validate(tracks: object) -> list[Mapping[str, object]]:
    if not isinstance(tracks, Sequence) or isinstance(tracks, str | bytes):
        raise ProtocolError(
            "invalid_field", "tracks must be a list of track objects", field="tracks"
        )
    for index, track in enumerate(tracks):
        if not isinstance(track, Mapping):
            raise ProtocolError(
                "invalid_field", "each track must be an object", field=f"tracks[{index}]"
            )
    return list(tracks)


def detect_genre(tracks: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """A genre guess for the session made of ``tracks`` (frontend Track objects).

    Serves ``POST /api/analysis/detect-genre`` (body ``{tracks}``).

    Reads each track's ``name``, ``type`` and plugin names (``inserts`` objects or
    ``plugins`` strings). Returns ``{detected_genre, confidence, candidates, evidence,
    scores, knowledge_entry}``: ``candidates`` are the runner-up genre names (strings)
    with any evidence, best first; ``evidence`` says which track showed which cue and
    what could not be judged; ``scores`` the summed cue weights per genre;
    ``knowledge_entry`` the knowledge id with that genre's mix conventions, if any.

    Raises ProtocolError("invalid_field") when ``tracks`` is not a list of objects.
    """
    rows = _validate(tracks)
    table = shipped_genres()
    instruments = shipped_instruments()
    scores = {genre.id: 0.0 for genre in table.genres}
    evidence: list[str] = []
    seen: dict[str, str] = {}  # cue label -> first track showing it
    parsed = [_track_text(track) for track in rows]
    for text, name, kind in parsed:
        role = instruments.identify(name=name, track_type=kind)
        for cue in table.cues:
            if cue.label in seen:
                continue
            hit = (
                cue.instrument is not None and role is not None and role.id == cue.instrument
            ) or (cue.pattern is not None and cue.pattern.search(text) is not None)
            if hit:
                seen[cue.label] = name or kind or "unnamed track"
                for genre_id, weight in cue.weights.items():
                    scores[genre_id] += weight
    names = {genre.id: genre.name for genre in table.genres}
    for cue in table.cues:
        if cue.label in seen:
            strongest = sorted(cue.weights.items(), key=lambda kv: -kv[1])[:3]
            evidence.append(
                f"'{seen[cue.label]}': {cue.label} → typical of "
                + ", ".join(names[g] for g, _ in strongest)
            )
    ranked = sorted((g for g in table.genres if scores[g.id] > 0), key=lambda g: -scores[g.id])
    if not rows:
        evidence.append("No tracks were sent, so there is nothing to judge.")
    elif not ranked:
        evidence.append(
            f"None of the {len(rows)} track names, types or plugins names an instrument or "
            "style cue (names like 'Audio 1' say nothing about style)."
        )
    evidence.append(
        "Judged from instrumentation only: no tempo or audio was analysed, so send a mix "
        "for a measured answer."
    )
    if not ranked:
        return {
            "detected_genre": UNKNOWN,
            "confidence": 0.0,
            "candidates": [],
            "evidence": evidence,
            "scores": {},
            "knowledge_entry": None,
        }
    top = scores[ranked[0].id]
    second = scores[ranked[1].id] if len(ranked) > 1 else 0.0
    strength = 1.0 - math.exp(-top / STRENGTH_SCALE)
    separation = (top - second) / top
    confidence = MAX_CONFIDENCE * strength * (0.4 + 0.6 * separation)
    if second == top:
        evidence.append(
            f"{ranked[0].name} and {ranked[1].name} fit equally well; the first is listed."
        )
    return {
        "detected_genre": ranked[0].name,
        "confidence": round(confidence, 2),
        "candidates": [g.name for g in ranked[1 : 1 + MAX_CANDIDATES]],
        "evidence": evidence,
        "scores": {names[g.id]: round(scores[g.id], 2) for g in ranked},
        "knowledge_entry": ranked[0].knowledge_entry,
    }
