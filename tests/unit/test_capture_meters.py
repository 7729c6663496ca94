"""Capture meters: per-channel peak and RMS between readings, loudness pass-through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codette_desktop.analysis.loudness import StreamingLoudnessMeter
from codette_desktop.capture.meters import LevelMeter, amplitude_to_dbfs

RATE = 48000


def sine(dbfs: float, seconds: float, frequency: float = 1000.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.mark.parametrize(("value", "expected"), [(1.0, 0.0), (0.5, -6.0206), (0.0, None)])
def test_amplitude_to_dbfs(value: float, expected: float | None) -> None:
    result = amplitude_to_dbfs(value)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("dbfs", [0.0, -12.0, -60.0])
def test_sine_peak_and_rms_per_channel(dbfs: float) -> None:
    meter = LevelMeter(channels=2, loudness=None)
    x = sine(dbfs, 0.1)
    block = np.stack([x, 0.5 * x], axis=1)
    for part in np.array_split(block, 7):  # readings span several blocks
        meter.process(part)
    peak, rms = meter.take()
    assert peak[0] == pytest.approx(dbfs, abs=0.01)
    assert peak[1] == pytest.approx(dbfs - 6.0206, abs=0.01)
    # Plain RMS: a sine sits 3.01 dB below its peak (no AES17 correction).
    assert rms[0] == pytest.approx(dbfs - 3.0103, abs=0.01)
    assert rms[1] == pytest.approx(dbfs - 6.0206 - 3.0103, abs=0.01)


def test_take_restarts_the_interval() -> None:
    meter = LevelMeter(channels=1, loudness=None)
    meter.process(sine(0.0, 0.05)[:, np.newaxis])
    meter.take()
    meter.process(sine(-20.0, 0.05)[:, np.newaxis])
    peak, _ = meter.take()
    assert peak[0] == pytest.approx(-20.0, abs=0.01)  # the loud interval is forgotten


def test_digital_silence_has_no_level() -> None:
    meter = LevelMeter(channels=2, loudness=StreamingLoudnessMeter(RATE, 2))
    meter.process(np.zeros((RATE, 2), dtype=np.float32))
    assert meter.take() == ((None, None), (None, None))
    assert meter.momentary_lufs is None  # -inf from the meter is not JSON


def test_nothing_measured_reads_none() -> None:
    meter = LevelMeter(channels=2, loudness=None)
    assert meter.take() == ((None, None), (None, None))
    assert meter.pending_frames == 0


def test_loudness_of_a_reference_sine() -> None:
    # EBU Tech 3341 test signal 1: a 1 kHz stereo sine at -23 dBFS peak reads -23.0 LUFS.
    meter = LevelMeter(channels=2, loudness=StreamingLoudnessMeter(RATE, 2))
    x = sine(-23.0, 4.0)
    block = np.stack([x, x], axis=1)
    for part in np.array_split(block, 400):
        meter.process(part)
    assert meter.momentary_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.short_term_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.pending_frames == block.shape[0]
    _, rms = meter.take()
    assert all(r is not None and math.isclose(r, -26.01, abs_tol=0.01) for r in rms)
