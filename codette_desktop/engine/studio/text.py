"""Small text helpers shared by the studio tools' sentences."""

from __future__ import annotations

from collections.abc import Sequence

# How many names a sentence lists before it says "and N more".
MAX_NAMED = 3


def name_list(names: Sequence[str], *, limit: int = MAX_NAMED) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, c and 2 more``."""
    shown = list(names[:limit])
    rest = len(names) - len(shown)
    if rest > 0:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + f" and {shown[-1]}"


def quoted(name: str) -> str:
    """A track name as sentences show it: ``'Lead Vox'``."""
    return f"'{name}'"
