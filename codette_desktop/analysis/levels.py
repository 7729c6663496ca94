"""Sample-domain level measurements: peak, RMS, crest factor, DC offset, clipping, silence.

Every function takes ``samples`` of shape (frames, channels), float, full scale ±1.0, and
is pure; float32 input is summed in float64 (:mod:`.blocks`). Levels are in dBFS with a
full-scale *square* wave at 0 dB RMS, so a full-scale sine reads 0 dBFS peak, -3.01 dBFS
RMS and a 3.01 dB crest factor (the plain 20·log10 convention most DAW meters use, not
AES17's +3 dB sine convention).

A measurement that cannot exist (the level of digital silence) is None; the caller puts
the reason in ``measurements["notes"]``.
"""

from __future__ import annotations

import math

import numpy as np

from .blocks import BLOCK_FRAMES, row_blocks

CLIP_THRESHOLD = 0.999  # |x| at or above this counts as full scale (-0.009 dBFS)
CLIP_MIN_RUN = 2  # one full-scale sample is a legitimate peak; two in a row is a flat top
SILENCE_THRESHOLD_DBFS = -60.0
SILENCE_FRAME_S = 0.010


def amplitude_db(value: float) -> float | None:
    """20·log10(value), or None for 0 (and anything not positive and finite)."""
    if not (value > 0.0 and math.isfinite(value)):
        return None
    return 20.0 * math.log10(value)


def power_db(value: float) -> float | None:
    """10·log10(value), or None for 0 (and anything not positive and finite)."""
    if not (value > 0.0 and math.isfinite(value)):
        return None
    return 10.0 * math.log10(value)


def sample_peak(*, samples: np.ndarray) -> float:
    """Largest absolute sample over all channels (linear, 0..)."""
    # max/min instead of abs().max(): no temporary copy of a 3-minute file.
    return float(max(samples.max(), -samples.min()))


def mean_square(*, samples: np.ndarray) -> float:
    """Mean of x² over every sample of every channel (linear power)."""
    total = 0.0
    for block in row_blocks(samples, dtype=np.float64):
        flat = block.reshape(-1)
        # einsum: no x*x temporary, and no BLAS call per block (OpenBLAS wakes its
        # busy-waiting threads for a dot product this long; per block that cost 10x).
        total += float(np.einsum("i,i->", flat, flat))
    return total / samples.size


def level_measurements(*, samples: np.ndarray) -> tuple[dict[str, float | None], dict[str, str]]:
    """``sample_peak_dbfs``, ``rms_dbfs`` and ``crest_factor_db`` (peak - RMS) with notes."""
    peak_db = amplitude_db(sample_peak(samples=samples))
    rms_db = power_db(mean_square(samples=samples))
    notes: dict[str, str] = {}
    if peak_db is None:
        for field in ("sample_peak_dbfs", "rms_dbfs", "crest_factor_db"):
            notes[field] = "digital silence (every sample is 0)"
    crest = None if peak_db is None or rms_db is None else peak_db - rms_db
    return {"sample_peak_dbfs": peak_db, "rms_dbfs": rms_db, "crest_factor_db": crest}, notes


def dc_offset(*, samples: np.ndarray) -> float:
    """The channel mean with the largest magnitude (signed, linear full scale)."""
    means = column_sums(samples=samples) / samples.shape[0]
    return float(means[int(np.argmax(np.abs(means)))])


def column_sums(*, samples: np.ndarray) -> np.ndarray:
    """Per-channel sums, accumulated in float64; shape (channels,)."""
    sums = np.zeros(samples.shape[1])
    ones = np.ones(BLOCK_FRAMES)
    for block in row_blocks(samples, dtype=np.float64):
        # A matrix-vector product instead of sum(axis=0): numpy's reduction along the long
        # axis of a (frames, 2) array is ~4x slower than BLAS.
        sums += ones[: block.shape[0]] @ block
    return sums


def clipped_sample_count(
    *, samples: np.ndarray, threshold: float = CLIP_THRESHOLD, min_run: int = CLIP_MIN_RUN
) -> int:
    """Number of samples in runs of ≥ ``min_run`` consecutive samples at |x| ≥ ``threshold``.

    Runs are counted per channel, so a clipped stereo frame counts twice.
    """
    hot = (samples >= threshold) | (samples <= -threshold)
    if not hot.any():
        return 0
    if min_run <= 1:
        return int(hot.sum())
    if min_run == 2:
        # A sample is in a run of ≥ 2 exactly when a neighbour is also hot.
        neighbour = np.zeros_like(hot)
        neighbour[1:] |= hot[:-1]
        neighbour[:-1] |= hot[1:]
        return int((hot & neighbour).sum())
    total = 0
    for channel in hot.T:
        edges = np.diff(np.concatenate(([0], channel.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        lengths = ends - starts
        total += int(lengths[lengths >= min_run].sum())
    return total


def silence_bounds(
    *,
    samples: np.ndarray,
    sample_rate: int,
    threshold_dbfs: float = SILENCE_THRESHOLD_DBFS,
    frame_s: float = SILENCE_FRAME_S,
) -> tuple[float, float]:
    """Leading and trailing silence in seconds, in ``frame_s`` frames.

    A frame is silent when its *peak* over all channels is below ``threshold_dbfs``;
    peak rather than RMS so a quiet attack or a fade tail is never called silence.
    An entirely silent file returns ``(duration, duration)``.
    """
    frames = samples.shape[0]
    size = max(1, round(frame_s * sample_rate))
    n_full = frames // size
    threshold = 10.0 ** (threshold_dbfs / 20.0)
    peaks = []
    if n_full:
        blocks = samples[: n_full * size].reshape(n_full, size * samples.shape[1])
        peaks.append(np.maximum(blocks.max(axis=1), -blocks.min(axis=1)))
    if frames > n_full * size:
        peaks.append(np.array([sample_peak(samples=samples[n_full * size :])]))
    loud = np.flatnonzero(np.concatenate(peaks) >= threshold)
    duration = frames / sample_rate
    if loud.size == 0:
        return duration, duration
    leading = loud[0] * size / sample_rate
    end = min(frames, (loud[-1] + 1) * size)
    trailing = (frames - end) / sample_rate
    return float(leading), float(trailing)
