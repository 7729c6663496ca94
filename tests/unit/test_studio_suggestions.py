"""Suggestions from the knowledge base (POST /codette/suggest), on the shipped KB."""

from __future__ import annotations

import json

import pytest

from codette_desktop.config import resources_dir
from codette_desktop.engine.knowledge import KnowledgeBase, KnowledgeEntry
from codette_desktop.engine.studio.parameters import parse_parameters
from codette_desktop.engine.studio.suggestions import suggest
from codette_desktop.errors import ProtocolError

FIELDS = {
    "id",
    "title",
    "description",
    "type",
    "confidence",
    "source",
    "parameters",
    "summary",
    "references",
    "context",
}
UI_CONTEXTS = ["general", "gain-staging", "mixing", "mastering"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(resources_dir() / "knowledge")


@pytest.mark.parametrize("context", UI_CONTEXTS)
def test_five_distinct_suggestions_quoted_from_entries(kb: KnowledgeBase, context: str) -> None:
    items = suggest(kb, context_type=context, track_type=None, limit=5)
    assert len(items) == 5
    assert len({i["title"] for i in items}) == 5
    for item in items:
        assert set(item) == FIELDS
        entry = kb.get(item["source"])
        assert entry is not None and item["title"] == entry.title
        # Quoted whole, less a list number such as "2) " the entry writes in front.
        assert any(line.endswith(item["description"]) for line in (*entry.guidance, *entry.steps))
        assert item["type"] == entry.category
        assert 0.0 < item["confidence"] <= 1.0
        assert item["parameters"] == parse_parameters(item["description"])
    confidences = [i["confidence"] for i in items]
    assert confidences == sorted(confidences, reverse=True)
    assert json.loads(json.dumps(items)) == items


def test_confidence_comes_from_the_match_and_varies(kb: KnowledgeBase) -> None:
    by_context = {
        c: [i["confidence"] for i in suggest(kb, context_type=c, track_type=None, limit=5)]
        for c in UI_CONTEXTS
    }
    assert all(len(set(values)) > 1 for values in by_context.values())
    assert len({tuple(v) for v in by_context.values()}) == len(UI_CONTEXTS)
    vocal = [
        i["confidence"] for i in suggest(kb, context_type="mixing", track_type="vocal", limit=5)
    ]
    assert vocal != by_context["mixing"]


def test_mastering_topics_are_about_mastering(kb: KnowledgeBase) -> None:
    items = suggest(kb, context_type="mastering", track_type=None, limit=5)
    assert {i["type"] for i in items} <= {
        "mastering",
        "loudness",
        "dynamics",
        "workflow",
        "bus",
        "gain_staging",
        "monitoring",
    }
    assert sum(i["type"] in ("mastering", "loudness") for i in items) >= 3


def test_track_type_steers_to_entries_for_that_source(kb: KnowledgeBase) -> None:
    for track_type in ("vocal", "Lead Vox"):
        items = suggest(kb, context_type="mixing", track_type=track_type, limit=5)
        written_for_vocal = [i for i in items if "vocal" in kb.get(i["source"]).track_types]
        assert len(written_for_vocal) >= 3, track_type
    generic = suggest(kb, context_type="mixing", track_type="audio", limit=5)
    assert generic == suggest(kb, context_type="mixing", track_type=None, limit=5)


def test_selected_track_and_track_counts_from_daw_context(kb: KnowledgeBase) -> None:
    context = {
        "selected_track": {"id": "t1", "name": "Lead Vox", "type": "audio", "volume": 0},
        "track_counts": {"total": 6, "audio": 5, "instrument": 1, "aux": 0},
    }
    items = suggest(kb, context_type="mixing", track_type=None, limit=5, daw_context=context)
    assert any("vocal" in kb.get(i["source"]).track_types for i in items)
    texts = " ".join(f"{i['title']} {i['description']}" for i in items).lower()
    assert "aux" in texts or "send" in texts


def test_other_context_types_the_frontend_sends(kb: KnowledgeBase) -> None:
    general = suggest(kb, context_type="general", track_type=None, limit=5)
    for other in ("daw_state", "analysis", "track_42", ""):
        assert suggest(kb, context_type=other, track_type=None, limit=5) == general
    reverb = suggest(kb, context_type="reverb", track_type=None, limit=5)
    assert sum(i["type"] == "reverb" for i in reverb) >= 3
    assert {i["context"] for i in reverb} == {"reverb"}
    nonsense = suggest(kb, context_type="xyzzy-plugh", track_type=None, limit=3)
    assert {i["context"] for i in nonsense} == {"general"}


def test_deterministic(kb: KnowledgeBase) -> None:
    first = suggest(kb, context_type="mixing", track_type="bass", limit=7)
    assert first == suggest(kb, context_type="mixing", track_type="bass", limit=7)


@pytest.mark.parametrize("limit", [0, 21, -1, True, "5", 2.5])
def test_limit_is_checked(kb: KnowledgeBase, limit: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        suggest(kb, context_type="general", track_type=None, limit=limit)  # type: ignore[arg-type]
    assert caught.value.field == "limit"


def test_genre_conventions_only_when_the_genre_is_asked(kb: KnowledgeBase) -> None:
    # Shaped like the knowledge branch's genre entries: "any" track, vocal-heavy words.
    pop = KnowledgeEntry(
        id="genre-pop",
        title="Pop mix conventions",
        category="workflow",
        keywords=("pop", "vocal", "mixing", "compression", "reverb", "automation", "balance"),
        track_types=("any", "vocal"),
        summary="Pop mixes put the vocal first: compression, reverb and automation keep it on top.",
        guidance=("Compress the vocal 6-10 dB and ride it with automation in the mix.",),
        steps=(),
        perception="-",
        math="-",
        pitfalls=(),
        sources=("test",),
    )
    # Once the knowledge base has its own genre-pop entry, that one is used.
    with_genre = kb if kb.get("genre-pop") else KnowledgeBase([*kb, pop])
    for context in UI_CONTEXTS:
        items = suggest(with_genre, context_type=context, track_type="vocal", limit=7)
        assert "genre-pop" not in {i["source"] for i in items}, context
    asked = suggest(with_genre, context_type="pop", track_type=None, limit=3)
    assert asked[0]["source"] == "genre-pop"
