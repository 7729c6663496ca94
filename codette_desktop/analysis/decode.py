"""Turn the wire ``audio`` object of an ``analyze`` request into samples.

The wire object (PROTOCOL.md, ``analyze``) is::

    {"format": "wav" | "flac" | "pcm_f32le" | "pcm_s16le",
     "data": "<base64>",
     "sample_rate": int,   # raw PCM only
     "channels": int}      # raw PCM only

A binary upload (``analyze.upload``) arrives as the same object with ``"path"`` (the file
the server spooled it to) instead of ``"data"``; its errors name the upload's fields
(``upload.format``, ``upload``, ...). The server sets ``path``; the wire never carries it.

Three kinds of failure, so the client knows whose fault it is and what to do:

- ``invalid_field`` (with ``field``): the request itself is malformed — unknown format,
  data that is not base64, a container that is not the declared format (a FLAC file sent
  as ``wav``: ``audio.format``), a missing or non-integer rate/channel count for raw PCM,
  or a PCM byte count that is not a whole number of frames. The client should fix the
  request.
- ``payload_too_large``: the audio is longer than :data:`MAX_DURATION_S` or holds more
  than :data:`MAX_SAMPLES` samples. Known from the header (or the byte count of raw PCM)
  before a single sample is decoded, so a small compressed file that expands to gigabytes
  costs nothing. The client should send an excerpt.
- ``analysis_failed``: the request is well formed but the audio is unusable — a corrupt or
  truncated WAV/FLAC, no frames, NaN/inf samples, more than 8 channels or a rate outside
  8–192 kHz. The client should send different audio.

Samples are decoded as float32, block by block into one preallocated array: exact for
8/16/24-bit and float files, and half the memory of float64 (sums that need float64
precision take it block by block, see :mod:`.blocks`).
"""

from __future__ import annotations

import base64
import binascii
import io
import mmap
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile

from codette_desktop.errors import AnalysisError

from .blocks import BLOCK_FRAMES, row_blocks

AUDIO_FORMATS = ("wav", "flac", "pcm_f32le", "pcm_s16le")
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8
# The longest audio analysed: a 10-minute mix with room to spare. Longer material (a DJ
# set, a live recording) is meant to be sent as an excerpt.
MAX_DURATION_S = 20 * 60
# The most samples (frames × channels) in one buffer: 2**26 float32 values are 256 MiB.
# Enough for a 10-minute 48 kHz stereo mix (57.6 M) and for the largest WAV the contract
# lets through (128 MiB of base64 = 96 MiB of 16-bit PCM = 50.3 M), and small enough that
# the buffer, the wire data it came from and the analysis's working set stay within the
# worker's memory limit (``services.analysis_pool.WORKER_MEMORY_LIMIT``, 2 GiB: the
# buffer is at most a quarter of it).
MAX_SAMPLES = 1 << 26

# Bytes per sample of each raw PCM format, little-endian numpy dtype.
_PCM_DTYPES: dict[str, tuple[str, int]] = {"pcm_f32le": ("<f4", 4), "pcm_s16le": ("<i2", 2)}
# libsndfile's frame count for a stream that does not declare its length (a FLAC whose
# STREAMINFO says 0 samples): SF_COUNT_MAX.
_UNKNOWN_LENGTH = sys.maxsize
# Names of the containers recognised by their first bytes (:func:`container_kind`).
_KIND_NAMES = {"wav": "WAV", "flac": "FLAC", "ogg": "Ogg", "aiff": "AIFF", "mp3": "MP3",
               "caf": "CAF", "mp4": "MP4/M4A"}
_RIFF_MAGICS = (b"RIFF", b"RIFX", b"RF64", b"BW64")
_W64_MAGIC = bytes.fromhex("726966662e91cf11a5d628db04c10000")  # Sony Wave64's "riff" GUID


@dataclass(frozen=True)
class _Fields:
    """The request fields a decoding error names, for base64 audio or an upload."""

    format: str
    data: str
    sample_rate: str
    channels: str


_WIRE = _Fields("audio.format", "audio.data", "audio.sample_rate", "audio.channels")
_UPLOAD = _Fields("upload.format", "upload", "upload.sample_rate", "upload.channels")


# eq=False: comparing two buffers field by field would compare arrays element-wise and
# raise; identity is the only meaningful equality for a block of samples.
@dataclass(frozen=True, eq=False)
class AudioBuffer:
    """Decoded audio, validated on construction.

    ``samples`` is float32 with shape ``(frames, channels)``, full scale ±1.0, finite,
    at least one frame, 1–8 channels and within :data:`MAX_DURATION_S` and
    :data:`MAX_SAMPLES`; ``sample_rate`` is 8000–192000 Hz. Build one with
    :func:`decode_audio` (wire data) or directly from an array (captured audio, any float
    dtype); either way an invalid buffer raises :class:`~codette_desktop.errors.AnalysisError`.
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
        _check_rate(self.sample_rate, field=None)
        frames, channels = samples.shape
        _check_channels(channels, field=None)
        if frames == 0:
            raise AnalysisError("no audio frames")
        # Before the conversion, which may copy.
        check_size(frames=frames, channels=channels, sample_rate=int(self.sample_rate),
                   field=None)
        samples = np.asarray(samples, dtype=np.float32)
        # Frozen dataclass: normalise the array in place of the caller's value.
        object.__setattr__(self, "samples", samples)
        # Block by block: np.isfinite of the whole buffer would be a second buffer.
        if not all(np.isfinite(block).all() for block in row_blocks(samples)):
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
    """Decode the wire ``audio`` object (or a spooled upload) into an :class:`AudioBuffer`.

    Raises :class:`AnalysisError` with ``code="invalid_field"`` and ``field`` set to
    ``audio.format``/``audio.data``/``audio.sample_rate``/``audio.channels`` (``upload.*``
    for an upload) when the request is malformed, ``code="payload_too_large"`` when the
    audio is too long to analyse, and ``code="analysis_failed"`` when the audio itself is
    unusable.
    """
    if not isinstance(audio, dict):
        raise AnalysisError("audio must be an object", code="invalid_field", field="audio")
    path = audio.get("path")
    fields = _WIRE if path is None else _UPLOAD
    fmt = audio.get("format")
    if not isinstance(fmt, str) or fmt not in AUDIO_FORMATS:
        raise AnalysisError(
            f"{fields.format} must be one of {', '.join(AUDIO_FORMATS)}; got {fmt!r}",
            code="invalid_field",
            field=fields.format,
        )
    if path is not None:
        return _decode_file(str(path), fmt=fmt, audio=audio)
    return _decode_bytes(_decode_base64(audio.get("data")), fmt=fmt, audio=audio,
                         fields=_WIRE, source=None)


def _decode_bytes(raw: bytes | mmap.mmap, *, fmt: str, audio: dict[str, Any],
                  fields: _Fields, source: str | None) -> AudioBuffer:
    """``source``: the file ``raw`` maps, for libsndfile to read itself (no copy)."""
    if fmt in _PCM_DTYPES:
        return _decode_pcm(raw, fmt=fmt, sample_rate=audio.get("sample_rate"),
                           channels=audio.get("channels"), fields=fields)
    return _decode_container(raw, fmt=fmt, fields=fields, source=source)


def _decode_file(path: str, *, fmt: str, audio: dict[str, Any]) -> AudioBuffer:
    """A spooled upload: mapped, not read into memory, and checked like base64 data."""
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                return _decode_bytes(b"", fmt=fmt, audio=audio, fields=_UPLOAD, source=path)
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                buffer = _decode_bytes(mapped, fmt=fmt, audio=audio, fields=_UPLOAD,
                                       source=path)
    except OSError as exc:
        raise AnalysisError(f"the uploaded file could not be read ({exc.strerror})",
                            field=_UPLOAD.data) from exc
    return buffer


def check_size(*, frames: int, channels: int, sample_rate: int, field: str | None) -> None:
    """Raise ``payload_too_large`` if the audio is over :data:`MAX_DURATION_S` or
    :data:`MAX_SAMPLES`; the message names the numbers and the limit."""
    seconds = frames / sample_rate
    shape = f"{channels} channel{'s' if channels != 1 else ''} × {sample_rate} Hz × {seconds:.0f} s"
    if seconds > MAX_DURATION_S:
        raise AnalysisError(
            f"{shape} is over the {MAX_DURATION_S // 60}-minute limit; send an excerpt",
            code="payload_too_large",
            field=field,
        )
    if frames * channels > MAX_SAMPLES:
        stereo_minutes = MAX_SAMPLES / (2 * 48_000) / 60
        raise AnalysisError(
            f"{shape} is {frames * channels / 1e6:.1f} million samples, over the limit of "
            f"{MAX_SAMPLES / 1e6:.1f} million ({stereo_minutes:.1f} minutes of 48 kHz "
            "stereo); send a shorter excerpt",
            code="payload_too_large",
            field=field,
        )


def container_kind(raw: bytes | mmap.mmap) -> str | None:
    """The container ``raw`` starts like (a key of ``_KIND_NAMES``), or None if unknown."""
    if raw[:3] == b"ID3" and len(raw) >= 10:
        # An ID3v2 tag (FLAC and MP3 may carry one): look past it. Its size is "syncsafe"
        # (7 bits per byte), plus 10 bytes of footer if flagged. One tag only: a chain of
        # them is not a file anyone sends.
        size = 10 + sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(raw[6:10]))
        size += 10 if raw[5] & 0x10 else 0
        return _kind_from_magic(raw[size : size + 16]) or "mp3"
    return _kind_from_magic(raw[:16])


def _kind_from_magic(head: bytes) -> str | None:
    if (head[:4] in _RIFF_MAGICS and head[8:12] == b"WAVE") or head == _W64_MAGIC:
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"caff":
        return "caf"
    if head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG frame sync
        return "mp3"
    return None


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


def _decode_pcm(raw: bytes | mmap.mmap, *, fmt: str, sample_rate: object, channels: object,
                fields: _Fields) -> AudioBuffer:
    rate = _require_positive_int(sample_rate, field=fields.sample_rate, what="sample rate")
    n_channels = _require_positive_int(channels, field=fields.channels, what="channel count")
    _check_rate(rate, field=fields.sample_rate)
    _check_channels(n_channels, field=fields.channels)
    dtype, width = _PCM_DTYPES[fmt]
    frame_bytes = width * n_channels
    if len(raw) % frame_bytes:
        raise AnalysisError(
            f"{fields.data} holds {len(raw)} bytes, not a whole number of {frame_bytes}-byte "
            f"frames ({n_channels} channel(s) of {fmt})",
            code="invalid_field",
            field=fields.data,
        )
    if not len(raw):
        raise AnalysisError("no audio frames", field=fields.data)
    check_size(frames=len(raw) // frame_bytes, channels=n_channels, sample_rate=rate,
               field=fields.data)
    wire = np.frombuffer(raw, dtype=dtype).reshape(-1, n_channels)
    if fmt == "pcm_s16le":
        # 16-bit full scale is 32768 (AES17 convention: -32768 maps to exactly -1.0); a
        # power of two, so the float32 result is exact.
        samples = np.multiply(wire, np.float32(1.0 / 32768.0), dtype=np.float32)
    elif isinstance(raw, bytes):
        samples = wire  # already float32: no copy (read-only, as nothing writes to it)
    else:
        samples = wire.copy()  # not a view of a mapping that closes when we return
    return AudioBuffer(samples=samples, sample_rate=rate)


def _decode_container(raw: bytes | mmap.mmap, *, fmt: str, fields: _Fields,
                      source: str | None) -> AudioBuffer:
    name = _KIND_NAMES[fmt]
    if not len(raw):
        raise AnalysisError(f"no audio frames (empty {name} data)", field=fields.data)
    _check_container(raw, fmt=fmt, fields=fields)
    try:
        with soundfile.SoundFile(source if source is not None else io.BytesIO(raw)) as sound:
            rate = int(sound.samplerate)
            n_channels = int(sound.channels)
            frames = int(sound.frames)
            # Check the header before reading, so a hostile one (65535 channels, or hours
            # of compressed silence) cannot make us allocate a huge array.
            _check_rate(rate, field=fields.data)
            _check_channels(n_channels, field=fields.data)
            if frames >= _UNKNOWN_LENGTH:
                # Reading on and counting would work, but libsndfile cannot seek in such a
                # stream and soundfile seeks after every read.
                raise AnalysisError(
                    f"the {name} data does not say how long it is (a streamed {name}); "
                    "send it as a complete file", field=fields.data)
            check_size(frames=frames, channels=n_channels, sample_rate=rate, field=fields.data)
            samples = _read_float32(sound, frames=frames, channels=n_channels)
        if samples.shape[0] == 0:
            raise AnalysisError(f"no audio frames in the {name} data", field=fields.data)
    except AnalysisError:
        raise
    except soundfile.LibsndfileError as exc:
        # error_string, not str(exc): that names the BytesIO object and its heap address.
        raise AnalysisError(
            f"could not decode the {name} data: {exc.error_string}", field=fields.data
        ) from exc
    except (RuntimeError, TypeError, ValueError) as exc:
        raise AnalysisError(
            f"could not decode the {name} data ({type(exc).__name__})", field=fields.data
        ) from exc
    return AudioBuffer(samples=samples, sample_rate=rate)


def _check_container(raw: bytes | mmap.mmap, *, fmt: str, fields: _Fields) -> None:
    """The data must be the declared container, checked before libsndfile parses it."""
    kind = container_kind(raw)
    if kind == fmt:
        return
    name = _KIND_NAMES[fmt]
    if kind is None:
        raise AnalysisError(f"the data is not a {name} file (no {name} header)",
                            field=fields.data)
    raise AnalysisError(
        f"{fields.format} is {fmt!r} but the data is a {_KIND_NAMES[kind]} file; "
        "declare its real format or convert it",
        code="invalid_field",
        field=fields.format,
    )


def _read_float32(sound: soundfile.SoundFile, *, frames: int, channels: int) -> np.ndarray:
    """The first ``frames`` frames of ``sound`` as float32, ``(frames, channels)``.

    ``frames`` is the header's count: the array is allocated once and filled block by
    block, never past it (a header that claims less than the stream holds gets only what
    it claims; one that claims more, a truncated file, gets what is there).
    """
    out = np.empty((frames, channels), dtype=np.float32)
    filled = 0
    while filled < frames:
        got = sound.read(out=out[filled : filled + BLOCK_FRAMES]).shape[0]
        if got == 0:
            break
        filled += got
    return out[:filled]


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
