"""Follow-up questions: what a session was talking about, and when a question continues it.

After "How do I sidechain the bass to the kick?", the question "and what about the
attack?" is about the sidechain compressor's attack, not compressor attack in general.
A :class:`Topic` remembers the entry that answered the last studio question, the words
that found it, the track it was about and the numbers the user gave (tempo, loudness);
the engine stores it in the session's memory (so it survives a restart) and resolves the
next question against it when :func:`is_follow_up` says the question leans on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from codette_desktop.engine.intent import DESCRIPTOR_TERMS, PARAMETER_TERMS
from codette_desktop.engine.numbers import Reading
from codette_desktop.engine.retrieval import GENERIC_TERMS, TRACK_TYPE_WORDS

# Readings that describe the whole session (tempo, the master's loudness): one value each.
# Other readings (250 Hz, 40 ms attack) carry over per parameter, for "is that too high?".
SESSION_UNITS = frozenset({"bpm", "lufs", "dbtp", "dbfs", "spl"})
_CONNECTIVE = re.compile(
    r"^\W*(?:and|also|plus|so|then|ok(?:ay)?|what about|how about|same|but|what if|thanks?"
    r"(?: you)?[!,. ]+and)\b",
    re.IGNORECASE,
)
_ANAPHORA = re.compile(r"\b(?:it|that|them|this|those|these|there|then|one|its)\b", re.IGNORECASE)
_WORDS = re.compile(r"[\w'-]+")
_SHORT_WORDS = 12


@dataclass(frozen=True, slots=True)
class Topic:
    """What the last studio answer of a session was about."""

    entry_id: str
    entry_title: str
    intent: str
    terms: tuple[str, ...]  # canonical key terms of the question it answered
    track_family: str | None = None
    track_name: str | None = None
    values: tuple[Reading, ...] = ()  # the user's numbers so far: 90 BPM, -6 LUFS, 250 Hz

    def to_json(self) -> dict[str, object]:
        return {
            "entry_id": self.entry_id,
            "entry_title": self.entry_title,
            "intent": self.intent,
            "terms": list(self.terms),
            "track_family": self.track_family,
            "track_name": self.track_name,
            "values": [[r.unit, r.value, r.label] for r in self.values],
        }

    @classmethod
    def from_json(cls, raw: object) -> Topic | None:
        """The topic stored by :meth:`to_json`, or None when ``raw`` is not one."""
        if not isinstance(raw, Mapping):
            return None
        entry_id, title, intent = raw.get("entry_id"), raw.get("entry_title"), raw.get("intent")
        if not (isinstance(entry_id, str) and isinstance(title, str) and isinstance(intent, str)):
            return None
        terms = raw.get("terms")
        values = raw.get("values")
        return cls(
            entry_id=entry_id,
            entry_title=title,
            intent=intent,
            terms=tuple(t for t in terms if isinstance(t, str)) if isinstance(terms, list) else (),
            track_family=_text(raw.get("track_family")),
            track_name=_text(raw.get("track_name")),
            values=tuple(
                Reading(v[0], float(v[1]), v[2] if len(v) == 3 and isinstance(v[2], str) else None)
                for v in (values if isinstance(values, list) else [])
                if isinstance(v, list)
                and len(v) in (2, 3)
                and isinstance(v[0], str)
                and isinstance(v[1], int | float)
                and not isinstance(v[1], bool)
            ),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def is_follow_up(
    text: str, terms: Sequence[str], topic: Topic | None, track_family: str | None = None
) -> bool:
    """True when an (English or glossed) question leans on the session's topic.

    It does when it opens like a continuation ("and ...", "what about ..."), points back
    ("should that go before ..."), or names only settings and no subject ("what ratio?").
    It does not when the user has moved to a track of another kind (``track_family``,
    the selected or named track): "cut the mud" on the vocal is not about the bass;
    unless the question only names that track as a continuation ("and the kick?" after
    snare reverb asks for the same thing on the kick).
    """
    if topic is None:
        return False
    if track_family and topic.track_family and track_family != topic.track_family:
        only_track = all(t in TRACK_TYPE_WORDS or t in GENERIC_TERMS for t in terms)
        return bool(_CONNECTIVE.search(text)) and only_track
    if _CONNECTIVE.search(text):
        return True
    words = _WORDS.findall(text)
    short = len(words) <= _SHORT_WORDS
    if short and _ANAPHORA.search(text):
        return True
    # Settings and no subject ("what ratio?"); only generic words ("how do I make my mix
    # better?") is a broad new question, not a continuation.
    subject = [
        t
        for t in terms
        if t not in PARAMETER_TERMS and t not in GENERIC_TERMS and t not in DESCRIPTOR_TERMS
    ]
    settings = [t for t in terms if t in PARAMETER_TERMS]
    return short and bool(settings) and not subject


def merge_values(readings: Iterable[Reading], topic: Topic | None) -> tuple[Reading, ...]:
    """The session's numbers after this question: its own readings over the topic's."""

    def key(reading: Reading) -> tuple[str, str | None]:
        return (reading.unit, None if reading.unit in SESSION_UNITS else reading.label)

    merged = {key(r): r for r in (topic.values if topic is not None else ())}
    merged.update((key(r), r) for r in readings)
    return tuple(merged.values())
