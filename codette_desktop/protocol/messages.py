"""Client → server messages: decoding and validation, without I/O.

:func:`decode` turns one text frame into a frozen request object (one class per message
type, valid once constructed: typed parts such as :class:`~codette_desktop.domain.DawContext`
and :class:`~codette_desktop.domain.AudioPayload` are checked here and nowhere again) or
raises :class:`ProtocolError` carrying the wire error code, the offending field and the
request ``id``, ready for :func:`replies.error`.

The HTTP routes build the same request classes (:mod:`.rest`), so a REST chat is a chat.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from codette_desktop.domain import (
    ANALYSIS_TYPES,
    AudioPayload,
    DawContext,
    Track,
    UploadHeader,
    WireFields,
)
from codette_desktop.domain.fields import MAX_ID_CHARS
from codette_desktop.domain.perspectives import DEFAULT_PERSPECTIVE, validate_perspective
from codette_desktop.errors import ProtocolError

RequestId = str | int | float | None

SUBSCRIPTION_EVENTS = ("server_status", "audio_levels", "connections")
MAX_CHAT_CHARS = 8000
MAX_CAPTURE_SECONDS = 60.0
MAX_LEVELS_RATE_HZ = 30.0
DEFAULT_LEVELS_RATE_HZ = 30.0
DEFAULT_HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId


@dataclass(frozen=True, slots=True)
class Ping(Request):
    pass


@dataclass(frozen=True, slots=True)
class Status(Request):
    pass


@dataclass(frozen=True, slots=True)
class Perspectives(Request):
    pass


@dataclass(frozen=True, slots=True)
class Devices(Request):
    pass


@dataclass(frozen=True, slots=True)
class CaptureStop(Request):
    pass


@dataclass(frozen=True, slots=True)
class Chat(Request):
    message: str
    perspective: str = DEFAULT_PERSPECTIVE
    daw_context: DawContext | None = None
    session_id: str | None = None
    stream: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.message, str) or not self.message.strip():
            raise ProtocolError("invalid_field", "Field 'message' must be a non-empty string",
                                field="message")
        if len(self.message) > MAX_CHAT_CHARS:
            raise ProtocolError("invalid_field", f"Field 'message' must be at most "
                                f"{MAX_CHAT_CHARS} characters", field="message")
        object.__setattr__(self, "message", self.message.strip())
        object.__setattr__(self, "perspective", validate_perspective(self.perspective))


@dataclass(frozen=True, slots=True)
class TrackRef:
    """The ``track_data`` of an analyze request: which track the audio belongs to."""

    track_id: str | int | None = None
    track_name: str | None = None
    track_type: str | None = None
    muted: bool | None = None
    soloed: bool | None = None

    def to_job(self) -> dict[str, Any]:
        """As the analysis worker and the report read it (set fields only)."""
        values = {"track_id": self.track_id, "track_name": self.track_name,
                  "track_type": self.track_type, "muted": self.muted, "soloed": self.soloed}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class LevelsInfo:
    """``audio_data``: levels a client measured itself (metadata-only analysis)."""

    peak_level: float | None = None
    rms_level: float | None = None
    duration: float | None = None
    sample_rate: int | None = None

    def to_job(self) -> dict[str, Any]:
        return {"peak_level": self.peak_level, "rms_level": self.rms_level,
                "duration": self.duration, "sample_rate": self.sample_rate}


@dataclass(frozen=True, slots=True)
class Analyze(Request):
    track: TrackRef = field(default_factory=TrackRef)
    levels: LevelsInfo | None = None
    analysis_type: str = "full"
    audio: AudioPayload | None = None
    capture_seconds: float | None = None
    session_id: str | None = None
    capture_token: str | None = None  # native clients analysing what is captured
    upload: UploadHeader | None = None  # the file follows in binary frames

    def __post_init__(self) -> None:
        if self.analysis_type not in ANALYSIS_TYPES:
            raise ProtocolError(
                "invalid_field",
                f"Field 'analysis_type' must be one of: {', '.join(ANALYSIS_TYPES)}",
                field="analysis_type")
        sources = [self.audio, self.capture_seconds, self.upload]
        if sum(source is not None for source in sources) > 1:
            raise ProtocolError(
                "invalid_field",
                "Send at most one audio source: 'audio', 'upload' or 'source'",
                field="upload" if self.upload is not None else "source")


    def with_uploaded_file(self, path: str) -> Analyze:
        """This request once its upload has arrived in ``path``."""
        assert self.upload is not None, "not an upload"
        return replace(self, upload=None, audio=self.upload.payload(path))


@dataclass(frozen=True, slots=True)
class History(Request):
    session_id: str | None = None
    limit: int = DEFAULT_HISTORY_LIMIT


@dataclass(frozen=True, slots=True)
class CaptureStart(Request):
    device: int | str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    capture_token: str | None = None  # native clients: the per-install token


@dataclass(frozen=True, slots=True)
class Subscribe(Request):
    events: tuple[str, ...]
    rate_hz: float | None = None
    unsubscribe: bool = False
    capture_token: str | None = None  # native clients subscribing to audio_levels


# -- studio tools (the frontend's REST routes; also accepted over the WebSocket) -----------


@dataclass(frozen=True, slots=True)
class Suggest(Request):
    context_type: str = "general"
    track_type: str | None = None
    limit: int = 5
    daw_context: DawContext | None = None


@dataclass(frozen=True, slots=True)
class DelaySync(Request):
    bpm: float = 120.0


@dataclass(frozen=True, slots=True)
class DetectGenre(Request):
    tracks: tuple[Track, ...] = ()


@dataclass(frozen=True, slots=True)
class EarTraining(Request):
    exercise_type: str = "interval"
    difficulty: str = "beginner"


@dataclass(frozen=True, slots=True)
class ProductionChecklist(Request):
    stage: str = "mixing"


@dataclass(frozen=True, slots=True)
class InstrumentInfo(Request):
    category: str = "vocals"
    instrument: str = "lead"


@dataclass(frozen=True, slots=True)
class ReviewSession(Request):
    """A session described by the DAW (no audio): the AI panel's analyze bodies.

    ``body`` is the JSON object as sent; the review itself names a bad field.
    """

    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemoryEntry(Request):
    """One remembered interaction by its id (``GET /api/codette/memory/{id}``)."""

    entry_id: str = ""


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity literals, which are not JSON (RFC 8259 §6).
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every message: json.loads with an argument builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(text: str | bytes) -> Any:
    try:
        if not isinstance(text, str):
            text = text.decode("utf-8")  # bytes (a spooled frame): UTF-8, as RFC 8259 says
        return _DECODER.decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ProtocolError("invalid_json", "Invalid JSON format") from None


def decode(text: str) -> Request:
    """Parse and validate one client text frame."""
    return decode_object(parse_json(text))


def peek_type(obj: Any) -> str | None:
    return obj.get("type") if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None


def request_id_of(obj: Any) -> RequestId:
    """The ``id`` of a decoded message if it is a valid one, for correlating an error."""
    if not isinstance(obj, dict):
        return None
    try:
        return _request_id(obj.get("id"))
    except ProtocolError:
        return None


def _request_id(value: Any) -> RequestId:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) <= MAX_ID_CHARS:
            return value
    elif isinstance(value, int) and not isinstance(value, bool):
        # Beyond 2^53 a JavaScript client cannot read the number back unchanged.
        if abs(value) <= 2**53:
            return value
    elif isinstance(value, float) and math.isfinite(value):
        return value
    raise ProtocolError(
        "invalid_field",
        f"'id' must be a finite number or a string of at most {MAX_ID_CHARS} characters",
        field="id")


def decode_object(obj: Any) -> Request:
    if not isinstance(obj, dict):
        raise ProtocolError("invalid_message", "A message must be a JSON object")
    request_id = _request_id(obj.get("id"))
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(
            "invalid_message", "A message needs a string 'type'", request_id=request_id
        )
    parser = _PARSERS.get(type_)
    if parser is None:
        raise ProtocolError(
            "unknown_type", f"Unknown message type: {printable(type_)}", request_id=request_id
        )
    # compat: the existing frontend nests fields in "data"; top-level fields win.
    envelope = obj.get("data")
    fields = {**envelope, **obj} if isinstance(envelope, dict) else obj
    try:
        return parser(request_id, WireFields(fields))
    except ProtocolError as exc:
        exc.request_id = request_id
        raise


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, limit: int = 64) -> str:
    """``text`` cut to ``limit`` with control characters escaped (for replies and logs)."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", cut)


def _chat(rid: RequestId, f: WireFields) -> Chat:
    message = f.string("message", required=True, max_len=MAX_CHAT_CHARS)
    assert message is not None
    context = f.obj("daw_context")
    return Chat(
        id=rid,
        message=message,
        perspective=f.values.get("perspective") or DEFAULT_PERSPECTIVE,
        daw_context=DawContext.from_wire(context) if context is not None else None,
        session_id=f.string("session_id", max_len=MAX_ID_CHARS),
        stream=bool(f.boolean("stream")),
    )


def _track_ref(f: WireFields | None) -> TrackRef:
    if f is None:
        return TrackRef()
    return TrackRef(
        track_id=f.identifier("track_id"),
        track_name=f.string("track_name"),
        track_type=f.string("track_type", max_len=64),
        muted=f.boolean("muted"),
        soloed=f.boolean("soloed"),
    )


def _levels(f: WireFields | None) -> LevelsInfo | None:
    if f is None:
        return None
    return LevelsInfo(
        peak_level=f.number("peak_level", low=-400, high=60),
        rms_level=f.number("rms_level", low=-400, high=60),
        duration=f.number("duration", low=0, high=24 * 3600),
        sample_rate=f.integer("sample_rate", low=1, high=1_000_000),
    )


def _analyze(rid: RequestId, f: WireFields) -> Analyze:
    audio = f.obj("audio")
    upload = f.obj("upload")
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
        track=_track_ref(f.obj("track_data")),
        levels=_levels(f.obj("audio_data")),
        analysis_type=f.choice("analysis_type", ANALYSIS_TYPES, "full"),
        audio=AudioPayload.from_wire(audio) if audio is not None else None,
        capture_seconds=seconds,
        session_id=f.string("session_id", max_len=MAX_ID_CHARS),
        capture_token=_token(f),
        upload=UploadHeader.from_wire(upload) if upload is not None else None,
    )


def _history(rid: RequestId, f: WireFields) -> History:
    return History(
        id=rid,
        session_id=f.string("session_id", max_len=MAX_ID_CHARS),
        limit=f.integer("limit", low=1, high=MAX_HISTORY_LIMIT) or DEFAULT_HISTORY_LIMIT,
    )


def _token(f: WireFields) -> str | None:
    return f.string("capture_token", max_len=256)


def _capture_start(rid: RequestId, f: WireFields) -> CaptureStart:
    device = f.values.get("device")
    if device is not None and (
        isinstance(device, bool) or not isinstance(device, int | str) or
        (isinstance(device, int) and device < 0) or
        (isinstance(device, str) and len(device) > 256)
    ):
        raise f.bad("device", "a device index (integer ≥ 0) or a device name")
    return CaptureStart(
        id=rid,
        device=device,
        sample_rate=f.integer("sample_rate", low=8000, high=192000),
        channels=f.integer("channels", low=1, high=8),
        capture_token=_token(f),
    )


def _subscription(unsubscribe: bool) -> Any:
    def parse(rid: RequestId, f: WireFields) -> Subscribe:
        events = f.array("events", max_items=16)
        if events is None:
            raise f.missing("events")
        for name in events:
            if name not in SUBSCRIPTION_EVENTS:
                shown = printable(name) if isinstance(name, str) else type(name).__name__
                raise ProtocolError(
                    "invalid_field",
                    f"Unknown event '{shown}'; valid events: {', '.join(SUBSCRIPTION_EVENTS)}",
                    field="events",
                )
        rate = f.number("rate_hz", low=0.01, high=1000)
        return Subscribe(
            id=rid,
            events=tuple(dict.fromkeys(events)),
            rate_hz=None if rate is None else min(rate, MAX_LEVELS_RATE_HZ),
            unsubscribe=unsubscribe,
            capture_token=_token(f),
        )

    return parse


def _suggest(rid: RequestId, f: WireFields) -> Suggest:
    # compat: the frontend sends {context: {type, track_type}, limit}.
    context = f.obj("context") or WireFields({}, "context.")
    daw = f.obj("daw_context")
    return Suggest(
        id=rid,
        context_type=context.string("type", max_len=64) or "general",
        track_type=context.string("track_type", max_len=64) or f.string("track_type", max_len=64),
        limit=f.integer("limit", low=1, high=50) or 5,
        daw_context=DawContext.from_wire(daw) if daw is not None else None,
    )


def _detect_genre(rid: RequestId, f: WireFields) -> DetectGenre:
    tracks = f.objects("tracks", max_items=1000)
    return DetectGenre(id=rid, tracks=tuple(Track.from_wire(t) for t in tracks))


def _review(rid: RequestId, f: WireFields) -> ReviewSession:
    body = {k: v for k, v in f.values.items() if k not in ("type", "id", "data")}
    return ReviewSession(id=rid, body=body)


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
    "suggest": _suggest,
    "delay_sync": lambda rid, f: DelaySync(
        rid, bpm=f.number("bpm", low=20, high=999) or 120.0),
    "detect_genre": _detect_genre,
    "ear_training": lambda rid, f: EarTraining(
        rid, exercise_type=f.string("exercise_type", max_len=32) or "interval",
        difficulty=f.string("difficulty", max_len=32) or "beginner"),
    "production_checklist": lambda rid, f: ProductionChecklist(
        rid, stage=f.string("stage", max_len=32) or "mixing"),
    "instrument_info": lambda rid, f: InstrumentInfo(
        rid, category=f.string("category", max_len=64) or "vocals",
        instrument=f.string("instrument", max_len=64) or "lead"),
    "review_session": _review,
    "memory_entry": lambda rid, f: MemoryEntry(
        rid, entry_id=f.string("entry_id", required=True, max_len=MAX_ID_CHARS) or ""),
}

MESSAGE_TYPES = tuple(_PARSERS)

# -- frames over the 1 MiB limit ---------------------------------------------------------

LARGE_PEEK_CHARS = 64 * 1024
_TYPE_FIELD = re.compile(r'"type"\s*:\s*"(\w{1,32})"')
_ANALYSIS_TYPE_FIELD = re.compile(r'"analysis_type"\s*:\s*"(\w{1,32})"')


@dataclass(frozen=True, slots=True)
class LargeFrame:
    """What a look at the ends of an oversized frame tells, without parsing it.

    Only an ``analyze`` with audio may exceed 1 MiB; its audio sits in the middle, so the
    fields that route it are near either end. The frame is validated in full by
    :func:`decode` in the analysis worker; this only decides where it goes.
    """

    type: str | None
    analysis_type: str

    @property
    def may_be_analyze(self) -> bool:
        return self.type == "analyze"


def peek_large(frame: str | bytes | bytearray) -> LargeFrame:
    if isinstance(frame, str):
        head, tail = frame[:LARGE_PEEK_CHARS], frame[-LARGE_PEEK_CHARS:]
    else:  # still UTF-8: the fields looked for are ASCII
        head = frame[:LARGE_PEEK_CHARS].decode("utf-8", "replace")
        tail = frame[-LARGE_PEEK_CHARS:].decode("utf-8", "replace")
    type_match = _TYPE_FIELD.search(head) or _TYPE_FIELD.search(tail)
    kind_match = _ANALYSIS_TYPE_FIELD.search(head) or _ANALYSIS_TYPE_FIELD.search(tail)
    return LargeFrame(
        type=type_match.group(1) if type_match else None,
        # An unknown type counts as "full": the contract's default, and the safe guess.
        analysis_type=kind_match.group(1) if kind_match else "full",
    )
