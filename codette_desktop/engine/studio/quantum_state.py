"""The five ``quantum_state`` numbers of ``GET /codette/status``, each a real measure.

The DAW's Memory tab shows every key of ``quantum_state`` as a percentage, so all five
are numbers in 0..1 computed from :class:`SessionStats`, which the service fills from
its own bookkeeping (recent chat answers, memory, the analysis workers). The names are
the frontend's; their meanings here are:

- **coherence** — how well recent answers were grounded in the knowledge base: the mean
  ``confidence`` of the last answers (0 before the first answer).
- **entanglement** — how tied the conversation is to the user's session: the share of
  recent chats that carried DAW context or followed an analysis of the user's audio.
- **resonance** — how much of the knowledge base the conversation has drawn on: the
  share of knowledge entries cited by answers stored in memory.
- **phase** — readiness of the audio analysis: the share of analysis workers ready
  (0.5 while the full worker is still warming up with the fast one ready, 1 when both are).
- **fluctuation** — how much answer quality varies: twice the population standard
  deviation of the recent confidences (values in 0..1 have a standard deviation of at
  most 0.5, so 0 = steady, 1 = answers split between sure and unsure; 0 with fewer
  than two answers).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

QUANTUM_KEYS = ("coherence", "entanglement", "resonance", "phase", "fluctuation")


@dataclass(frozen=True)
class SessionStats:
    """What the status route knows about recent use; validated on construction.

    ``recent_confidences``: confidences (0..1) of the last chat answers, any order.
    ``recent_chats``: how many chats those are; ``contextual_chats``: how many of them
    carried ``daw_context`` or followed an analysis. ``cited_entries``: distinct
    knowledge entries cited by answers in memory; ``knowledge_entries``: the size of the
    knowledge base. ``workers_ready`` of ``workers_total`` analysis workers are ready.
    """

    recent_confidences: Sequence[float] = field(default_factory=tuple)
    recent_chats: int = 0
    contextual_chats: int = 0
    cited_entries: int = 0
    knowledge_entries: int = 0
    workers_ready: int = 0
    workers_total: int = 0

    def __post_init__(self) -> None:
        for value in self.recent_confidences:
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"recent_confidences must hold numbers in 0..1, got {value!r}")
        counts = (
            self.recent_chats,
            self.contextual_chats,
            self.cited_entries,
            self.knowledge_entries,
            self.workers_ready,
            self.workers_total,
        )
        if any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts):
            raise ValueError("counts must be non-negative integers")
        for part, whole, what in (
            (self.contextual_chats, self.recent_chats, "contextual_chats"),
            (self.cited_entries, self.knowledge_entries, "cited_entries"),
            (self.workers_ready, self.workers_total, "workers_ready"),
        ):
            if part > whole:
                raise ValueError(f"{what} cannot exceed its total")


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def quantum_state(stats: SessionStats) -> dict[str, float]:
    """``{coherence, entanglement, resonance, phase, fluctuation}``, each 0..1, rounded to
    0.001 (meanings in the module docstring). Exactly these five keys: the frontend
    renders every key it gets. Serves the ``quantum_state`` of ``GET /codette/status``."""
    confidences = [float(c) for c in stats.recent_confidences]
    coherence = statistics.fmean(confidences) if confidences else 0.0
    fluctuation = 2.0 * statistics.pstdev(confidences) if len(confidences) > 1 else 0.0
    values = {
        "coherence": coherence,
        "entanglement": _share(stats.contextual_chats, stats.recent_chats),
        "resonance": _share(stats.cited_entries, stats.knowledge_entries),
        "phase": _share(stats.workers_ready, stats.workers_total),
        "fluctuation": fluctuation,
    }
    return {key: round(min(1.0, max(0.0, values[key])), 3) for key in QUANTUM_KEYS}
