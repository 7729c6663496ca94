"""What one part of a session review found, in the shape every part returns.

The fader, chain and routing reviews each fill a :class:`ReviewNotes`; the session
review merges them and turns them into the reply. Keeping the four kinds of text apart
matters because the DAW panel treats them differently: it shows ``recommendations``
(or, when there are none, ``findings``) as the answer and makes its own action buttons
from words in them ("clipping", "low level", "eq", "compress", "aux").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.kb_picks import quote


@dataclass(frozen=True)
class Check:
    """One yes/no judgement the input allowed; ``quality_score`` is the share passed."""

    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class ReviewNotes:
    """Findings (facts about the input), recommendations (what to do), limitations (what
    the input cannot show), action items, checks, and the match confidences of the
    knowledge entries quoted."""

    findings: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    action_items: list[dict[str, object]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    advice_confidences: list[float] = field(default_factory=list)

    def merge(self, other: ReviewNotes) -> None:
        for mine, theirs in (
            (self.findings, other.findings),
            (self.recommendations, other.recommendations),
            (self.limitations, other.limitations),
        ):
            mine.extend(t for t in theirs if t not in mine)
        self.action_items.extend(other.action_items)
        self.checks.extend(other.checks)
        self.advice_confidences.extend(other.advice_confidences)

    def cite(
        self,
        kb: KnowledgeBase,
        entry_id: str,
        query: str,
        pattern: str,
        *,
        track_type: str | None = None,
    ) -> str | None:
        """A line of knowledge entry ``entry_id`` matching ``pattern`` (or, when the entry
        is missing or has none, of the best entry for ``query``); its match confidence is
        recorded. None when nothing fits."""
        entry = kb.get(entry_id)
        found = quote(
            kb,
            query,
            own=[entry] if entry else [],
            pattern=pattern,
            track_type=track_type,
            categories=(),
        )
        if found is None:
            return None
        self.advice_confidences.append(found.confidence)
        return found.line

    def action(self, action: str, parameter: str, value: object, priority: str) -> None:
        """Add an action item in the frontend's ``{action, parameter, value, priority}``."""
        self.action_items.append(
            {"action": action, "parameter": parameter, "value": value, "priority": priority}
        )
