"""Long sample arrays walked in row blocks: bounded temporaries, float64 sums.

Decoded audio is float32 (:class:`~codette_desktop.analysis.decode.AudioBuffer`): exact
for 8-, 16- and 24-bit and float files, half the memory of float64. A sum over tens of
millions of float32 values loses digits, so functions that need a long sum take float64
copies of one block at a time from :func:`row_blocks` and accumulate in float64; the
temporary stays one block (~1 MiB), however long the file.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import DTypeLike

# Rows (frames) per block: 64 Ki frames of stereo float64 is 1 MiB, small enough for the
# cache and large enough that the per-block Python overhead is noise.
BLOCK_FRAMES = 1 << 16


def row_blocks(
    samples: np.ndarray, *, dtype: DTypeLike | None = None, frames: int = BLOCK_FRAMES
) -> Iterator[np.ndarray]:
    """Consecutive row slices of ``samples`` (shape ``(n, ...)``), ``frames`` rows each.

    With ``dtype`` each block is converted (a copy only when the dtype differs).
    """
    for start in range(0, samples.shape[0], frames):
        block = samples[start : start + frames]
        yield block if dtype is None else np.asarray(block, dtype=dtype)
