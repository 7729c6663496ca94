"""Decoded audio is float32: the analysis reads the same numbers as from float64, sums
long signals in float64, and never makes a float64 copy of the whole buffer."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from codette_desktop.analysis import AudioBuffer, analyze_audio, levels, loudness, stereo

RATE = 48_000


def _mix(seconds: float) -> np.ndarray:
    """Noise with a tone and a DC offset, partly correlated channels: float64."""
    rng = np.random.default_rng(3)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 440.0 * t)
    noise = 0.05 * rng.standard_normal((t.size, 2))
    return np.column_stack([tone, 0.7 * tone]) + noise + 0.001


def test_long_float32_sums_keep_float64_precision() -> None:
    # 2**23 frames of 0.1: a float32 accumulator is off by ~0.1 % (mean square) and
    # ~2 % (mean); float64 sums are exact to ~1e-12.
    samples = np.full((1 << 23, 2), 0.1, dtype=np.float32)
    value = float(np.float32(0.1))
    assert levels.mean_square(samples=samples) == pytest.approx(value**2, rel=1e-12)
    assert levels.dc_offset(samples=samples) == pytest.approx(value, rel=1e-12)
    found, _ = stereo.stereo_measurements(samples=samples)
    assert found["stereo_width"] == pytest.approx(0.0, abs=1e-12)
    assert found["mono_loss_db"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("analysis_type", ["loudness", "dynamic", "quality", "spectrum"])
def test_float32_buffer_reads_like_float64(analysis_type: str) -> None:
    """Every reported number matches the float64 measurement to the wire's precision."""
    x = _mix(30.0)
    m = analyze_audio(AudioBuffer(samples=x, sample_rate=RATE), track={},
                      analysis_type=analysis_type)["measurements"]
    reference: dict[str, float | None] = {"dc_offset": levels.dc_offset(samples=x)}
    reference.update(loudness.loudness_measurements(x, RATE))
    reference.update(levels.level_measurements(samples=x)[0])
    reference.update(stereo.stereo_measurements(samples=x)[0])
    compared = 0
    for field, value in m.items():
        if field in reference and isinstance(value, float):
            expected = reference[field]
            assert isinstance(expected, float)
            # Wire values are rounded (0.01 dB, 1e-6 for DC, 1e-4 for the stereo ratios).
            assert value == pytest.approx(expected, abs=0.0101), field
            compared += 1
    assert compared >= (1 if analysis_type == "spectrum" else 4)


@pytest.fixture(scope="module")
def long_buffer() -> AudioBuffer:
    # Long enough that the analysis's fixed-size blocks are small next to the buffer.
    return AudioBuffer(samples=_mix(120.0), sample_rate=RATE)


@pytest.mark.parametrize("analysis_type", ["loudness", "dynamic", "quality"])
def test_analysis_makes_no_float64_copy_of_the_buffer(
        long_buffer: AudioBuffer, analysis_type: str) -> None:
    """Peak allocation stays under the buffer's own size (a float64 copy is twice it)."""
    # Caches and lazy imports first, on a short signal of the same shape.
    short = AudioBuffer(samples=_mix(1.0), sample_rate=RATE)
    analyze_audio(short, track={}, analysis_type=analysis_type)
    tracemalloc.start()
    try:
        analyze_audio(long_buffer, track={}, analysis_type=analysis_type)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = long_buffer.samples.nbytes
    assert peak < size, f"{peak / 1e6:.0f} MB for a {size / 1e6:.0f} MB buffer"
