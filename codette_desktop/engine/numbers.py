"""Numbers typed in a question or written in a knowledge line, with their units.

``readings("my master reads -6 LUFS at 90 BPM")`` gives ``Reading("lufs", -6.0)`` and
``Reading("bpm", 90.0)``; :func:`value_ranges` finds ``70-100 Hz`` and ``5-20 ms`` in a
guidance line, each with the parameter word in front of it ("attack", "high-pass"), so a
value from the question can be judged against the range for the same parameter.
Pure text functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Unicode minus and dashes count as a minus sign before a number.
_MINUS = "-−–"
_NUMBER = rf"[{_MINUS}+]?\d+(?:\.\d+)?"

# Parameter words a number may belong to, as they appear in questions and guidance.
_LABELS = (
    ("predelay", r"pre-?delay"),
    ("attack", r"attack"),
    ("release", r"release"),
    ("hold", r"hold"),
    ("decay", r"decay|reverb time|rt60|tail"),
    ("lookahead", r"look-?ahead"),
    ("highpass", r"high-?pass(?:ing|ed)?|hpf|low[- ]cut"),
    ("lowpass", r"low-?pass(?:ing|ed)?|lpf|high[- ]cut"),
    ("threshold", r"threshold"),
    ("ceiling", r"ceiling"),
    ("ratio", r"ratio"),
    ("feedback", r"feedback"),
    ("delay", r"delay"),
    ("peak", r"peaks?|peaking"),
    ("shelf", r"shelf"),
)
# Canonical question terms (see retrieval.canonical) -> the label of their values.
PARAMETER_LABELS = {
    "predelay": "predelay",
    "attack": "attack",
    "releas": "release",
    "hold": "hold",
    "decay": "decay",
    "lookahead": "lookahead",
    "highpass": "highpass",
    "lowpass": "lowpass",
    "threshold": "threshold",
    "ceil": "ceiling",
    "ratio": "ratio",
    "feedback": "feedback",
}
_LABEL = re.compile(
    r"\b(" + "|".join(f"(?P<{name}>{pattern})" for name, pattern in _LABELS) + r")\b"
)

_UNITS: tuple[tuple[str, str], ...] = (
    ("bpm", rf"(?P<v>{_NUMBER})\s*bpm\b"),
    ("lufs", rf"(?P<v>{_NUMBER})\s*(?:lufs|lkfs)\b"),
    ("lu", rf"(?P<v>{_NUMBER})\s*lu\b"),
    ("dbtp", rf"(?P<v>{_NUMBER})\s*dbtp\b"),
    ("dbfs", rf"(?P<v>{_NUMBER})\s*dbfs\b"),
    ("spl", rf"(?P<v>{_NUMBER})\s*db\s*(?:spl|a|c)\b|(?P<w>{_NUMBER})\s*dba\b"),
    ("db", rf"(?P<v>{_NUMBER})\s*db\b(?!\s*(?:spl|/))"),
    ("khz", r"(?P<v>\d+(?:\.\d+)?)\s*(?:khz|k)\b"),
    ("hz", r"(?P<v>\d+(?:\.\d+)?)\s*hz\b"),
    ("ms", r"(?P<v>\d+(?:\.\d+)?)\s*(?:ms|msec|milliseconds?)\b"),
    ("s", r"(?P<v>\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b"),
    ("ratio", r"(?P<v>\d+(?:\.\d+)?)\s*:\s*1\b"),
    ("percent", r"(?P<v>\d+(?:\.\d+)?)\s*%"),
)
_UNIT_PATTERNS = tuple((unit, re.compile(pattern)) for unit, pattern in _UNITS)
# "tempo is 90", "bpm of 128", "90bpm" is covered above.
_TEMPO_WORDS = re.compile(r"\b(?:tempo|bpm)\s*(?:is|of|=|at|:)?\s*(?P<v>\d{2,3}(?:\.\d+)?)\b")

# Note values named in words or fractions: the fraction of a whole note.
_NOTE_WORDS = (
    (r"\b(?:1/64|sixty-?fourth)(?: notes?)?", 1 / 64),
    (r"\b(?:1/32|thirty-?second)(?: notes?)?", 1 / 32),
    (r"\b(?:1/16|sixteenth|16th)(?: notes?)?", 1 / 16),
    (r"\b(?:1/8|eighth|8th|quaver)(?: notes?)?", 1 / 8),
    (r"\b(?:1/4|quarter|crotchet)(?: notes?)?", 1 / 4),
    (r"\b(?:1/2|half|minim)(?: notes?)", 1 / 2),
    (r"\b(?:1/1|whole|semibreve)(?: notes?)", 1.0),
)
_NOTES = tuple((re.compile(pattern), fraction) for pattern, fraction in _NOTE_WORDS)
_DOTTED = re.compile(r"\bdotted\s*$")
_TRIPLET = re.compile(r"^\s*(?:note\s*)?triplets?\b")
# "a triplet eighth", "dotted triplet" read before the note too.
_TRIPLET_BEFORE = re.compile(r"\btriplets?\s*$")


@dataclass(frozen=True, slots=True)
class Reading:
    """One number with its unit, and the parameter word before it when there is one."""

    unit: (
        str  # "bpm", "lufs", "lu", "dbtp", "dbfs", "spl", "db", "hz", "ms", "s", "ratio", "percent"
    )
    value: float
    label: str | None = None  # "attack", "highpass", ...

    def describe(self) -> str:
        """The reading as the user wrote it, e.g. ``-6 LUFS``, ``250 Hz``, ``4:1``."""
        return describe(self.unit, self.value)


@dataclass(frozen=True, slots=True)
class NoteValue:
    """A note length named in a question: ``fraction`` of a whole note."""

    fraction: float
    name: str  # "dotted 1/8", "1/16 triplet", "1/4"


@dataclass(frozen=True, slots=True)
class ValueRange:
    """A range (or single value) written in a knowledge line: ``70-100 Hz`` under "high-pass"."""

    unit: str
    low: float
    high: float
    label: str | None
    text: str  # as written, e.g. "70-100 Hz"

    def contains(self, value: float, *, slack: float = 0.0) -> bool:
        return self.low - slack <= value <= self.high + slack


def describe(unit: str, value: float) -> str:
    number = f"{value:g}"
    if unit == "ratio":
        return f"{number}:1"
    if unit == "percent":
        return f"{number}%"
    names = {
        "lufs": "LUFS",
        "lu": "LU",
        "dbtp": "dBTP",
        "dbfs": "dBFS",
        "spl": "dB SPL",
        "db": "dB",
        "hz": "Hz",
        "ms": "ms",
        "s": "s",
        "bpm": "BPM",
    }
    return f"{number} {names.get(unit, unit)}"


def _to_float(text: str) -> float:
    return float(text.replace("−", "-").replace("–", "-"))


def _label_name(match: re.Match[str]) -> str:
    return next(name for name, _ in _LABELS if match.group(name))


# Clause boundaries: a parameter word belongs to the numbers of its own clause only.
_CLAUSE = re.compile(r"[,;/()]|\band\b|\bor\b")


def _label_before(text: str, start: int) -> str | None:
    """The parameter word closest before ``start`` within its clause and a few words."""
    window = text[max(0, start - 40) : start]
    boundaries = list(_CLAUSE.finditer(window))
    if boundaries:
        window = window[boundaries[-1].end() :]
    label = None
    for match in _LABEL.finditer(window):
        label = _label_name(match)
    return label


def _label_after(text: str, end: int) -> str | None:
    """A parameter word right after the number ("5-20 ms attack")."""
    match = _LABEL.match(text[end : end + 30].lstrip(" "))
    return _label_name(match) if match is not None else None


def readings(text: str) -> tuple[Reading, ...]:
    """Every number with a unit in ``text`` (a question), in order of appearance."""
    lowered = text.lower()
    found: list[tuple[int, Reading]] = []
    taken: list[tuple[int, int]] = []
    for unit, pattern in _UNIT_PATTERNS:
        for match in pattern.finditer(lowered):
            span = match.span()
            if any(a < span[1] and span[0] < b for a, b in taken):
                continue  # "-6 dBFS" is not also "-6 dB"
            raw = match.group("v") if match.group("v") is not None else match.group("w")
            value = _to_float(raw)
            name = unit
            if unit == "khz":
                name, value = "hz", value * 1000.0
            label = None
            if name != "bpm":  # a tempo belongs to the song, not to one parameter
                label = _label_after(lowered, span[1]) or _label_before(lowered, span[0])
            taken.append(span)
            found.append((span[0], Reading(name, value, label)))
    if not any(r.unit == "bpm" for _, r in found):
        tempo = _TEMPO_WORDS.search(lowered)
        if tempo is not None:
            found.append((tempo.start(), Reading("bpm", float(tempo.group("v")))))
    found.sort(key=lambda item: item[0])
    return tuple(r for _, r in found if _plausible(r))


def _plausible(reading: Reading) -> bool:
    # A value outside any studio meaning is a typo or another unit, not a reading.
    limits = {
        "bpm": (20.0, 400.0),
        "lufs": (-70.0, 5.0),
        "dbtp": (-40.0, 10.0),
        "dbfs": (-150.0, 20.0),
        "spl": (20.0, 140.0),
        "hz": (1.0, 40000.0),
    }
    low, high = limits.get(reading.unit, (float("-inf"), float("inf")))
    return low <= reading.value <= high


# Loudness, true-peak, full-scale and tempo units say what the question is about, so
# they stay; a bare Hz, ms, dB or % says nothing by itself and goes with its number.
_READING_NUMBER = re.compile(
    rf"{_NUMBER}\s*(?=(?:lufs|lkfs|lu|dbtp|dbfs|bpm)\b)"
    rf"|{_NUMBER}\s*(?:k?hz|ms|msec|milliseconds?|db|%)(?![\w/])",
    re.IGNORECASE,
)
_RATIO_READING = re.compile(r"\d+(?:\.\d+)?\s*:\s*1\b")


def without_readings(text: str) -> str:
    """``text`` with the numbers of its readings removed (keeping telling units).

    A reading says where the user is ("-6 LUFS"), not what the question is about, so its
    number must not match knowledge lines that happen to hold the same figure.
    """
    return _READING_NUMBER.sub(" ", _RATIO_READING.sub(" ratio ", text))


def note_value(text: str) -> NoteValue | None:
    """The note length a question names ("dotted eighth", "1/16 triplet"), if any."""
    lowered = text.lower()
    for pattern, fraction in _NOTES:
        match = pattern.search(lowered)
        if match is None:
            continue
        name = _fraction_name(fraction)
        if _DOTTED.search(lowered[: match.start()]):
            return NoteValue(fraction * 1.5, f"dotted {name}")
        if _TRIPLET.match(lowered[match.end() :]) or _TRIPLET_BEFORE.search(
            lowered[: match.start()]
        ):
            return NoteValue(fraction * 2 / 3, f"{name} triplet")
        return NoteValue(fraction, name)
    return None


def _fraction_name(fraction: float) -> str:
    return "whole note" if fraction == 1.0 else f"1/{round(1 / fraction)}"


# Ranges as written in guidance: "70-100 Hz", "2.5-5 kHz", "800 Hz-1.2 kHz", "3:1-4:1",
# "-1 dBTP", "10-30%", "+2 to +4 dB".
_RANGE = re.compile(
    rf"(?P<a>{_NUMBER})\s*(?P<ua>k?hz|ms|s|db|dbfs|dbtp|lufs|lu|%|:1)?"
    rf"(?:\s*(?:-|–|to)\s*(?P<b>{_NUMBER})\s*(?P<ub>k?hz|ms|s|db|dbfs|dbtp|lufs|lu|%|:1)"
    rf"|(?<=[a-z%1]))(?![\w/])",
    re.IGNORECASE,
)
_RANGE_UNITS = {
    "hz": "hz",
    "khz": "hz",
    "ms": "ms",
    "s": "s",
    "db": "db",
    "dbfs": "dbfs",
    "dbtp": "dbtp",
    "lufs": "lufs",
    "lu": "lu",
    "%": "percent",
    ":1": "ratio",
}


def value_ranges(line: str) -> tuple[ValueRange, ...]:
    """Ranges and single values with units in a knowledge line, each with its label."""
    lowered = line.lower()
    result: list[ValueRange] = []
    previous_end = 0
    for match in _RANGE.finditer(lowered):
        unit_b = match.group("ub")
        unit_a = match.group("ua")
        unit_text = (unit_b or unit_a or "").lower()
        if not unit_text:
            continue
        unit = _RANGE_UNITS[unit_text]
        low = _to_float(match.group("a"))
        high = _to_float(match.group("b")) if match.group("b") is not None else low
        scale_b = 1000.0 if unit_text == "khz" else 1.0
        scale_a = 1000.0 if (unit_a or unit_text).lower() == "khz" else 1.0
        if match.group("b") is None:
            low = high = low * scale_b
        else:
            low, high = low * scale_a, high * scale_b
        low, high = min(low, high), max(low, high)
        label = _label_after(lowered, match.end()) or _label_before(lowered, match.start())
        if (
            label is None
            and result
            and result[-1].unit == unit
            and not re.search(r"[;.]\s", lowered[previous_end : match.start()])
        ):
            # "70-100 Hz for male voices and 100-150 Hz for female": one parameter.
            label = result[-1].label
        result.append(ValueRange(unit, low, high, label, line[match.start() : match.end()].strip()))
        previous_end = match.end()
    return tuple(result)
