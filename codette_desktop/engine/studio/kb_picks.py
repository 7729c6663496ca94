"""Choosing knowledge entries and their most fitting line for the studio tools.

Every tool that quotes the knowledge base goes through :func:`pick`: one BM25 search
(``KnowledgeBase.search_detailed``), the first hit that suits the track and category,
and the guidance or step line of that entry that best matches what was asked. The pick's
``confidence`` is the search's own match confidence scaled by how the chosen hit scored
against the best hit, so a second-choice entry is never reported as sure as the first.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from codette_desktop.engine.knowledge import KnowledgeBase, KnowledgeEntry

_WORD = re.compile(r"[a-z0-9]+")
_FIGURE = re.compile(r"\d")
# "4) Space: ..." is numbered inside its entry; a quoted line stands alone.
_ENUMERATOR = re.compile(r"^\d+\)\s*")
_SENTENCE_END = re.compile(r"(?<=[A-Za-z0-9)]{2})[.;](?=\s)")
# Track types that belong to a family the knowledge base writes for ("kick" -> drums).
_FAMILY = {"kick": "drums", "snare": "drums", "hihat": "drums"}


@dataclass(frozen=True)
class Pick:
    """One chosen entry, the line quoted from it and how well it matched (0..1)."""

    entry: KnowledgeEntry
    line: str
    confidence: float


def words(text: str) -> frozenset[str]:
    """Lower-case words of ``text`` (letters and digits), for simple overlap scoring."""
    return frozenset(w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit())


def fits(entry: KnowledgeEntry, track_type: str | None, *, general_only: bool = False) -> bool:
    """True when ``entry`` is written for ``track_type`` (or its family) or for any track.

    With no track type, instrument-specific entries fit unless ``general_only``.
    """
    if entry.is_general:
        return True
    if track_type is None:
        return not general_only
    wanted = {track_type, _FAMILY.get(track_type, track_type)}
    return bool(wanted & set(entry.track_types))


def best_line(entry: KnowledgeEntry, query: str, *, pattern: str | None = None) -> str:
    """The guidance or step line of ``entry`` that best answers ``query``.

    A line scores one point per word shared with the query, one more if it carries a
    figure and half a point for being guidance (a starting value) rather than a step;
    ties go to the earlier line, so with no overlap the first guidance line wins (entries
    lead with their main starting point). With ``pattern`` (a case-insensitive regular
    expression) only the lines matching it compete, when there are any.
    """
    lines: tuple[str, ...] = (*entry.guidance, *entry.steps)
    guidance = set(entry.guidance)
    if pattern is not None:
        rx = re.compile(pattern, re.IGNORECASE)
        lines = tuple(line for line in lines if rx.search(line)) or lines
    wanted = words(query)
    best, best_score = lines[0], -1.0
    for line in lines:
        score = len(wanted & words(line)) + (1.0 if _FIGURE.search(line) else 0.0)
        score += 0.5 if line in guidance else 0.0
        if score > best_score:
            best, best_score = line, score
    return _ENUMERATOR.sub("", best)


def pick(
    kb: KnowledgeBase,
    query: str,
    *,
    track_type: str | None = None,
    categories: Collection[str] = (),
    exclude: Collection[str] = (),
    general_only: bool = False,
    line_pattern: str | None = None,
    depth: int = 12,
) -> Pick | None:
    """The best entry for ``query`` that suits ``track_type`` and ``categories``.

    ``exclude`` holds entry ids (and titles) already used, so a caller collecting
    several picks gets distinct entries. None when no hit qualifies.
    """
    result = kb.search_detailed(query, track_types=(track_type,) if track_type else (), limit=depth)
    if not result.hits:
        return None
    top_score = result.hits[0][1]
    for entry, score in result.hits:
        if entry.id in exclude or entry.title in exclude:
            continue
        if categories and entry.category not in categories:
            continue
        if not fits(entry, track_type, general_only=general_only):
            continue
        share = score / top_score if top_score > 0 else 0.0
        return Pick(
            entry=entry,
            line=best_line(entry, query, pattern=line_pattern),
            confidence=round(result.confidence * share, 3),
        )
    return None


def quote(
    kb: KnowledgeBase,
    query: str,
    *,
    own: Sequence[KnowledgeEntry],
    pattern: str,
    track_type: str | None,
    categories: Collection[str],
    exclude_lines: Collection[str] = (),
    exclude: Collection[str] = (),
) -> Pick | None:
    """A line answering ``query`` of the kind ``pattern`` describes.

    The entries in ``own`` (those a reference table names for this source) are asked
    first, those of ``categories`` before the others, in order; the first with a line
    matching ``pattern`` answers, at the search's match confidence for ``query``.
    Otherwise the best entry of ``categories`` that suits ``track_type`` answers (general
    entries only when there is no track type), as :func:`pick`. Lines in
    ``exclude_lines`` and entries in ``exclude`` are skipped.
    """
    rx = re.compile(pattern, re.IGNORECASE)
    # An own entry of the wanted category answers before one that only mentions it.
    ordered = sorted(own, key=lambda e: bool(categories) and e.category not in categories)
    for entry in ordered:
        line = best_line(entry, query, pattern=pattern)
        if rx.search(line) and line not in exclude_lines:
            result = kb.search_detailed(query, track_types=(track_type,) if track_type else ())
            return Pick(entry=entry, line=line, confidence=result.confidence)
    found = pick(
        kb,
        query,
        track_type=track_type,
        categories=categories,
        exclude=exclude,
        general_only=track_type is None,
        line_pattern=pattern,
    )
    if found is None or found.line in exclude_lines:
        return None
    return found


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, ending with a full stop: up to the first '.' or ';'
    after a word ("e.g." is not an end)."""
    match = _SENTENCE_END.search(text)
    sentence = text[: match.start()] if match else text.rstrip(".;")
    return sentence + "."
