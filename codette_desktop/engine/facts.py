"""Which lines of a knowledge entry answer the question: the key fact first.

Every guidance line (and the summary) is scored against the question, BM25-like but
within one entry: a question word counts by how few of the entry's lines hold it (so
"attack" picks the one line about attack, while "vocal", in every line of a vocal entry,
picks nothing), more when it names the asked-about setting, and the line gets a bonus
when it holds the kind of value the intent asks for (Hz for "where", a ratio for "what
ratio"). The best line is the key fact and is never left out of an answer; the others
are secondary and may vary from answer to answer.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codette_desktop.engine.intent import Intent, intent_values
from codette_desktop.engine.knowledge import KnowledgeEntry
from codette_desktop.engine.numbers import PARAMETER_LABELS, Reading, value_ranges
from codette_desktop.engine.retrieval import (
    ASKING_TERMS,
    GENERIC_TERMS,
    SOURCE_TERMS,
    normalise,
    tokenize,
)

# A question word that only names the entry's topic ("vocal" for a vocal entry) says
# little about which line is wanted.
_TOPIC_WEIGHT = 0.3
_ASPECT_WEIGHT = 2.0
# A value in a line stands for the word of its quantity: "3:1" answers "what ratio".
_IMPLIED_TERMS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), frozenset(tokenize(words)))
    for pattern, words in (
        (r"\d\s*:\s*1\b", "ratio compression"),
        (r"\d\s*k?hz\b", "frequency"),
        (
            r"\d\s*(?:ms|s|minutes?|hours?)\b|\b1/\d+\b|\b(?:half|whole|quarter)[- ]notes?\b",
            "time long",
        ),
        (r"\d\s*(?:db|lufs|lkfs|dbtp|dbfs|lu)\b", "level"),
    )
)
# The words a value stands for (see above): they name the kind asked, not its subject.
_KIND_TERMS = frozenset().union(*(terms for _, terms in _IMPLIED_TERMS)) | ASKING_TERMS
_PLACEMENT_LINE = re.compile(
    r"\b(?:before|after|first|last|order|place|insert|chain|into)\b", re.IGNORECASE
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# A line that contrasts two things: what a difference question needs.
_CONTRAST = re.compile(
    r"\b(?:cannot|can't|only|whereas|unlike|while|but|instead|not the same|rather than)\b",
    re.IGNORECASE,
)
# A question asking for a starting setting, and the lines that give one.
_ASKS_START = re.compile(
    r"\b(?:should i use|good|typical|usual|starting|start|best|recommended|default)\b",
    re.IGNORECASE,
)
_STARTING_LINE = re.compile(r"\b(?:start|starting|typical|typically|usually|most)\b", re.IGNORECASE)
_RELATIVE_LEVEL = re.compile(
    r"\d\s*(?:db|lu)\s+(?:under|below|above|over|quieter|louder|lower|higher)\b", re.IGNORECASE
)
_ABSOLUTE_LEVEL = re.compile(r"\d\s*(?:lufs|lkfs|db spl|dbfs)\b", re.IGNORECASE)
_SETTING = tokenize("setting")[0]
# Asks for "settings" or an "amount" name no particular setting: they cannot be missing.
_VAGUE_ASPECTS = frozenset(tokenize("setting settings value amount"))
_DELAY = tokenize("delay")[0]
_WORD = re.compile(r"[a-z0-9]+")
# Words naming the track or a filler: a line opening with them is not thereby on topic.
_SUBJECT_TEXT = """the a an and or of for on in to with kick snare bass vocal vocals voice guitar
    guitars drums drum keys piano synth master bus track mix lead backing acoustic electric"""
_SUBJECT_WORDS = frozenset(_SUBJECT_TEXT.split())
_KIND_UNITS = {
    "time": frozenset({"ms", "s"}),
    "ratio": frozenset({"ratio"}),
    "level": frozenset({"db", "dbfs", "dbtp", "lufs", "lu"}),
    "frequency": frozenset({"hz"}),
}
_KIND_NAMES = {
    "distance": frozenset({"distance"}),
    "frequency": frozenset({"frequency"}),
    "ratio": frozenset({"ratio"}),
    "time": frozenset({"time"}),
    "level": frozenset({"level", "loudness"}),
}
# The first words of a line up to its colon (not a ratio's) or its first three words: what
# the line is about.
_LEAD = re.compile(r"^[^:;,.]{1,45}(?=:(?!\d))|^(?:\S+\s+){0,2}\S+")
# Settings given in percent: only these make "30%" a level worth asking for.
_PERCENT_TERMS = frozenset(tokenize("feedback wet dry blend mix percent width pan"))
# Words of advice with a condition: what a yes/no question ("is it ok to ...?") needs.
_NORMATIVE = re.compile(
    r"\b(?:only|avoid|don'?t|never|unless|rather than|instead|not every|no need"
    r"|depends|if you)\b",
    re.IGNORECASE,
)
# A runner-up line this close to the best is part of the key fact too.
_NEAR_TIE = 0.85
# Intents whose answer is a value: a line without that kind of value cannot be the key.
VALUE_INTENTS = frozenset({"frequency", "ratio", "time", "level", "distance"})


@dataclass(frozen=True, slots=True)
class FactPick:
    """The key line(s) of one entry for one question, and the rest, best first.

    ``fit`` (0..1) says how much of what is asked the entry can answer: the share of the
    question's setting words its lines hold and, for a value question, whether the key
    gives that kind of value. 1.0 when the question asks for nothing in particular.
    """

    key: tuple[str, ...]
    rest: tuple[str, ...]
    fit: float
    value_found: bool  # a value intent found a line with that kind of value


def pick_facts(
    entry: KnowledgeEntry,
    intent: Intent,
    terms: Iterable[str],
    readings: Sequence[Reading] = (),
    emphasis: Iterable[str] = (),
    *,
    wants_start: bool = False,
    question: str = "",
) -> FactPick:
    """Score ``entry``'s lines for a question and pick its key fact.

    ``emphasis`` are further terms that name what is asked about (a symptom's cause),
    weighted like the question's own setting words; ``wants_start`` marks a question
    asking for a starting setting ("what attack should I use?"); ``question`` is its text,
    whose words as written are matched against the words a line opens with.
    """
    # The name of the asked quantity counts as asked: "how far?" is answered by "Distance: ...".
    surface = _words(question) | _KIND_NAMES.get(intent.kind, frozenset())
    lines = list(dict.fromkeys(entry.guidance))
    line_terms = [_line_terms(line) for line in lines]
    topic = _topic_terms(f"{entry.title} {entry.category}")
    wanted = {t for t in terms if t not in GENERIC_TERMS}
    aspects = intent.aspects | frozenset(emphasis)
    # The source the entry is written for ("vocal", "acoustic" in its title) says little about
    # which line is meant; its process or goal words ("compression", "clarity") do.
    weights = {
        t: (_ASPECT_WEIGHT if t in aspects else 1.0)
        * (_TOPIC_WEIGHT if t in topic and t in SOURCE_TERMS else 1.0)
        for t in wanted
    }
    count = len(lines)
    asked_labels = {PARAMETER_LABELS[a] for a in aspects if a in PARAMETER_LABELS}
    if intent.kind == "time" and _DELAY in wanted and not asked_labels:
        asked_labels = {"delay"}  # "what delay time?" asks for the delay's own time
    idf = {
        t: math.log(1.0 + count / df) if (df := sum(1 for lt in line_terms if t in lt)) else 0.0
        for t in wanted
    }
    percent = bool(aspects & _PERCENT_TERMS)

    def score_of(line: str, held: frozenset[str]) -> tuple[float, float, bool]:
        """The line's score, its word overlap with the question, and whether it holds a
        value of the asked kind."""
        overlap = sum(weights[t] * idf[t] for t in wanted if t in held)
        values = intent_values(line, intent.kind, percent=percent)
        has_value = values > 0
        # The kind of value asked for, more for a line that gives several (a full setting).
        score = overlap + (1.2 + 0.15 * min(values, 4) if has_value else 0.0)
        score += _reading_bonus(line, readings)
        # A line that opens with an asked word ("Spotify: ...", "Target: ...") is about it.
        # Compared as written, not as index terms: "EDM-style pumping" does not lead with
        # the "sidechain" of "how do I use sidechain?", though both index as sidechain.
        lead = _LEAD.match(line)
        if lead and (_words(lead.group(0)) & surface) - _SUBJECT_WORDS:
            # A label ("Spotify:", "Distance:") says so outright; opening words less so.
            score += 1.5 if line[lead.end() : lead.end() + 1] == ":" else 1.0
        score += _label_fit(line, asked_labels, intent.kind)
        if intent.kind == "yes_no" and _NORMATIVE.search(line):
            score += 1.0
        if intent.placement and _PLACEMENT_LINE.search(line):
            score += 2.0
        if intent.compared:
            score += 0.8 * sum(1 for group in intent.compared if group & held)
            if _CONTRAST.search(line):
                score += 1.0
        if wants_start and has_value and _STARTING_LINE.search(line):
            score += 0.5
        if intent.relative and _RELATIVE_LEVEL.search(line):
            score += 1.0  # "how loud compared to the lead?": "6-12 dB under the lead"
        if intent.absolute and _ABSOLUTE_LEVEL.search(line):
            score += 1.0  # "how loud?" is answered in LUFS or dB SPL, not by a dB change
        if _SETTING in intent.aspects:
            # "... settings?" asks for the line that sets the most parameters.
            score += 0.15 * min(6, len(_NUMBER.findall(line)))
        elif intent.kind in ("general", "steps", "diagnosis"):
            # "How do I compress vocals?" wants the starting setting, the line with numbers;
            # a symptom the remedy with its values.
            score += 0.15 * min(6, len(_NUMBER.findall(line)))
        return score, overlap, has_value

    scores: list[float] = []
    overlaps: list[float] = []
    value_lines: list[bool] = []
    for index, (line, held) in enumerate(zip(lines, line_terms, strict=True)):
        score, overlap, has_value = score_of(line, held)
        scores.append(score + 0.6 * (count - index) / count)  # the entry's lead line first
        overlaps.append(overlap)
        value_lines.append(has_value)
    order = sorted(range(count), key=lambda i: (-scores[i], i))
    best = order[0]
    key = [best]
    # A difference question needs both sides; a two-part question ("target and tolerance")
    # may need a second line for the words the first one lacks.
    uncovered = {
        t
        for t in wanted
        if t not in line_terms[best] and idf[t] > 0 and (t not in topic or t in aspects)
    }
    for group in intent.compared:
        if not group & line_terms[best]:
            uncovered |= set(group)
    if uncovered:
        second = max(
            (i for i in order[1:] if uncovered & line_terms[i]),
            key=lambda i: (len(uncovered & line_terms[i]), scores[i]),
            default=None,
        )
        needed = any(not group & line_terms[best] for group in intent.compared)
        if second is not None and (needed or scores[second] >= 0.5 * scores[best]):
            key.append(second)
    value_found = intent.kind not in VALUE_INTENTS or any(value_lines[i] for i in key)
    # The value should be for what was asked about: "snare ring frequency" is not answered
    # by a line giving the toms' frequencies, though it holds Hz.
    specific = {
        t
        for t in wanted
        if t not in topic and idf[t] > 0 and t not in _KIND_TERMS | aspects | SOURCE_TERMS
    }
    on_point = not specific or any(value_lines[i] and specific & line_terms[i] for i in key)
    # How much of what is asked the key carries, judged the same way for every entry: the
    # setting words (not the topic words, which retrieval already weighed) and the value.
    asked = (aspects & wanted) - _VAGUE_ASPECTS
    # The entry can speak to it: some line holds it, or the entry is about it (keywords).
    held = frozenset().union(*line_terms, _topic_terms(" ".join((entry.title, *entry.keywords))))
    if intent.placement and any(_PLACEMENT_LINE.search(line) for line in lines):
        held |= aspects  # "where does it go?" is answered by a line about order
    parts = [len(asked & held) / len(asked)] if asked else []
    if intent.kind in VALUE_INTENTS:
        parts.append(0.0 if not value_found else 1.0 if on_point else 0.5)
    fit = sum(parts) / len(parts) if parts else 1.0
    if len(key) == 1 and count > 1:
        # A near tie: the question may mean either line, so both answer it (the fit is
        # judged on the best line alone).
        runner = order[1]
        close = scores[runner] >= _NEAR_TIE * scores[best] and scores[best] > 0
        if close and (intent.kind not in VALUE_INTENTS or value_lines[runner]):
            key.append(runner)
    key_lines = tuple(lines[i] for i in key)
    summary_terms = _line_terms(entry.summary)
    summary_score, _, summary_value = score_of(entry.summary, summary_terms)
    if intent.compared and all(group & summary_terms for group in intent.compared):
        # An entry about exactly this difference sums it up in its summary.
        key_lines = (entry.summary, *key_lines[:1])
    elif intent.kind in ("steps", "general", "diagnosis") and summary_score > scores[best]:
        # "How should I process podcast dialogue?": the summary is the whole recipe.
        key_lines = (entry.summary, *key_lines[:1])
    elif intent.explain or (intent.kind in ("general", "steps") and overlaps[best] == 0.0):
        # "What is a de-esser?": the entry's summary is the answer; its best line follows.
        key_lines = (entry.summary, *key_lines[:1])
    elif (
        intent.kind in VALUE_INTENTS
        and summary_value
        and summary_score >= _NEAR_TIE * scores[best]
        and len(key_lines) == 1
    ):
        # The summary gives the asked value about as well as the best line: both answer.
        key_lines = (*key_lines, entry.summary)
    rest = tuple(lines[i] for i in order if lines[i] not in key_lines)
    return FactPick(key_lines, rest, round(fit, 4), value_found)


def _words(text: str) -> frozenset[str]:
    # Studio phrases stay whole: the "low" of "low end" is not the "Low" of "Low-pass".
    return frozenset(_WORD.findall(normalise(text)))


def gives_values_for(entry: KnowledgeEntry, aspects: Iterable[str]) -> bool:
    """False when a setting is asked about ("decay") and no line gives a value for it.

    "What about the decay?" after a pre-delay answer is not answered by a pre-delay line
    that merely mentions long decays.
    """
    wanted = {PARAMETER_LABELS[a] for a in aspects if a in PARAMETER_LABELS}
    if not wanted:
        return True
    for line in entry.guidance:
        for value_range in value_ranges(line):
            if value_range.label in wanted or ("ratio" in wanted and value_range.unit == "ratio"):
                return True
    return False


def asks_for_start(text: str) -> bool:
    """True when a question asks for a starting setting ("what ratio is a good start?")."""
    return bool(_ASKS_START.search(text))


@functools.lru_cache(maxsize=1024)
def _topic_terms(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


@functools.lru_cache(maxsize=8192)
def _line_terms(line: str) -> frozenset[str]:
    # Knowledge lines are few and immutable; tokenising them once keeps answers fast.
    terms = set(tokenize(line))
    for pattern, implied in _IMPLIED_TERMS:
        if pattern.search(line):
            terms |= implied
    return frozenset(terms)


def _label_fit(line: str, asked: set[str], kind: str) -> float:
    """+1 when the line gives a value for the asked setting, -1 when its values of the
    asked kind all belong to other settings (a release time is no answer to "what
    delay time?")."""
    if not asked or kind not in ("time", "ratio", "level", "frequency"):
        return 0.0
    labels = [r.label for r in value_ranges(line) if r.unit in _KIND_UNITS[kind]]
    if any(label in asked for label in labels):
        return 1.0
    if labels and all(label is not None for label in labels):
        return -1.0
    return 0.0


def _reading_bonus(line: str, readings: Sequence[Reading]) -> float:
    """A line with a range for the same parameter as a number in the question."""
    if not readings:
        return 0.0
    bonus = 0.0
    for value_range in value_ranges(line):
        for reading in readings:
            if reading.unit != value_range.unit:
                continue
            same_label = reading.label is not None and reading.label == value_range.label
            bonus = max(bonus, 1.5 if same_label else 0.5)
    return bonus
