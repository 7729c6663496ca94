"""Musical features: tempo (BPM) and key, using librosa.

librosa is imported inside the functions, never at module level: importing
``librosa.beat``/``librosa.feature`` compiles numba code (25–30 s cold, ~4 s from the
numba cache), and the server process imports this package at startup. The worker process
pays that cost once in :func:`codette_desktop.analysis.worker.warm_up`.

Both estimators work on a mono, float32 version of the audio decimated by an integer
factor to 11.025–22.05 kHz (:func:`analysis_signal`): tempo and key need nothing above
5 kHz, and the smaller signal keeps a 3-minute file well under a second.

Tempo
    librosa's onset strength envelope (spectral flux on a mel spectrogram) at ~86 frames/s.
    A global autocorrelation of the envelope, weighted by librosa's own tempo prior
    (log-normal around 120 BPM, one octave wide), gives the starting period, so — as with
    librosa — very fast or very slow material may read at half or double tempo.
    librosa's dynamic-programming beat tracker places the beats on that grid. Because
    beats land on whole frames (11.6 ms), the period is then refined by a least-squares
    line through the beat times, each interpolated to a fraction of a frame (period =
    slope). A 120 BPM click track reads 120.0 ± 0.01.

    ``tempo_confidence`` = sqrt(autocorrelation of the envelope at one period, 0..1)
    × (fraction of beats within 20 % of a period of the fitted grid)
    × (1 − timing jitter / 10 % of a period, floored at 0). A click track gives ~0.9,
    steady tones and noise give < 0.1.

Key
    Pitch-class energy from ``librosa.feature.chroma_cqt`` (tuning estimated once),
    summed over up to three 20-second excerpts, correlated (Pearson) with the 24 rotations
    of Temperley's (Kostka–Payne) major and minor key profiles (Temperley 2007,
    *Music and Probability*, ch. 4); they separate a minor key from its parallel major
    better than Krumhansl–Kessler's on harmonic-minor material.

    ``key_confidence`` = best correlation (clamped to 0..1) × min(1, (best − runner-up)
    / 0.15) × min(1, chroma spread / 0.15): high only when one key fits well, clearly
    better than every other, and the pitch classes are unequal at all (spread = std/mean
    of the 12 energies; noise ≈ 0.02). Relative major/minor pairs with equal tonic weight
    (Am–F–C–G) therefore score low. A spread under 0.05 gives no key at all.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

# Decimate towards this rate (an integer factor, so the result is 11025–22050 Hz).
ANALYSIS_RATE = 11_025
_HOP = 128  # frames of the onset envelope: 11.6 ms at 11.025 kHz
_NFFT_HOPS = 4  # 46 ms STFT windows: sharp onsets, and half the cost of 93 ms
_N_MELS = 64
_MIN_TEMPO_S = 4.0  # fewer than ~8 beats at 120 BPM cannot give a meaningful period
_MIN_BEATS = 4
_MIN_ONSET_DB = 1.0
_TEMPO_RANGE_BPM = (30.0, 300.0)

# librosa.feature.tempo's default prior: log-normal around 120 BPM, sigma one octave.
_PRIOR_CENTER_BPM = 120.0
_PRIOR_OCTAVES = 1.0

_KEY_EXCERPT_S = 20.0
_KEY_EXCERPTS = 3
_KEY_HOP_S = 0.2  # chroma frames; key needs no finer time resolution
_KEY_MARGIN_FULL = 0.15
# Spread of the pitch-class energies (std / mean). Noise and drums sit near 0.02; any
# harmonic material well above 0.15 (Temperley's own profiles: 0.6).
_MIN_CHROMA_SPREAD = 0.05
_TONAL_SPREAD_FULL = 0.15

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Temperley (2007), Kostka–Payne corpus profiles, index 0 = tonic.
_MAJOR_PROFILE = np.array(
    [0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400]
)
_MINOR_PROFILE = np.array(
    [0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330]
)


@dataclass(frozen=True)
class TempoEstimate:
    """``bpm`` is None (with ``note`` saying why) when no steady beat was found."""

    bpm: float | None
    confidence: float
    beats: int
    note: str | None = None


@dataclass(frozen=True)
class KeyEstimate:
    """``key`` is e.g. ``"A minor"``; None (with ``note``) when there is no pitched content."""

    key: str | None
    confidence: float
    note: str | None = None


def analysis_signal(*, samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Mono float32 mix decimated by an integer factor for tempo and key estimation.

    ``samples``: shape (frames, channels). Returns ``(y, rate)`` with ``y`` of shape
    (frames // q,) and ``rate = sample_rate / q`` (rounded), q = max(1, rate // 11025).
    """
    if samples.ndim == 2:
        # A matrix-vector product: much faster than mean(axis=1) over 2 columns.
        # Weights in the samples' own dtype: float64 weights would make a float64 copy of
        # the whole (float32) buffer first.
        mono = samples @ np.full(samples.shape[1], 1.0 / samples.shape[1],
                                 dtype=np.result_type(samples.dtype, np.float32))
    else:
        mono = np.asarray(samples, dtype=np.float64)
    factor = max(1, sample_rate // ANALYSIS_RATE)
    if factor == 1:
        return mono.astype(np.float32), sample_rate
    # resample_poly applies its own anti-alias FIR (Kaiser window) before decimating.
    y = scipy.signal.resample_poly(mono, 1, factor).astype(np.float32, copy=False)
    return y, round(sample_rate / factor)


def estimate_tempo(*, y: np.ndarray, sample_rate: int) -> TempoEstimate:
    """Tempo of a mono signal ``y`` (shape (n,)) in BPM with a 0..1 confidence."""
    duration = len(y) / sample_rate
    if duration < _MIN_TEMPO_S:
        return TempoEstimate(None, 0.0, 0, f"too short for tempo ({duration:.1f} s < 4 s)")
    if not np.any(y):
        return TempoEstimate(None, 0.0, 0, "silent")

    import librosa.beat
    import librosa.onset

    hop = _HOP if sample_rate < 1.5 * ANALYSIS_RATE else 2 * _HOP
    fps = sample_rate / hop
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envelope = librosa.onset.onset_strength(
            y=y, sr=sample_rate, hop_length=hop, n_fft=_NFFT_HOPS * hop, n_mels=_N_MELS
        ).astype(np.float64)
    # The envelope is in dB of spectral increase; a steady tone only produces rounding
    # ripple (< 0.1 dB) that can still be periodic, so demand one real onset first.
    acf = _normalised_autocorrelation(envelope)
    if acf is None or float(envelope.max()) < _MIN_ONSET_DB:
        return TempoEstimate(None, 0.0, 0, "no onsets (the sound never changes)")
    period0 = _prior_weighted_period(acf, fps=fps)
    if period0 is None:
        return TempoEstimate(None, 0.0, 0, "too short for the tempo range 30-300 BPM")
    periodicity = float(np.clip(np.interp(period0, np.arange(len(acf)), acf), 0.0, 1.0))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, beat_frames = librosa.beat.beat_track(
            onset_envelope=envelope,
            sr=sample_rate,
            hop_length=hop,
            bpm=60.0 * fps / period0,
            units="frames",
        )
    beats = np.asarray(beat_frames, dtype=np.int64)
    if len(beats) < _MIN_BEATS:
        return TempoEstimate(None, 0.0, len(beats), f"no steady beat ({len(beats)} beats found)")
    times = np.array([_local_peak(envelope, int(b)) for b in beats])
    period, inliers, jitter = _fit_beat_grid(times, period0=period0)
    regularity = inliers * max(0.0, 1.0 - jitter / 0.1)
    confidence = math.sqrt(periodicity) * regularity
    bpm = 60.0 * fps / period
    if not _TEMPO_RANGE_BPM[0] <= bpm <= _TEMPO_RANGE_BPM[1]:
        return TempoEstimate(None, 0.0, len(beats), f"no steady beat ({bpm:.0f} BPM fit)")
    return TempoEstimate(bpm, float(np.clip(confidence, 0.0, 1.0)), len(beats))


def estimate_key(*, y: np.ndarray, sample_rate: int) -> KeyEstimate:
    """Key of a mono signal ``y`` (shape (n,)) as ``"<tonic> major|minor"``."""
    if not np.any(y):
        return KeyEstimate(None, 0.0, "silent")
    import librosa
    import librosa.feature

    excerpts = _excerpts(y, sample_rate=sample_rate)
    hop = 512 * max(1, round(_KEY_HOP_S * sample_rate / 512))
    # Chroma from C2 (65 Hz) for up to 6 octaves, stopping below Nyquist: key lives in
    # the bass line and the harmony, not in the sub or the air band.
    fmin = float(librosa.note_to_hz("C2"))
    octaves = min(6, int(math.log2(0.45 * sample_rate / fmin)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuning = float(
            librosa.estimate_tuning(
                y=excerpts[len(excerpts) // 2], sr=sample_rate, bins_per_octave=36
            )
        )
        if not math.isfinite(tuning):
            tuning = 0.0
        # One CQT over the joined excerpts: librosa rebuilds the filter bank on every
        # call, which costs more than the transform itself; the two seams are 0.4 s of 60.
        joined = np.concatenate(excerpts) if len(excerpts) > 1 else excerpts[0]
        chroma = np.zeros(12)
        if len(joined) >= hop:
            # norm=None keeps each frame's energy so quiet passages weigh less.
            c = librosa.feature.chroma_cqt(
                y=joined,
                sr=sample_rate,
                hop_length=hop,
                fmin=fmin,
                n_octaves=octaves,
                bins_per_octave=36,
                tuning=tuning,
                norm=None,
            )
            chroma = np.nan_to_num(c).sum(axis=1)
    if (
        not np.isfinite(chroma).all()
        or chroma.max() <= 0.0
        or np.ptp(chroma) <= 1e-9 * chroma.max()
    ):
        return KeyEstimate(None, 0.0, "no pitched content")
    return key_from_chroma(chroma=chroma)


def key_from_chroma(*, chroma: np.ndarray) -> KeyEstimate:
    """Best-fitting key for a pitch-class vector ``chroma`` (shape (12,), C first)."""
    mean = float(chroma.mean())
    spread = float(chroma.std()) / mean if mean > 0 else 0.0
    if spread < _MIN_CHROMA_SPREAD:
        return KeyEstimate(None, 0.0, "no clear pitched content (all pitch classes equal)")
    scores: list[tuple[float, str]] = []
    for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            scores.append((r if math.isfinite(r) else -1.0, f"{PITCH_CLASSES[tonic]} {mode}"))
    scores.sort(reverse=True)
    (best, name), (runner_up, _) = scores[0], scores[1]
    confidence = (
        max(0.0, min(1.0, best))
        * min(1.0, (best - runner_up) / _KEY_MARGIN_FULL)
        * min(1.0, spread / _TONAL_SPREAD_FULL)
    )
    return KeyEstimate(name, float(confidence))


def tempo_and_key(
    *, samples: np.ndarray, sample_rate: int
) -> tuple[dict[str, object], dict[str, str]]:
    """``tempo_bpm``, ``tempo_confidence``, ``key``, ``key_confidence`` and notes.

    ``samples``: shape (frames, channels).
    """
    y, rate = analysis_signal(samples=samples, sample_rate=sample_rate)
    tempo = estimate_tempo(y=y, sample_rate=rate)
    key = estimate_key(y=y, sample_rate=rate)
    notes: dict[str, str] = {}
    if tempo.note:
        notes["tempo_bpm"] = tempo.note
    if key.note:
        notes["key"] = key.note
    values: dict[str, object] = {
        "tempo_bpm": tempo.bpm,
        "tempo_confidence": tempo.confidence,
        "key": key.key,
        "key_confidence": key.confidence,
    }
    return values, notes


def _normalised_autocorrelation(envelope: np.ndarray) -> np.ndarray | None:
    """Unbiased autocorrelation of the mean-removed envelope, 1.0 at lag 0 (shape (n,))."""
    centred = envelope - envelope.mean()
    n = len(centred)
    size = scipy.fft.next_fast_len(2 * n)
    spectrum = scipy.fft.rfft(centred, size)
    acf = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[:n]
    # Divide by the number of overlapping terms so long lags are not biased towards 0.
    acf /= n - np.arange(n)
    if acf[0] <= 1e-12 * max(1.0, float(np.abs(envelope).max()) ** 2):
        return None
    return acf / acf[0]


def _prior_weighted_period(acf: np.ndarray, *, fps: float) -> float | None:
    """Beat period in envelope frames (fractional): the autocorrelation peak times the prior."""
    lo = max(1, int(60.0 * fps / _TEMPO_RANGE_BPM[1]))
    hi = min(int(60.0 * fps / _TEMPO_RANGE_BPM[0]), len(acf) // 2)
    if hi - lo < 3:
        return None
    lags = np.arange(lo, hi)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / _PRIOR_CENTER_BPM) / _PRIOR_OCTAVES) ** 2)
    best = int(lags[np.argmax(acf[lo:hi] * prior)])
    return _parabolic_peak(acf, best)


def _local_peak(envelope: np.ndarray, frame: int, radius: int = 2) -> float:
    """Fractional frame of the envelope maximum within ``radius`` frames of ``frame``."""
    lo, hi = max(0, frame - radius), min(len(envelope), frame + radius + 1)
    return _parabolic_peak(envelope, lo + int(np.argmax(envelope[lo:hi])))


def _parabolic_peak(values: np.ndarray, index: int) -> float:
    """Sub-sample position of the peak at ``index`` from a parabola through 3 points."""
    if index <= 0 or index >= len(values) - 1:
        return float(index)
    left, mid, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2.0 * mid + right
    if curvature >= 0.0:  # not a maximum (flat or a dip): keep the integer position
        return float(index)
    return float(index + 0.5 * (left - right) / curvature)


def _fit_beat_grid(times: np.ndarray, *, period0: float) -> tuple[float, float, float]:
    """Fit ``times ≈ t0 + period · k`` to beat times (shape (n,), frames).

    Returns ``(period, inlier_fraction, jitter)`` where jitter is the RMS residual of the
    inliers as a fraction of the period.
    """
    # Number the beats by the rounded gap to the previous one, not by (t - t0) / period0:
    # a 0.4 % error in period0 over 170 beats would otherwise shift later beats by one.
    gaps = np.maximum(1.0, np.round(np.diff(times) / period0))
    index = np.concatenate(([0.0], np.cumsum(gaps)))
    keep = np.ones(len(times), dtype=bool)
    period, intercept = period0, float(times[0])
    for _ in range(3):
        if keep.sum() < _MIN_BEATS:
            break
        slope, intercept = np.polyfit(index[keep], times[keep], 1)
        if slope <= 0:
            break
        period = float(slope)
        residual = times - (intercept + period * index)
        keep = np.abs(residual) < 0.2 * period
    if keep.sum() < 2:
        return period, 0.0, 1.0
    residual = times - (intercept + period * index)
    jitter = float(np.sqrt(np.mean(residual[keep] ** 2)) / period)
    return period, float(keep.mean()), jitter


def _excerpts(y: np.ndarray, *, sample_rate: int) -> list[np.ndarray]:
    """Up to three 20 s excerpts at 20 %, 50 % and 80 % of the file (all of it if short)."""
    length = int(_KEY_EXCERPT_S * sample_rate)
    if len(y) <= _KEY_EXCERPTS * length:
        return [y]
    centres = (0.2, 0.5, 0.8)
    starts = [min(len(y) - length, max(0, int(c * len(y)) - length // 2)) for c in centres]
    return [y[s : s + length] for s in starts]
