"""Known-answer tests for stereo.py: correlation, width, mono loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codette_desktop.analysis import stereo


def _noise(frames: int = 44100, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(frames) * 0.2


@pytest.mark.parametrize("source", ["noise", "sine"])
@pytest.mark.parametrize("gain", [1.0, 0.1])
def test_inverted_channels(source: str, gain: float) -> None:
    x = _noise() if source == "noise" else np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100)
    found, notes = stereo.stereo_measurements(samples=gain * np.column_stack([x, -x]))
    assert found["stereo_correlation"] == pytest.approx(-1.0, abs=0.001)
    assert found["stereo_width"] == pytest.approx(1.0, abs=1e-9)
    assert found["mono_loss_db"] is not None
    assert found["mono_loss_db"] >= stereo.MONO_LOSS_CAP_DB
    assert "cancel" in notes["mono_loss_db"]


@pytest.mark.parametrize("source", ["noise", "sine"])
def test_identical_channels(source: str) -> None:
    x = _noise() if source == "noise" else np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100)
    found, notes = stereo.stereo_measurements(samples=np.column_stack([x, x]))
    assert found["stereo_correlation"] == pytest.approx(1.0, abs=1e-9)
    assert found["stereo_width"] == pytest.approx(0.0, abs=1e-9)
    assert found["mono_loss_db"] == pytest.approx(0.0, abs=1e-6)
    assert notes == {}


def test_uncorrelated_channels() -> None:
    left, right = _noise(seed=1), _noise(seed=2)
    found, _ = stereo.stereo_measurements(samples=np.column_stack([left, right]))
    assert abs(found["stereo_correlation"] or 0.0) < 0.02
    assert found["stereo_width"] == pytest.approx(0.5, abs=0.02)
    assert found["mono_loss_db"] == pytest.approx(10 * math.log10(2), abs=0.1)


@pytest.mark.parametrize("pan", [0.0, 0.3, 0.7])
def test_panned_mono_source_stays_correlated(pan: float) -> None:
    x = _noise()
    # Constant-power pan law: correlation stays +1 at every position except hard pans.
    left, right = math.cos(pan * math.pi / 2) * x, math.sin(pan * math.pi / 2) * x
    found, _ = stereo.stereo_measurements(samples=np.column_stack([left, right + 1e-12]))
    if pan == 0.0:
        assert found["stereo_correlation"] is None or found["stereo_correlation"] > 0.99
    else:
        assert found["stereo_correlation"] == pytest.approx(1.0, abs=1e-6)


def test_uses_first_two_channels_of_surround() -> None:
    x = _noise()
    surround = np.column_stack([x, -x, _noise(seed=3), x, x, x])
    found, _ = stereo.stereo_measurements(samples=surround)
    assert found["stereo_correlation"] == pytest.approx(-1.0, abs=0.001)


def test_silent_channel_has_no_correlation() -> None:
    found, notes = stereo.stereo_measurements(samples=np.column_stack([_noise(), np.zeros(44100)]))
    assert found["stereo_correlation"] is None
    assert "silent" in notes["stereo_correlation"]
    assert found["mono_loss_db"] == pytest.approx(10 * math.log10(2), abs=1e-6)


def test_digital_silence() -> None:
    found, notes = stereo.stereo_measurements(samples=np.zeros((100, 2)))
    assert found == {"stereo_correlation": None, "stereo_width": None, "mono_loss_db": None}
    assert set(notes) == set(found)
