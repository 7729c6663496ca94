"""Mixing suggestions from the knowledge base for a context type and track type.

Serves ``POST /codette/suggest`` (body ``{context: {type, track_type?}, limit}``). The
context types the frontend sends (``general``, ``gain-staging``, ``mixing``,
``mastering``, ``daw_state``, ``analysis``, ``track_<id>``) map to ordered topic lists in
``resources/reference/suggestions.json``; any other context type is searched as text
("reverb", "de-essing"). Each topic contributes the best entry not yet used, searched
with the track's knowledge type, so titles are distinct.

``confidence`` is the knowledge search's own match confidence for that topic (how well
the words matched what the entry is about, 0.05..0.95) scaled by the chosen entry's
score relative to the topic's best hit; it therefore differs between topics, context
types and track types, and items are ordered by it (then by title).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.genre import shipped_genres
from codette_desktop.engine.studio.instrument_table import Instrument, shipped_instruments
from codette_desktop.engine.studio.kb_picks import Pick, pick
from codette_desktop.engine.studio.parameters import parse_parameters
from codette_desktop.engine.studio.reference import read_table
from codette_desktop.engine.studio.routing import SHARED_FX_MIN_TRACKS
from codette_desktop.errors import ProtocolError

MAX_LIMIT = 20
# With SHARED_FX_MIN_TRACKS or more tracks and no aux, shared send effects come first.
_SHARED_FX_TOPIC = "reverb send aux shared"


@dataclass(frozen=True)
class SuggestionTopics:
    contexts: dict[str, tuple[str, ...]]
    aliases: dict[str, str]


@functools.cache
def shipped_topics() -> SuggestionTopics:
    """The topic lists shipped in ``resources/reference/suggestions.json``, read once."""
    table = read_table("suggestions.json")
    contexts = table.record("contexts")
    aliases = table.record("aliases")
    return SuggestionTopics(
        contexts={name: contexts.texts(name) for name in contexts.names()},
        aliases={name: aliases.text(name) for name in aliases.names()},
    )


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ProtocolError(
            "invalid_field", f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit"
        )
    return limit


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _role(track_type: str | None, daw_context: Mapping[str, object] | None) -> Instrument | None:
    table = shipped_instruments()
    if track_type and track_type.strip():
        return table.identify(name=track_type, track_type=track_type)
    selected = daw_context.get("selected_track") if daw_context else None
    if isinstance(selected, Mapping):
        return table.identify(
            name=_text(selected.get("name")), track_type=_text(selected.get("type"))
        )
    return None


def _needs_shared_fx(daw_context: Mapping[str, object] | None) -> bool:
    counts = daw_context.get("track_counts") if daw_context else None
    if not isinstance(counts, Mapping):
        return False
    total, aux = counts.get("total"), counts.get("aux")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (total, aux)):
        return False
    return bool(total >= SHARED_FX_MIN_TRACKS and aux == 0)  # type: ignore[operator]


def _collect(
    kb: KnowledgeBase,
    topics: list[str],
    *,
    role: Instrument | None,
    limit: int,
    repeat: bool,
    skip: tuple[str, ...] = (),
) -> list[Pick]:
    """One pick per topic (or, with ``repeat``, as many as ``limit`` from one topic);
    entries in ``skip`` are never picked."""
    picks: list[Pick] = []
    used: list[str] = list(skip)
    kb_type = role.kb_track_type if role else None
    for topic in topics:
        query = f"{topic} {role.kb_topic}" if role and role.kb_track_type else topic
        while len(picks) < limit:
            found = pick(kb, query, track_type=kb_type, exclude=used)
            if found is None:
                break
            picks.append(found)
            used.extend((found.entry.id, found.entry.title))
            if not repeat:
                break
        if len(picks) >= limit:
            break
    return picks


def suggest(
    kb: KnowledgeBase,
    *,
    context_type: str,
    track_type: str | None,
    limit: int,
    daw_context: Mapping[str, object] | None = None,
) -> list[dict[str, object]]:
    """Up to ``limit`` (1..20) suggestions for ``context_type`` and ``track_type``.

    Serves ``POST /codette/suggest``: ``context.type`` -> ``context_type``,
    ``context.track_type`` -> ``track_type``, ``limit`` -> ``limit``; the reply is
    ``{"suggestions": suggest(...)}``.

    ``track_type`` may be a DAW type (``audio``, ``aux``, ``master``) or an instrument
    (``vocal``, ``drums``, ``bass``, a track name like ``Lead Vox``); without it the
    ``daw_context.selected_track`` (chat's shape) names the track. With
    ``daw_context.track_counts`` showing 3+ tracks and no aux, shared send effects come
    first.

    Each item: ``{id, title, description, type, confidence, source, parameters, summary,
    references, context}``. ``description`` is the entry's guidance line for the topic,
    ``type`` the entry's category, ``source`` the knowledge entry id, ``parameters`` the
    starting values in that line (``frequency_hz``, ``gain_db``, ``q``, ``ratio``,
    ``attack_ms``, ``loudness_lufs`` ...; see ``parameters.py``), ``references`` the
    entry's citations. Confidence: see the module docstring.

    Raises ProtocolError("invalid_field", field="limit") for a bad limit.
    """
    count = _limit(limit)
    topics_table = shipped_topics()
    name = (context_type or "").strip().lower() or "general"
    if name.startswith("track_"):
        name = "general"
    name = topics_table.aliases.get(name, name)
    role = _role(track_type, daw_context)
    if name in topics_table.contexts:
        topics = list(topics_table.contexts[name])
        if name in ("general", "mixing") and _needs_shared_fx(daw_context):
            topics.insert(0, _SHARED_FX_TOPIC)
        # A genre's mix conventions are no general tip: they come when the genre is asked.
        genre_entries = tuple(
            g.knowledge_entry for g in shipped_genres().genres if g.knowledge_entry
        )
        picks = _collect(kb, topics, role=role, limit=count, repeat=False, skip=genre_entries)
    else:
        free_text = name.replace("-", " ").replace("_", " ")
        picks = _collect(kb, [free_text], role=role, limit=count, repeat=True)
        if not picks:
            return suggest(
                kb,
                context_type="general",
                track_type=track_type,
                limit=count,
                daw_context=daw_context,
            )
    items = [
        {
            "id": f"kb:{p.entry.id}",
            "title": p.entry.title,
            "description": p.line,
            "type": p.entry.category,
            "confidence": p.confidence,
            "source": p.entry.id,
            "parameters": parse_parameters(p.line),
            "summary": p.entry.summary,
            "references": list(p.entry.sources),
            "context": name,
        }
        for p in picks
    ]
    items.sort(key=lambda item: (-float(item["confidence"]), str(item["title"])))  # type: ignore[arg-type]
    return items[:count]
