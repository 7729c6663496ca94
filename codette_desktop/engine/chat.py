"""The chat engine: a question in, a grounded, perspective-shaped answer out.

How an answer is built (all local, typically a few milliseconds):

1. Small talk (greetings, thanks, "what can you do") gets a short intro.
2. Otherwise the knowledge base is searched with BM25, boosted by the selected track's
   type. The match strength becomes ``confidence``; a question with no studio words and
   a weak match is answered honestly as outside the engine's field.
3. The answer is composed from the best entries: a perspective-specific body
   (:mod:`~codette_desktop.engine.perspectives`), the DAW context (levels, mute/solo,
   kick/bass masking, tempo maths; :mod:`~codette_desktop.engine.context`) and, when the
   question is about loudness or "my track", the numbers of the last stored analysis.
4. Wording, the entry among close matches and the guidance subset are drawn at random;
   a draft equal to one of the session's last five answers (read from memory, so this
   survives a restart) is redrawn.

The engine is synchronous and thread-safe; the server runs :meth:`CodetteEngine.answer`
in a worker thread.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from codette_desktop.engine.context import (
    LOW_END_FAMILIES,
    DawContext,
    LevelFinding,
    format_db,
    format_ms,
    level_findings,
    level_summary,
    masking_note,
    read_context,
    state_notes,
    tempo_math,
    tempo_note,
)
from codette_desktop.engine.knowledge import KnowledgeBase, KnowledgeEntry, SearchResult
from codette_desktop.engine.memory import MemoryStore
from codette_desktop.engine.perspectives import (
    DEFAULT_PERSPECTIVE,
    PERSPECTIVES,
    Material,
    render,
    validate_perspective,
)
from codette_desktop.engine.retrieval import canonical
from codette_desktop.errors import ProtocolError

# Below this confidence, a question with no studio vocabulary is treated as off-topic.
OFF_TOPIC_CONFIDENCE = 0.3
# How many earlier answers of a session a new answer must differ from.
NO_REPEAT_WINDOW = 5
# Long pastes are cut before tokenising; nothing useful is lost and latency stays flat.
_MAX_QUERY_CHARS = 2000
_MAX_DRAFTS = 12

# Streaming services normalise playback to about -14 LUFS (Spotify, YouTube, Tidal);
# -1 dBTP is the ceiling EBU R128 and AES TD1004 recommend for lossy encoding.
_STREAMING_LUFS = -14.0
_TRUE_PEAK_CEILING = -1.0

_GREETING_TEXT = (
    "hi hello hey heya hiya yo howdy greetings sup hallo hola morning afternoon evening"
)
_GREETING_WORDS = frozenset(_GREETING_TEXT.split())
_THANKS_TEXT = "thanks thank thx ty cheers appreciate appreciated"
_THANKS_WORDS = frozenset(_THANKS_TEXT.split())
_FILLER_TEXT = """
    there codette good how are you doing whats what's up is it going today again all folks
    friend nice to meet so much very a lot great awesome ok okay that was helpful perfect i
    it's its this really"""
_SMALL_TALK_FILLER = frozenset(_FILLER_TEXT.split())
_INTRO_QUESTION = re.compile(
    r"^\s*(help|what can you do|what do you do|who are you|what are you|how can you help"
    r"( me)?|what can i ask( you)?)\s*[?!.]*\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z']+")


def _terms(words: set[str]) -> frozenset[str]:
    """Canonical index terms of ``words``, so the sets below match tokenised queries."""
    return frozenset(canonical(w) for w in words)


# Query terms that make the stored analyses relevant.
_ANALYSIS_TERMS = _terms(
    {
        "loudness",
        "peak",
        "truepeak",
        "master",
        "analysis",
        "clipping",
        "dynamics",
        "headroom",
        "limiter",
        "streaming",
        "level",
        "crest",
        "quiet",
        "result",
        "number",
    }
)
_ANALYSIS_PHRASES = re.compile(
    r"\b(my|this|the) (track|song|mix|master|tune|record|analysis|bounce|file)\b"
    r"|\b(last|latest|previous) analysis\b",
    re.IGNORECASE,
)
_TEMPO_TERMS = _terms(
    {
        "reverb",
        "delay",
        "predelay",
        "tempo",
        "space",
        "depth",
        "ambience",
        "decay",
        "tail",
        "groove",
        "timing",
        "sync",
        "release",
    }
)
_MASKING_TERMS = _terms(
    {
        "kick",
        "bass",
        "lowend",
        "mud",
        "masking",
        "sidechain",
        "drums",
        "boomy",
        "sub",
    }
)
_MIDRANGE_TERMS = _terms(
    {"clarity", "masking", "presence", "buried", "sit", "mix", "balance", "vocal", "eq"}
)
_COMPRESSION_TERMS = _terms({"compression", "sidechain", "release"})

_FIELD_TOPICS = (
    "EQ and tone, compression and dynamics, reverb and delay, gain staging and headroom, "
    "kick/bass low end, vocals, stereo width, loudness and mastering"
)
_STARTER_QUESTIONS = (
    "How do I make my vocal sit in the mix?",
    "How loud should my master be for streaming?",
    "How do I stop the kick and bass clashing?",
    "What attack and release should I use on vocals?",
    "How much reverb pre-delay should I use?",
    "How do I gain stage my tracks?",
)
_BROAD_OPENINGS = (
    "That's a broad question, so here's one good place to start.",
    "There's no single answer to that; this is where I'd begin.",
    "Broad question — here's the angle that usually helps most.",
)
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "vs.", "approx.", "cf.", "incl."})
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
_OWN_LINE = re.compile(r"^\s*(\d+[.)]|[-•*])\s")


@dataclass(frozen=True)
class ChatQuery:
    """One chat request, validated on construction (ProtocolError names the bad field)."""

    message: str
    session_id: str
    perspective: str = DEFAULT_PERSPECTIVE
    daw_context: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.message, str) or not self.message.strip():
            raise ProtocolError(
                "invalid_field", "message must be a non-empty string", field="message"
            )
        if not isinstance(self.session_id, str):
            raise ProtocolError("invalid_field", "session_id must be a string", field="session_id")
        object.__setattr__(self, "perspective", validate_perspective(self.perspective))
        if self.daw_context is not None and not isinstance(self.daw_context, Mapping):
            raise ProtocolError(
                "invalid_field", "daw_context must be an object", field="daw_context"
            )


@dataclass(frozen=True)
class ChatAnswer:
    """The engine's reply. ``"".join(chunks) == response``."""

    response: str
    perspective: str
    confidence: float
    session_id: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Draft:
    response: str
    sources: list[dict[str, Any]]
    suggestions: list[str]


def split_chunks(text: str) -> list[str]:
    """Split ``text`` sentence by sentence for streaming; joining the chunks gives ``text``.

    Numbered and bulleted lines stay whole. Whitespace after a sentence (including line
    breaks) belongs to that sentence's chunk, so no chunk is blank.
    """
    chunks: list[str] = []
    for line in text.splitlines(keepends=True):
        if _OWN_LINE.match(line):
            chunks.append(line)
            continue
        start = 0
        for match in _SENTENCE_END.finditer(line):
            word_start = line.rfind(" ", start, match.start()) + 1
            word = line[max(word_start, start) : match.start() + 1].lower()
            if word in _ABBREVIATIONS:
                continue
            chunks.append(line[start : match.end()])
            start = match.end()
        if start < len(line):
            chunks.append(line[start:])
    merged: list[str] = []
    for chunk in chunks:
        if merged and not chunk.strip():
            merged[-1] += chunk
        else:
            merged.append(chunk)
    return merged


class CodetteEngine:
    """Answers chat questions from the knowledge base, the DAW context and memory."""

    def __init__(
        self, knowledge: KnowledgeBase, memory: MemoryStore, *, seed: int | None = None
    ) -> None:
        self._knowledge = knowledge
        self._memory = memory
        self._rng = random.Random(seed)
        # One answer at a time: the no-repeat check and the write that records the answer
        # must not interleave with another answer for the same session.
        self._lock = threading.Lock()

    def perspectives(self) -> list[dict[str, str]]:
        """``[{"name", "description"}]`` in the canonical order."""
        return [{"name": name, "description": text} for name, text in PERSPECTIVES.items()]

    def record_analysis(
        self, session_id: str, track_name: str | None, analysis: dict[str, Any]
    ) -> None:
        """Remember an analysis so later questions about loudness or "my track" can cite it."""
        self._memory.add_analysis(session_id, track_name, analysis)

    def answer(self, query: ChatQuery) -> ChatAnswer:
        """Answer ``query`` and store both the question and the answer in memory.

        Raises MemoryStoreError if the memory database fails.
        """
        perspective = validate_perspective(query.perspective)
        message = query.message.strip()[:_MAX_QUERY_CHARS]
        context = read_context(query.daw_context)
        with self._lock:
            recent = self._memory.recent_texts(query.session_id, "assistant", NO_REPEAT_WINDOW)
            confidence, compose = self._plan(message, perspective, context, query.session_id)
            draft = self._unique_draft(compose, set(recent))
            self._memory.add(query.session_id, "user", query.message, perspective)
            self._memory.add(query.session_id, "assistant", draft.response, perspective)
        return ChatAnswer(
            response=draft.response,
            perspective=perspective,
            confidence=confidence,
            session_id=query.session_id,
            sources=draft.sources,
            suggestions=draft.suggestions,
            chunks=split_chunks(draft.response),
        )

    # -- planning -------------------------------------------------------------------

    def _plan(
        self, message: str, perspective: str, context: DawContext, session_id: str
    ) -> tuple[float, _Composer]:
        small_talk = _small_talk_kind(message)
        if small_talk is not None:
            words = _WORD.findall(message.lower())
            hits = sum(1 for w in words if w in _GREETING_WORDS | _THANKS_WORDS)
            # Sure of small talk in proportion to how much of the message is greeting words.
            confidence = round(0.6 + 0.35 * (hits / len(words) if words else 1.0), 3)
            return confidence, _SmallTalk(small_talk, context)

        result = self._knowledge.search_detailed(message, track_types=context.track_types, limit=6)
        confidence = result.confidence
        # Off-topic: a weak match and no studio word among the words that decide the topic
        # ("best pancake mix" is about pancakes; "how do I mix this?" is about mixing).
        topical = result.domain_terms.intersection(result.key_terms)
        if result.terms and not topical and confidence < OFF_TOPIC_CONFIDENCE:
            return confidence, _OffTopic()
        if not result.hits and context.selected is not None:
            # A vague question ("how do I make this sit?"): answer for the selected track,
            # at half the confidence, since the question itself matched nothing.
            fallback = self._knowledge.search_detailed(
                " ".join((*context.track_types, "mix")),
                track_types=context.track_types,
                limit=6,
            )
            confidence = round(fallback.confidence * 0.5, 3)
            result = SearchResult(
                hits=fallback.hits,
                terms=result.terms,
                key_terms=fallback.key_terms,
                strength=fallback.strength,
                focus=0.0,  # nothing in the question itself matched: answer as "broad"
                magnitude=fallback.magnitude,
                coverage=fallback.coverage,
                domain_terms=result.domain_terms,
            )
        analyses: list[dict[str, Any]] = []
        if _wants_analysis(message, result.terms):
            analyses = self._memory.recent_analyses(session_id, 3)
        return confidence, _Answer(perspective, result, context, analyses, self._knowledge)

    def _unique_draft(self, compose: _Composer, recent: set[str]) -> _Draft:
        draft = compose.draft(self._rng)
        for _ in range(_MAX_DRAFTS - 1):
            if draft.response not in recent:
                return draft
            draft = compose.draft(self._rng)
        # Every redraw collided (few wording choices, e.g. an off-topic reply asked over and
        # over): add extra material until the text is new.
        for extra in compose.extras():
            candidate = f"{draft.response}\n{extra}"
            if candidate not in recent:
                return _Draft(candidate, draft.sources, draft.suggestions)
        take = 2
        while True:
            candidate = f"{draft.response}\n(Take {take} on this question.)"
            if candidate not in recent:
                return _Draft(candidate, draft.sources, draft.suggestions)
            take += 1


def _small_talk_kind(message: str) -> str | None:
    if _INTRO_QUESTION.match(message):
        return "intro"
    words = _WORD.findall(message.lower())
    if not words or len(words) > 8:
        return None
    allowed = _GREETING_WORDS | _THANKS_WORDS | _SMALL_TALK_FILLER
    if not all(w.strip("'") in allowed for w in words):
        return None
    if any(w in _THANKS_WORDS for w in words):
        return "thanks"
    if any(w in _GREETING_WORDS for w in words):
        return "greeting"
    return None


def _wants_analysis(message: str, terms: Sequence[str]) -> bool:
    return bool(_ANALYSIS_TERMS.intersection(terms)) or bool(_ANALYSIS_PHRASES.search(message))


class _Composer:
    """Builds one draft per call, drawing wording choices from ``rng``."""

    def draft(self, rng: random.Random) -> _Draft:
        raise NotImplementedError

    def extras(self) -> list[str]:
        """Further sentences that may be appended to make a repeated draft new."""
        return []


class _SmallTalk(_Composer):
    def __init__(self, kind: str, context: DawContext) -> None:
        self._kind = kind
        self._context = context

    def draft(self, rng: random.Random) -> _Draft:
        if self._kind == "thanks":
            first = rng.choice(
                (
                    "You're welcome!",
                    "Any time!",
                    "Glad that helped.",
                    "Happy to help.",
                )
            )
            second = rng.choice(
                (
                    "Ask away when the next question comes up.",
                    "Bounce a version and tell me how it sounds.",
                    "Good luck with the mix.",
                )
            )
            text = f"{first} {second}"
        else:
            first = rng.choice(
                (
                    "Hi! I'm Codette, your mixing and production assistant.",
                    "Hello! Codette here — I help with mixing and production.",
                    "Hey! I'm Codette, here to help with your mix.",
                    "Hi there! I'm Codette, a mixing and production assistant running on your "
                    "machine.",
                )
            )
            second = rng.choice(
                (
                    f"Ask me about {_FIELD_TOPICS}.",
                    f"I know about {_FIELD_TOPICS}.",
                )
            )
            selected = self._context.selected
            third = (
                f"I can see your {selected.label} — ask me about it and I'll use its levels."
                if selected is not None
                else rng.choice(
                    (
                        "Select a track in your DAW and I'll take its levels into account.",
                        "Pick a perspective if you want the answer told a different way.",
                        "Run an analysis and I'll refer to its numbers when you ask about "
                        "loudness.",
                    )
                )
            )
            text = f"{first} {second} {third}"
        return _Draft(text, [], rng.sample(_STARTER_QUESTIONS, 3))

    def extras(self) -> list[str]:
        return [f"For example: {q}" for q in _STARTER_QUESTIONS]


class _OffTopic(_Composer):
    def draft(self, rng: random.Random) -> _Draft:
        first = rng.choice(
            (
                "That's outside my field — I'm a mixing and production assistant, so I can't "
                "give you a reliable answer to that.",
                "I'm afraid that's outside my field (mixing and production), and I'd rather not "
                "guess.",
                "That one is outside my field: I only know mixing and production, so any answer "
                "would be a guess.",
            )
        )
        second = rng.choice(
            (
                f"What I can help with: {_FIELD_TOPICS}.",
                f"I can help with {_FIELD_TOPICS}.",
            )
        )
        questions = rng.sample(_STARTER_QUESTIONS, 3)
        third = f'Try, for example: "{questions[0]}"'
        return _Draft(f"{first} {second} {third}", [], questions)

    def extras(self) -> list[str]:
        return [f'Or: "{q}"' for q in _STARTER_QUESTIONS]


class _Answer(_Composer):
    """A knowledge-grounded answer in one perspective."""

    def __init__(
        self,
        perspective: str,
        result: SearchResult,
        context: DawContext,
        analyses: list[dict[str, Any]],
        knowledge: KnowledgeBase,
    ) -> None:
        self._perspective = perspective
        self._result = result
        self._context = context
        self._analyses = analyses
        self._terms = frozenset(result.terms)
        self._candidates = _close_matches(knowledge, result)
        self._drafts = 0

    def draft(self, rng: random.Random) -> _Draft:
        if not self._candidates:
            return self._general_draft(rng)
        # The first draft builds on the best entry; only a redraw (its text was among the
        # session's last answers) moves to the other close matches.
        self._drafts += 1
        weights = [s for _, s in self._candidates]
        index = 0 if self._drafts == 1 else rng.choices(range(len(weights)), weights=weights)[0]
        entry, score = self._candidates[index]
        related = tuple((e, s) for e, s in self._result.hits[:4] if e.id != entry.id)
        material = Material(
            entry=entry,
            score=score,
            guidance=_choose_guidance(entry, rng),
            related=related,
            subject=f"your {self._context.selected.label}"
            if self._context.selected
            else "your track",
            math_lines=tuple(self._math_lines()),
            steps_before=tuple(f.step for f in self._findings()),
        )
        body = render(self._perspective, material, rng)
        if self._result.focus < 0.5 or self._result.broad:
            # No entry is about the question's words: say so rather than feign precision.
            body = f"{rng.choice(_BROAD_OPENINGS)}\n{body}"
        paragraphs = [self._context_paragraph(), body]
        analysis = self._analysis_paragraph()
        if analysis:
            paragraphs.append(analysis)
        used = [(entry, score)]
        mentions_related = self._perspective in ("neural_network", "quantum_logic")
        if related and not mentions_related and rng.random() < 0.5:
            other = related[rng.randrange(min(2, len(related)))]
            paragraphs.append(f"Related: {other[0].title} — {other[0].summary}")
            used.append(other)
        elif related and mentions_related:
            used.extend(related[: 2 if self._perspective == "neural_network" else 1])
        text = "\n\n".join(p for p in paragraphs if p)
        sources = [{"id": e.id, "title": e.title, "score": round(s, 3)} for e, s in used]
        return _Draft(text, sources, self._suggestions(entry, related, rng))

    def extras(self) -> list[str]:
        extras: list[str] = []
        for entry, _ in self._candidates:
            extras += [f"Also worth knowing: {g}" for g in entry.guidance]
            extras += [f"A trap to avoid: {p}" for p in entry.pitfalls]
        return extras

    # -- pieces ---------------------------------------------------------------------

    def _findings(self) -> list[LevelFinding]:
        return level_findings(self._context.selected) if self._context.selected else []

    def _context_paragraph(self) -> str:
        context = self._context
        selected = context.selected
        sentences: list[str] = []
        if selected is not None:
            findings = self._findings()
            if findings and self._perspective != "copilot_developer":
                first = findings[0].text
                sentences.append(f"On your {selected.label}, {first[0].lower()}{first[1:]}")
                sentences += [f.text for f in findings[1:]]
            elif findings:
                steps = "step 1" if len(findings) == 1 else f"steps 1-{len(findings)}"
                sentences.append(f"On your {selected.label}, fix the level first ({steps}).")
            else:
                summary = level_summary(selected)
                sentences.append(
                    f"On your {selected.label}, levels look healthy ({summary})."
                    if summary
                    else f"On your {selected.label}:"
                )
            sentences += state_notes(selected)
            if selected.plugins:
                sentences.append(f"Current chain: {' → '.join(selected.plugins)}.")
        low_end_question = bool(_MASKING_TERMS & self._terms) or (
            selected is not None and selected.family in LOW_END_FAMILIES
        )
        if low_end_question:
            note = masking_note(context)
            if note:
                sentences.append(note)
        midrange = self._midrange_note()
        if midrange:
            sentences.append(midrange)
        tempo = context.tempo
        if tempo is not None:
            if _TEMPO_TERMS & self._terms or self._main_category() in ("reverb", "delay"):
                sentences.append(tempo_note(tempo))
            elif _COMPRESSION_TERMS & self._terms:
                sentences.append(
                    f"At {tempo.bpm:g} BPM a release near a 1/16 note "
                    f"({format_ms(tempo.note_ms(1 / 16))} ms) lets the compressor breathe "
                    f"with the groove."
                )
        return " ".join(sentences)

    def _midrange_note(self) -> str | None:
        selected = self._context.selected
        if selected is None or selected.family != "vocal" or not _MIDRANGE_TERMS & self._terms:
            return None
        rivals = [
            t for t in self._context.tracks if t.family in ("guitar", "keys", "synth") and t.name
        ]
        if not rivals:
            return None
        names = _join([f"'{t.name}'" for t in rivals[:3]])
        verb, them = ("shares", "it") if len(rivals[:3]) == 1 else ("share", "them")
        return (
            f"{names} {verb} the 1-4 kHz presence range with the vocal: a 2-3 dB dip around "
            f"2-3 kHz on {them} (or a dynamic EQ keyed from the vocal) opens space without "
            f"boosting the vocal."
        )

    def _main_category(self) -> str:
        return self._candidates[0][0].category.lower() if self._candidates else ""

    def _math_lines(self) -> list[str]:
        lines = [f.math for f in self._findings()]
        selected = self._context.selected
        if (
            selected is not None
            and selected.peak_dbfs is not None
            and selected.rms_dbfs is not None
        ):
            crest = selected.peak_dbfs - selected.rms_dbfs
            lines.append(
                f"Crest factor = peak − RMS = {format_db(selected.peak_dbfs)} − "
                f"({format_db(selected.rms_dbfs)}) = {crest:.1f} dB."
            )
        if selected is not None and selected.peak_dbfs is not None:
            lines.append(
                f"Headroom to 0 dBFS = 0 − ({format_db(selected.peak_dbfs)}) = "
                f"{format_db(-selected.peak_dbfs)} dB."
            )
        tempo = self._context.tempo
        if tempo is not None and (
            _TEMPO_TERMS & self._terms
            or _COMPRESSION_TERMS & self._terms
            or self._main_category() in ("reverb", "delay")
        ):
            lines.append(tempo_math(tempo))
        return lines

    def _analysis_paragraph(self) -> str | None:
        if not self._analyses:
            return None
        latest = self._analyses[0]
        analysis = latest.get("analysis")
        if not isinstance(analysis, Mapping):
            return None
        measured = analysis.get("measurements")
        m = measured if isinstance(measured, Mapping) else {}
        name = latest.get("track_name")
        what = f"of '{name}'" if isinstance(name, str) and name else "of your track"
        facts: list[str] = []
        notes: list[str] = []
        lufs = _num(m.get("integrated_lufs"))
        if lufs is not None:
            facts.append(f"{lufs:.1f} LUFS integrated")
            gap = lufs - _STREAMING_LUFS
            if gap > 0.5:
                notes.append(
                    f"That's {gap:.1f} dB above the {_STREAMING_LUFS:.0f} LUFS that streaming "
                    f"services normalise to, so they'll turn it down by about {gap:.1f} dB — "
                    f"extra limiting buys no loudness there."
                )
            elif gap < -0.5:
                notes.append(
                    f"That's {-gap:.1f} dB below the {_STREAMING_LUFS:.0f} LUFS streaming "
                    f"reference; it will play quieter than most releases on services that "
                    f"don't turn quiet tracks up."
                )
            else:
                notes.append("That sits right at the usual streaming reference of -14 LUFS.")
        true_peak = _num(m.get("true_peak_dbtp"))
        if true_peak is not None:
            facts.append(f"a true peak of {format_db(true_peak)} dBTP")
            if true_peak > _TRUE_PEAK_CEILING:
                notes.append(
                    f"The true peak is above the {_TRUE_PEAK_CEILING:.0f} dBTP ceiling "
                    f"recommended for lossy encoding (EBU R128, AES TD1004): lower the limiter "
                    f"ceiling by {true_peak - _TRUE_PEAK_CEILING:.1f} dB."
                )
        elif (sample_peak := _num(m.get("sample_peak_dbfs"))) is not None:
            facts.append(f"a sample peak of {format_db(sample_peak)} dBFS")
        lra = _num(m.get("loudness_range_lu"))
        if lra is not None:
            facts.append(f"a loudness range of {lra:.1f} LU")
        plr = _num(m.get("plr_db"))
        if plr is not None:
            facts.append(f"a PLR of {plr:.1f} dB")
            if plr < 8.0:
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
                return None
            facts.append(f"an RMS of {format_db(rms)} dBFS")
        sentence = f"Your last analysis {what} measured {_join(facts)}."
        paragraph = [sentence, *notes]
        if len(self._analyses) > 1:
            before = self._analyses[1].get("analysis")
            if isinstance(before, Mapping) and isinstance(before.get("measurements"), Mapping):
                previous = _num(before["measurements"].get("integrated_lufs"))
                if previous is not None and lufs is not None and abs(lufs - previous) >= 0.1:
                    direction = "up" if lufs > previous else "down"
                    paragraph.append(
                        f"Compared with the analysis before it ({previous:.1f} LUFS), "
                        f"loudness went {direction} {abs(lufs - previous):.1f} dB."
                    )
        return " ".join(paragraph)

    def _general_draft(self, rng: random.Random) -> _Draft:
        # Studio words but nothing specific in the knowledge base: be honest, still useful.
        opening = rng.choice(
            (
                "I don't have a specific note on that, but here's what I can say.",
                "That's a studio question I have no dedicated entry for; a few general pointers.",
                "Nothing in my notes matches that closely, so here's the general approach.",
            )
        )
        general = rng.choice(
            (
                "Work from the problem you hear: name it (muddy, harsh, buried, flat), find the "
                "band or the dynamics behind it, then make the smallest change that fixes it.",
                "Balance with faders first, then fix tone with EQ, then control dynamics — most "
                "problems get smaller at each stage.",
            )
        )
        paragraphs = [self._context_paragraph(), f"{opening} {general}", self._analysis_paragraph()]
        text = "\n\n".join(p for p in paragraphs if p)
        return _Draft(text, [], rng.sample(_STARTER_QUESTIONS, 3))

    def _suggestions(
        self,
        entry: KnowledgeEntry,
        related: Sequence[tuple[KnowledgeEntry, float]],
        rng: random.Random,
    ) -> list[str]:
        title = (
            entry.title[0].lower() + entry.title[1:]
            if entry.title[1:2].islower()
            else (entry.title)
        )
        options: list[str] = []
        if self._perspective != "copilot_developer":
            options.append(f"Walk me through {title} step by step")
        if self._perspective != "bias_mitigation" and entry.pitfalls:
            options.append(f"What are common mistakes with {title}?")
        if self._perspective != "mathematical_rigor":
            options.append(f"Show me the numbers behind {title}")
        options += [f"Tell me about {other.title.rstrip('.')}" for other, _ in related[:2]]
        category = entry.category.lower()
        if not self._analyses and category in ("loudness", "mastering", "metering"):
            options.append("Analyze my track's loudness")
        chosen = rng.sample(options, min(3, len(options)))
        return chosen if len(chosen) >= 2 else [*chosen, *_STARTER_QUESTIONS[: 2 - len(chosen)]]


def _close_matches(
    knowledge: KnowledgeBase, result: SearchResult
) -> list[tuple[KnowledgeEntry, float]]:
    """The entries an answer may be built on.

    Among hits scoring at least half the top score, keep those *about* the most query
    terms (title, keywords, category): an entry that merely mentions "compression" in
    passing must not answer a compression question, however often it says so.
    """
    if not result.hits:
        return []
    top_score = result.hits[0][1]
    pool = [(e, s) for e, s in result.hits[:4] if s >= 0.5 * top_score]
    focus = {e.id: knowledge.focus(e, result.key_terms) for e, _ in pool}
    best = max(focus.values())
    return [(e, s) for e, s in pool if focus[e.id] >= best][:3]


def _choose_guidance(entry: KnowledgeEntry, rng: random.Random) -> tuple[str, ...]:
    """Two or three guidance lines; the first usually stays first since it leads."""
    items = list(entry.guidance)
    if len(items) <= 2:
        return tuple(items)
    k = rng.choice((2, 3))
    if rng.random() < 0.5:
        chosen = [items[0], *rng.sample(items[1:], k - 1)]
    else:
        chosen = rng.sample(items, k)
    return tuple(chosen)


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"
