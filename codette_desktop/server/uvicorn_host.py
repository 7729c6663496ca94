"""uvicorn, embedded: HTTP/1.1 (httptools) and WebSocket (websockets' sans-I/O protocol)
served from the running event loop (qasync's in the app), started and stopped by us.

uvicorn's own ``serve()`` would install signal handlers (the app owns SIGINT/SIGTERM) and
tick a 10 Hz timer; :class:`EmbeddedServer` runs only its start-up and shut-down. Two small
protocol subclasses add what a local server facing any web page needs:

- :class:`HttpProtocol` closes a connection whose request head does not arrive within
  ``head_timeout_s`` (uvicorn waits for the first request forever: a few hundred half-open
  sockets would hold file descriptors for good), and drops new connections past a hard
  cap at once, to keep descriptors for the clients already served. Below that cap,
  capacity refusals are clean 503 replies (uvicorn's ``limit_concurrency`` for HTTP, the
  app's handshake check for ``/ws``).
- :class:`WebSocketProtocol` exposes itself to the ASGI app (``scope["extensions"]``), so
  a connection can be closed even when its client stopped reading: uvicorn's ``send``
  waits for the socket to drain, which for such a client is never. Its reader hands a
  large payload over without copying it (:func:`read_exact_in_place`), and a large read
  is parsed a slice per turn of the loop, so a flood cannot hold it. Small text messages
  can be taken inline (:attr:`WebSocketProtocol.inline_receiver`) instead of through the
  ASGI queue and a task wake-up, and what one read makes the server write goes out in one
  ``send`` (:class:`CorkedTransport`).

These reach into uvicorn internals, hence the exact version pin in pyproject.toml; the
integration tests exercise both.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import uvicorn
import websockets.frames
from uvicorn.lifespan.off import LifespanOff
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.streams import StreamReader

log = logging.getLogger("codette.server")

PROTOCOL_EXTENSION = "codette.protocol"
# Close frames get this long to reach a client before the socket is dropped.
FORCE_CLOSE_GRACE_S = 2.0


# Messages a connection may have waiting for the app before reading pauses. uvicorn pauses
# after every message, and each pause and resume re-registers the socket with the loop
# (a new QSocketNotifier under qasync): a busy connection paid that twice per message.
MAX_QUEUED_MESSAGES = 16
# Text messages over this size reach the app as ``text_bytes`` (still UTF-8).
LARGE_TEXT_BYTES = 1024 * 1024
MAX_QUEUED_BYTES = 1024 * 1024
# A read of up to 256 KiB of tiny frames (a flood) is thousands of messages: parsed in one
# callback, it held the loop ~40 ms. Reads are fed to the parser in slices, and after this
# long the rest waits for the next turn of the loop (reading paused meanwhile).
FEED_SLICE_BYTES = 4 * 1024
FEED_TURN_S = 0.0005
# At most this many messages of one read are handled inline; the rest wait in the queue
# for the app's task, which lets other connections have the loop between slices.
INLINE_MESSAGES_PER_READ = 16
# Replies held back while a read is handled (see CorkedTransport) beyond this many bytes
# make the next reply wait for the socket, as a full transport buffer does.
CORK_LIMIT_BYTES = 64 * 1024


def read_exact_in_place(reader: StreamReader, n: int) -> Generator[None, None, bytearray]:
    """websockets' ``StreamReader.read_exact`` without its copy for a large payload.

    The stock read slices the payload out of the buffer: for a 16 MB analyze frame that
    copy into fresh pages held the loop ~10 ms. Here the buffer itself becomes the payload
    and only what follows it (a few frames at most) is copied into a new buffer. The
    parser's unmask of that payload (next) is then done in place: see :func:`_apply_mask`.
    """
    global _handed_over
    if n < LARGE_TEXT_BYTES:
        return (yield from StreamReader.read_exact(reader, n))
    while len(reader.buffer) < n:
        if reader.eof:
            raise EOFError(f"stream ends after {len(reader.buffer)} bytes, expected {n} bytes")
        yield
    payload = reader.buffer
    reader.buffer = payload[n:]
    del payload[n:]
    _handed_over = payload
    return payload


def unmask_in_place(data: bytearray, mask: bytes) -> None:
    """XOR ``data`` with the repeated 4-byte ``mask`` (RFC 6455 §5.3), eight bytes a step."""
    body = len(data) - len(data) % 8
    words = np.frombuffer(data, dtype=np.uint64, count=body // 8)
    np.bitwise_xor(words, np.frombuffer(mask * 2, dtype=np.uint64)[0], out=words)
    del words  # releases the export: the bytearray may be resized again
    for i in range(body, len(data)):
        data[i] ^= mask[i % 4]


# The payload read_exact_in_place last handed to websockets' frame parser, which unmasks it
# right after (Frame.parse: read_exact(length), then apply_mask). websockets' apply_mask
# writes a new object: for a 16 MiB frame, faulting in its fresh pages held the loop 40-45 ms
# on this machine. That payload is ours alone, so it is unmasked where it lies (< 1 ms).
_handed_over: bytearray | None = None
_websockets_apply_mask = websockets.frames.apply_mask


def _apply_mask(data: bytes | bytearray | memoryview, mask: bytes | bytearray
                ) -> bytes | bytearray:
    global _handed_over
    if data is _handed_over and isinstance(data, bytearray):
        _handed_over = None
        unmask_in_place(data, bytes(mask))
        return data
    return _websockets_apply_mask(data, mask)


# Looked up per frame by Frame.parse; typed to return bytes, but Frame takes a bytearray.
websockets.frames.apply_mask = _apply_mask  # type: ignore[assignment]


class CorkedTransport:
    """A transport that holds back writes while corked and sends them as one on uncork.

    While a read is handled, each reply would otherwise be a ``send`` of its own: ten
    pings in one read cost ten system calls. Everything the protocol writes goes through
    here (replies, pongs, close frames), so the order on the wire is the order written.
    """

    __slots__ = ("corked", "held", "held_bytes", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.corked = False
        self.held: list[bytes] = []
        self.held_bytes = 0

    def write(self, data: bytes) -> None:
        if self.corked:
            self.held.append(data)
            self.held_bytes += len(data)
        else:
            self.transport.write(data)

    def uncork(self) -> None:
        self.corked = False
        if self.held:
            data = self.held[0] if len(self.held) == 1 else b"".join(self.held)
            self.held, self.held_bytes = [], 0
            if not self.transport.is_closing():
                self.transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self.held_bytes

    def close(self) -> None:
        self.uncork()
        self.transport.close()

    def abort(self) -> None:
        self.held, self.held_bytes = [], 0
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, set_protocol, ...
        return getattr(self.transport, name)


# One receive buffer for every connection: the transport reads into it and the protocol
# copies out what came (SharedReadBuffer), so a read needs no allocation
# of its own. A plain recv(256 KiB) allocated that much per read (malloc's mmap threshold:
# an mmap, mremap and munmap per message) and gave back the unused part at once.
READ_BUFFER_BYTES = 256 * 1024
_read_buffer = memoryview(bytearray(READ_BUFFER_BYTES))


class SharedReadBuffer(asyncio.BufferedProtocol):
    """Reads into the one shared buffer; ``data_received`` gets a copy of what came."""

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # The transport calls this right after reading into the buffer, before any other
        # read: safe to share as long as what came is copied out here.
        self.data_received(bytes(_read_buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        raise NotImplementedError


class WebSocketProtocol(WebSocketsSansIOProtocol, SharedReadBuffer):
    transport: Any  # a CorkedTransport once connected
    queued_bytes = 0
    # Set by the app to take a small text message at once, from the read that brought it:
    # called only while no message waits in the queue; True if it took the message, False
    # to have it queued for the app's task as usual.
    inline_receiver: Callable[[str], bool] | None = None
    _inline_left = INLINE_MESSAGES_PER_READ
    _unfed = b""  # read from the socket, not parsed yet: from _unfed_at on
    _unfed_at = 0
    _feed_paused = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reader = self.conn.reader
        # An instance attribute: websockets' frame parser looks the method up per frame.
        reader.read_exact = lambda n: read_exact_in_place(reader, n)  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, CorkedTransport):  # handed over by HttpProtocol's upgrade
            transport = transport.transport
        super().connection_made(transport)
        self.transport = CorkedTransport(self.transport)

    def data_received(self, data: bytes) -> None:
        if self._unfed:  # reading resumed while an earlier read is being fed: queue behind it
            self._unfed = self._unfed[self._unfed_at:] + data
            self._unfed_at = 0
        elif len(data) <= FEED_SLICE_BYTES:
            self._inline_left = INLINE_MESSAGES_PER_READ
            transport = self.transport
            transport.corked = True
            try:
                super().data_received(data)
            finally:
                transport.uncork()
        else:
            self._unfed, self._unfed_at = data, 0
            self._feed()

    def _feed(self) -> None:
        self._inline_left = INLINE_MESSAGES_PER_READ
        transport = self.transport
        transport.corked = True
        try:
            self._feed_turn()
        finally:
            transport.uncork()

    def _feed_turn(self) -> None:
        data = self._unfed
        turn_ends = time.perf_counter() + FEED_TURN_S
        while self._unfed_at < len(data):
            if self.transport.is_closing():
                break
            start = self._unfed_at
            self._unfed_at = start + FEED_SLICE_BYTES
            super().data_received(data[start:self._unfed_at])
            if self._unfed_at < len(data) and time.perf_counter() > turn_ends:
                if not self._feed_paused:
                    self._feed_paused = True
                    self.transport.pause_reading()
                self.loop.call_soon(self._feed)
                return
        self._unfed, self._unfed_at = b"", 0
        if self._feed_paused:
            self._feed_paused = False
            if not self.read_paused and not self.transport.is_closing():
                self.transport.resume_reading()

    def send_receive_event_to_app(self) -> None:
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past websocket.close: discard, keep reading for the peer's close
        if self.curr_msg_data_type == "text" and len(data) > LARGE_TEXT_BYTES:
            # Left undecoded: only an analyze with audio may be this big, and the analysis
            # worker decodes and parses it. Decoding 16 MB of UTF-8 here held the loop.
            message: Any = {"type": "websocket.receive", "text_bytes": data}
        elif self.curr_msg_data_type == "text":
            try:
                text = data.decode()
            except UnicodeDecodeError:
                self.conn.send_close(1007)  # RFC 6455 §8.1: invalid UTF-8
                self.handle_parser_exception()
                return
            receiver = self.inline_receiver
            if receiver is not None and self._inline_left and not self.queue.qsize():
                self._inline_left -= 1
                if receiver(text):
                    return
            message = {"type": "websocket.receive", "text": text}
        else:
            message = {"type": "websocket.receive", "bytes": data}
        message["size"] = len(data)  # an extra key: ASGI apps ignore what they do not read
        self.queue.put_nowait(message)
        self.queued_bytes += len(data)
        if not self.read_paused and (self.queue.qsize() >= MAX_QUEUED_MESSAGES
                                     or self.queued_bytes >= MAX_QUEUED_BYTES):
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self) -> Any:
        message: Any = await self.queue.get()
        self.queued_bytes -= int(message.get("size", 0))
        if self.read_paused and self.queue.qsize() <= MAX_QUEUED_MESSAGES // 2 and \
                self.queued_bytes < MAX_QUEUED_BYTES // 2:
            self.read_paused = False
            if not self._feed_paused:
                self.transport.resume_reading()
        return message

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if hasattr(self, "scope"):  # not set when the handshake was refused
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[PROTOCOL_EXTENSION] = self

    def can_send_now(self) -> bool:
        """Will :meth:`send_text_now` go out without outrunning a slow reader?"""
        return self.writable.is_set() and self.transport.held_bytes < CORK_LIMIT_BYTES

    def send_text_now(self, text: str) -> None:
        """uvicorn's ``websocket.send`` of a text frame, without its coroutine.

        For a socket that takes it now (:meth:`can_send_now`); raises ClientDisconnected
        (an OSError) once the connection is closing or gone.
        """
        if self.disconnected or self.close_sent:
            raise ClientDisconnected()
        try:
            self.conn.send_text(text.encode())
        except InvalidState as exc:
            raise ClientDisconnected() from exc
        output = self.conn.data_to_send()
        self.transport.write(output[0] if len(output) == 1 else b"".join(output))

    def frames_waiting(self) -> int:
        """Messages read from the socket that the app has not taken yet."""
        return self.queue.qsize()

    def unsent_bytes(self) -> int:
        """Bytes written to the socket that the client has not taken yet."""
        transport = self.transport
        return 0 if transport is None or transport.is_closing() else \
            transport.get_write_buffer_size()

    def force_close(self, code: int, reason: str) -> None:
        """Queue a close frame even if the socket is backed up, then drop the socket.

        A client that reads again in time sees the replies it missed and the close code;
        one that never reads loses the connection after the grace period.
        """
        if self.transport is None or self.transport.is_closing():
            return
        if not self.close_sent:
            self.close_sent = True
            try:
                self.conn.send_close(code, reason)
                self.transport.write(b"".join(self.conn.data_to_send()))
            except Exception:  # the sans-I/O state machine already closed: just drop it
                log.debug("close frame not sent", exc_info=True)
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code,
                                   "reason": reason})
        self.writable.set()  # release any send() that waits for a drain
        self.loop.call_later(FORCE_CLOSE_GRACE_S, self._drop)

    def _drop(self) -> None:
        # Not once the client is gone: after a close that waited for the buffer to drain,
        # asyncio's abort() raises (the transport's loop is None by then).
        if not self.disconnected:
            self.transport.abort()


class HttpProtocol(HttpToolsProtocol, SharedReadBuffer):
    transport: Any  # a CorkedTransport once connected
    head_timeout_s: float = 10.0
    hard_cap: int = 4096 + 2 * 64

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.transport = CorkedTransport(self.transport)
        if len(self.connections) > self.hard_cap:
            # Far past capacity (a flood of sockets): free the descriptor at once.
            self.transport.abort()
            return
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.head_timeout_s, self._on_head_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A keep-alive connection starting its next request: that head must come in time too.
        if getattr(self, "_head_timer", None) is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._on_head_timeout)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()
        # uvicorn writes a response's head and body separately: held back until the
        # request's task has had its first turn, a quick reply leaves in one send.
        transport = self.transport
        if not transport.corked:
            transport.corked = True
            self.loop.call_soon(transport.uncork)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _cancel_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server on an already bound socket, on the running loop."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        super().__init__(config)
        self._sock = sock

    async def start(self) -> None:
        config = self.config
        if not config.loaded:
            config.load()
        self.lifespan = LifespanOff(config)
        # uvicorn refreshes these once a second in its main loop, which we do not run.
        self.server_state.default_headers = list(config.encoded_headers)
        await self.startup(sockets=[self._sock])

    def stop_listening(self) -> None:
        for server in getattr(self, "servers", []):
            server.close()

    async def stop(self) -> None:
        self.stop_listening()
        await self.shutdown()
        self._sock.close()

    @property
    def connections(self) -> set[Any]:
        return self.server_state.connections


def bind_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """Bind and listen; OSError (EADDRINUSE, EADDRNOTAVAIL, ...) goes to the caller.

    The protocol is IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off only for
    sockets whose ``proto`` says TCP, and accepted sockets inherit it. With ``proto`` 0
    every keep-alive HTTP reply (head and body written separately) waited ~40 ms for
    the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":
            # Rebind at once after a restart (TIME_WAIT); a port another program
            # listens on still fails with EADDRINUSE.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


# HTTP requests beyond the WebSocket cap still get answers (/health above all), up to this
# many at once; past twice that, new sockets are dropped unanswered.
HTTP_HEADROOM = 64


def make_config(app: Any, *, max_frame_bytes: int, head_timeout_s: float,
                max_connections: int, server_header: str) -> uvicorn.Config:
    http_protocol = type("CodetteHttpProtocol", (HttpProtocol,), {
        "head_timeout_s": head_timeout_s,
        "hard_cap": max_connections + 2 * HTTP_HEADROOM})
    return uvicorn.Config(
        app,
        http=http_protocol,
        ws=WebSocketProtocol,
        lifespan="off",
        log_config=None,
        access_log=False,  # the dashboard's message log shows HTTP requests instead
        ws_max_size=max_frame_bytes,
        # No permessage-deflate: inflating a 100 MB audio frame would hold the event loop
        # for seconds, and base64 audio hardly compresses anyway.
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        server_header=False,
        date_header=False,  # added per response by the app (uvicorn's clock needs its loop)
        headers=[("server", server_header)],
        proxy_headers=False,  # nothing proxies a loopback server; never trust X-Forwarded-*
        timeout_keep_alive=5,
        limit_concurrency=max_connections + HTTP_HEADROOM,
        timeout_graceful_shutdown=1,
        h11_max_incomplete_event_size=64 * 1024,
    )
