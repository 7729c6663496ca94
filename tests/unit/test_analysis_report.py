"""analyze_audio: field sets per analysis type, JSON safety, suggestions and quality score."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codette_desktop.analysis import ANALYSIS_TYPES, AudioBuffer, analyze_audio, report
from codette_desktop.errors import AnalysisError

RATE = 44100
MASTER = {"track_id": "m", "track_name": "Mix", "track_type": "master"}


def tone(
    freq: float = 440.0,
    *,
    seconds: float = 3.0,
    amplitude: float = 0.25,
    channels: int = 2,
    rate: int = RATE,
) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((amplitude * np.sin(2 * np.pi * freq * t))[:, None], channels, axis=1)


def music(*, seconds: float = 4.0, level: float = 0.2, seed: int = 0) -> np.ndarray:
    """Pink-ish stereo noise plus a chord: a stand-in for a clean mix, shape (frames, 2)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    spec = np.fft.rfft(rng.standard_normal((n, 2)), axis=0)
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    spec[0] = 0.0  # no DC
    noise = np.fft.irfft(spec / np.sqrt(f)[:, None], n, axis=0)
    noise *= 0.5 / np.abs(noise).max()
    mono = noise[:, :1] * 0.8 + noise[:, 1:] * 0.2  # mostly correlated channels
    x = np.column_stack([mono[:, 0] + 0.2 * noise[:, 1], mono[:, 0] + 0.2 * noise[:, 0]])
    return level * (x / np.abs(x).max()) + tone(220.0, seconds=seconds, amplitude=level / 4)


def analyse(
    x: np.ndarray, analysis_type: str = "full", track: dict | None = None, rate: int = RATE
) -> dict[str, Any]:
    return analyze_audio(
        AudioBuffer(samples=x, sample_rate=rate),
        track=MASTER if track is None else track,
        analysis_type=analysis_type,
    )


def _signals() -> dict[str, tuple[np.ndarray, int]]:
    t = tone()
    return {
        "silence-stereo": (np.zeros((RATE * 2, 2)), RATE),
        "silence-mono": (np.zeros((RATE, 1)), RATE),
        "one-sample": (np.array([[0.5, -0.5]]), RATE),
        "100ms-tone": (tone(seconds=0.1), RATE),
        "inverted": (np.column_stack([t[:, 0], -t[:, 0]]), RATE),
        "clipped": (np.clip(4 * t, -1, 1), RATE),
        "dc-only": (np.full((RATE, 2), 0.2), RATE),
        "8-channels": (np.tile(tone(seconds=1.0, channels=1), (1, 8)), RATE),
        "8-kHz": (tone(300.0, rate=8000), 8000),
        "192-kHz": (tone(seconds=1.0, rate=192000), 192000),
    }


SIGNALS = _signals()


@pytest.mark.parametrize("analysis_type", ANALYSIS_TYPES)
@pytest.mark.parametrize("name", list(SIGNALS))
def test_every_type_is_json_safe(analysis_type: str, name: str) -> None:
    x, rate = SIGNALS[name]
    result = analyse(x, analysis_type, rate=rate)
    text = json.dumps(result, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text) == result
    assert set(result) == {
        "analysis_type",
        "codette_insights",
        "mixing_suggestions",
        "quality_score",
        "measurements",
    }
    assert result["analysis_type"] == analysis_type
    assert isinstance(result["codette_insights"], str) and result["codette_insights"]
    assert result["mixing_suggestions"]
    assert all(isinstance(s, str) and s for s in result["mixing_suggestions"])
    assert 0.0 <= result["quality_score"] <= 1.0
    m = result["measurements"]
    assert m["sample_rate"] == rate and m["channels"] == x.shape[1]
    # Every None carries a reason.
    for field, value in m.items():
        if value is None:
            assert field in m["notes"], field
    for field, value in (m.get("band_energy_db") or {}).items():
        if value is None:
            assert f"band_energy_db.{field}" in m["notes"]


@pytest.mark.parametrize("analysis_type", ["loudness", "dynamic", "quality", "full"])
def test_silence_has_no_integrated_loudness(analysis_type: str) -> None:
    result = analyse(np.zeros((RATE * 3, 2)), analysis_type)
    m = result["measurements"]
    assert m["integrated_lufs"] is None
    assert m["notes"]["integrated_lufs"]
    assert result["quality_score"] == 0.0
    assert "silen" in result["codette_insights"]


_NEVER = {
    "loudness": {"band_energy_db", "tempo_bpm", "key", "stereo_correlation", "dc_offset"},
    "dynamic": {"band_energy_db", "tempo_bpm", "stereo_correlation", "silence_leading_s"},
    "spectrum": {"integrated_lufs", "true_peak_dbtp", "tempo_bpm", "clipped_samples"},
    "quality": {"band_energy_db", "tempo_bpm", "key"},
    "full": set(),
}


@pytest.mark.parametrize("analysis_type", ANALYSIS_TYPES)
def test_fields_per_analysis_type(analysis_type: str) -> None:
    m = analyse(music(), analysis_type)["measurements"]
    expected = set(report.FIELDS[analysis_type])
    assert set(m) - {"notes"} == expected
    assert not expected & _NEVER[analysis_type]


@pytest.mark.parametrize("analysis_type", ["loudness", "dynamic", "spectrum", "quality"])
def test_only_full_uses_librosa_features(
    analysis_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codette_desktop.analysis import features

    def forbidden(**_: object) -> None:
        raise AssertionError("tempo/key computed for a non-full analysis")

    monkeypatch.setattr(features, "tempo_and_key", forbidden)
    analyse(music(), analysis_type)


def test_mono_has_no_stereo_fields() -> None:
    m = analyse(tone(channels=1), "full")["measurements"]
    assert not {"stereo_correlation", "stereo_width", "mono_loss_db"} & set(m)


def test_full_measurements_are_consistent() -> None:
    m = analyse(music(), "full")["measurements"]
    assert m["plr_db"] == pytest.approx(m["true_peak_dbtp"] - m["integrated_lufs"], abs=0.011)
    assert m["crest_factor_db"] == pytest.approx(m["sample_peak_dbfs"] - m["rms_dbfs"], abs=0.011)
    assert m["true_peak_dbtp"] >= m["sample_peak_dbfs"] - 0.01
    assert -1.0 <= m["stereo_correlation"] <= 1.0
    assert set(m["band_energy_db"]) == {
        "sub",
        "low",
        "low_mid",
        "mid",
        "high_mid",
        "presence",
        "air",
    }


def test_unknown_analysis_type() -> None:
    with pytest.raises(AnalysisError) as info:
        analyse(tone(), "everything")
    assert info.value.code == "invalid_field"
    assert info.value.field == "analysis_type"


# --- quality score ----------------------------------------------------------------------


def _score(x: np.ndarray, analysis_type: str = "quality", track: dict | None = None) -> float:
    return float(analyse(x, analysis_type, track)["quality_score"])


@pytest.mark.parametrize("analysis_type", ["quality", "full", "dynamic"])
def test_clipped_and_hot_score_lower_than_clean(analysis_type: str) -> None:
    clean = music(level=0.3)
    hot = np.clip(music(level=0.3) * 6.0, -1.0, 1.0)
    assert _score(hot, analysis_type) < _score(clean, analysis_type) - 0.2


@pytest.mark.parametrize(
    "damage",
    [
        lambda x: x + 0.05,  # DC offset
        lambda x: np.column_stack([x[:, 0], -x[:, 0]]),  # out of phase
        lambda x: np.concatenate([np.zeros((2 * RATE, 2)), x, np.zeros((2 * RATE, 2))]),
    ],
    ids=["dc", "phase", "silence-padding"],
)
def test_each_problem_lowers_the_score(damage: Callable[[np.ndarray], np.ndarray]) -> None:
    clean = music(level=0.3)
    assert _score(damage(clean)) < _score(clean)


def test_score_is_computed_not_constant() -> None:
    x = music(level=0.3)
    scores = {_score(x), _score(x + 0.01), _score(np.clip(3 * x, -1, 1))}
    assert len(scores) == 3


# --- suggestions name the measured value and the target ----------------------------------


def _numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"[-+]?\d+(?:\.\d+)?", text)}


def test_loud_master_gets_platform_gains() -> None:
    x = np.clip(music(level=0.9) * 3.0, -0.95, 0.95)
    result = analyse(x, "loudness")
    integrated = result["measurements"]["integrated_lufs"]
    assert integrated > -14.0
    text = " ".join(result["mixing_suggestions"])
    spotify = next(s for s in result["mixing_suggestions"] if s.startswith("Spotify"))
    assert "turn it down" in spotify
    assert round(integrated, 1) in _numbers(spotify)
    assert round(-14.0 - integrated, 1) * -1 in _numbers(spotify)
    assert "Apple Music" in text and "-16" in text
    assert "EBU R128" in text and "-23" in text


def test_quiet_master_is_limited_by_spotify_true_peak_rule() -> None:
    x = np.zeros((RATE * 4, 2))
    x[:: RATE // 2] = 0.7  # sparse peaks: high true peak, very low loudness
    x += music(level=0.01)
    result = analyse(x, "loudness")
    m = result["measurements"]
    spotify = next(s for s in result["mixing_suggestions"] if s.startswith("Spotify"))
    assert "only" in spotify and "-1 dBTP" in spotify
    assert round(m["integrated_lufs"], 1) in _numbers(spotify)
    assert any("YouTube never turns" in s for s in result["mixing_suggestions"])


def test_clipping_suggestion_names_the_count() -> None:
    x = np.clip(tone(amplitude=2.0), -1, 1)
    result = analyse(x, "quality")
    count = result["measurements"]["clipped_samples"]
    assert count > 0
    assert any(f"{count} clipped samples" in s for s in result["mixing_suggestions"])
    assert any("dBTP" in s and "-1" in s for s in result["mixing_suggestions"])


def test_dc_suggestion_names_offset_and_high_pass() -> None:
    result = analyse(tone() + 0.1, "quality")
    assert result["measurements"]["dc_offset"] == pytest.approx(0.1, abs=1e-3)
    assert any("+0.1000" in s and "20 Hz" in s for s in result["mixing_suggestions"])


def test_phase_suggestions() -> None:
    x = music()
    result = analyse(np.column_stack([x[:, 0], -x[:, 0]]), "quality")
    m = result["measurements"]
    assert m["stereo_correlation"] == pytest.approx(-1.0, abs=0.001)
    text = " ".join(result["mixing_suggestions"])
    assert "-1.00" in text and "mono" in text


def test_over_limited_master_gets_plr_suggestion() -> None:
    x = np.clip(music(level=0.9) * 20.0, -0.5, 0.5)  # brick-wall: PLR ~ 3-5 dB
    result = analyse(x, "dynamic")
    plr = result["measurements"]["plr_db"]
    assert plr < 8.0
    assert any(f"PLR {plr:.1f} dB" in s and "8 dB" in s for s in result["mixing_suggestions"])


def test_vocal_with_sub_rumble_gets_high_pass() -> None:
    vocal = {"track_name": "Lead", "track_type": "vocal"}
    x = tone(300.0, amplitude=0.1) + tone(35.0, amplitude=0.1)
    result = analyse(x, "spectrum", vocal)
    sub = result["measurements"]["band_energy_db"]["sub"]
    hp = [s for s in result["mixing_suggestions"] if "high-pass" in s]
    assert hp and f"{sub:.1f}" in hp[0] and "80–100 Hz" in hp[0]
    assert _score(x, "spectrum", vocal) < _score(tone(300.0, amplitude=0.1), "spectrum", vocal)


def test_bass_without_low_end() -> None:
    bass = {"track_type": "bass"}
    result = analyse(tone(1200.0, amplitude=0.3), "spectrum", bass)
    assert any("lacks low end" in s for s in result["mixing_suggestions"])
    result = analyse(tone(80.0, amplitude=0.3), "spectrum", bass)
    assert not any("lacks low end" in s for s in result["mixing_suggestions"])


def test_track_headroom_suggestion() -> None:
    guitar = {"track_type": "guitar", "track_name": "Gtr"}
    result = analyse(tone(amplitude=0.97), "loudness", guitar)
    peak = result["measurements"]["sample_peak_dbfs"]
    text = result["mixing_suggestions"][0]
    assert f"{peak:.1f} dBFS" in text and "-6 dBFS" in text
    assert f"{peak + 6:.1f} dB" in text
    assert _score(tone(amplitude=0.97), "loudness", guitar) < _score(
        tone(amplitude=0.4), "loudness", guitar
    )


def test_silence_trim_suggestion() -> None:
    x = np.concatenate([np.zeros((RATE, 2)), music(), np.zeros((RATE // 2 + 2205, 2))])
    result = analyse(x, "quality")
    m = result["measurements"]
    assert m["silence_leading_s"] == pytest.approx(1.0, abs=0.02)
    assert m["silence_trailing_s"] == pytest.approx(0.55, abs=0.02)
    assert any(
        f"{m['silence_leading_s']:.2f} s of leading" in s for s in result["mixing_suggestions"]
    )


def test_clean_master_says_nothing_to_fix() -> None:
    x = music(level=0.5)
    result = analyse(x, "quality")
    assert result["mixing_suggestions"][0].startswith("Nothing to fix")
    assert result["quality_score"] >= 0.9


@pytest.mark.parametrize("analysis_type", ANALYSIS_TYPES)
def test_insights_are_short_and_cite_numbers(analysis_type: str) -> None:
    insight = analyse(music(), analysis_type)["codette_insights"]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", insight) if s]
    assert 1 <= len(sentences) <= 3
    assert re.search(r"\d", insight)


def test_full_analysis_of_a_beat_reports_tempo() -> None:
    x = music(seconds=6.0, level=0.1)
    for start in np.arange(0.0, 6.0, 0.5):
        i = round(start * RATE)
        x[i : i + 200] += 0.6
    m = analyse(x, "full")["measurements"]
    assert m["tempo_bpm"] == pytest.approx(120.0, abs=0.2)
    assert 0.0 <= m["tempo_confidence"] <= 1.0
    assert m["key"] is None or isinstance(m["key"], str)


def test_json_safe_replaces_non_finite_with_note() -> None:
    notes: dict[str, str] = {}
    clean = report.json_safe(
        {
            "a": math.nan,
            "b": {"c": np.float32(math.inf)},
            "d": np.int64(3),
            "e": np.float64(-0.0001),
        },
        notes=notes,
    )
    assert clean == {"a": None, "b": {"c": None}, "d": 3, "e": 0.0}
    assert set(notes) == {"a", "b.c"}


def test_package_import_does_not_load_librosa() -> None:
    code = (
        "import sys, codette_desktop.analysis, codette_desktop.analysis.worker; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('librosa', 'numba')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@given(
    frames=st.integers(1, 6000),
    channels=st.integers(1, 3),
    rate=st.sampled_from([8000, 22050, 48000]),
    scale=st.sampled_from([0.0, 1e-6, 0.5, 1.0]),
    dc=st.sampled_from([0.0, 0.3]),
    analysis_type=st.sampled_from(["loudness", "dynamic", "spectrum", "quality"]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=15, deadline=None)
def test_random_audio_is_always_json_safe(
    frames: int,
    channels: int,
    rate: int,
    scale: float,
    dc: float,
    analysis_type: str,
    seed: int,
) -> None:
    x = np.random.default_rng(seed).uniform(-1, 1, size=(frames, channels)) * scale + dc
    result = analyse(np.clip(x, -1, 1), analysis_type, rate=rate)
    json.dumps(result, allow_nan=False)
    assert 0.0 <= result["quality_score"] <= 1.0


@pytest.mark.parametrize("analysis_type", ANALYSIS_TYPES)
@pytest.mark.parametrize("level", [0.0, 1e-4])  # digital silence, -80 dBFS hiss
def test_silence_is_reported_for_every_type(analysis_type: str, level: float) -> None:
    x = np.random.default_rng(0).uniform(-level, level, size=(RATE, 2))
    result = analyse(x, analysis_type)
    assert result["quality_score"] == 0.0
    assert "silen" in result["mixing_suggestions"][0]
    assert "silent" in result["codette_insights"]
