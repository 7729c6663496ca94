"""Composing a knowledge-grounded answer from a plan.

Layout of an answer:

1. In a question that was not in English, one line in its language saying the answer
   follows in English.
2. The opening: what the question's own numbers work out to (a synced time, a platform's
   gain change, a value judged against the guidance) and the key line(s) of the entry,
   after a lead-in in the question's words. This never varies in substance.
3. What the DAW context adds (levels, fader, routing, masking, tempo).
4. The perspective's working of the facts (:mod:`~codette_desktop.engine.perspectives`),
   with secondary guidance drawn at random, so repeated questions read differently.
5. The session's last analysis, when the question is about loudness or "my track".
6. Sometimes a related entry.

The composer also returns what the answer rests on, for the
:class:`~codette_desktop.engine.grounding.Grounding`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codette_desktop.engine.analysis_notes import analysis_sentences
from codette_desktop.engine.context import DawContext, TempoGrid
from codette_desktop.engine.context_notes import report
from codette_desktop.engine.drafting import Composer, Draft
from codette_desktop.engine.facts import FactPick
from codette_desktop.engine.grounding import GroundingFact
from codette_desktop.engine.intent import Intent
from codette_desktop.engine.knowledge import KnowledgeEntry
from codette_desktop.engine.language import Gloss
from codette_desktop.engine.numbers import NoteValue, Reading
from codette_desktop.engine.opening import lead_in, opening
from codette_desktop.engine.perspectives import Material, render
from codette_desktop.engine.readings import Worked, work
from codette_desktop.engine.smalltalk import STARTER_QUESTIONS
from codette_desktop.engine.wording import lower_first

# A question with only generic studio words ("how do I make my mix better?") is told so
# plainly, in one clause, before the move that helps most mixes.
_BROAD_OPENINGS = (
    "There's no single answer to that; this is where I'd begin.",
    "No one setting fixes that, but this move helps most mixes.",
)


@dataclass(frozen=True)
class Candidate:
    """An entry that may answer the question, with its key fact picked."""

    entry: KnowledgeEntry
    score: float  # retrieval score
    facts: FactPick
    rank: float = 0.0  # score weighed by how much of the question the entry can answer


@dataclass(frozen=True)
class Plan:
    """Everything the engine worked out about one question, ready to be told."""

    perspective: str
    question: str  # as the user wrote it (trimmed)
    gloss: Gloss
    intent: Intent
    terms: frozenset[str]  # canonical terms of the (resolved) question
    candidates: tuple[Candidate, ...]  # best first; empty for a studio question with no entry
    related: tuple[tuple[KnowledgeEntry, float], ...]
    context: DawContext
    readings: tuple[Reading, ...] = ()
    note: NoteValue | None = None
    tempo: TempoGrid | None = None
    tempo_asked: bool = False  # the tempo came from the question or the session, not the DAW
    programme: bool = False  # about a master or mix bus
    platforms: tuple[str, ...] = ()
    judge: bool = False  # the question asks whether its own value is right
    analyses: tuple[dict[str, Any], ...] = ()
    cause: str | None = None  # the usual cause of the symptom described
    follow_up_title: str | None = None  # the topic a follow-up continues
    broad: bool = False
    alternative: FactPick | None = None  # the closest other entry's pick, for options


class AnswerComposer(Composer):
    """Draws answers for a :class:`Plan`; the key fact is in every draft."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan

    def draft(self, rng: random.Random) -> Draft:
        plan = self._plan
        if not plan.candidates:
            return self._general_draft(rng)
        best = plan.candidates[0]
        entry, pick = best.entry, best.facts
        worked = work(
            plan.readings,
            plan.note,
            plan.intent,
            pick.key,
            pick.rest,
            tempo=plan.tempo,
            tempo_asked=plan.tempo_asked,
            programme=plan.programme,
            platforms_named=plan.platforms,
            judge=plan.judge,
        )
        leading = [w for w in worked if w.answers]
        supporting = [w for w in worked if not w.answers]
        lead = lead_in(
            plan.question,
            plan.intent,
            rng,
            english=plan.gloss.is_english,
            follow_up_title=plan.follow_up_title,
            cause=plan.cause,
        )
        first = self._opening(rng, lead, leading, pick.key, supporting)
        context = report(
            plan.context,
            terms=plan.terms,
            category=entry.category.lower(),
            perspective=plan.perspective,
            tempo_in_question=plan.tempo_asked,
        )
        secondary = _secondary(pick.rest, rng)
        alternatives = tuple(pick.rest[:1]) + (
            tuple(plan.alternative.key[:1]) if plan.alternative is not None else ()
        )
        material = Material(
            entry=entry,
            score=best.score,
            key=pick.key,
            guidance=secondary,
            related=plan.related,
            subject=f"your {plan.context.selected.label}"
            if plan.context.selected
            else "your track",
            math_lines=tuple(w.math for w in worked if w.math) + context.math_lines,
            steps_before=context.steps_before,
            intent=plan.intent.kind,
            cause=plan.cause,
            alternatives=alternatives,
            own_units=frozenset(r.unit for r in plan.readings),
        )
        body = render(plan.perspective, material, rng)
        analysis = analysis_sentences(plan.analyses)
        paragraphs = [first, " ".join(context.notes), body, " ".join(analysis)]
        if plan.gloss.notice:
            paragraphs.insert(0, plan.gloss.notice)
        used = [(entry, best.score)]
        facts = self._facts(entry, leading, pick.key, supporting, secondary)
        mentions_related = plan.perspective in ("neural_network", "quantum_logic")
        if plan.related and not mentions_related and rng.random() < 0.5:
            other = plan.related[rng.randrange(min(2, len(plan.related)))]
            paragraphs.append(f"Related: {other[0].title} — {other[0].summary}")
            used.append(other)
            facts.append(GroundingFact(other[0].id, other[0].title, other[0].summary))
        elif plan.related and mentions_related:
            used.extend(plan.related[: 2 if plan.perspective == "neural_network" else 1])
        text = "\n\n".join(p for p in paragraphs if p)
        sources = [{"id": e.id, "title": e.title, "score": round(s, 3)} for e, s in used]
        return Draft(
            text,
            sources,
            self._suggestions(entry, rng),
            facts=tuple(facts),
            context_notes=context.notes,
            analysis_notes=tuple(analysis),
        )

    def extras(self) -> list[str]:
        extras: list[str] = []
        for candidate in self._plan.candidates[:1]:
            extras += [f"Also worth knowing: {g}" for g in candidate.entry.guidance]
            extras += [f"A trap to avoid: {p}" for p in candidate.entry.pitfalls]
        return extras

    # -- pieces ---------------------------------------------------------------------

    def _opening(
        self,
        rng: random.Random,
        lead: str | None,
        leading: Sequence[Worked],
        key: Sequence[str],
        supporting: Sequence[Worked],
    ) -> str:
        if leading:
            # The question's own numbers answer it: say what they work out to first, then
            # the guidance they were judged against.
            sentence_lead = lead if lead is not None and lead.endswith(".") else None
            follow = lead if lead is not None and not lead.endswith((".", ",")) else None
            worked = " ".join(w.text for w in leading)
            start = f"{follow} {lower_first(worked)}" if follow else worked
            parts = [p for p in (sentence_lead, start, opening(None, key)) if p]
        else:
            parts = [opening(lead, key)]
            if self._plan.broad:
                parts.insert(0, rng.choice(_BROAD_OPENINGS))
        parts += [w.text for w in supporting]
        return " ".join(parts)

    def _facts(
        self,
        entry: KnowledgeEntry,
        leading: Sequence[Worked],
        key: Sequence[str],
        supporting: Sequence[Worked],
        secondary: Sequence[str],
    ) -> list[GroundingFact]:
        def fact(text: str, kind: str = "knowledge") -> GroundingFact:
            return GroundingFact(entry.id, entry.title, text, kind)

        return [
            *(fact(w.text, "computed") for w in leading),
            *(fact(line) for line in key),
            *(fact(w.text, "computed") for w in supporting),
            *(fact(line) for line in secondary),
        ]

    def _general_draft(self, rng: random.Random) -> Draft:
        # Studio words but nothing specific in the knowledge base: be honest, still useful.
        plan = self._plan
        opening_line = rng.choice(
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
        context = report(
            plan.context,
            terms=plan.terms,
            category="",
            perspective=plan.perspective,
            tempo_in_question=plan.tempo_asked,
        )
        analysis = analysis_sentences(plan.analyses)
        paragraphs = [
            plan.gloss.notice or "",
            f"{opening_line} {general}",
            " ".join(context.notes),
            " ".join(analysis),
        ]
        text = "\n\n".join(p for p in paragraphs if p)
        return Draft(
            text,
            [],
            rng.sample(STARTER_QUESTIONS, 3),
            context_notes=context.notes,
            analysis_notes=tuple(analysis),
        )

    def _suggestions(self, entry: KnowledgeEntry, rng: random.Random) -> list[str]:
        plan = self._plan
        title = (
            entry.title[0].lower() + entry.title[1:] if entry.title[1:2].islower() else entry.title
        )
        options: list[str] = []
        if plan.perspective != "copilot_developer":
            options.append(f"Walk me through {title} step by step")
        if plan.perspective != "bias_mitigation" and entry.pitfalls:
            options.append(f"What are common mistakes with {title}?")
        if plan.perspective != "mathematical_rigor":
            options.append(f"Show me the numbers behind {title}")
        options += [f"Tell me about {other.title.rstrip('.')}" for other, _ in plan.related[:2]]
        category = entry.category.lower()
        if not plan.analyses and category in ("loudness", "mastering", "metering"):
            options.append("Analyze my track's loudness")
        chosen = rng.sample(options, min(3, len(options)))
        return chosen if len(chosen) >= 2 else [*chosen, *STARTER_QUESTIONS[: 2 - len(chosen)]]


def _secondary(rest: Sequence[str], rng: random.Random) -> tuple[str, ...]:
    """One to three of the other lines, the better-fitting ones more often, in rank order."""
    if not rest:
        return ()
    wanted = min(len(rest), rng.choice((1, 2, 2, 3)))
    ranks = list(range(len(rest)))
    # Rank r is drawn with weight 1 / (r + 1): the next-best line is the usual companion.
    chosen: set[int] = set()
    while len(chosen) < wanted:
        chosen.add(rng.choices(ranks, weights=[1.0 / (r + 1) for r in ranks])[0])
    return tuple(rest[r] for r in sorted(chosen))

