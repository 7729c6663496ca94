"""The mixing knowledge base: validated entries from ``resources/knowledge/*.json``.

Each file is a JSON list of entries shaped like :class:`KnowledgeEntry`. Loading is strict
(a malformed entry raises :class:`~codette_desktop.errors.ConfigError` naming the file and
the entry) because a silently skipped entry would only show up as a worse answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from codette_desktop.engine.retrieval import (
    ASKING_TERMS,
    EVERYDAY_TERMS,
    GENERIC_TERMS,
    TRACK_TYPE_WORDS,
    BM25Index,
    known_terms,
    tokenize,
    track_type_terms,
)
from codette_desktop.errors import ConfigError

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# Field weights for the BM25 document: a word in the title or keywords says far more
# about what an entry is for than the same word in a pitfall.
_FIELD_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("title", 3),
    ("keywords", 3),
    ("category", 2),
    ("track_types", 1),
    ("summary", 2),
    ("guidance", 1),
    ("steps", 1),
    ("perception", 1),
    ("math", 1),
    ("pitfalls", 1),
)

# Boost for entries written for the asked-about track type, less for entries written for
# it among others ("any" too) or for its family (a drums entry for a kick), and a mild
# discount for entries written for a different type ("any" entries are left alone).
TYPE_BOOST = 1.35
_TYPE_SHARED_BOOST = 1.15
_TYPE_MISMATCH = 0.85
# The least share of a type boost an entry gets when it is about none of the asked terms.
_MIN_TYPE_FOCUS = 0.25
# Favour for entries named by a preferred term (see search_detailed).
_PREFER_BOOST = 1.5
# A question that names no track and has none selected is about the general technique: an
# entry written only for particular instruments is discounted, less the more the question
# names it ("room reverb decay" is not asking about vocal reverb).
_UNNAMED_DISCOUNT = 0.12
_INSTRUMENT_TYPES = frozenset(tokenize("vocal kick snare drums bass guitar keys synth instrument"))
# Discount for an entry titled by an aspect the question does not ask about (see
# search_detailed).
_ASIDE_DISCOUNT = 0.85
_OTHER_SOURCE_DISCOUNT = 0.9
# The pieces of a drum kit share the family "drums" but not their advice.
_KIT_PIECES = frozenset(tokenize("kick snare hihat"))
_OTHER_PIECE = 0.45
# Favour for an entry titled by the cause of a described symptom.
_CAUSE_BOOST = 1.15
# Extra relevance for an entry whose category is one of the asked terms.
_CATEGORY_BONUS = 0.3
# Weight of query words that no entry is about, next to words some entry is about.
_DESCRIPTIVE_WEIGHT = 0.3
# Weight of the words that describe a recognised symptom (its cause is searched instead).
_DESCRIBING_WEIGHT = 0.5


@dataclass(frozen=True)
class KnowledgeEntry:
    """One knowledge-base entry. See the module docstring for the file format."""

    id: str
    title: str
    category: str
    keywords: tuple[str, ...]
    track_types: tuple[str, ...]
    summary: str
    guidance: tuple[str, ...]
    steps: tuple[str, ...]
    perception: str
    math: str
    pitfalls: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def is_general(self) -> bool:
        """True for entries that apply to any track."""
        return "any" in self.track_types


_STRING_FIELDS = ("id", "title", "category", "summary", "perception", "math")
_LIST_FIELDS = ("keywords", "track_types", "guidance", "steps", "pitfalls", "sources")
# Lists an answer cannot do without; the others may legitimately be empty.
_NON_EMPTY_LISTS = frozenset({"keywords", "track_types", "guidance"})
_ALL_FIELDS = frozenset(f.name for f in fields(KnowledgeEntry))


def entry_from_json(raw: object, *, where: str) -> KnowledgeEntry:
    """Validate one decoded JSON entry; ``where`` names it in the error message."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: an entry must be a JSON object, got {type(raw).__name__}")
    entry_id = raw.get("id")
    if isinstance(entry_id, str):
        where = f"{where} (id {entry_id!r})"
    missing = sorted(_ALL_FIELDS - raw.keys())
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(raw.keys()) - _ALL_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values: dict[str, object] = {}
    for name in _STRING_FIELDS:
        value = raw[name]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: field {name!r} must be a non-empty string")
        values[name] = value.strip()
    if not _ID.match(str(values["id"])):
        raise ConfigError(f"{where}: id must be lower-case words joined by '-'")
    for name in _LIST_FIELDS:
        value = raw[name]
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise ConfigError(f"{where}: field {name!r} must be a list of non-empty strings")
        if name in _NON_EMPTY_LISTS and not value:
            raise ConfigError(f"{where}: field {name!r} must not be empty")
        values[name] = tuple(item.strip() for item in value)
    return KnowledgeEntry(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits plus how well the query matched at all.

    ``strength`` compares the best raw score with what an ideal entry would score for the
    same words; ``focus`` is the share of key terms found in the best entry's title,
    keywords or category (what the entry is *about*, not words it merely mentions);
    ``magnitude`` grows with the best raw score on the corpus' own idf scale, so a match on
    one common word stays weak; ``coverage`` is the share of query terms the knowledge base
    knows at all. All 0..1. ``terms`` are all canonical query terms, ``key_terms`` those
    used for ranking (generic words like "mix" are dropped when anything more specific is
    there); ``domain_terms`` are those belonging to mixing and production.
    """

    hits: list[tuple[KnowledgeEntry, float]]
    terms: tuple[str, ...]
    key_terms: tuple[str, ...]
    strength: float
    focus: float
    magnitude: float
    coverage: float
    domain_terms: frozenset[str]

    @property
    def broad(self) -> bool:
        """True when the only studio words are generic ones ("how do I mix this?")."""
        return bool(self.domain_terms) and self.domain_terms <= GENERIC_TERMS

    @property
    def confidence(self) -> float:
        """The match turned into a 0..1 confidence (0.05..0.95 for any match at all)."""
        if not self.terms or self.strength <= 0.0:
            return 0.0
        value = 0.4 * self.strength + 0.4 * self.focus + 0.2 * self.magnitude
        if self.broad:
            value *= 0.6
        if not self.domain_terms:
            # Only everyday words matched, and only incidentally ("time" in "decay time"):
            # keep such a match below the off-topic line.
            value *= 0.3
        return round(0.05 + 0.9 * max(0.0, min(1.0, value)), 3)


class KnowledgeBase:
    """An immutable, searchable collection of :class:`KnowledgeEntry`."""

    def __init__(self, entries: Sequence[KnowledgeEntry]) -> None:
        ids: set[str] = set()
        for entry in entries:
            if entry.id in ids:
                raise ConfigError(f"duplicate knowledge entry id {entry.id!r}")
            ids.add(entry.id)
        self._entries = tuple(entries)
        self._by_id = {entry.id: entry for entry in self._entries}
        self._index = BM25Index([_document_terms(entry) for entry in self._entries])
        self._entry_types = [track_type_terms(e.track_types) for e in self._entries]
        self._focus_terms = {e.id: _focus_terms(e) for e in self._entries}
        self._categories = [frozenset(tokenize(e.category)) for e in self._entries]
        self._title_terms = [frozenset(tokenize(e.title)) for e in self._entries]
        self._positions = {e.id: i for i, e in enumerate(self._entries)}
        # Title and keywords only: what an entry is named for, without its category.
        self._named_terms = [
            frozenset(tokenize(" ".join((e.title, *e.keywords)))) for e in self._entries
        ]
        keyword_terms = {t for e in self._entries for k in e.keywords for t in tokenize(k)}
        category_terms = {t for e in self._entries for t in tokenize(e.category)}
        self._topics = frozenset().union(*self._focus_terms.values())
        self._domain = known_terms() | keyword_terms | category_terms

    @classmethod
    def load(cls, directory: Path) -> KnowledgeBase:
        """Load every ``*.json`` file in ``directory`` (sorted by name).

        Raises ConfigError when the directory is missing or empty, a file is not valid JSON
        or not a list, an entry breaks the schema, or two entries share an id.
        """
        if not directory.is_dir():
            raise ConfigError(f"knowledge directory {directory} does not exist")
        entries: list[KnowledgeEntry] = []
        seen: dict[str, str] = {}
        for path in sorted(directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(f"knowledge file {path.name}: cannot read JSON: {exc}") from exc
            if not isinstance(data, list):
                raise ConfigError(f"knowledge file {path.name}: top level must be a JSON list")
            for position, raw in enumerate(data):
                entry = entry_from_json(raw, where=f"knowledge file {path.name}, entry {position}")
                if entry.id in seen:
                    raise ConfigError(
                        f"knowledge file {path.name}, entry {position}: duplicate id "
                        f"{entry.id!r} (first defined in {seen[entry.id]})"
                    )
                seen[entry.id] = path.name
                entries.append(entry)
        if not entries:
            raise ConfigError(f"knowledge directory {directory} holds no entries")
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[KnowledgeEntry]:
        return iter(self._entries)

    def get(self, entry_id: str) -> KnowledgeEntry | None:
        return self._by_id.get(entry_id)

    def search(
        self, query: str, *, track_types: Iterable[str] = (), limit: int = 5
    ) -> list[tuple[KnowledgeEntry, float]]:
        """Entries matching ``query``, best first, with their (boosted) BM25 scores.

        Entries written for one of ``track_types`` are boosted; entries for other track
        types are discounted a little. Entries with no query term never appear.
        """
        return self.search_detailed(query, track_types=track_types, limit=limit).hits

    def search_detailed(
        self,
        query: str,
        *,
        track_types: Iterable[str] = (),
        limit: int = 5,
        expansion: Mapping[str, float] | None = None,
        boosts: Mapping[str, float] | None = None,
        type_boost: float = TYPE_BOOST,
        prefer: frozenset[str] = frozenset(),
        aside: frozenset[str] = frozenset(),
        describing: frozenset[str] = frozenset(),
        causes: frozenset[str] = frozenset(),
    ) -> SearchResult:
        """Like :meth:`search`, plus the match strength the engine's confidence uses.

        ``expansion`` adds canonical terms the question implies but does not say (the
        cause of a described symptom, the topic of a follow-up), each with its weight;
        ``boosts`` multiplies the scores of the named entries (the entry a follow-up
        continues). Neither changes which of the question's own words count as studio
        words (``domain_terms``). ``type_boost`` is the factor for entries written for
        exactly the asked track type; entries named (title, keywords) by a ``prefer`` term
        are favoured (the entry-level "basics" entries for a "what is ...?" question), and
        entries titled by an ``aside`` term are discounted (an entry about where a de-esser
        goes is not the answer to "what is a de-esser?"). ``describing`` terms only describe
        a symptom whose cause is in ``expansion`` ("narrow" in "my guitars sound narrow"):
        they weigh like descriptive words, and entries titled by one of the symptom's
        ``causes`` are favoured a little ("Adding air" for a dull mix).
        """
        terms = tuple(dict.fromkeys(tokenize(query)))
        specific = tuple(t for t in terms if t not in GENERIC_TERMS)
        key_terms = specific or terms
        # Words no entry is *about* ("clean", "tame") are usually how the user describes
        # the wish, not the topic: they still count, but much less than topic words.
        topical = [
            t
            for t in key_terms
            if t in self._topics and t not in ASKING_TERMS and t not in EVERYDAY_TERMS
        ]
        weights = {
            t: _DESCRIPTIVE_WEIGHT
            if topical and t not in topical
            else _DESCRIBING_WEIGHT
            if t in describing
            else 1.0
            for t in key_terms
        }
        for term, weight in (expansion or {}).items():
            weights[term] = max(weights.get(term, 0.0), weight)
        ranked_terms = tuple(weights)
        track_types = tuple(track_types)
        wanted = track_type_terms(track_types)
        exact = track_type_terms(track_types, parents=False)
        ranked: list[tuple[float, float, int, float]] = []  # relevance, raw, index, focus
        asked = set(ranked_terms)
        total_weight = sum(weights.values())
        for item in self._index.score(ranked_terms, weights=weights):
            entry = self._entries[item.index]
            about_terms = self._focus_terms[entry.id]
            # Weighted like the score: a word the question only implies counts for less.
            focus = sum(w for t, w in weights.items() if t in about_terms) / total_weight
            # An entry about the asked terms beats one that merely mentions them often, and
            # an entry whose category is an asked term is about it above all.
            in_category = bool(self._categories[item.index] & set(key_terms))
            about = 1.0 + focus + (_CATEGORY_BONUS if in_category else 0.0)
            ranked.append((item.score * about, item.score, item.index, focus))
        hits: list[tuple[KnowledgeEntry, float]] = []
        for relevance, _, index, _ in ranked:
            entry = self._entries[index]
            named = len(asked & self._named_terms[index]) / len(asked) if asked else 0.0
            factor = (boosts or {}).get(entry.id, 1.0)
            types = self._entry_types[index]
            boost = 1.0
            if exact & types:
                boost = _TYPE_SHARED_BOOST if entry.is_general else type_boost
            elif exact & _KIT_PIECES and types & _KIT_PIECES:
                factor *= _OTHER_PIECE  # a kick entry is no answer about the snare
            elif wanted & types:
                boost = _TYPE_SHARED_BOOST
            elif wanted and not entry.is_general:
                factor *= _TYPE_MISMATCH
            elif not wanted and not entry.is_general and types & _INSTRUMENT_TYPES:
                factor *= 1.0 - _UNNAMED_DISCOUNT * (1.0 - named)
            # Written for the track type matters in proportion to being about the question:
            # a vocal entry on recording is no answer to "how do I gain stage this vocal?".
            factor *= 1.0 + (boost - 1.0) * max(named, _MIN_TYPE_FOCUS)
            if prefer and prefer & self._named_terms[index] and self._title_terms[index] & asked:
                factor *= _PREFER_BOOST
            title = self._title_terms[index]
            # ... unless the question names both sides anyway ("clip before the limiter").
            if aside & title and len(title & asked) < 2:
                factor *= _ASIDE_DISCOUNT
            if causes & title:
                factor *= _CAUSE_BOOST
            # An entry named for another instrument than the one asked about ("Kick and
            # bass relationship" for a question about the kick alone).
            if exact and (title & TRACK_TYPE_WORDS) - wanted:
                factor *= _OTHER_SOURCE_DISCOUNT
            hits.append((entry, round(relevance * factor, 4)))
        hits.sort(key=lambda hit: (-hit[1], hit[0].id))
        strength = coverage = focus = magnitude = 0.0
        if ranked:
            # The match quality is judged on the best entry for the words alone, before
            # any track-type boost.
            _, raw, index, focus = max(ranked, key=lambda r: (r[0], -r[2]))
            ideal = self._index.ideal_score(ranked_terms, weights=weights)
            strength = min(1.0, raw / ideal) if ideal > 0 else 0.0
            covered = sum(1 for t in key_terms if self._index.document_frequency(t) > 0)
            coverage = covered / len(key_terms) if key_terms else 0.0
            scale = self._index.max_idf()
            magnitude = 1.0 - math.exp(-raw / scale) if scale > 0 else 0.0
        return SearchResult(
            hits=hits[: max(0, limit)],
            terms=terms,
            key_terms=key_terms,
            strength=round(strength, 4),
            focus=round(focus, 4),
            magnitude=round(magnitude, 4),
            coverage=round(coverage, 4),
            domain_terms=frozenset(
                t for t in terms if t in self._domain and t not in EVERYDAY_TERMS
            ),
        )

    def focus(self, entry: KnowledgeEntry, terms: Iterable[str]) -> float:
        """Share of ``terms`` (canonical) in the entry's title, keywords or category."""
        unique = tuple(dict.fromkeys(terms))
        if not unique:
            return 0.0
        about = self._focus_terms.get(entry.id) or _focus_terms(entry)
        return sum(1 for t in unique if t in about) / len(unique)

    def title_focus(self, entry: KnowledgeEntry, terms: Iterable[str]) -> float:
        """Share of ``terms`` (canonical) in the entry's title: what it is named for."""
        unique = tuple(dict.fromkeys(terms))
        if not unique:
            return 0.0
        index = self._positions.get(entry.id)
        title = self._title_terms[index] if index is not None else frozenset(tokenize(entry.title))
        return sum(1 for t in unique if t in title) / len(unique)

    def is_domain_term(self, term: str) -> bool:
        """True when ``term`` (canonical) belongs to mixing and production."""
        return term in self._domain and term not in EVERYDAY_TERMS


def _focus_terms(entry: KnowledgeEntry) -> frozenset[str]:
    # What an entry is about: its title, category and keywords. Its track types say whom
    # it is for, which the type boost weighs separately.
    text = " ".join((entry.title, entry.category, *entry.keywords))
    return frozenset(tokenize(text))


def _document_terms(entry: KnowledgeEntry) -> list[str]:
    terms: list[str] = []
    for name, weight in _FIELD_WEIGHTS:
        value = getattr(entry, name)
        text = value if isinstance(value, str) else " ".join(value)
        terms.extend(tokenize(text) * weight)
    # A guidance line giving "2:1-4:1" answers "what ratio?" without the word.
    terms.extend(_RATIO_TERM for line in entry.guidance if _RATIO_VALUE.search(line))
    return terms


_RATIO_VALUE = re.compile(r"\d\s*:\s*1\b")
(_RATIO_TERM,) = tokenize("ratio")
