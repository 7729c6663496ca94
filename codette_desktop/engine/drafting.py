"""A draft answer and the composer that draws it.

A composer turns one plan into text, drawing its wording choices from a random source;
the engine asks for another draft while the text equals one of the session's recent
answers, and appends a composer's ``extras`` when the wording choices run out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from codette_desktop.engine.grounding import GroundingFact


@dataclass(frozen=True)
class Draft:
    """One candidate answer, and what it rests on (for the grounding)."""

    response: str
    sources: list[dict[str, Any]]
    suggestions: list[str]
    facts: tuple[GroundingFact, ...] = ()
    context_notes: tuple[str, ...] = ()
    analysis_notes: tuple[str, ...] = ()

    def extended(self, line: str) -> Draft:
        """This draft with one more line (used when every redraw repeated an answer)."""
        return Draft(
            f"{self.response}\n{line}",
            self.sources,
            self.suggestions,
            self.facts,
            self.context_notes,
            self.analysis_notes,
        )


class Composer:
    """Builds one draft per call, drawing wording choices from ``rng``."""

    def draft(self, rng: random.Random) -> Draft:
        raise NotImplementedError

    def extras(self) -> list[str]:
        """Further sentences that may be appended to make a repeated draft new."""
        return []
