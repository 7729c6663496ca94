"""Ear-training tables (GET /api/analysis/ear-training): correct semitones and chords."""

from __future__ import annotations

import json

import pytest

from codette_desktop.engine.studio.ear_training import exercises, shipped_table
from codette_desktop.engine.studio.pitch import midi_number
from codette_desktop.errors import ProtocolError

# Music theory, written out independently of the table.
SEMITONES = {
    "Minor Second": 1,
    "Major Second": 2,
    "Minor Third": 3,
    "Major Third": 4,
    "Perfect Fourth": 5,
    "Tritone": 6,
    "Perfect Fifth": 7,
    "Minor Sixth": 8,
    "Major Sixth": 9,
    "Minor Seventh": 10,
    "Major Seventh": 11,
    "Perfect Octave": 12,
}
CHORDS = {
    "Major Triad": [0, 4, 7],
    "Minor Triad": [0, 3, 7],
    "Diminished Triad": [0, 3, 6],
    "Augmented Triad": [0, 4, 8],
    "Sus2": [0, 2, 7],
    "Sus4": [0, 5, 7],
    "Dominant 7th": [0, 4, 7, 10],
    "Major 7th": [0, 4, 7, 11],
    "Minor 7th": [0, 3, 7, 10],
    "Half-Diminished 7th": [0, 3, 6, 10],
    "Diminished 7th": [0, 3, 6, 9],
    "Minor-Major 7th": [0, 3, 7, 11],
    "Add9": [0, 4, 7, 14],
    "Dominant 9th": [0, 4, 7, 10, 14],
}
LEVELS = ("beginner", "intermediate", "advanced")


def _all(kind: str) -> list[dict]:
    return [e for level in LEVELS for e in exercises(kind, level)["exercises"]]


def test_perfect_fifth_is_seven_semitones_for_beginners() -> None:
    result = exercises("interval", "beginner")
    fifth = next(e for e in result["exercises"] if e["name"] == "Perfect Fifth")
    assert fifth["semitones"] == 7
    assert "Twinkle" in fifth["example"]
    assert (result["exercise_type"], result["difficulty"]) == ("interval", "beginner")


def test_every_interval_once_with_correct_semitones_and_cents() -> None:
    found = {e["name"]: e for e in _all("interval")}
    assert {name: e["semitones"] for name, e in found.items()} == SEMITONES
    assert all(e["cents"] == 100 * e["semitones"] for e in found.values())
    assert all(e["example"].strip() for e in found.values())


def test_the_spelled_example_from_c_spans_the_same_interval() -> None:
    for interval in shipped_table().intervals:
        low, high = interval.from_c.split("–")
        span = midi_number(f"{high}4") - midi_number(f"{low}4")
        assert span % 12 == interval.semitones % 12, interval.name


def test_chords_have_correct_semitones_and_a_quality() -> None:
    found = {e["name"]: e for e in _all("chord")}
    assert {name: e["intervals"] for name, e in found.items()} == CHORDS
    assert all(e["quality"].strip() for e in found.values())


def test_fields_the_daw_reads_and_tips() -> None:
    chords = exercises("chord", "intermediate")  # the Codette panel's Chords button
    assert chords["exercises"] and chords["tips"]
    for item in chords["exercises"]:
        assert {"name", "intervals", "quality", "difficulty"} <= item.keys()
    assert json.loads(json.dumps(chords)) == chords


def test_case_and_plural_are_accepted() -> None:
    assert (
        exercises("Intervals", "BEGINNER")["exercises"]
        == exercises("interval", "beginner")["exercises"]
    )


@pytest.mark.parametrize(
    ("kind", "level", "field"),
    [
        ("rhythm", "beginner", "exercise_type"),
        ("interval", "expert", "difficulty"),
        ("", "", "exercise_type"),
    ],
)
def test_unknown_values_name_the_field_and_the_choices(kind: str, level: str, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        exercises(kind, level)
    assert caught.value.field == field
    assert "beginner" in caught.value.message or "interval" in caught.value.message
