"""Loudness and true-peak metering: ITU-R BS.1770-4, EBU R 128, EBU Tech 3341 and 3342.

Pure ndarray functions. ``samples`` is always a float array shaped ``(frames, channels)``
at full scale ±1.0 (a 1-D array is read as mono); ``sample_rate`` is in Hz, 8000–192000.

- :func:`k_weighting_sos` — the K-weighting filter (BS.1770-4 Annex 1) at any rate.
- :func:`channel_weights` — the per-channel gains ``G_i`` (BS.1770-4 Annex 1, Table 3).
- :func:`block_loudness` — loudness of every block of a sliding window (momentary,
  short-term or the gating blocks).
- :func:`integrated_loudness` — gated programme loudness (BS.1770-4 Annex 1, §2.8).
- :func:`loudness_range` — LRA (EBU Tech 3342).
- :func:`true_peak` — per-channel true peak by oversampling (BS.1770-4 Annex 2).
- :func:`loudness_measurements` — all of the above as the wire's ``measurements`` fields.
- :class:`StreamingLoudnessMeter` — momentary / short-term loudness of live audio, block
  by block, with the filter state carried across blocks.

Invalid input (wrong shape, a rate outside 8–192 kHz, NaN or infinite samples) raises
:class:`~codette_desktop.errors.AnalysisError`.

Speed: the whole file is filtered once per channel (``sosfilt`` in chunks of about a
million samples, float64 because scipy's float64 path is the fast one), squared and summed
per segment (the greatest common divisor of block and hop, 100 ms for every standard
meter), and every block is then a sum of whole segments. The true peak evaluates only the
fractional phases of the polyphase interpolator, as small single-threaded matrix products
(BLAS), and takes the maximum with the sample peak. Channels (filtering and true peak as
separate tasks) run on a small thread pool; numpy, scipy and BLAS release the GIL.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray
from scipy import signal

from codette_desktop.errors import AnalysisError

FloatArray = NDArray[np.float64]

MIN_SAMPLE_RATE: Final = 8_000
MAX_SAMPLE_RATE: Final = 192_000

# BS.1770-4 Annex 1, eq. (2): L_K = -0.691 + 10 log10(sum_i G_i z_i). The constant
# cancels the K-filter's +0.691 dB gain at 1 kHz, so a 0 dBFS 1 kHz sine in one front
# channel reads -3.01 LKFS.
LOUDNESS_OFFSET_DB: Final = -0.691
# BS.1770-4 Annex 1, §2.8 (gating): 400 ms blocks overlapping by 75 %, an absolute gate
# at -70 LKFS and a relative gate 10 LU below the absolute-gated loudness.
GATING_BLOCK_S: Final = 0.4
GATING_HOP_S: Final = 0.1
ABSOLUTE_GATE_LUFS: Final = -70.0
RELATIVE_GATE_LU: Final = -10.0
# EBU Tech 3341 §2.2: momentary 400 ms, short-term 3 s, both updated at >= 10 Hz.
MOMENTARY_S: Final = 0.4
SHORT_TERM_S: Final = 3.0
METER_HOP_S: Final = 0.1
# EBU Tech 3342 §3: short-term blocks (3 s, >= 10 Hz), absolute gate -70 LUFS, relative
# gate -20 LU, range between the 10th and the 95th percentile.
LRA_RELATIVE_GATE_LU: Final = -20.0
LRA_LOW_PERCENTILE: Final = 0.10
LRA_HIGH_PERCENTILE: Final = 0.95

# Analogue prototypes of the K-weighting stages. BS.1770-4 only tabulates the 48 kHz
# coefficients; these parameters reproduce that table through the bilinear transform
# (the well-known derivation used by libebur128 and ffmpeg), so the filter is right at
# every rate rather than only at 48 kHz.
_SHELF_F0_HZ: Final = 1681.974450955533
_SHELF_GAIN_DB: Final = 3.999843853973347
_SHELF_Q: Final = 0.7071752369554196
_SHELF_VB_EXPONENT: Final = 0.4996667741545416  # band gain Vb = Vh ** exponent
_HIGHPASS_F0_HZ: Final = 38.13547087602444
_HIGHPASS_Q: Final = 0.5003270373238773

# A mean square below this (-300 LUFS) is digital silence: it reads -inf. Far under any
# real signal (24-bit dither is ~-150 LUFS), far over the guard's transient (~1e-40).
_SILENCE_FLOOR: Final = 1e-30
# Added to the input of the recursive filters. Digital silence after a sound makes an IIR
# state decay into subnormal floats, which are 15-50x slower on x86; a constant this small
# keeps every state normal, is removed by the high-pass, and changes no loudness above
# -300 LUFS.
_DENORMAL_GUARD: Final = 1e-20

# True peak (BS.1770-4 Annex 2): oversample so the rate is >= 176.4 kHz (4x at 44.1/48 kHz,
# 2x at 88.2/96 kHz, none at 176.4/192 kHz). The interpolator is a Kaiser-windowed sinc of
# 2 * _TP_HALF_TAPS taps per phase; only the fractional phases are computed, the integer
# phase is the signal itself (sample peak).
_TP_TARGET_RATE: Final = 176_400
_TP_HALF_TAPS: Final = 16
_TP_KAISER_BETA: Final = 6.0
_TP_CUTOFF: Final = 1.0  # of the input Nyquist frequency
_TP_ROWS_PER_CHUNK: Final = 1024
# Interpolated instants per matrix row: each row multiplies a window of
# _TP_ROW_WIDTH + 2 * _TP_HALF_TAPS - 1 samples.
_TP_ROW_WIDTH: Final = 32
# OpenBLAS runs a GEMM on one thread when m * n * k is at most 65536 * 4 (interface/gemm.c:
# SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD). Its threads busy-wait, so on shared
# cores the threaded GEMM was 10-20x slower (1.4 s instead of 0.07 s for one channel of
# 3 minutes); we parallelise across channels ourselves instead.
_BLAS_SINGLE_THREAD_MNK: Final = 65536 * 4
# Edges: Burg linear prediction of this order, fitted on this many edge samples.
_TP_PREDICTOR_ORDER: Final = 32
_TP_PREDICTOR_SPAN: Final = 1024

# Samples of one channel filtered per sosfilt call (bounded memory, cache friendly).
_FILTER_CHUNK: Final = 1 << 20

# Channel layouts by count, in WAVE / SMPTE order, with the BS.1770-4 Annex 1 Table 3
# weights: front and centre 1.0, surround (side/back) 1.41 (+1.5 dB), LFE excluded (0).
_LAYOUT_WEIGHTS: Final[dict[int, tuple[float, ...]]] = {
    1: (1.0,),
    2: (1.0, 1.0),  # L R
    3: (1.0, 1.0, 1.0),  # L R C
    4: (1.0, 1.0, 1.41, 1.41),  # L R Ls Rs (quad)
    5: (1.0, 1.0, 1.0, 1.41, 1.41),  # L R C Ls Rs
    6: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41),  # L R C LFE Ls Rs
    7: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41),  # L R C LFE Cs Ls Rs (6.1)
    8: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41, 1.41),  # L R C LFE Lrs Rrs Lss Rss (7.1)
}


# --------------------------------------------------------------------------- filters


def k_weighting_sos(sample_rate: int) -> FloatArray:
    """The K-weighting filter of BS.1770-4 Annex 1 as second-order sections.

    Stage 1 is the "pre-filter" (a high shelf, +4 dB above ~1.5 kHz, modelling the head),
    stage 2 the "RLB" high-pass (~38 Hz). Both are derived from their analogue prototypes
    by the bilinear transform pre-warped at the stage's corner frequency, so at 48 kHz
    they reproduce the coefficients tabulated in BS.1770-4 (Tables 1 and 2) to ~1e-9,
    and at other rates they keep the same analogue response instead of shifting it.

    Parameters
    ----------
    sample_rate : int
        Hz, 8000–192000.

    Returns
    -------
    sos : np.ndarray, shape (2, 6)
        Rows ``[b0, b1, b2, 1, a1, a2]`` for :func:`scipy.signal.sosfilt`; row 0 is the
        shelf, row 1 the high-pass (numerator ``[1, -2, 1]`` at 48 kHz as in the standard,
        scaled by ~1 ± 0.005 elsewhere to keep its 48 kHz pass-band gain).
    """
    rate = _check_rate(sample_rate)
    # Stage 1: high shelf (BS.1770-4 Table 1).
    k = math.tan(math.pi * _SHELF_F0_HZ / rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    # Stage 2: RLB high-pass (BS.1770-4 Table 2). The bilinear transform gives the
    # numerator (1, -2, 1) / a0; the table's (1, -2, 1) therefore carries a pass-band gain
    # of a0(48 kHz) = +0.043 dB, which the -0.691 dB offset was calibrated with. Keeping
    # that gain at every rate (scale a0(48 kHz) / a0(rate), exactly 1 at 48 kHz) makes a
    # tone read the same at 44.1 or 96 kHz as at 48 kHz instead of drifting by 0.02 LU.
    k = math.tan(math.pi * _HIGHPASS_F0_HZ / rate)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    k48 = math.tan(math.pi * _HIGHPASS_F0_HZ / 48_000)
    gain = (1.0 + k48 / _HIGHPASS_Q + k48 * k48) / a0
    highpass = [
        gain,
        -2.0 * gain,
        gain,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _HIGHPASS_Q + k * k) / a0,
    ]
    return np.array([shelf, highpass], dtype=np.float64)


def channel_weights(channels: int) -> FloatArray:
    """Per-channel weights ``G_i`` of BS.1770-4 Annex 1 (Table 3).

    Layouts are assumed from the channel count in WAVE order: 1 mono, 2 L R, 3 L R C,
    4 L R Ls Rs, 5 L R C Ls Rs, 6 (5.1) L R C LFE Ls Rs, 7 (6.1) and 8 (7.1) with the
    LFE fourth. Front and centre channels weigh 1.0, surround channels 1.41 (+1.5 dB),
    the LFE 0 (it is not part of the loudness). Counts above 8 weigh every channel 1.0.

    Returns
    -------
    weights : np.ndarray, shape (channels,)
    """
    if channels < 1:
        raise AnalysisError(f"need at least one channel, got {channels}")
    return np.array(_LAYOUT_WEIGHTS.get(channels, (1.0,) * channels), dtype=np.float64)


# --------------------------------------------------------------------------- blocks


def block_loudness(
    samples: np.ndarray, sample_rate: int, *, block_s: float, hop_s: float
) -> FloatArray:
    """Loudness of each block of a sliding window (BS.1770-4 Annex 1, eq. 2).

    Block ``j`` covers samples ``[j * hop, j * hop + block)`` (lengths rounded to whole
    samples); only complete blocks are returned. ``block_s=0.4, hop_s=0.1`` gives the
    gating blocks and the momentary loudness, ``block_s=3.0, hop_s=0.1`` the short-term
    loudness of EBU Tech 3341.

    Parameters
    ----------
    samples : np.ndarray, shape (frames, channels) or (frames,)
    sample_rate : int
    block_s, hop_s : float
        Block length and hop in seconds, both > 0.

    Returns
    -------
    loudness : np.ndarray, shape (n_blocks,)
        LUFS; ``-inf`` for a block of digital silence. Empty if the signal is shorter
        than one block.
    """
    frames = _as_frames(samples)
    rate = _check_rate(sample_rate)
    if block_s <= 0 or hop_s <= 0:
        raise AnalysisError(f"block_s and hop_s must be > 0, got {block_s}, {hop_s}")
    block = max(1, round(block_s * rate))
    hop = max(1, round(hop_s * rate))
    segment = math.gcd(block, hop)
    energy = _segment_energy(frames, rate, segment)
    return _to_lufs(_block_mean_square(energy, segment, block=block, hop=hop))


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Gated integrated loudness in LUFS (BS.1770-4 Annex 1, §2.8; EBU R 128).

    400 ms blocks with 75 % overlap; blocks at or below the absolute gate (-70 LUFS) are
    dropped, then blocks at or below the relative gate (10 LU under the loudness of the
    remaining blocks).

    Parameters
    ----------
    samples : np.ndarray, shape (frames, channels) or (frames,)
    sample_rate : int

    Returns
    -------
    loudness : float
        LUFS; ``-inf`` if no block passes the gates (silence, or shorter than 400 ms).
    """
    frames = _as_frames(samples)
    rate = _check_rate(sample_rate)
    block = round(GATING_BLOCK_S * rate)
    hop = round(GATING_HOP_S * rate)
    energy = _segment_energy(frames, rate, math.gcd(block, hop))
    mean_square = _block_mean_square(energy, math.gcd(block, hop), block=block, hop=hop)
    return _gated_loudness(mean_square)


def loudness_range(samples: np.ndarray, sample_rate: int) -> float:
    """Loudness range (LRA) in LU, EBU Tech 3342.

    Short-term loudness (3 s blocks) every 100 ms (Tech 3342 asks for >= 10 Hz); blocks at
    or below -70 LUFS are dropped, then those at or below 20 LU under the energy mean of
    the rest; LRA is the 95th minus the 10th percentile of what remains (nearest rank,
    as in the Tech 3342 reference code).

    Returns
    -------
    lra : float
        LU; ``nan`` if no short-term block passes the gates (silence, or shorter than 3 s).
    """
    frames = _as_frames(samples)
    rate = _check_rate(sample_rate)
    block = round(SHORT_TERM_S * rate)
    hop = round(METER_HOP_S * rate)
    segment = math.gcd(block, hop)
    energy = _segment_energy(frames, rate, segment)
    return _loudness_range(_block_mean_square(energy, segment, block=block, hop=hop))


# --------------------------------------------------------------------------- true peak


def true_peak(
    samples: np.ndarray, sample_rate: int, *, oversample: int | None = None
) -> FloatArray:
    """Per-channel true peak, linear (BS.1770-4 Annex 2).

    The signal is interpolated to ``oversample`` times its rate with a polyphase FIR (a
    Kaiser-windowed sinc, beta 6, cut off at the input's Nyquist frequency, 32 taps per
    phase; flat within 0.005 dB to 0.42 of the rate, -0.2 dB at 0.45) and the largest
    magnitude of the interpolated and the original samples is returned, so the result is
    never below the sample peak. Beyond both ends the signal is continued by linear prediction, so a
    signal cut off at a crest or mid-cycle does not ring against an imagined step (zero
    padding: ~+1 dB) or kink (mirror padding: up to +1 dB at 12-18 kHz).

    Parameters
    ----------
    samples : np.ndarray, shape (frames, channels) or (frames,)
    sample_rate : int
    oversample : int, optional
        Default: enough for >= 176.4 kHz (4x at 44.1/48 kHz, 2x at 88.2/96 kHz, 1x at
        176.4/192 kHz, more at lower rates). 1 gives the sample peak.

    Returns
    -------
    peak : np.ndarray, shape (channels,)
        Linear; ``20 * log10(peak)`` is the true peak in dBTP.
    """
    frames = _as_frames(samples)
    rate = _check_rate(sample_rate)
    factor = _oversampling(rate) if oversample is None else int(oversample)
    if factor < 1:
        raise AnalysisError(f"oversample must be >= 1, got {oversample}")
    _, peaks = _analyse(frames, rate, segment=None, factor=factor)
    return peaks


# --------------------------------------------------------------------------- report


def loudness_measurements(samples: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """The loudness fields of the wire's ``measurements`` object (PROTOCOL.md).

    One pass computes the integrated loudness, the maximum momentary (400 ms) and
    short-term (3 s) loudness at a 10 Hz update rate (EBU Tech 3341 §2.2), the loudness
    range (EBU Tech 3342) and the true peak (max over channels).

    Returns
    -------
    measurements : dict
        ``integrated_lufs``, ``momentary_max_lufs``, ``short_term_max_lufs``,
        ``loudness_range_lu``, ``true_peak_dbtp``: floats rounded to 0.01, or ``None``
        when the signal does not allow the measurement — never ``-inf`` or NaN — and
        ``notes``: ``{field: reason}`` for every ``None``.
    """
    frames = _as_frames(samples)
    rate = _check_rate(sample_rate)
    n_frames = frames.shape[0]
    momentary = round(MOMENTARY_S * rate)
    short_term = round(SHORT_TERM_S * rate)
    hop = round(METER_HOP_S * rate)  # == the gating hop (GATING_HOP_S)
    segment = math.gcd(math.gcd(momentary, short_term), hop)
    energy, peaks = _analyse(frames, rate, segment=segment, factor=_oversampling(rate))
    gating = _block_mean_square(energy, segment, block=momentary, hop=hop)
    short = _block_mean_square(energy, segment, block=short_term, hop=hop)

    result: dict[str, Any] = {}
    notes: dict[str, str] = {}

    def put(field: str, value: float, reason: str) -> None:
        if math.isfinite(value):
            result[field] = round(value, 2)
        else:
            result[field] = None
            notes[field] = reason

    silence = "the signal is digital silence"
    too_short_m = f"the signal ({n_frames / rate:.3f} s) is shorter than one 400 ms block"
    too_short_s = f"the signal ({n_frames / rate:.3f} s) is shorter than one 3 s block"

    put(
        "integrated_lufs",
        _gated_loudness(gating),
        too_short_m if gating.size == 0 else "no 400 ms block above the -70 LUFS absolute gate",
    )
    put(
        "momentary_max_lufs",
        _max_lufs(gating),
        too_short_m if gating.size == 0 else silence,
    )
    put(
        "short_term_max_lufs",
        _max_lufs(short),
        too_short_s if short.size == 0 else silence,
    )
    put(
        "loudness_range_lu",
        _loudness_range(short),
        too_short_s if short.size == 0 else "no 3 s block above the -70 LUFS absolute gate",
    )
    peak = float(peaks.max()) if peaks.size else 0.0
    put(
        "true_peak_dbtp",
        20.0 * math.log10(peak) if peak > 0 else -math.inf,
        silence if n_frames else "the signal has no samples",
    )
    result["notes"] = notes
    return result


# --------------------------------------------------------------------------- streaming


class StreamingLoudnessMeter:
    """Momentary and short-term loudness of live audio (EBU Tech 3341 §2.2).

    Feed blocks of any length with :meth:`process`; read :attr:`momentary_lufs` (last
    400 ms) and :attr:`short_term_lufs` (last 3 s) whenever the display refreshes. The
    K-weighting state is carried across blocks, so the values equal those of
    :func:`block_loudness` over the same stretch of the whole signal. ``process`` is
    O(block) and allocates only block-sized arrays; reading a value sums at most 3 s of
    stored per-sample energies.

    Not thread-safe: call it from one thread (e.g. the one draining the capture queue,
    never the audio callback itself).
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        self._rate = _check_rate(sample_rate)
        self._weights = channel_weights(channels)
        self._channels = channels
        self._sos = k_weighting_sos(self._rate)
        self._momentary = round(MOMENTARY_S * self._rate)
        self._short_term = round(SHORT_TERM_S * self._rate)
        # Per-sample weighted energy sum_i G_i y_i^2 of the last 3 s, as a ring.
        self._ring = np.zeros(self._short_term, dtype=np.float64)
        self._zi = np.zeros((self._sos.shape[0], 2, channels), dtype=np.float64)
        self._write = 0  # next ring index
        self._seen = 0  # samples processed since the last reset

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return self._channels

    def reset(self) -> None:
        """Forget all audio (filter state and history), e.g. after a device change."""
        self._ring.fill(0.0)
        self._zi.fill(0.0)
        self._write = 0
        self._seen = 0

    def process(self, block: np.ndarray) -> None:
        """Add a block of audio, shape ``(n, channels)`` (or ``(n,)`` for mono), any n."""
        data = np.asarray(block)
        if data.ndim == 1 and self._channels == 1:
            data = data[:, np.newaxis]
        if data.ndim != 2 or data.shape[1] != self._channels:
            raise AnalysisError(f"expected a block shaped (n, {self._channels}), got {data.shape}")
        n = data.shape[0]
        if n == 0:
            return
        filtered, self._zi = signal.sosfilt(
            self._sos, np.add(data, _DENORMAL_GUARD, dtype=np.float64), axis=0, zi=self._zi
        )
        energy = np.square(filtered, out=filtered) @ self._weights
        size = self._ring.size
        if n >= size:
            self._ring[:] = energy[n - size :]
            self._write = 0
        else:
            first = min(n, size - self._write)
            self._ring[self._write : self._write + first] = energy[:first]
            self._ring[: n - first] = energy[first:]
            self._write = (self._write + n) % size
        self._seen += n

    @property
    def momentary_lufs(self) -> float | None:
        """Loudness of the last 400 ms; None until 400 ms have been processed.

        Very quiet input gives very low values; digital silence gives ``-inf``.
        """
        return self._window_lufs(self._momentary)

    @property
    def short_term_lufs(self) -> float | None:
        """Loudness of the last 3 s; None until 3 s have been processed."""
        return self._window_lufs(self._short_term)

    def _window_lufs(self, length: int) -> float | None:
        if self._seen < length:
            return None
        start = self._write - length
        if start >= 0:
            total = float(self._ring[start : self._write].sum())
        else:
            total = float(self._ring[start:].sum() + self._ring[: self._write].sum())
        mean_square = total / length
        return _lufs(mean_square if mean_square >= _SILENCE_FLOOR else 0.0)


# --------------------------------------------------------------------------- internals


def _check_rate(sample_rate: int) -> int:
    rate = int(sample_rate)
    if rate != sample_rate or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AnalysisError(
            f"sample rate must be an integer {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, "
            f"got {sample_rate}"
        )
    return rate


def _as_frames(samples: np.ndarray) -> np.ndarray:
    """A ``(frames, channels)`` float view of the input (no copy)."""
    frames = np.asarray(samples)
    if frames.ndim == 1:
        frames = frames[:, np.newaxis]
    if frames.ndim != 2 or frames.shape[1] < 1:
        raise AnalysisError(f"samples must be shaped (frames, channels), got {frames.shape}")
    if not np.issubdtype(frames.dtype, np.floating):
        raise AnalysisError(f"samples must be floating point (±1.0 full scale), got {frames.dtype}")
    return frames


def _oversampling(rate: int) -> int:
    """BS.1770-4 Annex 2: 4x at 48 kHz; generally enough for >= 176.4 kHz."""
    return max(1, math.ceil(_TP_TARGET_RATE / rate))


def _lufs(mean_square: float) -> float:
    return LOUDNESS_OFFSET_DB + 10.0 * math.log10(mean_square) if mean_square > 0 else -math.inf


def _to_lufs(mean_square: FloatArray) -> FloatArray:
    out = np.full(mean_square.shape, -np.inf)
    positive = mean_square > 0
    out[positive] = LOUDNESS_OFFSET_DB + 10.0 * np.log10(mean_square[positive])
    return out


def _max_lufs(mean_square: FloatArray) -> float:
    return _lufs(float(mean_square.max())) if mean_square.size else -math.inf


def _block_mean_square(energy: FloatArray, segment: int, *, block: int, hop: int) -> FloatArray:
    """Weighted mean square ``sum_i G_i z_i`` of each block, from per-segment energy sums.

    ``energy`` holds the sums over consecutive ``segment``-sample segments; ``block`` and
    ``hop`` are whole multiples of ``segment``. A block is one difference of a cumulative
    sum over segments (a few thousand values, so float64 keeps ~1e-12 relative accuracy
    even for a quiet block after a loud one); round-off below the silence floor is 0.
    """
    per_block = block // segment
    per_hop = hop // segment
    count = energy.size - per_block + 1
    if count <= 0:
        return np.zeros(0)
    cumulative = np.concatenate(([0.0], np.cumsum(energy)))
    starts = np.arange(count)[::per_hop]
    mean_square = (cumulative[starts + per_block] - cumulative[starts]) / block
    # Below the floor is digital silence (and the denormal guard's own transient).
    mean_square[mean_square < _SILENCE_FLOOR] = 0.0
    return mean_square


def _gated_loudness(mean_square: FloatArray) -> float:
    """BS.1770-4 Annex 1, §2.8: absolute then relative gate over gating blocks."""
    if mean_square.size == 0:
        return -math.inf
    loudness = _to_lufs(mean_square)
    above_absolute = loudness > ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return -math.inf
    relative_gate = _lufs(float(mean_square[above_absolute].mean())) + RELATIVE_GATE_LU
    passed = above_absolute & (loudness > relative_gate)
    return _lufs(float(mean_square[passed].mean()))


def _loudness_range(mean_square: FloatArray) -> float:
    """EBU Tech 3342 §3 over short-term mean squares (one per 3 s block, >= 10 Hz)."""
    if mean_square.size == 0:
        return math.nan
    loudness = _to_lufs(mean_square)
    above_absolute = loudness > ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return math.nan
    relative_gate = _lufs(float(mean_square[above_absolute].mean())) + LRA_RELATIVE_GATE_LU
    kept = np.sort(loudness[above_absolute & (loudness > relative_gate)])
    # Tech 3342 reference code: value at the 1-based rank round((n - 1) * p + 1).
    last = kept.size - 1
    low = kept[math.floor(last * LRA_LOW_PERCENTILE + 0.5)]
    high = kept[math.floor(last * LRA_HIGH_PERCENTILE + 0.5)]
    return float(high - low)


def _segment_energy(frames: np.ndarray, rate: int, segment: int) -> FloatArray:
    energy, _ = _analyse(frames, rate, segment=segment, factor=None)
    return energy


def _analyse(
    frames: np.ndarray, rate: int, *, segment: int | None, factor: int | None
) -> tuple[FloatArray, FloatArray]:
    """Weighted K-filtered energy per segment, and per-channel true peaks.

    Returns ``(energy, peaks)``. ``energy``, shape ``(frames // segment,)``, holds
    ``sum_i G_i sum_n y_i[n]^2`` over each complete ``segment``-sample segment (channels
    with ``G_i = 0`` are not filtered); empty if ``segment`` is None. ``peaks``, shape
    ``(channels,)``, holds the true peak at ``factor``-times oversampling; zeros if
    ``factor`` is None. NaN or infinite samples raise :class:`AnalysisError`.
    """
    n_frames, n_channels = frames.shape
    weights = channel_weights(n_channels)
    n_segments = 0 if segment is None else n_frames // segment
    sos = k_weighting_sos(rate)
    energy_tasks: list[Callable[[], tuple[str, int, Any]]] = []
    peak_tasks: list[Callable[[], tuple[str, int, Any]]] = []
    for channel in range(n_channels):
        column = frames[:, channel]
        if segment is not None and weights[channel] > 0 and n_segments > 0:
            energy_tasks.append(_bind_energy_task(column, sos, segment, n_segments, channel))
        if factor is not None:
            peak_tasks.append(_bind_peak_task(column, factor, channel))

    energy = np.zeros(n_segments)
    peak = np.zeros(n_channels)
    for kind, channel, value in _run(energy_tasks, peak_tasks):
        if kind == "energy":
            energy += weights[channel] * value
        else:
            peak[channel] = value
    if not (np.isfinite(energy).all() and np.isfinite(peak).all()):
        raise AnalysisError("audio contains NaN or infinite samples")
    return energy, peak


def _bind_energy_task(
    column: np.ndarray, sos: FloatArray, segment: int, n_segments: int, channel: int
) -> Callable[[], tuple[str, int, Any]]:
    return lambda: ("energy", channel, _channel_energy(column, sos, segment, n_segments))


def _bind_peak_task(
    column: np.ndarray, factor: int, channel: int
) -> Callable[[], tuple[str, int, Any]]:
    return lambda: ("peak", channel, _channel_true_peak(column, factor))


def _run(
    energy_tasks: list[Callable[[], tuple[str, int, Any]]],
    peak_tasks: list[Callable[[], tuple[str, int, Any]]],
) -> list[tuple[str, int, Any]]:
    """Run the per-channel tasks on up to ``cpu_count`` threads.

    Filtering holds no GIL (one long ``sosfilt`` call per chunk); the true peak takes the
    GIL between its many small matrix products. With both kinds to do, one thread runs
    all filtering and another all true peaks, so at most one thread competes for the
    GIL; with one kind, channels are spread over the threads.
    """
    tasks = energy_tasks + peak_tasks
    workers = min(len(tasks), _cpu_count())
    if workers <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loudness") as pool:
        if energy_tasks and peak_tasks:
            groups = [pool.submit(_run_all, energy_tasks), pool.submit(_run_all, peak_tasks)]
            return [result for group in groups for result in group.result()]
        return list(pool.map(lambda task: task(), tasks))


def _run_all(
    tasks: list[Callable[[], tuple[str, int, Any]]],
) -> list[tuple[str, int, Any]]:
    return [task() for task in tasks]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _channel_energy(
    column: np.ndarray, sos: FloatArray, segment: int, n_segments: int
) -> FloatArray:
    """Sum of squared K-weighted samples over each of the first ``n_segments`` segments."""
    out = np.empty(n_segments)
    per_chunk = max(1, _FILTER_CHUNK // segment)
    zi = np.zeros((sos.shape[0], 2))
    for first in range(0, n_segments, per_chunk):
        count = min(per_chunk, n_segments - first)
        chunk = column[first * segment : (first + count) * segment]
        # float64 copy (+ denormal guard) in one pass; sosfilt's float64 path is its fast one.
        filtered, zi = signal.sosfilt(sos, np.add(chunk, _DENORMAL_GUARD, dtype=np.float64), zi=zi)
        shaped = filtered.reshape(count, segment)
        out[first : first + count] = np.einsum("ij,ij->i", shaped, shaped)
    return out


@functools.lru_cache(maxsize=8)
def _interpolation_matrix(factor: int, width: int) -> NDArray[np.float32]:
    """Polyphase interpolator for the fractional phases, laid out for a matrix product.

    Output ``n + p / factor`` (``p = 1 .. factor - 1``) is ``sum_k h_p[k] x[n + k]`` for
    ``k = -H + 1 .. H`` (``H = _TP_HALF_TAPS``), ``h_p`` a Kaiser-windowed sinc at offset
    ``k - p / factor``, normalised to unit DC gain. The matrix maps a window of
    ``width + 2H - 1`` input samples starting at ``m - H + 1`` to the ``width`` outputs
    ``m .. m + width - 1`` of every phase: shape ``(width + 2H - 1, (factor - 1) * width)``,
    column ``p' * width + j`` for phase ``p' + 1`` and output ``m + j``.
    """
    half = _TP_HALF_TAPS
    taps = np.arange(-half + 1, half + 1, dtype=np.float64)
    rows = width + 2 * half - 1
    matrix = np.zeros((rows, (factor - 1) * width), dtype=np.float64)
    for p in range(1, factor):
        t = taps - p / factor  # distance from the output instant to each input sample
        h = np.sinc(_TP_CUTOFF * t) * _kaiser(t / half, _TP_KAISER_BETA)
        h /= h.sum()
        for j in range(width):
            matrix[j : j + 2 * half, (p - 1) * width + j] = h
    result = matrix.astype(np.float32)
    result.flags.writeable = False  # shared by the cache
    return result


def _kaiser(x: FloatArray, beta: float) -> FloatArray:
    """Continuous Kaiser window on [-1, 1]."""
    return np.i0(beta * np.sqrt(np.clip(1.0 - x * x, 0.0, None))) / np.i0(beta)


def _channel_true_peak(column: np.ndarray, factor: int) -> float:
    """Largest magnitude of one channel after ``factor``-times band-limited interpolation."""
    n = column.shape[0]
    if n == 0:
        return 0.0
    sample_peak = float(max(column.max(), -column.min()))
    if factor == 1 or n < 2 or not math.isfinite(sample_peak):
        return sample_peak  # NaN / inf are reported by the caller
    half = _TP_HALF_TAPS
    width = _TP_ROW_WIDTH
    matrix = _interpolation_matrix(factor, width)
    window = matrix.shape[0]
    outputs = n - 1  # instants strictly between samples 0 .. n-1
    rows = -(-outputs // width)
    # The interpolator reaches H - 1 samples before the start and up to H + width after
    # the end (the last row's window); only the nearest H on each side matter.
    head = _extrapolate(column[::-1], half)[::-1]
    tail = np.concatenate((_extrapolate(column, half), np.zeros(width + 1)))
    peak = sample_peak
    # One BLAS call per few dozen rows, small enough that OpenBLAS stays on one thread.
    step = max(1, _BLAS_SINGLE_THREAD_MNK // (window * matrix.shape[1]))
    values = np.empty((_TP_ROWS_PER_CHUNK, matrix.shape[1]), dtype=np.float32)
    for row0 in range(0, rows, _TP_ROWS_PER_CHUNK):
        row1 = min(rows, row0 + _TP_ROWS_PER_CHUNK)
        count = row1 - row0
        start = row0 * width - (half - 1)
        stop = (row1 - 1) * width - (half - 1) + window
        chunk = _extended(column, head, tail, start, stop)
        # Row r is chunk[r * width : r * width + window]; copied so BLAS can take it.
        windows = np.ascontiguousarray(
            as_strided(chunk, shape=(count, window), strides=(width * 4, 4), writeable=False)
        )
        for first in range(0, count, step):
            last = min(count, first + step)
            np.matmul(windows[first:last], matrix, out=values[first:last])
        if row1 == rows and rows * width > outputs:
            # The last row runs past the last sample: drop outputs after it.
            shaped = values[:count].reshape(count, factor - 1, width)
            shaped[-1, :, outputs - (rows - 1) * width :] = 0.0
        peak = max(peak, float(values[:count].max()), float(-values[:count].min()))
    return peak


def _extrapolate(column: np.ndarray, count: int) -> FloatArray:
    """``count`` samples continuing ``column`` past its end, by linear prediction.

    The true peak near an edge depends on what the interpolator assumes lies beyond it.
    Zeros turn a cut-off signal into a step that rings (a sine cut at its crest reads
    ~1 dB high), and a mirror image folds a high-frequency sine into a kink (up to 1 dB
    high at 12-18 kHz). A Burg predictor (order <= 32, fitted on the last 1024 samples)
    continues sines almost exactly and noise plausibly; Burg's filter is always stable,
    and the output is clipped to the peak of the fitted stretch, so it cannot add a peak
    of its own. (Burg rather than least squares: LAPACK's threaded solvers stall for
    tens of milliseconds when the cores are busy.)
    """
    span = np.asarray(column[-_TP_PREDICTOR_SPAN:], dtype=np.float64)
    limit = float(np.abs(span).max()) if span.size else 0.0
    order = min(_TP_PREDICTOR_ORDER, span.size // 4)
    if order < 1 or limit == 0.0:
        return np.full(count, span[-1] if span.size else 0.0)
    predictor = _burg(span, order)  # x[n] ~ predictor @ x[n-order : n]
    buffer = np.concatenate((span[-order:], np.zeros(count)))
    for i in range(count):
        predicted = float(np.dot(predictor, buffer[i : i + order]))
        buffer[order + i] = min(limit, max(-limit, predicted))
    return buffer[order:]


def _burg(x: FloatArray, order: int) -> FloatArray:
    """Burg's method: coefficients ``c`` with ``x[n] ~ c @ x[n - order : n]``.

    Reflection coefficients minimise the forward plus backward prediction error at each
    order (Burg 1967; e.g. Kay, Modern Spectral Estimation, §7.4), so ``|k| <= 1`` and
    the predictor is minimum-phase: its continuation never grows without bound.
    """
    forward = x.copy()
    backward = x.copy()
    a = np.ones(1)  # prediction-error filter, a[0] = 1
    for m in range(1, order + 1):
        f = forward[m:].copy()
        b = backward[m - 1 : -1].copy()
        energy = float(np.dot(f, f) + np.dot(b, b))
        k = -2.0 * float(np.dot(b, f)) / energy if energy > 0.0 else 0.0
        forward[m:] = f + k * b
        backward[m:] = b + k * f
        a = np.append(a, 0.0)
        a = a + k * a[::-1]
    # e[n] = sum_i a[i] x[n - i]  =>  x[n] ~ -sum_{i >= 1} a[i] x[n - i], oldest first.
    return -a[:0:-1]


def _extended(
    column: np.ndarray, head: FloatArray, tail: FloatArray, start: int, stop: int
) -> NDArray[np.float32]:
    """``column[start:stop]`` as float32, with ``head`` before index 0 and ``tail`` after."""
    n = column.shape[0]
    if start >= 0 and stop <= n:
        return column[start:stop].astype(np.float32)
    parts = []
    if start < 0:
        parts.append(head[head.size + start :])
    parts.append(column[max(start, 0) : min(stop, n)])
    if stop > n:
        parts.append(tail[: stop - n])
    return np.concatenate(parts).astype(np.float32)
