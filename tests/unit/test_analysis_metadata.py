"""analyze_metadata: judgements from the DAW's meter readings alone."""

from __future__ import annotations

import json
import re

import pytest

from codette_desktop.analysis import ANALYSIS_TYPES, analyze_metadata
from codette_desktop.errors import AnalysisError

TRACK_TYPES = ["vocal", "drums", "bass", "guitar", "keys", "synth", "bus", "master", None]


def meta(
    peak: float | None = None,
    rms: float | None = None,
    *,
    track_type: str | None = "vocal",
    analysis_type: str = "full",
    **extra: object,
) -> dict:
    track = {
        "track_id": "t1",
        "track_name": "Lead",
        "track_type": track_type,
        "muted": False,
        "soloed": False,
    }
    audio = {"peak_level": peak, "rms_level": rms, "duration": 12.5, "sample_rate": 48000, **extra}
    return analyze_metadata(track=track, audio_data=audio, analysis_type=analysis_type)


def test_reports_what_it_was_given() -> None:
    m = meta(-3.0, -18.5)["measurements"]
    assert m == {
        "sample_peak_dbfs": -3.0,
        "headroom_db": 3.0,
        "rms_dbfs": -18.5,
        "crest_factor_db": 15.5,
        "duration_s": 12.5,
        "sample_rate": 48000,
        "notes": {},
    }


def test_partial_readings() -> None:
    m = meta(-3.0, None)["measurements"]
    assert "rms_dbfs" not in m and "crest_factor_db" not in m
    assert m["headroom_db"] == 3.0
    m = analyze_metadata(
        track={},
        audio_data={"peak_level": None, "rms_level": -20.0, "duration": None, "sample_rate": None},
    )
    assert set(m["measurements"]) == {"rms_dbfs", "notes"}


@pytest.mark.parametrize("track_type", TRACK_TYPES)
def test_hot_peak_scores_lower_than_minus_6(track_type: str | None) -> None:
    hot = meta(-0.3, -18.0, track_type=track_type)
    safe = meta(-6.0, -18.0, track_type=track_type)
    assert hot["quality_score"] < safe["quality_score"]


def test_headroom_suggestion_names_the_numbers() -> None:
    result = meta(-0.3, -18.0, track_type="vocal")
    first = result["mixing_suggestions"][0]
    assert "-0.3 dBFS" in first
    assert "0.3 dB headroom" in first
    assert "-6 dBFS" in first
    assert "5.7 dB" in first
    assert "0.3 dB" in result["codette_insights"]


def test_master_aims_for_minus_1_dbtp() -> None:
    result = meta(-0.3, -12.0, track_type="master")
    assert "-1 dBTP" in result["mixing_suggestions"][0]
    assert "-0.3 dBFS" in result["mixing_suggestions"][0]
    # A master peaking at -6 dBFS is fine on peaks: no pull-down advice.
    calm = meta(-6.0, -14.0, track_type="master")
    assert not any("pull it down" in s for s in calm["mixing_suggestions"])


def test_master_rms_guidance_mentions_minus_14() -> None:
    quiet = meta(-3.0, -24.0, track_type="master")
    assert any("-14 LUFS" in s and "-24.0 dBFS" in s for s in quiet["mixing_suggestions"])
    loud = meta(-0.9, -7.0, track_type="master")
    assert any("turn it down" in s and "-7.0 dBFS" in s for s in loud["mixing_suggestions"])
    assert quiet["quality_score"] < meta(-3.0, -14.0, track_type="master")["quality_score"]


@pytest.mark.parametrize("peak", [0.0, 0.5, 3.0])
def test_peak_at_or_over_full_scale_is_clipping(peak: float) -> None:
    result = meta(peak, -15.0)
    assert "clipping" in result["mixing_suggestions"][0]
    assert result["quality_score"] <= 0.65


@pytest.mark.parametrize("rms", [-40.0, -60.0])
def test_very_low_rms_lowers_score(rms: float) -> None:
    low = meta(-12.0, rms)
    normal = meta(-12.0, -22.0)
    assert low["quality_score"] < normal["quality_score"]
    assert any(f"{rms:.1f} dBFS" in s for s in low["mixing_suggestions"])


def test_low_crest_factor_lowers_score() -> None:
    squashed = meta(-6.0, -10.0, track_type="guitar")  # 4 dB crest
    open_ = meta(-6.0, -18.0, track_type="guitar")
    assert squashed["quality_score"] < open_["quality_score"]
    assert any("Crest factor 4.0 dB" in s and "6 dB" in s for s in squashed["mixing_suggestions"])


def test_drums_need_more_crest_than_bass() -> None:
    drums = meta(-6.0, -14.0, track_type="drums")  # 8 dB crest
    bass = meta(-6.0, -14.0, track_type="bass")
    assert drums["quality_score"] < bass["quality_score"]


def test_score_varies_with_readings() -> None:
    scores = {
        meta(p, r)["quality_score"] for p in (-12.0, -6.0, -2.0, -0.1) for r in (-35.0, -20.0, -8.0)
    }
    assert len(scores) >= 6
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_healthy_levels_say_so_with_numbers() -> None:
    result = meta(-7.0, -19.0, track_type="vocal")
    assert result["quality_score"] == 1.0
    first = result["mixing_suggestions"][0]
    assert "healthy" in first and "-7.0 dBFS" in first and "-19.0 dBFS" in first


def test_no_readings() -> None:
    result = meta(None, None)
    assert result["quality_score"] == 0.5
    assert "no meter readings" in result["codette_insights"]
    assert set(result["measurements"]) == {"duration_s", "sample_rate", "notes"}


def test_inconsistent_rms_above_peak() -> None:
    m = meta(-20.0, -10.0)["measurements"]
    assert m["crest_factor_db"] is None
    assert "inconsistent" in m["notes"]["crest_factor_db"]


@pytest.mark.parametrize("analysis_type", ANALYSIS_TYPES)
@pytest.mark.parametrize("track_type", TRACK_TYPES)
def test_json_safe_and_well_formed(analysis_type: str, track_type: str | None) -> None:
    result = meta(-2.5, -16.0, track_type=track_type, analysis_type=analysis_type)
    json.dumps(result, allow_nan=False)
    assert result["analysis_type"] == analysis_type
    assert isinstance(result["quality_score"], float)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", result["codette_insights"]) if s]
    assert 1 <= len(sentences) <= 3


def test_unknown_analysis_type() -> None:
    with pytest.raises(AnalysisError) as info:
        meta(-3.0, -18.0, analysis_type="vibes")
    assert (info.value.code, info.value.field) == ("invalid_field", "analysis_type")


def test_audio_types_point_to_sending_audio() -> None:
    assert any("send the audio" in s for s in meta(-6.0, -18.0)["mixing_suggestions"])
    assert not any(
        "send the audio" in s
        for s in meta(-6.0, -18.0, analysis_type="dynamic")["mixing_suggestions"]
    )
