"""Small talk and the polite refusal: greetings, thanks, "what can you do", off-topic.

These replies rest on no knowledge entry; they say who Codette is and what it can help
with, and offer starter questions. Greetings and thanks are recognised in the five other
languages too ("hallo", "gracias"), so they are never mistaken for off-topic questions.
"""

from __future__ import annotations

import random
import re

from codette_desktop.engine.context import DawContext
from codette_desktop.engine.drafting import Composer, Draft
from codette_desktop.engine.language import fold

FIELD_TOPICS = (
    "EQ and tone, compression and dynamics, reverb and delay, gain staging and headroom, "
    "kick/bass low end, vocals, stereo width, loudness and mastering"
)
STARTER_QUESTIONS = (
    "How do I make my vocal sit in the mix?",
    "How loud should my master be for streaming?",
    "How do I stop the kick and bass clashing?",
    "What attack and release should I use on vocals?",
    "How much reverb pre-delay should I use?",
    "How do I gain stage my tracks?",
)

_GREETING_TEXT = """hi hello hey heya hiya yo howdy greetings sup hallo hola morning afternoon
    evening bonjour salut ciao ola oi servus moin buongiorno buenos buenas dias tardes
    guten tag abend bonsoir buonasera boa bom"""
GREETING_WORDS = frozenset(fold(w) for w in _GREETING_TEXT.split())
_THANKS_TEXT = """thanks thank thx ty cheers appreciate appreciated danke dankeschon gracias
    merci grazie obrigado obrigada"""
THANKS_WORDS = frozenset(fold(w) for w in _THANKS_TEXT.split())
_FILLER_TEXT = """
    there codette good how are you doing whats what's up is it going today again all folks
    friend nice to meet so much very a lot great awesome ok okay that was helpful perfect i
    it's its this really wie geht's gehts es dir como estas esta ca va comment vas come stai
    tudo bem mille vielen muchas beaucoup tante mucho"""
_SMALL_TALK_FILLER = frozenset(fold(w) for w in _FILLER_TEXT.split())
_INTRO_QUESTION = re.compile(
    r"^\s*(help|what can you do|what do you do|who are you|what are you|how can you help"
    r"( me)?|what can i ask( you)?)\s*[?!.]*\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def small_talk_kind(message: str) -> str | None:
    """ "intro", "thanks" or "greeting" for small talk, None for anything else."""
    if _INTRO_QUESTION.match(message):
        return "intro"
    words = [fold(w) for w in _WORD.findall(message)]
    if not words or len(words) > 8:
        return None
    allowed = GREETING_WORDS | THANKS_WORDS | _SMALL_TALK_FILLER
    if not all(w.strip("'") in allowed for w in words):
        return None
    if any(w in THANKS_WORDS for w in words):
        return "thanks"
    if any(w in GREETING_WORDS for w in words):
        return "greeting"
    return None


def small_talk_confidence(message: str) -> float:
    """Sure of small talk in proportion to how much of the message is greeting words."""
    words = [fold(w) for w in _WORD.findall(message)]
    hits = sum(1 for w in words if w in GREETING_WORDS | THANKS_WORDS)
    return round(0.6 + 0.35 * (hits / len(words) if words else 1.0), 3)


class SmallTalk(Composer):
    def __init__(self, kind: str, context: DawContext) -> None:
        self._kind = kind
        self._context = context

    def draft(self, rng: random.Random) -> Draft:
        if self._kind == "thanks":
            first = rng.choice(
                ("You're welcome!", "Any time!", "Glad that helped.", "Happy to help.")
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
            second = rng.choice((f"Ask me about {FIELD_TOPICS}.", f"I know about {FIELD_TOPICS}."))
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
        return Draft(text, [], rng.sample(STARTER_QUESTIONS, 3))

    def extras(self) -> list[str]:
        return [f"For example: {q}" for q in STARTER_QUESTIONS]


class OffTopic(Composer):
    """The honest refusal for a question outside mixing and production."""

    def __init__(self, notice: str | None = None) -> None:
        self._notice = notice

    def draft(self, rng: random.Random) -> Draft:
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
            (f"What I can help with: {FIELD_TOPICS}.", f"I can help with {FIELD_TOPICS}.")
        )
        questions = rng.sample(STARTER_QUESTIONS, 3)
        third = f'Try, for example: "{questions[0]}"'
        text = f"{first} {second} {third}"
        if self._notice:
            text = f"{self._notice}\n{text}"
        return Draft(text, [], questions)

    def extras(self) -> list[str]:
        return [f'Or: "{q}"' for q in STARTER_QUESTIONS]
