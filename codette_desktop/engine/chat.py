"""The chat engine: a question in, a grounded, perspective-shaped answer out.

How an answer is planned (all local, typically well under a millisecond):

1. The question's language is detected; one in German, Spanish, French, Italian or
   Portuguese is glossed into English words (:mod:`~codette_desktop.engine.language`).
2. Small talk (greetings, thanks, "what can you do") gets a short intro.
3. What it asks for is detected (:mod:`~codette_desktop.engine.intent`), with the numbers
   it gives (:mod:`~codette_desktop.engine.numbers`) and the symptoms it describes
   (:mod:`~codette_desktop.engine.symptoms`). A follow-up ("and the attack?") is resolved
   against the session's topic, stored in memory (:mod:`~codette_desktop.engine.followup`).
4. The knowledge base is searched (BM25 plus the symptom's cause words, the follow-up's
   topic, the selected track's type and, when "this" points at it, what its name says:
   the part of a kit, what a bus sums); the words that only describe a symptom weigh
   less than its cause; off-topic questions are refused
   (:mod:`~codette_desktop.engine.topicality`).
5. The close matches are ranked again by how well their lines carry the asked-for fact
   (:mod:`~codette_desktop.engine.facts`); confidence follows the match and that fit.
6. The answer is composed (:mod:`~codette_desktop.engine.compose`) and redrawn while it
   equals one of the session's last five answers (read from memory, so this survives a
   restart).

:meth:`CodetteEngine.prepare` does all of that without writing anything, so another
engine (a local model) can answer from the same :class:`Grounding`;
:meth:`CodetteEngine.commit` then stores the question, the final text and the topic.
:meth:`CodetteEngine.answer` is both. The engine is synchronous and thread-safe; the
server runs it in a worker thread.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from codette_desktop.domain import daw as wire
from codette_desktop.engine.analysis_notes import wants_analysis
from codette_desktop.engine.chunks import split_chunks
from codette_desktop.engine.compose import AnswerComposer, Candidate, Plan
from codette_desktop.engine.context import PROGRAMME_FAMILIES, DawContext, TempoGrid, read_context
from codette_desktop.engine.drafting import Composer, Draft
from codette_desktop.engine.facts import asks_for_start, gives_values_for, pick_facts
from codette_desktop.engine.followup import Topic, is_follow_up, merge_values
from codette_desktop.engine.grounding import Grounding
from codette_desktop.engine.intent import (
    DESCRIPTOR_TERMS,
    PARAMETER_TERMS,
    Intent,
    content_text,
    detect_intent,
    plain_amounts,
)
from codette_desktop.engine.knowledge import TYPE_BOOST, KnowledgeBase, SearchResult
from codette_desktop.engine.language import Gloss, gloss
from codette_desktop.engine.memory import MemoryStore
from codette_desktop.engine.numbers import (
    NoteValue,
    Reading,
    note_value,
    readings,
    without_readings,
)
from codette_desktop.engine.perspectives import (
    DEFAULT_PERSPECTIVE,
    INSTRUCTIONS,
    PERSPECTIVES,
    validate_perspective,
)
from codette_desktop.engine.readings import asks_judgement
from codette_desktop.engine.retrieval import (
    GENERIC_TERMS,
    PROCESS_TERMS,
    SOURCE_TERMS,
    tokenize,
    track_types_named,
)
from codette_desktop.engine.smalltalk import (
    OffTopic,
    SmallTalk,
    small_talk_confidence,
    small_talk_kind,
)
from codette_desktop.engine.symptoms import Symptom, find_symptoms, phrase_terms
from codette_desktop.engine.topicality import OFF_TOPIC_CONFIDENCE, is_off_topic
from codette_desktop.errors import ProtocolError

__all__ = ["ChatAnswer", "ChatQuery", "CodetteEngine", "split_chunks"]

# How many earlier answers of a session a new answer must differ from.
NO_REPEAT_WINDOW = 5
# How many earlier messages a grounding carries for a model's context.
RECENT_TURNS = 6
# Long pastes are cut before tokenising; nothing useful is lost and latency stays flat.
_MAX_QUERY_CHARS = 2000
_MAX_DRAFTS = 12
# A follow-up's topic words count less than its own; the entry it continues is favoured.
_TOPIC_WEIGHT = 0.4
_PREVENTED = re.compile(r"\b(?:without|avoid|avoiding)\s+((?:\w+\s*){1,3})", re.IGNORECASE)
_YARDSTICK = re.compile(r"\b(?:compared (?:to|with)|than|next to)\b([^,.;?!]+)", re.IGNORECASE)
_LOUDNESS, _STREAMING = tokenize("loudness streaming")
# Words in a question short enough to lean on the session's topic by its subject alone.
_SHORT_FOLLOW_UP = 6
# The selected track's name words, when the question points at it ("this", "these").
_TRACK_NAME_WEIGHT = 0.6
_PART_TERMS = frozenset(
    tokenize(
        "overhead overheads oh room rooms tom toms cymbals backing bgv harmony adlibs acoustic"
        " electric strings violins cello brass horns woodwinds orchestra choir bv bvs stack"
    )
)
# The words that describe a symptom's cause beyond its name weigh this much in the search.
_CAUSE_DETAIL_WEIGHT = 0.5
_FOLLOW_UP_BOOST = 1.3
# Hits within this share of the best score compete on how well they carry the fact.
_CLOSE_MATCH = 0.5
_MAX_CANDIDATES = 5
# How much a tie with the runner-up lowers the confidence (at most).
_CLOSE_CALL_PENALTY = 0.45

# "What is ...?" and "explain ..." favour the entries written for beginners.
_ENTRY_LEVEL = frozenset(tokenize("basics beginner beginners explained introduction"))
# "What's the difference ...?" favours the entries written as comparisons.
_COMPARISON = frozenset(tokenize("vs versus difference"))
# ... and "where does it go?" the entries about placement; the other questions neither.
_PLACEMENT = frozenset(tokenize("placement"))
# With a selected track, "this"/"it" points at it: its type counts for more, ...
_THIS_TRACK_BOOST = 1.6
# ... but "this song" or "this mix" is the whole song, not the selected track.
_POINTS_AT_TRACK = re.compile(
    r"\b(?:this|it|these|here)\b(?! (?:song|mix|tune|record|project|session))", re.IGNORECASE
)
_PROGRAMME = re.compile(
    r"\b(?:master(?:ed|ing|s)?|premaster|mix ?bus|2-?bus|two-?bus|stereo bus|final mix)\b",
    re.IGNORECASE,
)
_PLATFORMS = (
    ("Spotify", re.compile(r"\bspotify\b", re.IGNORECASE)),
    ("YouTube", re.compile(r"\byou ?tube\b", re.IGNORECASE)),
    ("Apple Music", re.compile(r"\bapple\b|\bitunes\b|\bsound ?check\b", re.IGNORECASE)),
    ("Tidal", re.compile(r"\btidal\b", re.IGNORECASE)),
    ("Amazon Music", re.compile(r"\bamazon\b", re.IGNORECASE)),
)


@dataclass(frozen=True)
class ChatQuery:
    """One chat question for the engine.

    The server builds it from a validated ``chat`` request, so only a direct caller (a
    test, the eval bench) can hand it something new: a perspective spelled loosely is
    canonicalised, and a ``daw_context`` mapping goes through the protocol's own
    validation (:class:`codette_desktop.domain.DawContext`).
    """

    message: str
    session_id: str
    perspective: str = DEFAULT_PERSPECTIVE
    daw_context: wire.DawContext | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.message, str) or not self.message.strip():
            raise ProtocolError(
                "invalid_field", "message must be a non-empty string", field="message"
            )
        if not isinstance(self.session_id, str):
            raise ProtocolError("invalid_field", "session_id must be a string", field="session_id")
        if self.perspective not in PERSPECTIVES:
            object.__setattr__(self, "perspective", validate_perspective(self.perspective))
        if self.daw_context is not None and not isinstance(self.daw_context,
                                                            wire.DawContext | Mapping):
            raise ProtocolError(
                "invalid_field", "daw_context must be an object", field="daw_context"
            )


@dataclass(frozen=True)
class ChatAnswer:
    """The engine's reply. ``"".join(chunks) == response``.

    ``grounding`` is what the answer rests on (always set by the engine); ``topic`` is
    what :meth:`CodetteEngine.commit` stores for follow-ups (None for small talk and
    refusals, which leave the session's topic as it was).
    """

    response: str
    perspective: str
    confidence: float
    session_id: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    grounding: Grounding | None = None
    topic: Topic | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _Planned:
    """A question understood: how sure, who composes, and what the grounding says."""

    confidence: float
    composer: Composer
    gloss: Gloss
    intent: str = "general"
    resolved_question: str = ""
    off_topic: bool = False
    topic: Topic | None = None


@dataclass(frozen=True)
class _Question:
    """A studio question understood: its words, intent, numbers and what it continues."""

    text: str  # English, or the English gloss
    query: str  # the text without its readings' numbers, for retrieval
    terms: tuple[str, ...]
    named: tuple[str, ...]  # track types the question names itself
    intent: Intent
    topic: Topic | None  # the session topic it follows up on
    symptoms: tuple[Symptom, ...]
    own_readings: tuple[Reading, ...]
    readings: tuple[Reading, ...]  # its own plus those carried from the topic
    values: tuple[Reading, ...]  # the session's numbers after it
    note: NoteValue | None
    expansion: dict[str, float]  # implied index terms and their weights
    describing: frozenset[str]  # words that only describe a recognised symptom
    line_terms: frozenset[str]  # the terms that pick knowledge lines

    @property
    def all_terms(self) -> frozenset[str]:
        return frozenset((*self.terms, *self.expansion))


def _describing(
    text: str, symptoms: Sequence[Symptom], expansion: Mapping[str, float]
) -> frozenset[str]:
    """The words that describe a recognised symptom, what it is measured against ("dull
    compared to commercial songs": a yardstick, not the topic) and what is to be avoided
    ("louder without it distorting")."""
    words = [t for m in _PREVENTED.finditer(text) for t in tokenize(m.group(1))]
    if symptoms:
        words += [t for symptom in symptoms for t in symptom.described]
        words += [t for m in _YARDSTICK.finditer(text) for t in tokenize(m.group(1))]
    return frozenset(t for t in words if t not in SOURCE_TERMS and t not in expansion)


class CodetteEngine:
    """Answers chat questions from the knowledge base, the DAW context and memory."""

    def __init__(
        self, knowledge: KnowledgeBase, memory: MemoryStore, *, seed: int | None = None
    ) -> None:
        self._knowledge = knowledge
        self._memory = memory
        self._rng = random.Random(seed)
        # One answer at a time: the no-repeat check and the write that records the answer
        # must not interleave with another answer for the same session. Re-entrant, so
        # answer() holds it across prepare() and commit().
        self._lock = threading.RLock()

    def perspectives(self) -> list[dict[str, str]]:
        """``[{"name", "description"}]`` in the canonical order."""
        return [{"name": name, "description": text} for name, text in PERSPECTIVES.items()]

    def record_analysis(
        self, session_id: str, track_name: str | None, analysis: dict[str, Any]
    ) -> None:
        """Remember an analysis so later questions about loudness or "my track" can cite it."""
        self._memory.add_analysis(session_id, track_name, analysis)

    def answer(self, query: ChatQuery) -> ChatAnswer:
        """Answer ``query`` and store the question, the answer and the topic in memory.

        Raises MemoryStoreError if the memory database fails.
        """
        with self._lock:
            prepared = self.prepare(query)
            self.commit(query, prepared)
        return prepared

    def prepare(self, query: ChatQuery) -> ChatAnswer:
        """Compose the answer to ``query`` without storing anything.

        The answer differs from the session's last five and carries its
        :class:`Grounding`. Raises MemoryStoreError if the memory database fails.
        """
        perspective = validate_perspective(query.perspective)
        message = query.message.strip()[:_MAX_QUERY_CHARS]
        context = read_context(query.daw_context)
        with self._lock:
            recent = self._memory.recent_texts(query.session_id, "assistant", NO_REPEAT_WINDOW)
            history = self._memory.history(query.session_id, RECENT_TURNS)
            planned = self._plan(message, perspective, context, query.session_id)
            draft = self._unique_draft(planned.composer, set(recent))
        grounding = Grounding(
            question=query.message,
            resolved_question=planned.resolved_question or message,
            language=planned.gloss.language,
            intent=planned.intent,
            off_topic=planned.off_topic,
            confidence=planned.confidence,
            perspective=perspective,
            perspective_instructions=INSTRUCTIONS[perspective],
            facts=draft.facts,
            sources=tuple(s["id"] for s in draft.sources),
            context_notes=draft.context_notes,
            analysis_notes=draft.analysis_notes,
            recent_turns=tuple((m["role"], m["text"]) for m in history),
        )
        return ChatAnswer(
            response=draft.response,
            perspective=perspective,
            confidence=planned.confidence,
            session_id=query.session_id,
            sources=draft.sources,
            suggestions=draft.suggestions,
            chunks=split_chunks(draft.response),
            grounding=grounding,
            topic=planned.topic,
        )

    def commit(
        self,
        query: ChatQuery,
        answer: ChatAnswer,
        response_text: str | None = None,
        engine_label: str = "builtin",
    ) -> None:
        """Store the question, the text the user got and the session's new topic.

        ``response_text`` is the text actually sent when another engine (a local model)
        wrote it from ``answer.grounding``; ``engine_label`` names that engine. One
        transaction. Raises MemoryStoreError if the memory database fails.
        """
        text = answer.response if response_text is None else response_text
        topic = answer.topic.to_json() if answer.topic is not None else None
        with self._lock:
            self._memory.add_exchange(
                query.session_id, query.message, text, answer.perspective, engine_label, topic
            )

    # -- planning -------------------------------------------------------------------

    def _plan(
        self, message: str, perspective: str, context: DawContext, session_id: str
    ) -> _Planned:
        glossed = gloss(message)
        small_talk = small_talk_kind(message)
        if small_talk is not None:
            return _Planned(small_talk_confidence(message), SmallTalk(small_talk, context), glossed)
        question = self._understand(glossed, context, session_id)
        active, intent, text = question.topic, question.intent, question.text
        result = self._search(question, context)
        resolved = text  # for another language, its English gloss
        if active is not None:
            resolved = f"{resolved} (following up on: {active.entry_title})"
        if active is None and is_off_topic(text, result):
            confidence = min(result.confidence, round(OFF_TOPIC_CONFIDENCE * 0.8, 3))
            return _Planned(
                confidence, OffTopic(glossed.notice), glossed, intent.kind, resolved, True
            )
        if not result.hits and context.selected is not None:
            result = self._fallback_on_track(result, context)

        bpm = next((r.value for r in question.readings if r.unit == "bpm"), None)
        # The question's own numbers answer it (a note length at a tempo, a platform's gain
        # change), so no entry needs to hold the value itself.
        computed = (question.note is not None and (bpm or context.bpm) is not None) or any(
            r.unit in ("lufs", "dbtp") for r in question.own_readings
        )
        candidates = self._candidates(result, question, computed)
        if active is not None and not self._has_subject(question.terms, active):
            # "What ratio?" stays with the topic when its entry can answer it.
            candidates = self._prefer_topic(candidates, active, question)
        chosen = candidates[0] if candidates else None
        # Related entries are close matches only: a weak neighbour is noise (or worse, a
        # single-track rule next to a question about the master).
        related = tuple(
            (e, s)
            for e, s in result.hits[:4]
            if (chosen is None or e.id != chosen.entry.id) and s >= _CLOSE_MATCH * result.hits[0][1]
        )
        tempo = context.tempo
        if bpm is not None:
            beats, unit = context.time_signature or (4, 4)
            tempo = TempoGrid(bpm, beats, unit)
        selected = context.selected
        # The track the answer is about: selected, else named, else the topic's.
        track_family = active.track_family if active else None
        if question.named:
            track_family = question.named[0]
        if selected is not None:
            track_family = selected.family
        same_topic = (
            active is not None and chosen is not None and chosen.entry.id == active.entry_id
        )
        plan = Plan(
            perspective=perspective,
            question=message,
            gloss=glossed,
            intent=intent,
            terms=question.all_terms,
            candidates=candidates,
            related=related,
            context=context,
            readings=question.readings,
            note=question.note,
            tempo=tempo,
            tempo_asked=bpm is not None,
            programme=bool(_PROGRAMME.search(text)) or track_family in PROGRAMME_FAMILIES,
            platforms=tuple(name for name, pattern in _PLATFORMS if pattern.search(text)),
            judge=asks_judgement(text),
            analyses=(
                tuple(self._memory.recent_analyses(session_id, 3))
                if wants_analysis(message, question.terms)
                else ()
            ),
            cause=question.symptoms[0].cause if question.symptoms else None,
            follow_up_title=active.entry_title if same_topic and active else None,
            broad=result.broad,
            alternative=candidates[1].facts if len(candidates) > 1 else None,
        )
        new_topic = None
        if chosen is not None:
            # A follow-up continues the conversation: its topic keeps what it carried over.
            kept = active.terms if active else ()
            new_topic = Topic(
                entry_id=chosen.entry.id,
                entry_title=chosen.entry.title,
                intent=intent.kind,
                terms=tuple(dict.fromkeys((*kept, *result.key_terms)))[:12],
                track_family=track_family,
                track_name=selected.name if selected else (active.track_name if active else None),
                values=question.values,
            )
        confidence = self._confidence(result, candidates, glossed)
        return _Planned(
            confidence, AnswerComposer(plan), glossed, intent.kind, resolved, False, new_topic
        )

    def _understand(self, glossed: Gloss, context: DawContext, session_id: str) -> _Question:
        """What the (English or glossed) question asks, and what it continues."""
        text = plain_amounts(glossed.text)
        # Retrieval reads the words; a reading's number ("-6 LUFS") is where the user is,
        # not what the question is about.
        query = without_readings(text)
        terms = tokenize(query)
        named = track_types_named(terms)
        selected_family = context.selected.family if context.selected else None
        topic = Topic.from_json(self._memory.topic(session_id))
        current_family = named[0] if named else selected_family
        active = topic if is_follow_up(text, terms, topic, current_family) else None
        moved = bool(
            current_family and topic and topic.track_family and topic.track_family != current_family
        )
        if active is None and topic is not None and not moved:
            active = topic if self._about_topic(text, terms, topic) else None
        own = readings(text)
        values = merge_values(own, active)
        carried = tuple(r for r in values if active and r not in own)
        symptoms = find_symptoms(text)
        implied = (*phrase_terms(text), *(t for symptom in symptoms for t in symptom.terms))
        expansion: dict[str, float] = dict.fromkeys(phrase_terms(text), 1.0)
        for symptom in symptoms:
            # The cause itself ("masking") counts in full; the words around it ("clarity",
            # "presence") only steer, or they would find entries about those instead.
            cause, *detail = symptom.terms
            expansion[cause] = 1.0
            for term in detail:
                expansion[term] = max(expansion.get(term, 0.0), _CAUSE_DETAIL_WEIGHT)
        intent = detect_intent(text)
        if symptoms and intent.kind == "general":
            # "My snare sounds like a cardboard box": a symptom described, so a diagnosis.
            intent = replace(intent, kind="diagnosis")
        if active is not None:
            # "What about compression?" after a kick EQ answer keeps the kick, not the EQ
            # ("should that go before the compressor?" still means the de-esser).
            new_process = bool(PROCESS_TERMS.intersection(terms)) and not intent.placement
            for term in active.terms:
                if not (new_process and term in PROCESS_TERMS):
                    expansion.setdefault(term, _TOPIC_WEIGHT)
        if context.selected is not None and not named and _POINTS_AT_TRACK.search(text):
            # "Should I compress these?" with 'Overheads' selected: the name says which
            # part of the kit (or the stack) "these" are, more precisely than the type does.
            selected = context.selected
            # A bus is what its name says it sums ("Mix Bus", "Drum Bus", "Vox Bus").
            whole_name = selected.family in PROGRAMME_FAMILIES
            for term in tokenize(selected.name or ""):
                if term in _PART_TERMS or whole_name:
                    expansion.setdefault(term, _TRACK_NAME_WEIGHT)
            if selected.family == "master" and _LOUDNESS in terms:
                # "Is this loud enough?" on the master is about release loudness.
                expansion.setdefault(_STREAMING, _CAUSE_DETAIL_WEIGHT)
        # Lines are chosen by the question's own words (and what its wording implies), not
        # by a follow-up's topic words: "and Apple Music?" wants the Apple Music line; nor
        # by the words that describe a symptom ("low rumble"): its cause picks the line.
        describing = _describing(text, symptoms, expansion)
        line_terms = frozenset((*tokenize(content_text(query)), *implied)) - describing
        return _Question(
            text=text,
            query=query,
            terms=tuple(terms),
            named=named,
            intent=intent,
            topic=active,
            symptoms=symptoms,
            own_readings=own,
            readings=(*own, *carried),
            values=values,
            note=note_value(text),
            expansion=expansion,
            describing=describing,
            line_terms=line_terms,
        )

    def _search(self, question: _Question, context: DawContext) -> SearchResult:
        """The knowledge base searched with all the question implies."""
        active, intent = question.topic, question.intent
        boosts: dict[str, float] = {}
        # The track the question names ("compress vocals") outranks the selected one.
        track_types = question.named or context.track_types
        # "How should I EQ this?" with a track selected is about that track above all.
        deictic = not question.named and _POINTS_AT_TRACK.search(question.text)
        type_boost = _THIS_TRACK_BOOST if deictic else TYPE_BOOST
        if active is not None:
            boosts[active.entry_id] = _FOLLOW_UP_BOOST
            if not track_types and active.track_family:
                track_types = (active.track_family,)
        return self._knowledge.search_detailed(
            question.query,
            track_types=track_types,
            limit=8,
            expansion=question.expansion,
            boosts=boosts,
            type_boost=type_boost,
            prefer=(_ENTRY_LEVEL if intent.explain else frozenset())
            | (_COMPARISON if intent.kind == "difference" else frozenset()),
            aside=(frozenset() if intent.kind == "difference" else _COMPARISON)
            | (frozenset() if intent.placement else _PLACEMENT),
            describing=question.describing,
            causes=frozenset(symptom.terms[0] for symptom in question.symptoms),
        )

    def _about_topic(self, text: str, terms: Sequence[str], topic: Topic) -> bool:
        """A short question whose every subject word the topic's entry is about ("how far
        from the mic?" after an answer on recording vocals) continues that topic."""
        entry = self._knowledge.get(topic.entry_id)
        short = len(text.split()) <= _SHORT_FOLLOW_UP
        return entry is not None and short and not self._has_subject(terms, topic)

    def _has_subject(self, terms: Sequence[str], topic: Topic) -> bool:
        """True when the follow-up names something of its own: not only settings, and
        not only what the topic's entry is about ("how far from the mic?" after a vocal
        recording answer still means that entry's mic)."""
        entry = self._knowledge.get(topic.entry_id)
        plain = PARAMETER_TERMS | GENERIC_TERMS | DESCRIPTOR_TERMS
        subject = [t for t in terms if t not in plain]
        if entry is not None and subject:
            return self._knowledge.focus(entry, subject) < 1.0
        return bool(subject)

    def _prefer_topic(
        self, candidates: tuple[Candidate, ...], topic: Topic, question: _Question
    ) -> tuple[Candidate, ...]:
        entry = self._knowledge.get(topic.entry_id)
        if entry is None:
            return candidates
        intent = question.intent
        facts = pick_facts(
            entry, intent, question.line_terms, question.readings, question=question.text
        )
        if facts.fit < 1.0 or not gives_values_for(entry, intent.aspects):
            return candidates  # the topic's entry lacks what is asked: look elsewhere
        score = next((c.score for c in candidates if c.entry.id == entry.id), 0.0)
        if not score and candidates:
            score = candidates[0].score
        rest = tuple(c for c in candidates if c.entry.id != entry.id)
        best = max((c.rank for c in candidates), default=score)
        return (Candidate(entry, score, facts, best), *rest)

    def _fallback_on_track(self, result: SearchResult, context: DawContext) -> SearchResult:
        # A vague question ("how do I make this sit?"): answer for the selected track, at
        # half the confidence, since the question itself matched nothing.
        fallback = self._knowledge.search_detailed(
            " ".join((*context.track_types, "mix")), track_types=context.track_types, limit=6
        )
        return SearchResult(
            hits=fallback.hits,
            terms=result.terms,
            key_terms=fallback.key_terms,
            strength=fallback.strength * 0.5,
            focus=0.0,  # nothing in the question itself matched
            magnitude=fallback.magnitude * 0.5,
            coverage=fallback.coverage,
            domain_terms=result.domain_terms,
        )

    def _candidates(
        self, result: SearchResult, question: _Question, computed: bool
    ) -> tuple[Candidate, ...]:
        """Close matches ranked by score and by how much of the question they can answer.

        ``computed``: the question's own numbers give the answer, so every entry "has" it.
        """
        if not result.hits:
            return ()
        causes = frozenset(symptom.terms[0] for symptom in question.symptoms)
        wants_start = asks_for_start(question.text)
        top = result.hits[0][1]
        ranked: list[tuple[float, Candidate]] = []
        for entry, score in result.hits[:_MAX_CANDIDATES]:
            if score < _CLOSE_MATCH * top:
                break
            facts = pick_facts(
                entry,
                question.intent,
                question.line_terms,
                question.readings,
                causes,
                wants_start=wants_start,
                question=question.text,
            )
            fit = 1.0 if computed else facts.fit
            rank = score * (0.6 + 0.4 * fit)
            ranked.append((rank, Candidate(entry, score, facts, rank)))
        ranked.sort(key=lambda item: -item[0])
        return tuple(candidate for _, candidate in ranked)

    def _confidence(
        self, result: SearchResult, candidates: Sequence[Candidate], glossed: Gloss
    ) -> float:
        confidence = result.confidence
        if candidates:
            confidence *= 0.75 + 0.25 * candidates[0].facts.fit
        if len(candidates) > 1 and candidates[0].rank > 0:
            # A close runner-up means the question could as well be about something else,
            # unless the winner is named for more of the question than the runner-up is.
            margin = candidates[1].rank / candidates[0].rank
            penalty = _CLOSE_CALL_PENALTY * max(0.0, min(1.0, (margin - 0.5) / 0.5))
            named = [self._knowledge.title_focus(c.entry, result.key_terms) for c in candidates[:2]]
            if named[0] > named[1]:
                penalty /= 2
            confidence *= 1.0 - penalty
        if not glossed.is_english:
            confidence *= 0.85 + 0.15 * glossed.known_share
        return round(max(0.0, min(1.0, confidence)), 3)

    def _unique_draft(self, compose: Composer, recent: set[str]) -> Draft:
        draft = compose.draft(self._rng)
        for _ in range(_MAX_DRAFTS - 1):
            if draft.response not in recent:
                return draft
            draft = compose.draft(self._rng)
        # Every redraw collided (few wording choices, e.g. an off-topic reply asked over and
        # over): add extra material until the text is new.
        for extra in compose.extras():
            candidate = draft.extended(extra)
            if candidate.response not in recent:
                return candidate
        take = 2
        while True:
            candidate = draft.extended(f"(Take {take} on this question.)")
            if candidate.response not in recent:
                return candidate
            take += 1
