"""Audio sent for analysis: the wire ``audio`` object of an ``analyze`` request."""

from __future__ import annotations

from dataclasses import dataclass

from codette_desktop.domain.fields import WireFields
from codette_desktop.errors import ProtocolError

AUDIO_FORMATS = ("wav", "flac", "pcm_f32le", "pcm_s16le")
RAW_PCM_FORMATS = ("pcm_f32le", "pcm_s16le")
ANALYSIS_TYPES = ("spectrum", "dynamic", "loudness", "quality", "full")
# The contract's minimum is 8 kHz-192 kHz and 1-8 channels (PROTOCOL.md, analyze); looser
# wire bounds here only keep absurd values out, the decoder says why a value is unusable.
MAX_WIRE_SAMPLE_RATE = 10_000_000
MAX_WIRE_CHANNELS = 1024


@dataclass(frozen=True, slots=True, repr=False)
class AudioPayload:
    """Encoded audio: a WAV/FLAC file or raw PCM, as base64 text (``data``) or, for a
    binary upload, as the path of the spooled file (``path``). Exactly one is set.

    Raw PCM needs ``sample_rate`` and ``channels``; containers carry their own.
    """

    format: str
    data: str | None = None
    path: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        if self.format not in AUDIO_FORMATS:
            raise ProtocolError(
                "invalid_field", f"Field 'audio.format' must be one of: {', '.join(AUDIO_FORMATS)}",
                field="audio.format")
        if (self.data is None) == (self.path is None):
            raise ProtocolError("invalid_field", "Field 'audio.data' is required",
                                field="audio.data")

    @classmethod
    def from_wire(cls, f: WireFields) -> AudioPayload:
        fmt = f.string("format", max_len=32)
        if fmt is None or fmt not in AUDIO_FORMATS:
            raise f.bad("format", f"one of: {', '.join(AUDIO_FORMATS)}")
        data = f.string("data", required=True, max_len=1 << 40)
        return cls(
            format=fmt,
            data=data,
            sample_rate=f.integer("sample_rate", low=1, high=MAX_WIRE_SAMPLE_RATE),
            channels=f.integer("channels", low=1, high=MAX_WIRE_CHANNELS),
        )

    def without_data(self) -> AudioPayload:
        """The same description with a placeholder for the samples (cheap to pass around)."""
        return AudioPayload(format=self.format, data="", sample_rate=self.sample_rate,
                            channels=self.channels)

    def __repr__(self) -> str:  # never print megabytes of base64 into a log
        size = len(self.data) if self.data is not None else None
        where = f"data={size} chars" if size is not None else f"path={self.path!r}"
        return f"AudioPayload(format={self.format!r}, {where})"


# An upload's size is checked against the user's setting by the server; this only keeps
# absurd values out.
MAX_WIRE_UPLOAD_BYTES = 1 << 40


@dataclass(frozen=True, slots=True)
class UploadHeader:
    """``analyze.upload``: the file follows in binary frames (WebSocket) or is the body
    (HTTP), ``size_bytes`` long, in ``format``."""

    format: str
    size_bytes: int
    sample_rate: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        if self.format not in AUDIO_FORMATS:
            raise ProtocolError(
                "invalid_field",
                f"Field 'upload.format' must be one of: {', '.join(AUDIO_FORMATS)}",
                field="upload.format")
        if not 0 < self.size_bytes <= MAX_WIRE_UPLOAD_BYTES:
            raise ProtocolError("invalid_field", "Field 'upload.size' must be a positive "
                                "number of bytes", field="upload.size")

    @classmethod
    def from_wire(cls, f: WireFields) -> UploadHeader:
        fmt = f.string("format", max_len=32)
        if fmt is None or fmt not in AUDIO_FORMATS:
            raise f.bad("format", f"one of: {', '.join(AUDIO_FORMATS)}")
        size = f.integer("size", low=1, high=MAX_WIRE_UPLOAD_BYTES)
        if size is None:
            raise f.missing("size")
        return cls(format=fmt, size_bytes=size,
                   sample_rate=f.integer("sample_rate", low=1, high=MAX_WIRE_SAMPLE_RATE),
                   channels=f.integer("channels", low=1, high=MAX_WIRE_CHANNELS))

    def payload(self, path: str) -> AudioPayload:
        """The uploaded file as the audio of an analysis."""
        return AudioPayload(format=self.format, path=path, sample_rate=self.sample_rate,
                            channels=self.channels)
