"""Production checklists quoted from the knowledge base.

Serves ``GET /api/analysis/production-checklist?stage=mixing|mastering|recording|arrangement``.
``resources/reference/checklists.json`` only decides the stages, sections and order; every
item is a line of the knowledge entry it names (see that file's ``about``), so the
checklist says exactly what the chat engine would.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from codette_desktop.engine.knowledge import KnowledgeBase, KnowledgeEntry
from codette_desktop.engine.studio.kb_picks import best_line, first_sentence
from codette_desktop.engine.studio.reference import read_table
from codette_desktop.errors import ConfigError, ProtocolError


@dataclass(frozen=True)
class ChecklistItem:
    entry_id: str
    find: str | None


@dataclass(frozen=True)
class ChecklistSection:
    title: str
    items: tuple[ChecklistItem, ...]


@functools.cache
def shipped_plan() -> dict[str, tuple[ChecklistSection, ...]]:
    """Stage -> sections, from ``resources/reference/checklists.json`` (read once)."""
    table = read_table("checklists.json")
    stages = table.record("stages")
    plan: dict[str, tuple[ChecklistSection, ...]] = {}
    for stage in stages.names():
        sections = []
        for raw in stages.records(stage):
            items = []
            for item in raw.records("items"):
                find = item.optional_text("find")
                if find is not None:
                    try:
                        re.compile(find)
                    except re.error as exc:
                        raise ConfigError(f"{item.where}.find: {exc}") from exc
                items.append(ChecklistItem(item.text("entry"), find))
            sections.append(ChecklistSection(raw.text("section"), tuple(items)))
        plan[stage] = tuple(sections)
    return plan


def item_text(entry: KnowledgeEntry, find: str | None) -> str:
    """The line of ``entry`` a checklist item quotes (see the module docstring)."""
    if find is not None:
        line = best_line(entry, "", pattern=find)
        if re.search(find, line, re.IGNORECASE):
            return line
    return first_sentence(entry.summary)


def production_checklist(kb: KnowledgeBase, stage: str) -> dict[str, object]:
    """The checklist for ``stage`` (``recording``, ``arrangement``, ``mixing``, ``mastering``).

    Serves ``GET /api/analysis/production-checklist?stage=...``.

    Returns ``{stage, sections: {title: [item, ...]}, entries: {title: [entry id, ...]},
    stages}``; ``sections`` keeps the table's order (the DAW panel shows the first two
    sections, three items each). An item whose entry is missing from the knowledge base
    is left out, and a section left empty is dropped.

    Raises ProtocolError("invalid_field", field="stage") naming the valid stages.
    """
    plan = shipped_plan()
    key = str(stage).strip().lower()
    if key not in plan:
        raise ProtocolError(
            "invalid_field",
            f"stage must be one of {', '.join(plan)}, got {stage!r}",
            field="stage",
        )
    sections: dict[str, list[str]] = {}
    entries: dict[str, list[str]] = {}
    for section in plan[key]:
        texts: list[str] = []
        ids: list[str] = []
        for item in section.items:
            entry = kb.get(item.entry_id)
            if entry is None:
                continue
            text = item_text(entry, item.find)
            if text not in texts:
                texts.append(text)
                ids.append(entry.id)
        if texts:
            sections[section.title] = texts
            entries[section.title] = ids
    return {"stage": key, "sections": sections, "entries": entries, "stages": list(plan)}
