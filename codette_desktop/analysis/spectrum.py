"""Long-term spectrum: band balance, centroid, roll-off and flatness from a Welch PSD.

The power spectrum is Welch's average of Hann-windowed periodograms (Welch 1967), summed
over channels so side-only content counts too. Segments are ~8192 samples (≤ 6 Hz bins, so
the 20–60 Hz band has several bins); files shorter than ~6 s use 50 % overlap, longer ones
adjacent segments, and very long ones an evenly spread subset of
:data:`MAX_SEGMENTS` segments — the long-term average converges long before that.

Every measure uses only 20 Hz .. min(20 kHz, Nyquist), the audible range the bands cover,
so DC offset and ultrasonic noise do not distort it.

``band_energy_db``
    Energy of each band relative to the 20 Hz–20 kHz total, in dB (≤ 0; all bands sum to
    0 dB). Floored at :data:`BAND_FLOOR_DB`; a band above Nyquist is None with a note.
``spectral_centroid_hz``
    Power-weighted mean frequency.
``spectral_rolloff_hz``
    Frequency below which 85 % of the power lies.
``spectral_flatness``
    Geometric over arithmetic mean of the PSD bins (Wiener entropy), 0..1: ~0 for a pure
    tone, ~0.4 for pink noise, ~0.9 for white noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal

BANDS: tuple[tuple[str, float, float], ...] = (
    ("sub", 20.0, 60.0),
    ("low", 60.0, 250.0),
    ("low_mid", 250.0, 500.0),
    ("mid", 500.0, 2_000.0),
    ("high_mid", 2_000.0, 4_000.0),
    ("presence", 4_000.0, 6_000.0),
    ("air", 6_000.0, 20_000.0),
)
ANALYSIS_RANGE_HZ = (20.0, 20_000.0)
BAND_FLOOR_DB = -120.0
ROLLOFF_FRACTION = 0.85
MAX_SEGMENTS = 1024
_BASE_SEGMENT = 8192  # at 44.1/48 kHz: 5.4/5.9 Hz bins
_OVERLAP_BELOW_SEGMENTS = 32


def welch_power_spectrum(*, samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Channel-summed Welch power spectrum.

    ``samples``: shape (frames, channels). Returns ``(freqs, power)``, both shape
    (segment // 2 + 1,); power is in arbitrary (relative) units.
    """
    frames = samples.shape[0]
    # Keep the bin width at ≤ 6 Hz whatever the rate: 8192 at 48 kHz, 32768 at 192 kHz.
    segment = _BASE_SEGMENT * 2 ** max(0, math.ceil(math.log2(sample_rate / 48_000)))
    if frames < segment:
        segment = max(256, 1 << max(0, (frames - 1).bit_length() - 1))
    window = scipy.signal.get_window("hann", segment).astype(np.float32)
    n_adjacent = frames // segment
    hop = segment // 2 if n_adjacent < _OVERLAP_BELOW_SEGMENTS else segment
    power = np.zeros(segment // 2 + 1)
    for channel in range(samples.shape[1]):
        x = samples[:, channel].astype(np.float32)
        # Remove the channel's DC so window leakage from 0 Hz cannot reach the sub band.
        x -= x.mean()
        if len(x) < segment:
            x = np.pad(x, (0, segment - len(x)))
        views = np.lib.stride_tricks.sliding_window_view(x, segment)[::hop]
        if len(views) > MAX_SEGMENTS:
            views = views[np.linspace(0, len(views) - 1, MAX_SEGMENTS).round().astype(int)]
        spectrum = scipy.fft.rfft(views * window, axis=-1, workers=2)
        power += (spectrum.real**2 + spectrum.imag**2).sum(axis=0, dtype=np.float64)
    freqs = np.fft.rfftfreq(segment, 1.0 / sample_rate)
    return freqs, power


def spectrum_measurements(
    *, samples: np.ndarray, sample_rate: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Band energies, centroid, roll-off and flatness of ``samples`` (frames, channels)."""
    freqs, power = welch_power_spectrum(samples=samples, sample_rate=sample_rate)
    return spectrum_from_power(freqs=freqs, power=power, sample_rate=sample_rate)


def spectrum_from_power(
    *, freqs: np.ndarray, power: np.ndarray, sample_rate: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """The spectral measurements from a power spectrum (``freqs``, ``power``: shape (n,))."""
    nyquist = sample_rate / 2.0
    top = min(ANALYSIS_RANGE_HZ[1], nyquist)
    in_range = (freqs >= ANALYSIS_RANGE_HZ[0]) & (freqs < top)
    f, p = freqs[in_range], power[in_range]
    total = float(p.sum())
    notes: dict[str, str] = {}
    names = ("band_energy_db", "spectral_centroid_hz", "spectral_rolloff_hz", "spectral_flatness")
    if total <= 0.0 or not math.isfinite(total) or p.max() <= 1e-30:
        for name in names:
            notes[name] = "no signal between 20 Hz and 20 kHz"
        return {name: None for name in names}, notes

    bands: dict[str, float | None] = {}
    for name, lo, hi in BANDS:
        if lo >= nyquist:
            bands[name] = None
            notes[f"band_energy_db.{name}"] = (
                f"{lo:.0f}-{hi:.0f} Hz is above the Nyquist frequency ({nyquist:.0f} Hz)"
            )
            continue
        if hi > top:
            notes[f"band_energy_db.{name}"] = f"covers only {lo:.0f}-{top:.0f} Hz (Nyquist)"
        band = float(p[(f >= lo) & (f < hi)].sum())
        bands[name] = (
            max(BAND_FLOOR_DB, 10.0 * math.log10(band / total)) if band > 0 else (BAND_FLOOR_DB)
        )

    centroid = float((f * p).sum() / total)
    cumulative = np.cumsum(p)
    rolloff = float(f[int(np.searchsorted(cumulative, ROLLOFF_FRACTION * total))])
    # A tiny floor keeps log() finite for exactly-zero bins (pure digital tones) without
    # moving the result for any real signal.
    floored = np.maximum(p, p.max() * 1e-20)
    flatness = float(np.exp(np.mean(np.log(floored))) / np.mean(floored))
    return {
        "band_energy_db": bands,
        "spectral_centroid_hz": centroid,
        "spectral_rolloff_hz": rolloff,
        "spectral_flatness": min(1.0, max(0.0, flatness)),
    }, notes
