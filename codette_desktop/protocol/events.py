"""What the services report to observers (the Qt bridge, logs, tests).

Plain frozen dataclasses, emitted on the event-loop thread through a single callable
``Observer``. The Qt bridge turns them into signals; nothing here knows about Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerStarted:
    url: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class ServerStopped:
    reason: str


@dataclass(frozen=True, slots=True)
class ServerFailed:
    message: str
    port: int | None = None


@dataclass(frozen=True, slots=True)
class ClientConnected:
    client_id: str
    peer: str
    origin: str | None
    connected_at: float  # time.time()
    active_connections: int


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    client_id: str
    code: int | None
    reason: str
    active_connections: int


@dataclass(frozen=True, slots=True)
class MessageLogged:
    client_id: str
    direction: str  # "in" | "out" (WebSocket), "http" (one HTTP request and its reply)
    type: str
    size: int  # bytes on the wire
    preview: str  # at most PREVIEW_CHARS characters
    at: float  # time.time()
    status: int | None = None  # the HTTP status, for "http" rows


@dataclass(frozen=True, slots=True)
class HttpRequestLogged:
    method: str
    path: str
    status: int
    size: int  # response body bytes
    duration_ms: float
    origin: str | None
    peer: str
    at: float  # time.time()


@dataclass(frozen=True, slots=True)
class OriginRefused:
    """A page from an origin not on the allow-list tried to reach the server."""

    origin: str
    path: str


@dataclass(frozen=True, slots=True)
class CapturePermissionRequested:
    """A page asked to use the microphone and the user has not answered for its origin."""

    origin: str
    device: str  # what it would open ("the default input" when none was named)
    client_id: str


@dataclass(frozen=True, slots=True)
class ChatExchanged:
    client_id: str
    session_id: str
    perspective: str
    question: str
    answer: str
    confidence: float
    engine: str = "builtin"  # or "llm:<model>", as stored in the chat memory


@dataclass(frozen=True, slots=True)
class LLMStatusChanged:
    """Which engine answers chat, and the configured local model's state.

    ``engine`` is "builtin" when no model is configured (the other fields are then
    empty), else "llm"; the built-in engine still answers whenever the model fails, and
    ``last_error`` says why. ``model`` is "" until the server's first model is known.
    Never carries the API key.
    """

    engine: str
    url: str = ""
    model: str = ""
    reachable: bool | None = None  # None: not contacted yet
    last_error: str | None = None
    tokens_per_s: float | None = None  # of the last answer
    first_token_s: float | None = None


@dataclass(frozen=True, slots=True)
class AnalysisCompleted:
    client_id: str
    track_name: str | None
    analysis: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AnalysisProgress:
    """An upload arriving or an analysis under way: ``stage`` is ``upload``, ``queued``
    or ``analysing``; ``fraction`` 0..1 of that stage."""

    client_id: str
    request_id: str
    stage: str
    fraction: float


@dataclass(frozen=True, slots=True)
class AnalysisWarmedUp:
    seconds: float


@dataclass(frozen=True, slots=True)
class AnalysisWorkerFailed:
    """An analysis worker crashed or could not warm up; ``reason`` says how.

    ``restarted``: a new worker has taken its place (the full worker with a fresh numba
    cache the first time). False: ``worker`` analyses stay unavailable, and are answered
    with ``analysis_failed`` naming ``reason``, until the app restarts.
    """

    worker: str  # "fast" | "full"
    reason: str
    restarted: bool


@dataclass(frozen=True, slots=True)
class CaptureStateChanged:
    state: str  # "stopped" | "running" | "error"
    device: str | None
    started_by: str | None  # client id, or None when started from the dashboard
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LevelsMeasured:
    peak_dbfs: tuple[float | None, ...]
    rms_dbfs: tuple[float | None, ...]
    momentary_lufs: float | None
    short_term_lufs: float | None
    overflows: int
    at: float  # time.monotonic() when the newest block was metered


Event = (
    ServerStarted
    | ServerStopped
    | ServerFailed
    | ClientConnected
    | ClientDisconnected
    | MessageLogged
    | HttpRequestLogged
    | OriginRefused
    | CapturePermissionRequested
    | ChatExchanged
    | LLMStatusChanged
    | AnalysisCompleted
    | AnalysisProgress
    | AnalysisWarmedUp
    | AnalysisWorkerFailed
    | CaptureStateChanged
    | LevelsMeasured
)
Observer = Callable[[Event], None]

PREVIEW_CHARS = 200
