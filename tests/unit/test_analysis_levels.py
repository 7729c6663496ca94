"""Known-answer tests for levels.py: peak, RMS, crest factor, DC, clipping, silence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codette_desktop.analysis import levels


def sine(
    freq: float,
    *,
    rate: int = 44100,
    seconds: float = 1.0,
    amplitude: float = 1.0,
    channels: int = 1,
    phase: float = 0.0,
) -> np.ndarray:
    """Shape (frames, channels): the same sine in every channel."""
    t = np.arange(round(seconds * rate)) / rate
    x = amplitude * np.sin(2 * np.pi * freq * t + phase)
    return np.repeat(x[:, np.newaxis], channels, axis=1)


@pytest.mark.parametrize("freq", [100.0, 997.0, 5000.0])
@pytest.mark.parametrize("amplitude", [1.0, 0.5, 0.01])
@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_sine_crest_factor_is_3_01_db(
    freq: float, amplitude: float, rate: int, channels: int
) -> None:
    # The phase makes the sampled peak land on the true peak: without it a 5 kHz sine at
    # 44.1 kHz never samples its crest, which is the true-peak meter's job, not this one's.
    x = sine(freq, rate=rate, amplitude=amplitude, channels=channels, phase=np.pi / 2)
    found, notes = levels.level_measurements(samples=x)
    assert found["crest_factor_db"] == pytest.approx(20 * math.log10(math.sqrt(2)), abs=0.02)
    assert found["sample_peak_dbfs"] == pytest.approx(20 * math.log10(amplitude), abs=0.01)
    assert found["rms_dbfs"] == pytest.approx(20 * math.log10(amplitude / math.sqrt(2)), abs=0.02)
    assert notes == {}


@pytest.mark.parametrize("level", [1.0, 0.25])
def test_square_wave_crest_factor_is_zero(level: float) -> None:
    x = level * np.sign(sine(50.0, phase=0.1))
    found, _ = levels.level_measurements(samples=x)
    assert found["crest_factor_db"] == pytest.approx(0.0, abs=1e-9)


def test_silence_levels_are_none_with_notes() -> None:
    found, notes = levels.level_measurements(samples=np.zeros((1000, 2)))
    assert found == {"sample_peak_dbfs": None, "rms_dbfs": None, "crest_factor_db": None}
    assert set(notes) == set(found)


@pytest.mark.parametrize("offset", [0.1, -0.1, 0.002])
def test_dc_offset_detected(offset: float) -> None:
    x = sine(440.0, amplitude=0.5, channels=2)
    x[:, 1] += offset
    assert levels.dc_offset(samples=x) == pytest.approx(offset, abs=1e-4)


def test_dc_offset_of_clean_sine_is_tiny() -> None:
    assert abs(levels.dc_offset(samples=sine(440.0, seconds=1.0))) < 1e-4


@pytest.mark.parametrize("drive", [1.2, 2.0, 4.0])
@pytest.mark.parametrize("freq", [100.0, 1000.0])
def test_clipped_sine_counts_clipped_samples(drive: float, freq: float) -> None:
    x = np.clip(sine(freq, amplitude=drive, channels=2), -1.0, 1.0)
    # Independent count: every sample at the rails; at these rates each flat top spans
    # many samples, so all of them belong to runs of ≥ 2.
    expected = int((np.abs(x) >= 0.999).sum())
    assert expected > 0
    assert levels.clipped_sample_count(samples=x) == expected


def test_clean_sine_below_full_scale_has_no_clipping() -> None:
    assert levels.clipped_sample_count(samples=sine(1000.0, amplitude=0.99)) == 0


def test_isolated_full_scale_samples_are_not_clipping() -> None:
    x = np.zeros((1000, 1))
    x[[10, 20, 30], 0] = [1.0, -1.0, 1.0]
    x[100:102, 0] = 1.0  # a run of exactly two counts
    x[200:205, 0] = -1.0  # a run of five counts
    assert levels.clipped_sample_count(samples=x) == 7


def test_clipping_runs_do_not_join_across_channels() -> None:
    x = np.zeros((10, 2))
    x[4, 0] = 1.0
    x[5, 1] = 1.0  # interleaved neighbours, different channels: no run
    assert levels.clipped_sample_count(samples=x) == 0


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 4))
@settings(max_examples=60, deadline=None)
def test_clip_count_matches_run_definition(pattern: list[bool], min_run: int) -> None:
    x = np.where(np.array(pattern), 1.0, 0.5)[:, np.newaxis]
    expected = 0
    run = 0
    for hot in [*pattern, False]:
        if hot:
            run += 1
        else:
            expected += run if run >= min_run else 0
            run = 0
    assert levels.clipped_sample_count(samples=x, min_run=min_run) == expected


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 96000])
@pytest.mark.parametrize(("lead", "tail"), [(1.0, 0.5), (0.0, 0.0), (0.25, 2.0)])
def test_silence_padding_measured_within_20_ms(rate: int, lead: float, tail: float) -> None:
    body = sine(440.0, rate=rate, seconds=2.0, amplitude=0.5, channels=2)
    x = np.concatenate([np.zeros((round(lead * rate), 2)), body, np.zeros((round(tail * rate), 2))])
    leading, trailing = levels.silence_bounds(samples=x, sample_rate=rate)
    assert leading == pytest.approx(lead, abs=0.02)
    assert trailing == pytest.approx(tail, abs=0.02)


def test_noise_floor_below_minus_60_counts_as_silence() -> None:
    rng = np.random.default_rng(0)
    rate = 44100
    x = rng.uniform(-1e-4, 1e-4, size=(3 * rate, 1))  # -80 dBFS hiss
    x[rate : 2 * rate] += sine(220.0, rate=rate, amplitude=0.3)
    leading, trailing = levels.silence_bounds(samples=x, sample_rate=rate)
    assert leading == pytest.approx(1.0, abs=0.02)
    assert trailing == pytest.approx(1.0, abs=0.02)


def test_all_silent_reports_whole_duration() -> None:
    leading, trailing = levels.silence_bounds(samples=np.zeros((4410, 1)), sample_rate=44100)
    assert leading == trailing == pytest.approx(0.1)


def test_db_helpers_refuse_non_positive() -> None:
    assert levels.amplitude_db(0.0) is None
    assert levels.power_db(-1.0) is None
    assert levels.amplitude_db(float("nan")) is None
    assert levels.amplitude_db(1.0) == 0.0
    assert levels.power_db(0.5) == pytest.approx(-3.0103, abs=1e-4)
