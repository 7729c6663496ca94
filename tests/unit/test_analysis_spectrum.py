"""Known-answer tests for spectrum.py: band energies, centroid, roll-off, flatness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codette_desktop.analysis import spectrum

BAND_NAMES = [name for name, _, _ in spectrum.BANDS]


def sine(freq: float, *, rate: int = 44100, seconds: float = 2.0, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * freq * t))[:, np.newaxis], channels, axis=1)


def coloured_noise(
    exponent: float, *, rate: int = 44100, seconds: float = 4.0, seed: int = 0
) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent (0 white, 1 pink), shape (frames, 1)."""
    n = round(seconds * rate)
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / rate)
    f[0] = f[1]
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (0.3 * x / np.abs(x).max())[:, np.newaxis]


def measure(x: np.ndarray, rate: int = 44100) -> dict:
    found, _ = spectrum.spectrum_measurements(samples=x, sample_rate=rate)
    return found


@pytest.mark.parametrize(
    ("freq", "band"),
    [
        (40.0, "sub"),
        (100.0, "low"),
        (180.0, "low"),
        (350.0, "low_mid"),
        (1000.0, "mid"),
        (3000.0, "high_mid"),
        (5000.0, "presence"),
        (10000.0, "air"),
    ],
)
@pytest.mark.parametrize("rate", [44100, 48000])
def test_sine_energy_lands_in_its_band(freq: float, band: str, rate: int) -> None:
    found = measure(sine(freq, rate=rate), rate)
    energies = found["band_energy_db"]
    # > 90 % of the energy: within 0.46 dB of the total.
    assert energies[band] > 10 * math.log10(0.9)
    assert all(v < -10.0 for name, v in energies.items() if name != band)
    assert found["spectral_centroid_hz"] == pytest.approx(freq, rel=0.05)
    assert found["spectral_rolloff_hz"] == pytest.approx(freq, abs=15.0)


def test_bands_sum_to_the_total() -> None:
    energies = measure(coloured_noise(1.0))["band_energy_db"]
    assert sum(10 ** (v / 10) for v in energies.values()) == pytest.approx(1.0, rel=1e-6)


def test_pink_noise_has_equal_energy_per_octave() -> None:
    energies = measure(coloured_noise(1.0, seconds=8.0))["band_energy_db"]
    octaves = {name: math.log2(hi / lo) for name, lo, hi in spectrum.BANDS}
    total = math.log2(20000 / 20)
    for name in BAND_NAMES:
        assert energies[name] == pytest.approx(10 * math.log10(octaves[name] / total), abs=0.5)


def test_flatness_orders_white_pink_sine() -> None:
    white = measure(coloured_noise(0.0))["spectral_flatness"]
    pink = measure(coloured_noise(1.0))["spectral_flatness"]
    tone = measure(sine(1000.0))["spectral_flatness"]
    assert 0.0 <= tone < 0.01 < pink < white <= 1.0
    assert white > 0.8


def test_white_noise_centroid_and_rolloff() -> None:
    found = measure(coloured_noise(0.0))
    # Flat spectrum over 20 Hz..20 kHz: centroid at the middle, 85 % roll-off at 85 %.
    assert found["spectral_centroid_hz"] == pytest.approx(10010.0, rel=0.03)
    assert found["spectral_rolloff_hz"] == pytest.approx(20 + 0.85 * 19980, rel=0.03)


def test_dc_offset_does_not_leak_into_sub() -> None:
    x = sine(1000.0) + 0.3
    assert measure(x)["band_energy_db"]["sub"] < -60.0


def test_side_only_content_is_measured() -> None:
    x = sine(1000.0)
    x[:, 1] *= -1  # L = -R: a mono downmix would be silent
    assert measure(x)["band_energy_db"]["mid"] > -0.5


@pytest.mark.parametrize("rate", [8000, 16000])
def test_bands_above_nyquist_are_none_with_note(rate: int) -> None:
    found, notes = spectrum.spectrum_measurements(
        samples=coloured_noise(0.0, rate=rate, seconds=2.0), sample_rate=rate
    )
    energies = found["band_energy_db"]
    nyquist = rate / 2
    for name, lo, _hi in spectrum.BANDS:
        if lo >= nyquist:
            assert energies[name] is None
            assert "Nyquist" in notes[f"band_energy_db.{name}"]
        else:
            assert isinstance(energies[name], float)


@pytest.mark.parametrize("frames", [1, 100, 300, 5000])
def test_short_audio(frames: int) -> None:
    x = np.random.default_rng(0).standard_normal((frames, 1)) * 0.1
    found, notes = spectrum.spectrum_measurements(samples=x, sample_rate=44100)
    if frames == 1:  # one sample minus its mean is nothing: no spectrum, with a reason
        assert found["band_energy_db"] is None
        assert "band_energy_db" in notes
        return
    for value in found["band_energy_db"].values():
        assert value is None or math.isfinite(value)


def test_silence_is_none_with_notes() -> None:
    found, notes = spectrum.spectrum_measurements(samples=np.zeros((44100, 2)), sample_rate=44100)
    assert all(v is None for v in found.values())
    assert set(notes) == set(found)


def test_long_file_uses_a_bounded_number_of_segments() -> None:
    # 240 s at 8 kHz = 234 segments of 8192; MAX_SEGMENTS caps much longer files.
    x = np.tile(sine(100.0, rate=8000, seconds=1.0, channels=1), (240, 1))
    freqs, power = spectrum.welch_power_spectrum(samples=x, sample_rate=8000)
    assert freqs[np.argmax(power)] == pytest.approx(100.0, abs=1.0)
