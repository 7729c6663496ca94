"""Production checklists (GET /api/analysis/production-checklist) quoted from the KB."""

from __future__ import annotations

import dataclasses

import pytest

from codette_desktop.config import resources_dir
from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.checklist import production_checklist
from codette_desktop.engine.studio.kb_picks import first_sentence
from codette_desktop.errors import ProtocolError


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(resources_dir() / "knowledge")


@pytest.mark.parametrize("stage", ["mixing", "mastering", "recording", "arrangement"])
def test_every_item_is_a_line_of_the_entry_it_names(kb: KnowledgeBase, stage: str) -> None:
    result = production_checklist(kb, stage)
    assert result["stage"] == stage
    sections = result["sections"]
    assert len(sections) >= 3
    for title, items in sections.items():
        ids = result["entries"][title]
        assert len(ids) == len(items) and items
        for item, entry_id in zip(items, ids, strict=True):
            entry = kb.get(entry_id)
            lines = {*entry.guidance, *entry.steps, first_sentence(entry.summary)}
            assert item in lines or any(line.endswith(item) for line in lines), item


@pytest.mark.parametrize("stage", ["mixing", "mastering"])
def test_the_panel_has_three_items_in_each_of_the_first_two_sections(kb, stage) -> None:
    sections = list(production_checklist(kb, stage)["sections"].values())
    assert all(len(items) >= 3 for items in sections[:2])


def test_mastering_names_the_true_peak_ceiling(kb: KnowledgeBase) -> None:
    items = [
        i for items in production_checklist(kb, "mastering")["sections"].values() for i in items
    ]
    assert any("-1 dBTP" in item for item in items)


def test_the_wording_comes_from_the_knowledge_base(kb: KnowledgeBase) -> None:
    entry = kb.get("mix-bus-headroom")
    changed = dataclasses.replace(
        entry, guidance=("Target mix-bus peaks around -8 dBFS in this test.", *entry.guidance[1:])
    )
    edited = KnowledgeBase([changed if e.id == entry.id else e for e in kb])
    items = production_checklist(edited, "mastering")["sections"]["Premaster"]
    assert items[0] == "Target mix-bus peaks around -8 dBFS in this test."


def test_items_of_missing_entries_are_left_out(kb: KnowledgeBase) -> None:
    only = KnowledgeBase([kb.get("mixing-order")])
    result = production_checklist(only, "mixing")
    assert set(result["sections"]) == {"Preparation", "Balance and panning", "Space and depth"}
    assert all(ids == ["mixing-order"] for ids in result["entries"].values())


@pytest.mark.parametrize("stage", ["", "MIXING ", "podcast"])
def test_stage_is_checked(kb: KnowledgeBase, stage: str) -> None:
    if stage.strip().lower() == "mixing":
        assert production_checklist(kb, stage)["stage"] == "mixing"
        return
    with pytest.raises(ProtocolError) as caught:
        production_checklist(kb, stage)
    assert caught.value.field == "stage"
    assert "mixing" in caught.value.message and "mastering" in caught.value.message
