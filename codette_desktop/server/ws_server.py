"""The WebSocket server: a thin adapter between sockets and the protocol core.

It accepts connections, screens the HTTP handshake (:mod:`.http`), decodes frames with
:mod:`codette_desktop.protocol.messages`, hands each request to a :class:`RequestHandler`
(the services layer) in a task of its own, and writes the replies back. It also fans out
the subscription events (``server_status``, ``connection_event``, ``audio_levels``).

Nothing heavy runs here: the handler pushes chat to a thread and analysis to a worker
process, and large frames are JSON-decoded in a thread.

Reports go to the ``observer`` as :mod:`codette_desktop.protocol.events` objects:
ServerStarted, ServerStopped, ClientConnected, ClientDisconnected, MessageLogged.
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
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response

from codette_desktop import PROTOCOL_VERSION, __version__
from codette_desktop.config import Settings
from codette_desktop.errors import (
    AddressInUseError,
    CodetteError,
    MessageTooLarge,
    ProtocolError,
    ServerError,
)
from codette_desktop.protocol import events, replies
from codette_desktop.protocol.messages import (
    Request,
    decode_object,
    parse_json,
    peek_type,
)
from codette_desktop.server.http import RequestScreen

log = logging.getLogger("codette.server")
# Scripts and tests wait for this line: app.setup_logging keeps it at INFO at any log level.
ready_log = logging.getLogger("codette.server.ready")

# Frames pushed to subscribers are dropped, not queued, once this much is waiting for a
# slow client: a stale meter frame is worthless and an unbounded queue is a memory leak.
PUSH_BUFFER_LIMIT = 256 * 1024
MAX_TASKS_PER_CLIENT = 32
HARD_CAP_MARGIN = 32 * 1024 * 1024
# An oversized frame whose first characters name no analyze is closed without parsing.
LARGE_PEEK_CHARS = 64 * 1024
CLOSE_TOO_BIG = 1009  # RFC 6455 §7.4.1
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
# A client that earns this many rate_limited errors within the window is closed.
ABUSE_LIMIT = 200
ABUSE_WINDOW_S = 10


class RequestHandler(Protocol):
    """What the server needs from the services layer."""

    def capabilities(self) -> list[str]: ...

    def handle(self, request: Request, client: ClientInfo) -> AsyncIterator[dict[str, Any]]:
        """Yield the replies to ``request`` (e.g. chat chunks, then the response).

        Raise ProtocolError or another CodetteError for an ``error`` reply.
        """
        ...

    def handle_large(self, frame: str, client: ClientInfo) -> AsyncIterator[dict[str, Any]]:
        """Like :meth:`handle` for a frame over the 1 MiB limit, still undecoded.

        Raise MessageTooLarge if it is not an analyze with audio.
        """
        ...

    def client_closed(self, client: ClientInfo) -> None: ...


@dataclass
class ClientInfo:
    """One connection, as the server and the dashboard see it."""

    client_id: str
    peer: str
    origin: str | None
    connected_at: float
    session_id: str  # default chat session for messages without session_id
    messages_in: int = 0
    messages_out: int = 0
    last_type: str | None = None
    # event name -> rate in Hz (only meaningful for audio_levels)
    subscriptions: dict[str, float] = field(default_factory=dict)
    last_levels_sent: float = 0.0
    dropped_frames: int = 0
    refusals: int = 0  # rate_limited errors since refusals_since
    refusals_since: float = 0.0
    tokens: float = 0.0
    token_time: float = 0.0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def snapshot(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id, "peer": self.peer, "origin": self.origin,
            "connected_at": self.connected_at, "messages_in": self.messages_in,
            "messages_out": self.messages_out, "last_type": self.last_type,
            "subscriptions": sorted(self.subscriptions),
        }


class CodetteServer:
    """Runs the ``websockets`` server on the current asyncio loop (qasync's in the app)."""

    def __init__(
        self, settings: Settings, *, observer: events.Observer, resources: Path
    ) -> None:
        self.settings = settings
        self._observer = observer
        self._resources = resources
        self._server: Server | None = None
        self._handler: RequestHandler | None = None
        self._clients: dict[str, ClientInfo] = {}
        self._sockets: dict[str, ServerConnection] = {}
        self._ids = itertools.count(1)
        self._started_monotonic = time.monotonic()
        self._status_task: asyncio.Task[None] | None = None
        self.port = settings.port
        self.totals = {"connections": 0, "messages_in": 0, "messages_out": 0, "errors": 0}

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return self.settings.replace(port=self.port).ws_url

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started_monotonic

    @property
    def active_connections(self) -> int:
        return len(self._clients)

    def clients(self) -> list[ClientInfo]:
        return list(self._clients.values())

    async def start(self, handler: RequestHandler) -> None:
        """Bind and serve. Raises AddressInUseError if the port is taken."""
        if self._server is not None:
            raise ServerError("server already running")
        self._handler = handler
        screen = RequestScreen(
            self.settings, health=self.health, resources=self._resources, port=lambda: self.port
        )

        def process_request(_conn: ServerConnection, request: HttpRequest) -> Response | None:
            return screen(request)

        try:
            self._server = await serve(
                self._serve_connection,
                self.settings.host,
                self.settings.port,
                process_request=process_request,
                # The library's hard cap sits above the audio limit so that an oversized
                # analyze still gets a payload_too_large reply; _receive applies the
                # 1 MiB limit to everything that is not an analyze with audio.
                max_size=self.settings.max_audio_message_bytes + HARD_CAP_MARGIN,
                max_queue=4,
                # No permessage-deflate: inflating a 100 MB audio frame would hold the event
                # loop for seconds, and base64 audio hardly compresses anyway.
                compression=None,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                server_header=f"codette-desktop/{__version__}",
                logger=logging.getLogger("codette.websockets"),
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUseError(self.settings.host, self.settings.port) from None
            raise ServerError(f"cannot listen on {self.settings.host}:{self.settings.port}: "
                              f"{exc.strerror or exc}") from exc
        sockets = self._server.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        self._started_monotonic = time.monotonic()
        self._status_task = asyncio.get_running_loop().create_task(self._status_loop())
        ready_log.info("SERVER READY - %s", self.url)
        self._observer(events.ServerStarted(url=self.url, host=self.settings.host, port=self.port))

    async def stop(self, *, reason: str = "server shutting down") -> None:
        """Close every client with 1001 and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
        server.close(close_connections=True, code=CLOSE_GOING_AWAY, reason=reason)
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=3)
        except TimeoutError:
            log.warning("some connections did not close within 3 s")
        log.info("server stopped (%s)", reason)
        self._observer(events.ServerStopped(reason=reason))

    def health(self) -> dict[str, Any]:
        return replies.health(
            version=__version__, protocol_version=PROTOCOL_VERSION,
            uptime_s=self.uptime_s, connections=self.active_connections,
        )

    async def disconnect(self, client_id: str, *, reason: str = "disconnected by user") -> bool:
        ws = self._sockets.get(client_id)
        if ws is None:
            return False
        await ws.close(1000, reason)
        return True

    # -- connections -------------------------------------------------------------------

    async def _serve_connection(self, ws: ServerConnection) -> None:
        client_id = f"c{next(self._ids)}-{secrets.token_hex(3)}"
        peer = ws.remote_address
        request_headers = ws.request.headers if ws.request is not None else None
        client = ClientInfo(
            client_id=client_id,
            peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer),
            origin=request_headers.get("Origin") if request_headers is not None else None,
            connected_at=time.time(),
            session_id=f"session-{client_id}",
            tokens=self.settings.rate_limit_per_s,
            token_time=time.monotonic(),
        )
        self._clients[client_id] = client
        self._sockets[client_id] = ws
        self.totals["connections"] += 1
        log.info("WebSocket connected: %s from %s (total: %d)", client_id, client.peer,
                 len(self._clients))
        self._observer(events.ClientConnected(
            client_id=client_id, peer=client.peer, origin=client.origin,
            connected_at=client.connected_at, active_connections=len(self._clients),
        ))
        self._publish_connection_event("opened", client_id)
        assert self._handler is not None
        try:
            await self._send(client, ws, replies.welcome(
                client_id=client_id, server_version=__version__,
                protocol_version=PROTOCOL_VERSION, capabilities=self._handler.capabilities(),
            ))
            async for frame in ws:
                await self._receive(client, ws, frame)
        except ConnectionClosed:
            pass
        finally:
            for task in list(client.tasks):
                task.cancel()
            self._clients.pop(client_id, None)
            self._sockets.pop(client_id, None)
            code = ws.close_code
            log.info("WebSocket disconnected: %s (code %s)", client_id, code)
            self._handler.client_closed(client)
            log.info("WebSocket cleanup: %s (remaining: %d)", client_id, len(self._clients))
            self._observer(events.ClientDisconnected(
                client_id=client_id, code=code, reason=ws.close_reason or "",
                active_connections=len(self._clients),
            ))
            self._publish_connection_event("closed", client_id)

    def _take_token(self, client: ClientInfo) -> bool:
        """Token bucket: ``rate_limit_per_s`` sustained, twice that in a burst."""
        rate = self.settings.rate_limit_per_s
        now = time.monotonic()
        client.tokens = min(2 * rate, client.tokens + (now - client.token_time) * rate)
        client.token_time = now
        if client.tokens < 1:
            return False
        client.tokens -= 1
        return True

    async def _receive(self, client: ClientInfo, ws: ServerConnection, frame: str | bytes) -> None:
        client.messages_in += 1
        self.totals["messages_in"] += 1
        if isinstance(frame, bytes):
            self._log_in(client, "<binary>", len(frame), "")
            await self._send_error(client, ws, ProtocolError(
                "invalid_message", "Binary frames are not supported in protocol version 1; "
                "send JSON text frames"))
            return
        # str.isascii() is O(1) in CPython; encode (O(n)) only non-ASCII frames near a limit.
        size = len(frame)
        if size * 4 > self.settings.max_message_bytes and not frame.isascii():
            size = len(frame.encode("utf-8", "surrogatepass"))
        if size > self.settings.max_message_bytes:
            await self._receive_large(client, ws, frame, size)
            return
        try:
            obj = parse_json(frame)
            type_ = peek_type(obj) or "<invalid>"
            self._log_in(client, type_, size, frame[: events.PREVIEW_CHARS])
            if not await self._admit(client, ws, obj):
                return
            request = decode_object(obj)
        except ProtocolError as exc:
            if exc.code == "invalid_json":
                self._log_in(client, "<invalid>", size, frame[: events.PREVIEW_CHARS])
            await self._send_error(client, ws, exc)
            return
        self._spawn(client, ws, request.id, self._run(client, ws, request))

    async def _admit(self, client: ClientInfo, ws: ServerConnection, obj: Any) -> bool:
        """Rate limit: False if the connection was closed for abuse; raises rate_limited."""
        if self._take_token(client):
            return True
        now = time.monotonic()
        if now - client.refusals_since > ABUSE_WINDOW_S:
            client.refusals, client.refusals_since = 0, now
        client.refusals += 1
        if client.refusals > ABUSE_LIMIT:
            log.warning("closing %s: %d rate_limited errors within %d s",
                        client.client_id, ABUSE_LIMIT, ABUSE_WINDOW_S)
            await ws.close(CLOSE_POLICY, "message rate limit exceeded")
            return False
        raise ProtocolError("rate_limited", "Too many messages; slow down",
                            request_id=obj.get("id") if isinstance(obj, dict) else None)

    async def _receive_large(
        self, client: ClientInfo, ws: ServerConnection, frame: str, size: int
    ) -> None:
        """Over 1 MiB: only an analyze with audio may be this big.

        Parsing 100 MB of JSON holds the GIL for a tenth of a second, so the frame goes
        whole to an analysis worker process, which parses, validates and analyses it.
        """
        looks_like_analyze = '"analyze"' in frame[:LARGE_PEEK_CHARS]
        self._log_in(client, "analyze" if looks_like_analyze else "<large>", size, "")
        try:
            if size > self.settings.max_audio_message_bytes:
                if not looks_like_analyze:
                    await self._close_too_big(client, ws, size)
                    return
                limit_mib = self.settings.max_audio_message_bytes // (1024 * 1024)
                raise ProtocolError(
                    "payload_too_large",
                    f"An analyze message may carry at most {limit_mib} MiB of JSON; "
                    "send a shorter excerpt or FLAC")
            if not await self._admit(client, ws, None):
                return
        except ProtocolError as exc:
            await self._send_error(client, ws, exc)
            return
        self._spawn(client, ws, None, self._run_large(client, ws, frame, size))

    async def _close_too_big(self, client: ClientInfo, ws: ServerConnection, size: int) -> None:
        log.warning("closing %s: %d-byte message over the %d-byte limit",
                    client.client_id, size, self.settings.max_message_bytes)
        await ws.close(CLOSE_TOO_BIG, "message too big")

    def _spawn(self, client: ClientInfo, ws: ServerConnection, request_id: Any,
               work: Coroutine[Any, Any, None]) -> None:
        if len(client.tasks) >= MAX_TASKS_PER_CLIENT:
            work.close()
            task = asyncio.get_running_loop().create_task(self._send_error(
                client, ws, ProtocolError(
                    "rate_limited", f"At most {MAX_TASKS_PER_CLIENT} requests may be in progress",
                    request_id=request_id)))
        else:
            task = asyncio.get_running_loop().create_task(work)
        client.tasks.add(task)
        task.add_done_callback(client.tasks.discard)

    def _log_in(self, client: ClientInfo, type_: str, size: int, preview: str) -> None:
        client.last_type = type_
        log.debug("WebSocket %s received: %s", client.client_id, type_)
        self._observer(events.MessageLogged(
            client_id=client.client_id, direction="in", type=type_, size=size,
            preview=preview, at=time.time(),
        ))

    async def _run(self, client: ClientInfo, ws: ServerConnection, request: Request) -> None:
        assert self._handler is not None
        await self._reply_all(client, ws, self._handler.handle(request, client), request.id)

    async def _run_large(
        self, client: ClientInfo, ws: ServerConnection, frame: str, size: int
    ) -> None:
        assert self._handler is not None
        try:
            await self._reply_all(client, ws, self._handler.handle_large(frame, client), None)
        except MessageTooLarge:
            await self._close_too_big(client, ws, size)

    async def _reply_all(
        self, client: ClientInfo, ws: ServerConnection,
        replies_: AsyncIterator[dict[str, Any]], request_id: Any,
    ) -> None:
        """Send every reply; turn any failure into an ``error`` reply for ``request_id``."""
        try:
            async for message in replies_:
                await self._send(client, ws, message)
        except ConnectionClosed:
            pass
        except (MessageTooLarge, asyncio.CancelledError):
            raise
        except ProtocolError as exc:
            if exc.request_id is None:
                exc.request_id = request_id
            await self._send_error(client, ws, exc)
        except CodetteError as exc:
            await self._send_error(client, ws, ProtocolError(
                exc.code, str(exc), field=getattr(exc, "field", None), request_id=request_id))
        except Exception:
            log.exception("unexpected error while handling a request")
            await self._send_error(client, ws, ProtocolError(
                "internal_error", "The server hit an unexpected error; it is still running",
                request_id=request_id))

    async def _send_error(self, client: ClientInfo, ws: ServerConnection,
                          exc: ProtocolError) -> None:
        self.totals["errors"] += 1
        with contextlib.suppress(ConnectionClosed):
            await self._send(client, ws, replies.error(
                exc.code, exc.message, exc.request_id, field=exc.field))

    async def _send(self, client: ClientInfo, ws: ServerConnection,
                    message: dict[str, Any]) -> None:
        text = self._encode(message)
        await ws.send(text)
        self._count_out(client, message["type"], text)

    def _encode(self, message: dict[str, Any]) -> str:
        try:
            return json.dumps(message, allow_nan=False)
        except ValueError:
            # A NaN/inf slipped through: never put non-JSON on the wire.
            log.exception("reply of type %s is not valid JSON", message.get("type"))
            return json.dumps(replies.error(
                "internal_error", "The server produced an invalid reply", message.get("id")))

    def _count_out(self, client: ClientInfo, type_: str, text: str) -> None:
        client.messages_out += 1
        self.totals["messages_out"] += 1
        self._observer(events.MessageLogged(
            client_id=client.client_id, direction="out", type=type_, size=len(text),
            preview=text[: events.PREVIEW_CHARS], at=time.time(),
        ))

    # -- pushes to subscribers ---------------------------------------------------------

    def subscribe(self, client: ClientInfo, names: Iterable[str], rate_hz: float | None) -> None:
        for name in names:
            client.subscriptions[name] = rate_hz or 30.0

    def unsubscribe(self, client: ClientInfo, names: Iterable[str]) -> None:
        for name in names:
            client.subscriptions.pop(name, None)

    def push(self, message: dict[str, Any], client_ids: Iterable[str]) -> None:
        """Send without waiting; a client whose buffer is backed up misses this frame."""
        text: str | None = None
        for client_id in client_ids:
            client = self._clients.get(client_id)
            ws = self._sockets.get(client_id)
            if client is None or ws is None:
                continue
            transport = ws.transport
            if transport is None or transport.get_write_buffer_size() > PUSH_BUFFER_LIMIT:
                client.dropped_frames += 1
                continue
            if text is None:
                text = self._encode(message)
            broadcast([ws], text)
            self._count_out(client, message["type"], text)

    def subscribers(self, event: str) -> list[ClientInfo]:
        return [c for c in self._clients.values() if event in c.subscriptions]

    def publish_levels(self, levels: dict[str, Any]) -> None:
        """Send the newest meter frame to each subscriber no faster than its ``rate_hz``."""
        now = time.monotonic()
        due = []
        for client in self.subscribers("audio_levels"):
            # 5 % slack so a 30 Hz meter is not cut to 15 Hz by timer jitter.
            if now - client.last_levels_sent >= 0.95 / client.subscriptions["audio_levels"]:
                client.last_levels_sent = now
                due.append(client.client_id)
        if due:
            self.push(replies.audio_levels(levels), due)

    def _publish_connection_event(self, event: str, client_id: str) -> None:
        targets = [c.client_id for c in self.subscribers("connections")]
        if targets:
            self.push(replies.connection_event(
                event=event, client_id=client_id, active_connections=len(self._clients),
            ), targets)

    async def _status_loop(self) -> None:
        interval = self.settings.status_interval_s
        while True:
            await asyncio.sleep(interval)
            targets = [c.client_id for c in self.subscribers("server_status")]
            if targets:
                self.push(replies.server_status(
                    connections=len(self._clients), uptime_s=self.uptime_s), targets)
