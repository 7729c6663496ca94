"""Level meters for captured blocks: per-channel sample peak and RMS, plus loudness.

Runs on the event loop, never in the audio callback. Peak and RMS cover the frames since
the previous reading (:meth:`LevelMeter.take`), so a reading at 30 Hz shows every transient
once; loudness comes from a streaming ITU-R BS.1770-4 meter whose filter state and windows
(400 ms momentary, 3 s short-term, EBU Tech 3341) carry across blocks.

dBFS here is the plain ratio to full scale: a full-scale sine reads 0 dBFS peak and
-3.01 dBFS RMS (no AES17 +3 dB sine correction), so RMS values compare directly with
``rms_dbfs`` in the analysis. Digital silence has no level in dB and is reported as
``None`` rather than as an arbitrary floor.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np


class LoudnessMeter(Protocol):
    """What :class:`LevelMeter` needs from ``analysis.loudness.StreamingLoudnessMeter``."""

    def process(self, block: np.ndarray) -> None: ...

    @property
    def momentary_lufs(self) -> float | None: ...

    @property
    def short_term_lufs(self) -> float | None: ...

    def reset(self) -> None: ...


def amplitude_to_dbfs(value: float) -> float | None:
    """``20·log10(value)``, or ``None`` for zero (digital silence has no dB value)."""
    if value <= 0.0 or not math.isfinite(value):
        return None
    return 20.0 * math.log10(value)


class LevelMeter:
    """Accumulates peak and mean square per channel between readings; feeds loudness."""

    def __init__(self, *, channels: int, loudness: LoudnessMeter | None) -> None:
        self.channels = channels
        self._loudness = loudness
        self._peak = np.zeros(channels, dtype=np.float64)
        self._sum_squares = np.zeros(channels, dtype=np.float64)
        self._count = 0

    def process(self, block: np.ndarray) -> None:
        """Add a ``(frames, channels)`` float block."""
        if block.shape[0] == 0:
            return
        np.maximum(self._peak, np.abs(block).max(axis=0), out=self._peak)
        # float64 accumulation: float32 sums of ~1600 squares lose the low bits a -60 dBFS
        # RMS needs.
        wide = block.astype(np.float64)
        self._sum_squares += np.einsum("ij,ij->j", wide, wide)
        self._count += block.shape[0]
        if self._loudness is not None:
            self._loudness.process(block)

    @property
    def pending_frames(self) -> int:
        """Frames added since the last :meth:`take`."""
        return self._count

    def take(self) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
        """Return ``(peak_dbfs, rms_dbfs)`` per channel since the last call, and restart."""
        if self._count == 0:
            none = (None,) * self.channels
            return none, none
        peak = tuple(amplitude_to_dbfs(float(p)) for p in self._peak)
        rms = tuple(amplitude_to_dbfs(math.sqrt(float(s) / self._count)) for s in self._sum_squares)
        self._peak[:] = 0.0
        self._sum_squares[:] = 0.0
        self._count = 0
        return peak, rms

    @property
    def momentary_lufs(self) -> float | None:
        """Last 400 ms; None before 400 ms have been seen, and for digital silence."""
        return _finite(None if self._loudness is None else self._loudness.momentary_lufs)

    @property
    def short_term_lufs(self) -> float | None:
        """Last 3 s; None before 3 s have been seen, and for digital silence."""
        return _finite(None if self._loudness is None else self._loudness.short_term_lufs)


def _finite(value: float | None) -> float | None:
    # The loudness meter reports digital silence as -inf, which JSON cannot carry; like the
    # dBFS values it becomes None.
    return value if value is not None and math.isfinite(value) else None
