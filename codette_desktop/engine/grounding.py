"""What an answer is grounded on: the facts, context and memory the engine picked.

The built-in engine renders a :class:`Grounding` into its own prose; a configured local
model (``codette_desktop.engine.prompt``) is given the same grounding and told to use
only these figures. Everything here is plain data, made by the engine in a worker thread.

Trust: ``facts`` come from Codette's knowledge base and are trusted. Everything that
comes from the user or the DAW (``question``, ``context_notes``, ``recent_turns``, track
names inside ``analysis_notes``) is data, never instructions: a prompt must quote it.
"""

from __future__ import annotations

from dataclasses import dataclass

INTENTS = (
    "frequency",  # where / which Hz
    "ratio",  # compression ratio, threshold, knee
    "time",  # ms / s: attack, release, pre-delay, decay, delay time
    "level",  # dB, LUFS, dBTP targets and gain changes
    "distance",  # cm / m: mic distance, speaker spacing
    "difference",  # X versus Y
    "steps",  # how do I ...
    "yes_no",  # should I / is it ok to ...
    "diagnosis",  # a symptom: "sounds muddy", "lost behind the guitars"
    "general",  # anything else
)


@dataclass(frozen=True, slots=True)
class GroundingFact:
    """One knowledge-base line that the answer rests on.

    ``kind`` is "knowledge" for a line of the entry, "computed" for a figure the engine
    worked out from the question's numbers with the entry's rule (41.7 ms = 60000 / 90 / 16).
    """

    entry_id: str
    entry_title: str
    text: str
    kind: str = "knowledge"


@dataclass(frozen=True, slots=True)
class Grounding:
    """Everything an answer may use. ``facts[0]`` carries the asked-for fact."""

    question: str  # the message as the user sent it
    resolved_question: str  # a follow-up with the session's topic carried over
    language: str  # ISO 639-1 code of the question: "en", "de", "es", "fr", "it", "pt"
    intent: str  # one of INTENTS
    off_topic: bool  # retrieval found nothing in the studio domain
    confidence: float  # 0..1, from retrieval
    perspective: str  # perspective name
    perspective_instructions: str  # how this perspective works the facts (1-2 sentences)
    facts: tuple[GroundingFact, ...]  # the key fact first
    sources: tuple[str, ...]  # knowledge entry ids used
    context_notes: tuple[str, ...] = ()  # DAW-context findings (user data inside)
    analysis_notes: tuple[str, ...] = ()  # the session's last measured analysis
    recent_turns: tuple[tuple[str, str], ...] = ()  # (role, text), oldest first
