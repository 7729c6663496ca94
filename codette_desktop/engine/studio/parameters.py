"""Concrete starting values parsed from a line of knowledge-base guidance.

``"cut 2-4 dB somewhere in 200-400 Hz with a Q of about 1-2"`` becomes
``{"frequency_hz": 280.0, "frequency_hz_range": [200.0, 400.0], "gain_db": -3.0,
"gain_db_range": [-4.0, -2.0], "q": 1.5, "q_range": [1.0, 2.0]}``.

A range gives its middle as the starting value: the geometric mean for frequencies (the
middle on a log-frequency axis, as an EQ draws it, rounded to two significant figures)
and the arithmetic mean for everything else; the range itself is kept as
``<name>_range``. Only the first value of each kind in the line is used. A plain ``dB``
figure becomes ``gain_db`` only when the line says which way it goes (an explicit sign,
or a verb such as cut/boost before it), so "6-12 dB under the lead" is not read as EQ.
"""

from __future__ import annotations

import math
import re

_N = r"[+\-−]?\d+(?:\.\d+)?"
_SEP = r"\s*(?:-|–|to|and)\s*"

# kind -> pattern with groups a (first number), b (optional second number).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("ratio", rf"(?P<a>\d+(?:\.\d+)?):1(?:{_SEP}(?P<b>\d+(?:\.\d+)?):1)?"),
        (
            "attack_ms",
            rf"attack(?:\s+time)?\s*(?:of\s+)?(?:about\s+|around\s+)?(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*ms\b",
        ),
        (
            "release_ms",
            rf"release(?:\s+time)?\s*(?:of\s+)?(?:about\s+|around\s+)?(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*ms\b",
        ),
        ("loudness_lufs", rf"(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*(?:lufs|lkfs)\b"),
        ("true_peak_dbtp", rf"(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*dbtp\b"),
        ("level_dbfs", rf"(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*dbfs\b"),
        (
            "q",
            rf"\bQ\s*(?:of\s+)?(?:about\s+|around\s+)?(?P<a>\d+(?:\.\d+)?)(?:{_SEP}(?P<b>\d+(?:\.\d+)?))?",
        ),
        ("time_ms", rf"(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*ms\b"),
        ("time_s", rf"(?P<a>\d+(?:\.\d+)?)(?:{_SEP}(?P<b>\d+(?:\.\d+)?))?\s+s\b"),
    )
)
_FREQUENCY = re.compile(
    rf"(?P<a>{_N})\s*(?P<ua>k?hz)?(?:{_SEP}(?P<b>{_N}))?\s*(?P<ub>k?hz)\b", re.IGNORECASE
)
# A dB figure that is a gain change (not dBFS/dBTP/SPL, not a slope in dB/oct).
_GAIN = re.compile(
    rf"(?P<a>{_N})(?:{_SEP}(?P<b>{_N}))?\s*db\b(?!\s*(?:/|per\s+oct|spl))", re.IGNORECASE
)
_REDUCTION_AFTER = re.compile(r"^\s*(?:of\s+)?(?:gain[\s-]reduction|gr\b|reduction)", re.IGNORECASE)
_CUT_BEFORE = re.compile(r"\b(cut|cuts|reduce|lower|dip|attenuate|remove|notch)\b[^.;]*$", re.I)
_BOOST_BEFORE = re.compile(r"\b(boost|boosts|add|lift|raise|shelf|bell)\b[^.;]*$", re.I)
# "a 3 dB cut", "a +2 dB boost": the noun after the figure says the direction too.
_CUT_AFTER = re.compile(r"^\s*(cut|dip|notch)\b", re.I)
_BOOST_AFTER = re.compile(r"^\s*(boost|lift)\b", re.I)
# How far back (characters) a verb may stand and still govern the dB figure.
_VERB_REACH = 40


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def _round_sig(value: float, digits: int = 2) -> float:
    if value == 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _put(
    out: dict[str, object], name: str, a: float, b: float | None, *, log: bool = False
) -> None:
    if name in out:
        return
    if b is None or a == b:
        out[name] = round(a, 3)
        return
    low, high = sorted((a, b))
    if log and low > 0:
        out[name] = _round_sig(math.sqrt(low * high))
    else:
        out[name] = round((low + high) / 2.0, 3)
    out[f"{name}_range"] = [round(low, 3), round(high, 3)]


def _frequency(out: dict[str, object], text: str) -> None:
    match = _FREQUENCY.search(text)
    if match is None:
        return
    unit_b = match["ub"].lower()
    unit_a = (match["ua"] or unit_b).lower()
    a = _number(match["a"]) * (1000.0 if unit_a == "khz" else 1.0)
    b = None
    if match["b"] is not None:
        b = _number(match["b"]) * (1000.0 if unit_b == "khz" else 1.0)
    _put(out, "frequency_hz", a, b, log=True)


def _gain(out: dict[str, object], text: str) -> None:
    for match in _GAIN.finditer(text):
        a, b = _number(match["a"]), (_number(match["b"]) if match["b"] else None)
        if _REDUCTION_AFTER.match(text[match.end() :]):
            _put(out, "gain_reduction_db", abs(a), abs(b) if b is not None else None)
            continue
        signed = match["a"][0] in "+-−"
        before = text[max(0, match.start() - _VERB_REACH) : match.start()]
        after = text[match.end() :]
        if not signed:
            if _CUT_AFTER.match(after) or (
                not _BOOST_AFTER.match(after) and _CUT_BEFORE.search(before)
            ):
                a, b = -abs(a), (-abs(b) if b is not None else None)
            elif not (_BOOST_AFTER.match(after) or _BOOST_BEFORE.search(before)):
                continue  # direction unknown: not a gain change we can state
        _put(out, "gain_db", a, b)


def parse_parameters(text: str) -> dict[str, object]:
    """Starting values found in ``text`` (see the module docstring); ``{}`` if none."""
    out: dict[str, object] = {}
    _frequency(out, text)
    _gain(out, text)
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            # A figure already read as attack/release is not also a generic time.
            if any(start <= match.start() < end for start, end in taken):
                continue
            a = _number(match["a"])
            b = _number(match["b"]) if match["b"] else None
            _put(out, kind, a, b)
            taken.append((match.start(), match.end()))
            break
    return out
