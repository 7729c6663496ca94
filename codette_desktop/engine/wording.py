"""Small wording helpers shared by everything that writes answer text."""

from __future__ import annotations

from collections.abc import Sequence


def format_db(value: float) -> str:
    """A level with one decimal and an explicit sign for positive values: ``+0.4``."""
    text = f"{value:+.1f}" if value > 0 else f"{value:.1f}"
    return "0.0" if text in ("-0.0", "+0.0") else text


def format_ms(value: float) -> str:
    """Milliseconds, dropping a trailing .0 (``500``, ``62.5``)."""
    return format_number(value)


def format_number(value: float) -> str:
    """One decimal, without a trailing .0 (``13``, ``12.5``, ``-6``)."""
    rounded = round(value, 1)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}"


def join_words(parts: Sequence[str]) -> str:
    """``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def sentence(text: str) -> str:
    """``text`` stripped and ending in a full stop (unless it already ends a sentence)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", ":")) else f"{text}."


# Names that keep their capital at the start of a continued sentence.
_PROPER_NAMES = frozenset(
    {"Spotify", "YouTube", "Tidal", "Apple", "Amazon", "Abbey", "Pultec", "Baxandall", "Haas"}
)


def lower_first(text: str) -> str:
    """Lower-case a capitalised first word; acronyms ("EQ") and names ("Spotify") stay."""
    first = text.split(" ", 1)[0].rstrip(":,;.")
    if first in _PROPER_NAMES:
        return text
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def first_sentence(text: str) -> str:
    """The first sentence of ``text``."""
    for mark in (". ", "! ", "? "):
        index = text.find(mark)
        if index > 0:
            return text[: index + 1]
    return sentence(text)
