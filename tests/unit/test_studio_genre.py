"""Genre from instrumentation (POST /api/analysis/detect-genre), with honest confidence."""

from __future__ import annotations

import json

import pytest

from codette_desktop.engine.studio.genre import UNKNOWN, detect_genre
from codette_desktop.errors import ProtocolError


def tracks(*names: str, kind: str = "audio") -> list[dict]:
    """Frontend Track objects (types/index.ts) as the DAW sends them: no bpm anywhere."""
    return [
        {
            "id": f"track-{i}",
            "name": name,
            "type": kind,
            "color": "#fff",
            "muted": False,
            "soloed": False,
            "armed": False,
            "inputGain": 0,
            "volume": 0,
            "pan": 0,
            "stereoWidth": 100,
            "phaseFlip": False,
            "inserts": [],
            "sends": [],
            "routing": "master",
        }
        for i, name in enumerate(names)
    ]


def test_trap_session() -> None:
    result = detect_genre(tracks("808", "Kick", "Trap Hat", "Lead Vox"))
    assert result["detected_genre"] == "Hip-Hop/Trap"
    assert 0.5 <= result["confidence"] <= 0.85
    assert all(isinstance(c, str) for c in result["candidates"])
    assert result["detected_genre"] not in result["candidates"]
    evidence = " ".join(result["evidence"])
    assert "'808'" in evidence and "'Trap Hat'" in evidence
    assert "no tempo or audio" in evidence
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize(
    ("names", "genre"),
    [
        (
            ("Kick In", "Overheads", "Rhythm Gtr L", "Rhythm Gtr R", "Bass DI", "Lead Vox"),
            "Rock/Metal",
        ),
        (("Banjo", "Fiddle", "Acoustic", "Vox"), "Country"),
        (("Supersaw", "Riser", "Kick", "Clap", "Sub"), "EDM/Electronic"),
        (("Violins", "Cellos", "Timpani", "French Horns"), "Classical/Orchestral"),
        (("Upright Bass", "Brushes", "Tenor Sax", "Piano"), "Jazz"),
        (("Drone", "Texture Pad"), "Ambient"),
        (("Lead Vox", "BVs", "Rhodes", "Bass", "Drums"), "R&B/Soul"),
    ],
)
def test_instrumentation_points_to_the_style(names: tuple[str, ...], genre: str) -> None:
    assert detect_genre(tracks(*names))["detected_genre"] == genre


def test_thin_evidence_gives_low_or_no_confidence() -> None:
    nothing = detect_genre(tracks("Audio 1", "Audio 2", "Audio 3"))
    assert nothing["detected_genre"] == UNKNOWN
    assert nothing["confidence"] == 0.0 and nothing["candidates"] == []
    assert any("Audio 1" in e for e in nothing["evidence"])
    one_voice = detect_genre(tracks("Lead Vox"))
    assert one_voice["confidence"] < 0.2
    rich = detect_genre(tracks("808", "Trap Hat", "Adlibs", "Lead Vox"))
    assert rich["confidence"] > 3 * one_voice["confidence"]
    empty = detect_genre([])
    assert empty["detected_genre"] == UNKNOWN and empty["confidence"] == 0.0


def test_a_tie_is_said_and_not_sold_as_certain() -> None:
    result = detect_genre(tracks("Strings", "Upright Bass", "Piano"))
    assert result["detected_genre"] in ("Jazz", "Classical/Orchestral")
    assert result["confidence"] < 0.4
    assert any("equally" in e for e in result["evidence"])


def test_a_cue_counts_once_however_many_tracks_show_it() -> None:
    assert (
        detect_genre(tracks("808 A", "808 B", "808 C"))["scores"]
        == detect_genre(tracks("808"))["scores"]
    )


def test_plugin_names_in_inserts_count() -> None:
    session = tracks("Audio 1")
    session[0]["inserts"] = [
        {
            "id": "p1",
            "name": "Supersaw Generator",
            "type": "third-party",
            "enabled": True,
            "parameters": {},
        }
    ]
    assert detect_genre(session)["detected_genre"] == "EDM/Electronic"


@pytest.mark.parametrize(
    ("body", "field"), [("808", "tracks"), ({"name": "808"}, "tracks"), ([1], "tracks[0]")]
)
def test_malformed_tracks_name_the_field(body: object, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        detect_genre(body)  # type: ignore[arg-type]
    assert caught.value.field == field
