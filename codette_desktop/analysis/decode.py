"""Turn the wire ``audio`` object of an ``analyze`` request into samples.

The wire object (PROTOCOL.md, ``analyze``) is::

    {"format": "wav" | "flac" | "pcm_f32le" | "pcm_s16le",
     "data": "<base64>",
     "sample_rate": int,   # raw PCM only
     "channels": int}      # raw PCM only

Two kinds of failure, so the client knows whose fault it is:

- ``invalid_field`` (with ``field``): the request itself is malformed — unknown format,
  data that is not base64, a missing or non-integer rate/channel count for raw PCM, or a
  PCM byte count that is not a whole number of frames. The client should fix the request.
- ``analysis_failed``: the request is well formed but the audio is unusable — a corrupt or
  truncated WAV/FLAC, no frames, NaN/inf samples, more than 8 channels or a rate outside
  8–192 kHz. The client should send different audio.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile

from codette_desktop.errors import AnalysisError

AUDIO_FORMATS = ("wav", "flac", "pcm_f32le", "pcm_s16le")
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8

# Bytes per sample of each raw PCM format, little-endian numpy dtype.
_PCM_DTYPES: dict[str, tuple[str, int]] = {"pcm_f32le": ("<f4", 4), "pcm_s16le": ("<i2", 2)}


# eq=False: comparing two buffers field by field would compare arrays element-wise and
# raise; identity is the only meaningful equality for a block of samples.
@dataclass(frozen=True, eq=False)
class AudioBuffer:
    """Decoded audio, validated on construction.

    ``samples`` is float64 with shape ``(frames, channels)``, full scale ±1.0, finite,
    at least one frame and 1–8 channels; ``sample_rate`` is 8000–192000 Hz. Build one with
    :func:`decode_audio` (wire data) or directly from an array (captured audio); either way
    an invalid buffer raises :class:`~codette_desktop.errors.AnalysisError`.
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim == 1:
            samples = samples[:, np.newaxis]
        if samples.ndim != 2:
            raise AnalysisError(
                f"audio samples must have shape (frames, channels), got {samples.shape}"
            )
        if samples.dtype != np.float64:
            samples = samples.astype(np.float64)
        # Frozen dataclass: normalise the array in place of the caller's value.
        object.__setattr__(self, "samples", samples)
        _check_rate(self.sample_rate, field=None)
        frames, channels = samples.shape
        _check_channels(channels, field=None)
        if frames == 0:
            raise AnalysisError("no audio frames")
        if not np.isfinite(samples).all():
            raise AnalysisError("audio contains NaN or infinite samples")

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def decode_audio(audio: dict[str, Any]) -> AudioBuffer:
    """Decode the wire ``audio`` object into an :class:`AudioBuffer`.

    Raises :class:`AnalysisError` with ``code="invalid_field"`` and ``field`` set to
    ``audio.format``/``audio.data``/``audio.sample_rate``/``audio.channels`` when the request
    is malformed, and with ``code="analysis_failed"`` when the audio itself is unusable.
    """
    if not isinstance(audio, dict):
        raise AnalysisError("audio must be an object", code="invalid_field", field="audio")
    fmt = audio.get("format")
    if not isinstance(fmt, str) or fmt not in AUDIO_FORMATS:
        raise AnalysisError(
            f"audio.format must be one of {', '.join(AUDIO_FORMATS)}; got {fmt!r}",
            code="invalid_field",
            field="audio.format",
        )
    raw = _decode_base64(audio.get("data"))
    if fmt in _PCM_DTYPES:
        return _decode_pcm(
            raw, fmt=fmt, sample_rate=audio.get("sample_rate"), channels=audio.get("channels")
        )
    return _decode_container(raw, fmt=fmt)


def _decode_base64(data: object) -> bytes:
    if not isinstance(data, str):
        raise AnalysisError(
            "audio.data must be a base64 string", code="invalid_field", field="audio.data"
        )
    try:
        # validate=True rejects stray characters instead of silently dropping them,
        # which would turn a corrupted upload into different (wrong) audio.
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnalysisError(
            f"audio.data is not valid base64: {exc}", code="invalid_field", field="audio.data"
        ) from exc


def _decode_pcm(raw: bytes, *, fmt: str, sample_rate: object, channels: object) -> AudioBuffer:
    rate = _require_positive_int(sample_rate, field="audio.sample_rate", what="sample rate")
    n_channels = _require_positive_int(channels, field="audio.channels", what="channel count")
    _check_rate(rate, field="audio.sample_rate")
    _check_channels(n_channels, field="audio.channels")
    dtype, width = _PCM_DTYPES[fmt]
    frame_bytes = width * n_channels
    if len(raw) % frame_bytes:
        raise AnalysisError(
            f"audio.data holds {len(raw)} bytes, not a whole number of {frame_bytes}-byte "
            f"frames ({n_channels} channel(s) of {fmt})",
            code="invalid_field",
            field="audio.data",
        )
    if not raw:
        raise AnalysisError("no audio frames", field="audio.data")
    samples = np.frombuffer(raw, dtype=dtype).reshape(-1, n_channels).astype(np.float64)
    if fmt == "pcm_s16le":
        # 16-bit full scale is 32768 (AES17 convention: -32768 maps to exactly -1.0).
        samples /= 32768.0
    return AudioBuffer(samples=samples, sample_rate=rate)


def _decode_container(raw: bytes, *, fmt: str) -> AudioBuffer:
    if not raw:
        raise AnalysisError(f"no audio frames (empty {fmt.upper()} data)", field="audio.data")
    try:
        with soundfile.SoundFile(io.BytesIO(raw)) as sound:
            rate = int(sound.samplerate)
            n_channels = int(sound.channels)
            # Check before reading so a hostile header cannot make us allocate
            # a huge array for, say, 65535 channels.
            _check_rate(rate, field="audio.data")
            _check_channels(n_channels, field="audio.data")
            samples = sound.read(dtype="float64", always_2d=True)
        if samples.shape[0] == 0:
            raise AnalysisError(f"no audio frames in the {fmt.upper()} data", field="audio.data")
    except AnalysisError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AnalysisError(
            f"could not decode the {fmt.upper()} data: {exc}", field="audio.data"
        ) from exc
    return AudioBuffer(samples=samples, sample_rate=rate)


def _require_positive_int(value: object, *, field: str, what: str) -> int:
    # bool is an int subclass; "channels": true is a client bug, not 1 channel.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AnalysisError(
            f"{field} must be a positive integer {what} for raw PCM; got {value!r}",
            code="invalid_field",
            field=field,
        )
    return value


def _check_rate(rate: object, *, field: str | None) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise AnalysisError(f"sample rate must be an integer, got {rate!r}", field=field)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AnalysisError(
            f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
            field=field,
        )


def _check_channels(channels: int, *, field: str | None) -> None:
    if not 1 <= channels <= MAX_CHANNELS:
        raise AnalysisError(
            f"audio has {channels} channels; 1 to {MAX_CHANNELS} are supported", field=field
        )
