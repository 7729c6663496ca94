"""Tempo-synced note lengths (GET /api/analysis/delay-sync): 60000 / BPM × beats."""

from __future__ import annotations

import json
import math

import pytest

from codette_desktop.engine.studio.delay_sync import divisions
from codette_desktop.errors import ProtocolError


@pytest.mark.parametrize(
    ("bpm", "name", "ms"),
    [
        (120, "Quarter", 500.0),
        (120, "Dotted eighth", 375.0),
        (120, "Whole", 2000.0),
        (120, "Thirty-second", 62.5),
        (120, "Quarter triplet", 333.333),
        (120, "Eighth triplet", 166.667),
        (120, "Dotted quarter", 750.0),
        (60, "Quarter", 1000.0),
        (90, "Dotted eighth", 500.0),
        (140, "Sixteenth", 107.143),
        (20, "Whole", 12000.0),
    ],
)
def test_known_note_lengths(bpm: float, name: str, ms: float) -> None:
    assert divisions(bpm)["divisions"][name] == pytest.approx(ms, abs=1e-3)


def test_straight_dotted_and_triplet_from_whole_to_thirty_second() -> None:
    result = divisions(97)
    names = list(result["divisions"])
    # The Codette panel shows the first five: the straight values, longest first.
    assert names[:5] == ["Whole", "Half", "Quarter", "Eighth", "Sixteenth"]
    assert len(names) == 18
    notes = {n["notation"]: n for n in result["notes"]}
    quarter = 60000.0 / 97
    for value, beats in (
        ("1/1", 4),
        ("1/2", 2),
        ("1/4", 1),
        ("1/8", 0.5),
        ("1/16", 0.25),
        ("1/32", 0.125),
    ):
        straight = notes[value]["ms"]
        assert straight == pytest.approx(quarter * beats, abs=1e-3)
        assert notes[f"{value}D"]["ms"] == pytest.approx(straight * 1.5, abs=2e-3)
        assert notes[f"{value}T"]["ms"] == pytest.approx(straight * 2 / 3, abs=2e-3)
        assert notes[value]["hz"] == pytest.approx(1000.0 / straight, rel=1e-3)


def test_values_are_plain_numbers_the_frontend_can_format() -> None:
    result = divisions("128")  # a query-string value is accepted
    assert result["bpm"] == 128.0
    assert all(type(ms) is float and math.isfinite(ms) for ms in result["divisions"].values())
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize(
    "bpm", [19.9, 1000, 0, -120, "fast", "", float("nan"), float("inf"), True, None]
)
def test_out_of_range_or_non_numeric_bpm_names_the_field(bpm: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        divisions(bpm)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_field"
    assert caught.value.field == "bpm"
    assert "20" in caught.value.message and "999" in caught.value.message
