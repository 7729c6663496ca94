"""Stereo image: L/R correlation, width and the level lost when folded to mono.

Only the first two channels are used (L, R in every common layout: stereo, 5.1, 7.1).
All three measurements come from the same second-order sums over the whole file:

``stereo_correlation``
    Pearson correlation of L and R, -1..1. 1 = identical channels (mono), 0 = unrelated,
    -1 = one channel is the other inverted (vanishes in mono).
``stereo_width``
    Side energy over total energy, S²/(M² + S²) with M = (L+R)/2, S = (L-R)/2, 0..1:
    0 = mono, 0.5 = uncorrelated channels of equal level, 1 = pure side (L = -R).
``mono_loss_db``
    How much quieter the mono fold-down (L+R)/2 is than the stereo signal, by mean power:
    10·log10(((L² + R²)/2) / M²). 0 dB for mono material, 3.01 dB for uncorrelated
    channels; complete cancellation is capped at :data:`MONO_LOSS_CAP_DB` with a note
    instead of reporting infinity.
"""

from __future__ import annotations

import math

import numpy as np

from .blocks import row_blocks
from .levels import column_sums

# Deeper than 60 dB the mono fold-down is gone for any listener; report the cap.
MONO_LOSS_CAP_DB = 60.0


def stereo_measurements(*, samples: np.ndarray) -> tuple[dict[str, float | None], dict[str, str]]:
    """Correlation, width and mono loss of ``samples`` (shape (frames, ≥2 channels))."""
    pair = samples[:, :2]
    n = pair.shape[0]
    # A BLAS Gram matrix per block (float64, whatever the input) and the column sums give
    # every sum needed below.
    gram = np.zeros((2, 2))
    for block in row_blocks(pair, dtype=np.float64):
        gram += block.T @ block
    sum_ll, sum_rr, sum_lr = float(gram[0, 0]), float(gram[1, 1]), float(gram[0, 1])
    mean_l, mean_r = (float(v) for v in column_sums(samples=pair) / n)
    notes: dict[str, str] = {}

    var_l = sum_ll / n - mean_l * mean_l
    var_r = sum_rr / n - mean_r * mean_r
    cov = sum_lr / n - mean_l * mean_r
    correlation: float | None = None
    # Relative floor: var is computed as a difference and can be a rounding residue.
    scale = max(sum_ll, sum_rr) / n
    if var_l > 1e-12 * scale and var_r > 1e-12 * scale and scale > 0.0:
        correlation = max(-1.0, min(1.0, cov / math.sqrt(var_l * var_r)))
    else:
        notes["stereo_correlation"] = "a channel is silent or constant"

    mid_power = (sum_ll + 2.0 * sum_lr + sum_rr) / (4.0 * n)
    side_power = (sum_ll - 2.0 * sum_lr + sum_rr) / (4.0 * n)
    stereo_power = (sum_ll + sum_rr) / (2.0 * n)
    width: float | None = None
    mono_loss: float | None = None
    if stereo_power > 0.0:
        width = max(0.0, min(1.0, side_power / (mid_power + side_power)))
        floor = stereo_power * 10.0 ** (-MONO_LOSS_CAP_DB / 10.0)
        if mid_power <= floor:
            mono_loss = MONO_LOSS_CAP_DB
            notes["mono_loss_db"] = (
                f"the channels cancel in mono (more than {MONO_LOSS_CAP_DB:.0f} dB lost); "
                "value capped"
            )
        else:
            mono_loss = max(0.0, 10.0 * math.log10(stereo_power / mid_power))
    else:
        notes["stereo_width"] = notes["mono_loss_db"] = "digital silence"
    return {
        "stereo_correlation": correlation,
        "stereo_width": width,
        "mono_loss_db": mono_loss,
    }, notes
