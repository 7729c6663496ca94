"""Client → server messages: decoding and validation, without I/O.

:func:`decode` turns one text frame into a frozen request object (one class per message
type, validated on construction) or raises :class:`ProtocolError` carrying the wire error
code, the offending field and the request ``id``, ready for :func:`replies.error`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from codette_desktop.errors import ProtocolError

RequestId = str | int | float | None

ANALYSIS_TYPES = ("spectrum", "dynamic", "loudness", "quality", "full")
AUDIO_FORMATS = ("wav", "flac", "pcm_f32le", "pcm_s16le")
SUBSCRIPTION_EVENTS = ("server_status", "audio_levels", "connections")
MAX_CHAT_CHARS = 8000
MAX_CAPTURE_SECONDS = 60.0
MAX_LEVELS_RATE_HZ = 30.0
DEFAULT_LEVELS_RATE_HZ = 30.0


@dataclass(frozen=True)
class Request:
    id: RequestId


@dataclass(frozen=True)
class Ping(Request):
    pass


@dataclass(frozen=True)
class Status(Request):
    pass


@dataclass(frozen=True)
class Perspectives(Request):
    pass


@dataclass(frozen=True)
class Devices(Request):
    pass


@dataclass(frozen=True)
class CaptureStop(Request):
    pass


@dataclass(frozen=True)
class Chat(Request):
    message: str
    perspective: str | None = None
    daw_context: dict[str, Any] | None = None
    session_id: str | None = None
    stream: bool = False


@dataclass(frozen=True)
class Analyze(Request):
    track: dict[str, Any] = field(default_factory=dict)
    audio_data: dict[str, Any] | None = None
    analysis_type: str = "full"
    audio: dict[str, Any] | None = None
    capture_seconds: float | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class History(Request):
    session_id: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class CaptureStart(Request):
    device: int | str | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class Subscribe(Request):
    events: tuple[str, ...]
    rate_hz: float | None = None
    unsubscribe: bool = False


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity literals, which are not JSON (RFC 8259 §6).
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_json", "Invalid JSON format") from None


def decode(text: str) -> Request:
    """Parse and validate one client text frame."""
    return decode_object(parse_json(text))


def peek_type(obj: Any) -> str | None:
    return obj.get("type") if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None


def decode_object(obj: Any) -> Request:
    if not isinstance(obj, dict):
        raise ProtocolError("invalid_message", "A message must be a JSON object")
    request_id = obj.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, str | int | float)
    ):
        raise ProtocolError("invalid_field", "'id' must be a string or a number", field="id")
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(
            "invalid_message", "A message needs a string 'type'", request_id=request_id
        )
    # compat: the existing frontend nests fields in "data"; top-level fields win.
    envelope = obj.get("data")
    fields = {**envelope, **obj} if isinstance(envelope, dict) else dict(obj)
    parser = _PARSERS.get(type_)
    if parser is None:
        raise ProtocolError(
            "unknown_type", f"Unknown message type: {type_}", request_id=request_id
        )
    try:
        return parser(request_id, _Fields(fields))
    except ProtocolError as exc:
        exc.request_id = request_id
        raise


class _Fields:
    """Typed access to a message's fields; every failure names the field."""

    def __init__(self, values: Mapping[str, Any], prefix: str = "") -> None:
        self.values = values
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def bad(self, key: str, expected: str) -> ProtocolError:
        return ProtocolError(
            "invalid_field", f"Field '{self.name(key)}' must be {expected}", field=self.name(key)
        )

    def string(self, key: str, *, required: bool = False, max_len: int = 256) -> str | None:
        value = self.values.get(key)
        if value is None:
            if required:
                raise ProtocolError(
                    "invalid_field", f"Field '{self.name(key)}' is required",
                    field=self.name(key),
                )
            return None
        if not isinstance(value, str):
            raise self.bad(key, "a string")
        if len(value) > max_len:
            raise self.bad(key, f"at most {max_len} characters")
        return value

    def number(
        self, key: str, *, low: float = -math.inf, high: float = math.inf
    ) -> float | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.bad(key, "a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise self.bad(key, f"a number from {low:g} to {high:g}")
        return float(value)

    def integer(self, key: str, *, low: int, high: int) -> int | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.bad(key, f"an integer from {low} to {high}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.bad(key, "true or false")
        return value

    def obj(self, key: str) -> _Fields | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.bad(key, "an object")
        return _Fields(value, f"{self.name(key)}.")

    def array(self, key: str) -> list[Any] | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.bad(key, "a list")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(key)
        if value is None:
            return default
        if value not in options:
            raise ProtocolError(
                "invalid_field",
                f"Field '{self.name(key)}' must be one of: {', '.join(options)}",
                field=self.name(key),
            )
        return value


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _track(f: _Fields) -> dict[str, Any]:
    track_id = f.values.get("id")
    if track_id is not None and (isinstance(track_id, bool) or not isinstance(track_id, str | int)):
        raise f.bad("id", "a string or an integer")
    plugins = f.array("plugins")
    if plugins is not None and not all(isinstance(p, str) for p in plugins):
        raise f.bad("plugins", "a list of strings")
    return _drop_none({
        "id": track_id,
        "name": f.string("name"),
        "type": f.string("type", max_len=64),
        "volume": f.number("volume", low=-200, high=60),
        "pan": f.number("pan", low=-100, high=100),
        "muted": f.boolean("muted"),
        "soloed": f.boolean("soloed"),
        "peak_level": f.number("peak_level", low=-400, high=60),
        "rms_level": f.number("rms_level", low=-400, high=60),
        "plugins": plugins,
    })


def _daw_context(f: _Fields) -> dict[str, Any]:
    tracks_raw = f.array("tracks") or []
    if len(tracks_raw) > 1000:
        raise f.bad("tracks", "a list of at most 1000 tracks")
    tracks = []
    for index, raw in enumerate(tracks_raw):
        if not isinstance(raw, dict):
            raise f.bad(f"tracks[{index}]", "a track object")
        tracks.append(_track(_Fields(raw, f.name(f"tracks[{index}]."))))
    selected = f.obj("selected_track")
    return {
        "tracks": tracks,
        "selected_track": _track(selected) if selected is not None else None,
        "bpm": f.number("bpm", low=1, high=999),
        "genre": f.string("genre", max_len=64),
        "project_name": f.string("project_name"),
    }


def _chat(rid: RequestId, f: _Fields) -> Chat:
    message = f.string("message", required=True, max_len=MAX_CHAT_CHARS)
    assert message is not None
    if not message.strip():
        raise f.bad("message", "a non-empty string")
    context = f.obj("daw_context")
    return Chat(
        id=rid,
        message=message.strip(),
        perspective=f.string("perspective", max_len=64),
        daw_context=_daw_context(context) if context is not None else None,
        session_id=f.string("session_id", max_len=128),
        stream=bool(f.boolean("stream")),
    )


def _analyze(rid: RequestId, f: _Fields) -> Analyze:
    track = f.obj("track_data")
    track_values: dict[str, Any] = {}
    if track is not None:
        track_id = track.values.get("track_id")
        if track_id is not None and (
            isinstance(track_id, bool) or not isinstance(track_id, str | int)
        ):
            raise track.bad("track_id", "a string or an integer")
        track_values = _drop_none({
            "track_id": track_id,
            "track_name": track.string("track_name"),
            "track_type": track.string("track_type", max_len=64),
            "muted": track.boolean("muted"),
            "soloed": track.boolean("soloed"),
        })
    levels = f.obj("audio_data")
    audio_data = None
    if levels is not None:
        audio_data = {
            "peak_level": levels.number("peak_level", low=-400, high=60),
            "rms_level": levels.number("rms_level", low=-400, high=60),
            "duration": levels.number("duration", low=0, high=24 * 3600),
            "sample_rate": levels.integer("sample_rate", low=1, high=1_000_000),
        }
    audio = f.obj("audio")
    audio_values = None
    if audio is not None:
        audio_values = {
            "format": audio.choice("format", AUDIO_FORMATS, ""),
            "data": audio.string("data", required=True, max_len=1 << 40),
            "sample_rate": audio.integer("sample_rate", low=1, high=10_000_000),
            "channels": audio.integer("channels", low=1, high=1024),
        }
        if not audio_values["format"]:
            raise audio.bad("format", f"one of: {', '.join(AUDIO_FORMATS)}")
    source = f.string("source", max_len=32)
    seconds = None
    if source is not None:
        if source != "capture":
            raise f.bad("source", "\"capture\"")
        if audio is not None:
            raise ProtocolError(
                "invalid_field", "Send at most one audio source: 'audio' or 'source'",
                field="source",
            )
        seconds = f.number("seconds", low=0.1, high=MAX_CAPTURE_SECONDS) or 10.0
    return Analyze(
        id=rid,
        track=track_values,
        audio_data=audio_data,
        analysis_type=f.choice("analysis_type", ANALYSIS_TYPES, "full"),
        audio=audio_values,
        capture_seconds=seconds,
        session_id=f.string("session_id", max_len=128),
    )


def _history(rid: RequestId, f: _Fields) -> History:
    return History(
        id=rid,
        session_id=f.string("session_id", max_len=128),
        limit=f.integer("limit", low=1, high=1000) or 50,
    )


def _capture_start(rid: RequestId, f: _Fields) -> CaptureStart:
    device = f.values.get("device")
    if device is not None and (
        isinstance(device, bool) or not isinstance(device, int | str) or
        (isinstance(device, int) and device < 0)
    ):
        raise f.bad("device", "a device index (integer ≥ 0) or a device name")
    return CaptureStart(
        id=rid,
        device=device,
        sample_rate=f.integer("sample_rate", low=8000, high=192000),
        channels=f.integer("channels", low=1, high=8),
    )


def _subscription(unsubscribe: bool) -> Any:
    def parse(rid: RequestId, f: _Fields) -> Subscribe:
        events = f.array("events")
        if events is None:
            raise ProtocolError("invalid_field", "Field 'events' is required", field="events")
        for name in events:
            if name not in SUBSCRIPTION_EVENTS:
                raise ProtocolError(
                    "invalid_field",
                    f"Unknown event {name!r}; valid events: {', '.join(SUBSCRIPTION_EVENTS)}",
                    field="events",
                )
        rate = f.number("rate_hz", low=0.01, high=1000)
        return Subscribe(
            id=rid,
            events=tuple(dict.fromkeys(events)),
            rate_hz=None if rate is None else min(rate, MAX_LEVELS_RATE_HZ),
            unsubscribe=unsubscribe,
        )

    return parse


_PARSERS: dict[str, Any] = {
    "ping": lambda rid, f: Ping(rid),
    "status": lambda rid, f: Status(rid),
    "get_status": lambda rid, f: Status(rid),  # compat alias
    "perspectives": lambda rid, f: Perspectives(rid),
    "devices": lambda rid, f: Devices(rid),
    "capture_stop": lambda rid, f: CaptureStop(rid),
    "chat": _chat,
    "analyze": _analyze,
    "history": _history,
    "capture_start": _capture_start,
    "subscribe": _subscription(unsubscribe=False),
    "unsubscribe": _subscription(unsubscribe=True),
}

MESSAGE_TYPES = tuple(_PARSERS)
