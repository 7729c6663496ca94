"""The first sentence of an answer: the fact that was asked for, in the question's words.

"How do I compress vocals?" opens "To compress vocals: start at 3:1-4:1, ...", "Where
should I set a high-pass on a lead vocal?" opens "Where to set a high-pass on a lead vocal:
high-pass around 70-100 Hz ...", a described symptom opens by naming its usual cause, and a
follow-up says which topic it continues. Never a card title: when no lead-in fits, the
answer starts with the fact itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from codette_desktop.engine.facts import VALUE_INTENTS
from codette_desktop.engine.intent import Intent
from codette_desktop.engine.wording import lower_first, sentence, upper_first

_MAX_ECHO = 64
_PRONOUNS = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "i'm": "you're",
    "im": "you're",
    "i've": "you've",
    "we": "you",
    "our": "your",
    "us": "you",
}
_PRONOUN = re.compile(r"\b(" + "|".join(re.escape(p) for p in _PRONOUNS) + r")\b", re.IGNORECASE)
_STEPS = re.compile(
    r"^\W*(?:so |and |ok |okay )?how (?:do|can|should|would|could) (?:i|we|you|one) "
    r"(?P<rest>[^?]+?)\s*[?.!]*$",
    re.IGNORECASE,
)
_WHERE = re.compile(
    r"^\W*where (?:should|do|can|would|could|must) (?:i|we|you) (?P<rest>[^?]+?)\s*[?.!]*$",
    re.IGNORECASE,
)
_FOR = re.compile(
    r"^\W*(?:what|which|how much|how many|how long|how loud)\b[^?]*?\b(?:for|on|with) "
    r"(?P<rest>(?:an? |the |my |your )?[\w/' -]+?)\s*[?.!]*$",
    re.IGNORECASE,
)
_DIFFERENCE = re.compile(
    r"\bbetween (?:an? |the )?(?P<a>[\w/ -]+?) and (?:an? |the )?(?P<b>[\w/ -]+?)\s*(?:[?.!,]|$)"
    r"|^\W*(?:what'?s )?(?P<c>[\w/ -]+?) (?:vs\.?|versus) (?P<d>[\w/ -]+?)\s*(?:[?.!,]|$)",
    re.IGNORECASE,
)


def second_person(text: str) -> str:
    """``text`` with the speaker's pronouns turned to the listener's ("my mix" -> "your mix")."""
    return _PRONOUN.sub(lambda m: _PRONOUNS[m.group(1).lower()], text)


def lead_in(
    question: str,
    intent: Intent,
    rng: random.Random,
    *,
    english: bool,
    follow_up_title: str | None = None,
    cause: str | None = None,
) -> str | None:
    """The words before the key fact, or None to start with the fact itself.

    Ends with ":" or "," when the fact continues the sentence, with "." when the lead-in
    is a sentence of its own (a diagnosis).
    """
    if follow_up_title is not None:
        topic = lower_first(follow_up_title)
        return rng.choice((f"Staying with {topic}:", f"Still on {topic}:", f"For {topic}:"))
    if intent.kind == "diagnosis" and cause:
        return rng.choice(
            (
                f"That's usually {cause}.",
                f"Most often that comes down to {cause}.",
                f"That usually points to {cause}.",
            )
        )
    if not english:
        return None
    if intent.kind == "difference" and (match := _DIFFERENCE.search(question)):
        first = match.group("a") or match.group("c")
        second = match.group("b") or match.group("d")
        if first and second:
            return _fit(f"{upper_first(first.strip())} versus {second.strip()}:")
    if match := _STEPS.match(question):
        return _fit(f"To {second_person(match.group('rest'))}:")
    if match := _WHERE.match(question):
        return _fit(f"Where to {second_person(match.group('rest'))}:")
    if intent.kind in VALUE_INTENTS and (match := _FOR.match(question)):
        return _fit(f"For {second_person(match.group('rest'))},")
    return None


def _fit(text: str) -> str | None:
    return text if len(text) <= _MAX_ECHO else None


# A knowledge line that starts with its own label ("Spotify: -14 LUFS ...").
_LABELLED = re.compile(r"^[^:;,.]{1,30}:\s")


def opening(lead: str | None, key_lines: Sequence[str]) -> str:
    """The opening paragraph: the lead-in joined to the key line(s)."""
    first, *more = key_lines
    if lead is None:
        text = sentence(first)
    elif lead.endswith(":") and _LABELLED.match(first):
        text = f"{lead[:-1]} — {sentence(first)}"  # not two colons in a row
    elif lead.endswith((":", ",")):
        text = f"{lead} {sentence(lower_first(first))}"
    else:
        text = f"{lead} {sentence(first)}"
    return " ".join([text, *(sentence(line) for line in more)])
