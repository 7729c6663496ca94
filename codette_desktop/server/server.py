"""The server: WebSocket and HTTP on one port, on the running event loop.

:class:`CodetteServer` owns the listening socket (uvicorn, embedded), the connections
and the subscription pushes (``server_status``, ``connection_event``, ``audio_levels``).
It answers nothing itself: every request goes to a :class:`RequestHandler` (the services
layer). It only observes settings (``settings`` is replaced by their owner) and reports
to the ``observer`` as :mod:`codette_desktop.protocol.events` objects: ServerStarted,
ServerStopped, ClientConnected, ClientDisconnected, MessageLogged, HttpRequestLogged,
OriginRefused.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from codette_desktop import PROTOCOL_VERSION, __version__
from codette_desktop.config import Settings
from codette_desktop.errors import AddressInUseError, ServerError
from codette_desktop.protocol import events, messages, replies, sessions
from codette_desktop.protocol.policy import (
    ConnectionPolicy,
    Limits,
    OutboundBudget,
    PeerPenalties,
    peer_key,
)
from codette_desktop.server.access import AccessControl, Refusal, RequestHead, WindowedLog
from codette_desktop.server.asgi import CodetteApp
from codette_desktop.server.clients import ClientInfo
from codette_desktop.server.uploads import clear_spool, spool_dir
from codette_desktop.server.uvicorn_host import (
    PROTOCOL_EXTENSION,
    EmbeddedServer,
    bind_socket,
    make_config,
)
from codette_desktop.server.websocket import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    WebSocketSession,
)

log = logging.getLogger("codette.server")
# One encoder: json.dumps with an argument builds a new one per call. No NaN/Infinity:
# they are not JSON (RFC 8259 §6).
_ENCODER = json.JSONEncoder(allow_nan=False)
# Scripts and tests wait for this line: app.setup_logging keeps it at INFO at any log level.
ready_log = logging.getLogger("codette.server.ready")

# websockets' own frame cap sits above the audio limit so that an oversized analyze still
# gets a payload_too_large reply; the session applies the 1 MiB limit to everything else.
HARD_CAP_MARGIN = 32 * 1024 * 1024
HEAD_TIMEOUT_S = 10.0
SHUTDOWN_CLOSE_WAIT_S = 1.0


class RequestHandler(Protocol):
    """What the server needs from the services layer."""

    def capabilities(self) -> list[str]: ...

    def answer_now(self, request: messages.Request, client: ClientInfo) -> dict[str, Any] | None:
        """The reply if it needs no waiting (ping, perspectives, subscribe...), else None."""
        ...

    def handle(self, request: messages.Request,
               client: ClientInfo) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the replies to ``request`` (e.g. chat chunks, then the response).

        Raise ProtocolError or another CodetteError for an ``error`` reply. The server
        closes the generator when the client goes, even mid-way.
        """
        ...

    def handle_large(self, frame: str, peek: messages.LargeFrame,
                     client: ClientInfo) -> AsyncGenerator[dict[str, Any], None]:
        """Like :meth:`handle` for a frame over the 1 MiB limit, still undecoded.

        Raise MessageTooLarge if it is not an analyze with audio.
        """
        ...

    def client_closed(self, client: ClientInfo) -> None: ...


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_audio_message_bytes=settings.max_audio_message_bytes,
        rate_per_s=settings.rate_limit_per_s,
    )


class CodetteServer:
    """Serves ``/ws`` and the HTTP routes on the current asyncio loop (qasync's in the app)."""

    def __init__(
        self, settings: Settings, *, observer: events.Observer, resources: Path
    ) -> None:
        self.settings = settings
        self.resources = resources
        self._observer = observer
        # The per-message log events feed the dashboard only: headless, nobody listens.
        self._observed: Callable[[], bool] = getattr(observer, "has_observers", lambda: True)
        self._host: EmbeddedServer | None = None
        self._handler: RequestHandler | None = None
        self._clients: dict[str, ClientInfo] = {}
        self._sessions: dict[str, WebSocketSession] = {}
        self._ids = itertools.count(1)
        self._started_monotonic = time.monotonic()
        self._status_task: asyncio.Task[None] | None = None
        self.port = settings.port
        self.totals = {"connections": 0, "messages_in": 0, "messages_out": 0, "errors": 0,
                       "http_requests": 0}
        self.access = AccessControl(lambda: self.settings, lambda: self.port)
        self.penalties = PeerPenalties()
        self.budget = OutboundBudget(self.limits)
        self._app = CodetteApp(self, self.access)
        self._warn_windowed = WindowedLog(log.warning)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return limits_of(self.settings)

    @property
    def handler(self) -> RequestHandler:
        assert self._handler is not None, "the server is not started"
        return self._handler

    @property
    def running(self) -> bool:
        return self._host is not None

    @property
    def url(self) -> str:
        return self.settings.replace(port=self.port).ws_url

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started_monotonic

    @property
    def active_connections(self) -> int:
        return len(self._sessions)

    def clients(self) -> list[ClientInfo]:
        return list(self._clients.values())

    async def start(self, handler: RequestHandler) -> None:
        """Bind and serve. Raises AddressInUseError if the port is taken."""
        if self._host is not None:
            raise ServerError("server already running")
        self._handler = handler
        settings = self.settings
        try:
            sock = bind_socket(settings.host, settings.port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUseError(settings.host, settings.port) from None
            raise ServerError(f"cannot listen on {settings.host}:{settings.port}: "
                              f"{exc.strerror or exc}") from exc
        self.budget = OutboundBudget(self.limits)
        clear_spool(settings.cache_dir)
        config = make_config(
            self._app,
            max_frame_bytes=settings.max_audio_message_bytes + HARD_CAP_MARGIN,
            head_timeout_s=HEAD_TIMEOUT_S, max_connections=settings.max_connections,
            server_header=f"codette-desktop/{__version__}",
        )
        host = EmbeddedServer(config, sock)
        try:
            await host.start()
        except BaseException:
            sock.close()
            raise
        self._host = host
        self.port = sock.getsockname()[1]
        self._started_monotonic = time.monotonic()
        self._status_task = asyncio.get_running_loop().create_task(self._status_loop())
        ready_log.info("SERVER READY - %s", self.url)
        self._observer(events.ServerStarted(url=self.url, host=settings.host, port=self.port))

    async def stop(self, *, reason: str = "server shutting down") -> None:
        """Close every client with 1001 and stop listening."""
        host, self._host = self._host, None
        if host is None:
            return
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
        host.stop_listening()
        sessions = list(self._sessions.values())
        for session in sessions:
            session.cancel_tasks()
        await asyncio.gather(*(s.close(CLOSE_GOING_AWAY, reason) for s in sessions),
                             return_exceptions=True)
        # Give clients a moment to answer the close frame, then drop what is left.
        deadline = time.monotonic() + SHUTDOWN_CLOSE_WAIT_S
        while self._sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for session in list(self._sessions.values()):
            session.force_close(CLOSE_GOING_AWAY, reason)
        await host.stop()
        log.info("server stopped (%s)", reason)
        self._observer(events.ServerStopped(reason=reason))

    def health(self) -> dict[str, Any]:
        return replies.health(
            version=__version__, protocol_version=PROTOCOL_VERSION,
            uptime_s=self.uptime_s, connections=self.active_connections,
        )

    async def disconnect(self, client_id: str, *, reason: str = "disconnected by user") -> bool:
        session = self._sessions.get(client_id)
        if session is None:
            return False
        await session.close(CLOSE_NORMAL, reason)
        return True

    # -- who may connect -------------------------------------------------------------------

    def refused(self, refusal: Refusal, head: RequestHead) -> None:
        """Say in the log why a client was refused: the browser only sees a failed request."""
        what = {"origin": f"Origin {refusal.value!r} is not in allowed_origins",
                "host": f"Host {refusal.value!r} is not a loopback name (add it to "
                        "allowed_hosts to accept it)",
                "token": f"no valid token (Origin {refusal.value!r})"}.get(
            refusal.kind, refusal.message)
        self._warn_windowed(("refused", refusal.kind, refusal.value),
                            f"refused {head.method} {messages.printable(head.path)}: "
                            f"{messages.printable(what, 300)} (HTTP {refusal.status})")
        if refusal.kind == "origin" and refusal.value:
            self._observer(events.OriginRefused(origin=refusal.value, path=head.path))

    def abuse_closed(self, client: ClientInfo, why: str) -> None:
        cooldown = self.penalties.penalise(peer_key(client.address, client.origin),
                                           time.monotonic())
        log.warning("closing %s (%s, Origin %r): %s; its address is refused for %.0f s",
                    client.client_id, client.peer, client.origin, why, cooldown)

    # -- WebSocket connections ---------------------------------------------------------------

    async def serve_websocket(self, scope: Any, receive: Any, send: Any) -> None:
        head = RequestHead.from_asgi(scope)
        await receive()  # websocket.connect
        refusal = self.access.check(head)
        client_addr = scope.get("client") or ("?", 0)
        origin = head.get("origin")
        if refusal is None:
            wait = self.penalties.refused_for(peer_key(client_addr[0], origin),
                                              time.monotonic())
            if wait:
                refusal = Refusal(429, f"Closed for abuse; try again in {wait:.0f} s",
                                  "penalty", client_addr[0])
            elif len(self._sessions) >= self.settings.max_connections:
                refusal = Refusal(503, "Too many connections", "capacity", "")
        if refusal is not None:
            if refusal.kind not in ("penalty", "capacity"):
                self.refused(refusal, head)
            await _deny(send, refusal)
            return
        protocol = scope.get("extensions", {}).get(PROTOCOL_EXTENSION)
        client_id = f"c{next(self._ids)}-{secrets.token_hex(3)}"
        client = ClientInfo(
            client_id=client_id,
            peer=f"{client_addr[0]}:{client_addr[1]}",
            origin=origin,
            connected_at=time.time(),
            session_id=sessions.new_secret(),
        )
        await send({"type": "websocket.accept"})
        session = WebSocketSession(self, client, send, ConnectionPolicy(
            self.limits, now=time.monotonic()), self.budget, protocol)
        self._clients[client_id] = client
        self._sessions[client_id] = session
        self.totals["connections"] += 1
        log.info("WebSocket connected: %s from %s (total: %d)", client_id, client.peer,
                 len(self._sessions))
        self._observer(events.ClientConnected(
            client_id=client_id, peer=client.peer, origin=client.origin,
            connected_at=client.connected_at, active_connections=len(self._sessions),
        ))
        self._publish_connection_event("opened")
        try:
            await session.send(replies.welcome(
                client_id=client_id, server_version=__version__,
                protocol_version=PROTOCOL_VERSION, capabilities=self.handler.capabilities(),
            ))
            await session.run(receive)
        except Exception:
            if not session.closing:
                log.exception("unexpected error on %s", client_id)
                await session.close(CLOSE_INTERNAL, "unexpected server error")
        finally:
            session.cancel_tasks()
            self._clients.pop(client_id, None)
            self._sessions.pop(client_id, None)
            code = session.close_code
            log.info("WebSocket disconnected: %s (code %s)", client_id, code)
            self.handler.client_closed(client)
            log.info("WebSocket cleanup: %s (remaining: %d)", client_id, len(self._sessions))
            self._observer(events.ClientDisconnected(
                client_id=client_id, code=code, reason=session.close_reason,
                active_connections=len(self._sessions),
            ))
            self._publish_connection_event("closed")

    # -- HTTP callers --------------------------------------------------------------------

    def http_client(self, scope: Any) -> ClientInfo:
        """A REST caller, as the handler sees it (one per request)."""
        addr = scope.get("client") or ("?", 0)
        head = RequestHead.from_asgi(scope)
        origin = head.get("origin")
        return ClientInfo(
            client_id=f"http-{next(self._ids)}", peer=f"{addr[0]}:{addr[1]}", origin=origin,
            connected_at=time.time(), session_id=sessions.new_secret(), kind="http",
        )

    async def replies(self, request: messages.Request,
                      client: ClientInfo) -> AsyncGenerator[dict[str, Any], None]:
        """Every reply to ``request`` in order (chat chunks, then the response). Close it
        (``aclosing``) to stop the handler's work, e.g. when an HTTP client goes."""
        quick = self.handler.answer_now(request, client)
        if quick is not None:
            yield quick
            return
        async with contextlib.aclosing(self.handler.handle(request, client)) as handled:
            async for reply in handled:
                yield reply

    async def answer(self, request: messages.Request, client: ClientInfo) -> dict[str, Any]:
        """The final reply to ``request`` (streamed chunks are skipped)."""
        final: dict[str, Any] | None = None
        async with contextlib.aclosing(self.replies(request, client)) as every:
            async for reply in every:
                if reply["type"] != "chat_chunk":
                    final = reply
        if final is None:
            raise ServerError(f"no reply to {type(request).__name__}")
        return final

    def log_http(self, head: RequestHead, addr: Any, status: int, size: int,
                 seconds: float) -> None:
        self.totals["http_requests"] += 1
        peer = f"{addr[0]}:{addr[1]}" if addr else "?"
        log.debug("HTTP %s %s -> %d (%d bytes, %.1f ms)", head.method,
                  messages.printable(head.path), status, size, seconds * 1000)
        self._observer(events.HttpRequestLogged(
            method=head.method, path=head.path[:200], status=status, size=size,
            duration_ms=seconds * 1000, origin=head.get("origin"), peer=peer, at=time.time()))

    @property
    def upload_dir(self) -> Path:
        return spool_dir(self.settings.cache_dir)

    def progress(self, client: ClientInfo, request_id: messages.RequestId, stage: str,
                 done: int, total: int) -> dict[str, Any]:
        """An ``analysis_progress`` reply, also reported to the dashboard."""
        fraction = round(done / total, 4) if total else 0.0
        self._observer(events.AnalysisProgress(
            client_id=client.client_id, request_id=str(request_id), stage=stage,
            fraction=fraction))
        return replies.reply("analysis_progress", request_id, stage=stage, received=done,
                             total=total, fraction=fraction)

    # -- logging and encoding ------------------------------------------------------------

    def log_in(self, client: ClientInfo, type_: str, size: int, frame: str) -> None:
        client.messages_in += 1
        client.last_type = type_
        self.totals["messages_in"] += 1
        if log.isEnabledFor(logging.DEBUG):
            # The type is the client's text: escaped, so no terminal codes reach the log.
            log.debug("WebSocket %s received: %s", client.client_id, messages.printable(type_))
        if self._observed():
            self._observer(events.MessageLogged(
                client_id=client.client_id, direction="in", type=type_, size=size,
                preview=frame[: events.PREVIEW_CHARS], at=time.time(),
            ))

    def log_out(self, client: ClientInfo, type_: str, text: str) -> None:
        client.messages_out += 1
        self.totals["messages_out"] += 1
        if self._observed():
            self._observer(events.MessageLogged(
                client_id=client.client_id, direction="out", type=type_, size=len(text),
                preview=text[: events.PREVIEW_CHARS], at=time.time(),
            ))

    def encode(self, message: dict[str, Any]) -> str:
        try:
            return _ENCODER.encode(message)
        except ValueError:
            # A NaN/inf slipped through: never put non-JSON on the wire.
            log.exception("reply of type %s is not valid JSON", message.get("type"))
            return json.dumps(replies.error(
                "internal_error", "The server produced an invalid reply", message.get("id")))

    # -- pushes to subscribers ---------------------------------------------------------

    def subscribe(self, client: ClientInfo, names: Iterable[str], rate_hz: float | None) -> None:
        for name in names:
            client.subscriptions[name] = rate_hz or messages.DEFAULT_LEVELS_RATE_HZ

    def unsubscribe(self, client: ClientInfo, names: Iterable[str]) -> None:
        for name in names:
            client.subscriptions.pop(name, None)

    def push(self, message: dict[str, Any], client_ids: Iterable[str]) -> None:
        """Send without waiting; a client that has anything waiting misses this frame."""
        text: str | None = None
        for client_id in client_ids:
            session = self._sessions.get(client_id)
            if session is None:
                continue
            if text is None:
                text = self.encode(message)
            session.push(text, message["type"])

    def subscribers(self, event: str) -> list[ClientInfo]:
        return [c for c in self._clients.values() if event in c.subscriptions]

    def publish_levels(self, levels: dict[str, Any]) -> None:
        """Send the newest meter frame to each subscriber no faster than its ``rate_hz``."""
        now = time.monotonic()
        due = []
        for client in self.subscribers("audio_levels"):
            if not client.capture_authorized:
                continue
            # 5 % slack so a 30 Hz meter is not cut to 15 Hz by timer jitter.
            if now - client.last_levels_sent >= 0.95 / client.subscriptions["audio_levels"]:
                client.last_levels_sent = now
                due.append(client.client_id)
        if due:
            self.push(replies.audio_levels(levels), due)

    def _publish_connection_event(self, event: str) -> None:
        targets = [c.client_id for c in self.subscribers("connections")]
        if targets:
            self.push(replies.connection_event(
                event=event, active_connections=len(self._sessions)), targets)

    async def _status_loop(self) -> None:
        interval = self.settings.status_interval_s
        while True:
            await asyncio.sleep(interval)
            targets = [c.client_id for c in self.subscribers("server_status")]
            if targets:
                self.push(replies.server_status(
                    connections=len(self._sessions), uptime_s=self.uptime_s), targets)


async def _deny(send: Any, refusal: Refusal) -> None:
    """Refuse a WebSocket handshake with a plain HTTP status (the ASGI denial response)."""
    body = f"{refusal.message}\n".encode()
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "websocket.http.response.start", "status": refusal.status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "websocket.http.response.body", "body": body})


__all__ = ["CLOSE_POLICY", "ClientInfo", "CodetteServer", "RequestHandler"]
