"""Instrument roles and instrument info (GET /api/analysis/instrument-info)."""

from __future__ import annotations

import json

import pytest

from codette_desktop.config import resources_dir
from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.instrument import instrument_info
from codette_desktop.engine.studio.instrument_table import shipped_instruments
from codette_desktop.errors import ProtocolError


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(resources_dir() / "knowledge")


@pytest.mark.parametrize(
    ("name", "track_type", "expected"),
    [
        ("808", "audio", "sub-808"),
        ("Kick", "audio", "kick"),
        ("Trap Hat", "audio", "hihat"),
        ("Lead Vox", "audio", "lead-vocal"),
        ("lead_vox_02", None, "lead-vocal"),
        ("Strings", "instrument", "string-section"),
        ("Upright Bass", "audio", "upright-bass"),
        ("Bass Drum", "audio", "kick"),
        ("Synth Bass", "instrument", "bass-guitar"),
        ("Upright Piano", "audio", "piano"),
        ("Vox Verb", "aux", "bus"),
        ("BGV Stack", "audio", "backing-vocals"),
        ("Rhodes", "instrument", "electric-piano"),
        ("Master", "master", "master"),
        ("Audio 1", "aux", "bus"),
        ("Audio 1", "vocal", "lead-vocal"),
        ("Audio 1", "audio", None),
        (None, "midi", None),
    ],
)
def test_track_roles_from_name_then_type(name, track_type, expected) -> None:
    role = shipped_instruments().identify(name=name, track_type=track_type)
    assert (role.id if role else None) == expected


def _lines(kb: KnowledgeBase, entry_id: str) -> set[str]:
    entry = kb.get(entry_id)
    assert entry is not None
    return {*entry.guidance, *entry.steps}


def test_lead_vocal_leads_with_frequency_ranges_then_knowledge_lines(kb: KnowledgeBase) -> None:
    info = instrument_info(kb, "vocals", "lead")
    data = info["data"]
    first_key, first_value = next(iter(data.items()))
    assert first_key == "frequency_ranges"
    # E2 (bass voice) to C6 (soprano), then the regions the knowledge base names.
    assert first_value.startswith("Fundamentals E2-C6 (82.4 Hz-1.05 kHz)")
    assert "sibilance 5-8 kHz" in first_value
    assert all(isinstance(v, str) and v for v in data.values())
    quoted = info["knowledge_entries"]
    assert quoted[0] == "vocal-eq-clarity"
    for key in ("eq", "dynamics", "space"):
        assert any(data[key] in _lines(kb, e) for e in quoted), key
    assert json.loads(json.dumps(info)) == info


@pytest.mark.parametrize(
    ("category", "instrument", "low", "high"),
    [
        ("bass", "electric", 41.20, 392.00),  # E1-G4: 4 strings, 24 frets
        ("guitars", "electric", 82.41, 1174.66),  # E2-D6: 22 frets
        ("keys", "piano", 27.5, 4186.01),  # A0-C8
        ("strings", "cello", 65.41, 880.0),  # C2-A5
        ("brass", "trumpet", 164.81, 932.33),  # sounding E3-B♭5
        ("drums", "kick", 50.0, 100.0),
    ],
)
def test_fundamental_ranges(kb, category, instrument, low, high) -> None:
    assert instrument_info(kb, category, instrument)["fundamental_hz"] == pytest.approx(
        [low, high], abs=0.01
    )


def test_instruments_without_their_own_entries_use_general_ones(kb: KnowledgeBase) -> None:
    info = instrument_info(kb, "strings", "violin")
    assert info["knowledge_entries"]
    assert all(kb.get(e).is_general for e in info["knowledge_entries"])


@pytest.mark.parametrize(
    ("category", "instrument", "resolved"),
    [
        ("vocal", "bgv", ("vocals", "backing")),
        ("Guitar", "Acoustic", ("guitars", "acoustic")),
        ("horns", "sax", ("brass", "tenor_sax")),
        ("bass", "double bass", ("bass", "upright")),
    ],
)
def test_singulars_and_instrument_names_are_understood(kb, category, instrument, resolved) -> None:
    info = instrument_info(kb, category, instrument)
    assert (info["category"], info["instrument"]) == resolved


def test_unknown_category_or_instrument_names_the_field_and_choices(kb: KnowledgeBase) -> None:
    with pytest.raises(ProtocolError) as caught:
        instrument_info(kb, "kazoo", "lead")
    assert caught.value.field == "category"
    assert "vocals" in caught.value.message
    with pytest.raises(ProtocolError) as caught:
        instrument_info(kb, "vocals", "tuba")
    assert caught.value.field == "instrument"
    assert "lead" in caught.value.message and "backing" in caught.value.message
