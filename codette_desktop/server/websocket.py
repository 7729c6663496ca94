"""One ``/ws`` connection over ASGI: frames in → protocol core → handler → replies out.

A thin adapter. The rules (sizes, rate, requests in progress, bytes waiting) are asked of
:mod:`codette_desktop.protocol.policy`; requests are decoded by
:mod:`codette_desktop.protocol.messages`; answers come from the handler (the services
layer). Quick answers are sent inline; anything that waits (chat, analysis, devices) runs
in a task of its own, at most ``max_in_flight`` per connection. A small text message that
arrives while the connection is idle is taken straight from the read that brought it
(:meth:`WebSocketSession.receive_now`): a ping is answered without a task wake-up.

Close codes (RFC 6455 §7.4.1): 1001 server shutting down, 1008 abuse (rate or a client that
stops reading), 1009 frame over its limit, 1011 unexpected server error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from codette_desktop.errors import MessageTooLarge, ProtocolError
from codette_desktop.protocol import messages, replies
from codette_desktop.protocol.policy import (
    Admission,
    ConnectionPolicy,
    FrameClass,
    OutboundBudget,
)
from codette_desktop.server.clients import ClientInfo
from codette_desktop.server.uploads import (
    IDLE_TIMEOUT_S,
    MAX_CHUNK_BYTES,
    UploadSpool,
    delete_before_answer,
    discard_file,
    spool_frame,
)

if TYPE_CHECKING:
    from codette_desktop.server.server import CodetteServer

log = logging.getLogger("codette.server")

ASGIMessage = dict[str, Any]
ASGISend = Callable[[ASGIMessage], Awaitable[None]]
ASGIReceive = Callable[[], Awaitable[ASGIMessage]]

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INVALID_DATA = 1007
CLOSE_INTERNAL = 1011
# Frames pushed to subscribers are dropped, not queued, once this much is unsent to a slow
# client: a stale meter frame is worthless and an unbounded queue is a memory leak.
PUSH_BUFFER_LIMIT = 256 * 1024
CLOSE_SEND_TIMEOUT_S = 1.0
# A connection with frames waiting lets the others have the loop after this long.
FAIR_SLICE_S = 0.0005


@dataclasses.dataclass(slots=True)
class _Upload:
    request: messages.Analyze
    spool: UploadSpool


class ClientGone(Exception):
    """The connection closed while a reply was being sent."""


async def _ignore_client_gone(pending: Awaitable[None]) -> None:
    with contextlib.suppress(ClientGone):
        await pending


class WebSocketSession:
    """Runs one accepted connection until it closes."""

    def __init__(
        self, server: CodetteServer, client: ClientInfo, send: ASGISend,
        policy: ConnectionPolicy, budget: OutboundBudget, protocol: Any = None,
    ) -> None:
        self.server = server
        self.client = client
        self._send = send
        self.policy = policy
        self._budget = budget
        # uvicorn's protocol object (server.uvicorn_host.WebSocketProtocol), when available:
        # it can close a connection whose client stopped reading.
        self._protocol = protocol
        self._lock = asyncio.Lock()
        self.waiting_bytes = 0  # handed to send() and not taken by the client yet
        self.closing = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.upload: _Upload | None = None
        # receive_now may run only while run() waits for a message and nothing the last
        # inline message started is still being sent (_finishing).
        self._in_receive = False
        self._finishing: asyncio.Task[None] | None = None
        if protocol is not None:
            protocol.inline_receiver = self.receive_now

    # -- receiving -------------------------------------------------------------------------

    async def run(self, receive: ASGIReceive) -> None:
        slice_ends = 0.0
        while True:
            if not self._frames_waiting():
                slice_ends = 0.0  # receive() waits: the loop serves the others meanwhile
            elif not slice_ends:
                slice_ends = time.monotonic() + FAIR_SLICE_S
            elif time.monotonic() > slice_ends:
                # Frames read in one go are otherwise handled without a pause: one client
                # flooding 10,000 pings held the loop until it was closed, ~2,000 later.
                await asyncio.sleep(0)
                slice_ends = time.monotonic() + FAIR_SLICE_S
            self._in_receive = True
            try:
                message = await receive()
            finally:
                self._in_receive = False
            if self._finishing is not None:  # an inline message's reply goes out first
                await asyncio.wait((self._finishing,))
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    pending = self._take_text(text)
                    if pending is not None:
                        await pending
                elif "text_bytes" in message:
                    await self._receive_text_bytes(message["text_bytes"])
                else:
                    await self._receive_bytes(message.get("bytes") or b"")
            elif kind == "websocket.disconnect":
                if self.close_code is None:
                    self.close_code = message.get("code")
                    self.close_reason = message.get("reason") or ""
                return

    async def _receive_bytes(self, frame: bytes) -> None:
        self.server.log_in(self.client, "<binary>", len(frame), "")
        upload = self.upload
        if upload is None:
            await self.send_error(ProtocolError(
                "invalid_message", "A binary frame must follow an analyze message with "
                "'upload'; send requests as JSON text frames"))
            return
        if len(frame) > MAX_CHUNK_BYTES:
            await self._close_too_big(len(frame), MAX_CHUNK_BYTES)
            return
        try:
            upload.spool.write(frame)
        except (ProtocolError, OSError) as exc:
            self._end_upload()
            await self.send_error(replies.as_protocol_error(exc, upload.request.id))
            return
        if upload.spool.progress_due():
            await self.send(self.server.progress(
                self.client, upload.request.id, "upload", upload.spool.received,
                upload.spool.expected))
        if upload.spool.complete:
            self.upload = None
            request = upload.request.with_uploaded_file(upload.spool.path)
            self._spawn(request.id, self._analyse_upload(request, upload.spool))

    async def _start_upload(self, request: messages.Analyze) -> None:
        header = request.upload
        assert header is not None
        limit = self.server.settings.max_upload_bytes
        if header.size_bytes > limit:
            await self.send_error(ProtocolError(
                "payload_too_large", f"An upload may not exceed {limit // (1024 * 1024)} MiB "
                f"({header.size_bytes} bytes announced)", request_id=request.id))
            return
        if self.upload is not None:
            await self.send_error(ProtocolError(
                "rate_limited", "Another upload on this connection is still in progress",
                request_id=request.id))
            return
        spool = UploadSpool(self.server.upload_dir, expected=header.size_bytes,
                            suffix=header.format)
        self.upload = _Upload(request, spool)
        self._arm_upload_watchdog()
        await self.send(self.server.progress(self.client, request.id, "upload", 0,
                                             header.size_bytes))

    def _arm_upload_watchdog(self) -> None:
        loop = asyncio.get_running_loop()

        def check() -> None:
            upload = self.upload
            if upload is None:
                return
            idle = time.monotonic() - upload.spool.last_chunk
            if idle < IDLE_TIMEOUT_S:
                loop.call_later(IDLE_TIMEOUT_S - idle, check)
                return
            self._end_upload()
            task = loop.create_task(self.send_error(ProtocolError(
                "invalid_message", f"The upload stalled: no data for {IDLE_TIMEOUT_S:g} s "
                f"({upload.spool.received} of {upload.spool.expected} bytes came)",
                request_id=upload.request.id)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        loop.call_later(IDLE_TIMEOUT_S, check)

    async def _analyse_upload(self, request: messages.Analyze, spool: UploadSpool) -> None:
        await self._reply_all(
            delete_before_answer(self.server.handler.handle(request, self.client),
                                  spool.discard),
            request.id)

    def _end_upload(self) -> None:
        upload, self.upload = self.upload, None
        if upload is None:
            return
        try:  # freeing a big file's blocks takes milliseconds: not on the event loop
            asyncio.get_running_loop().run_in_executor(None, upload.spool.discard)
        except RuntimeError:  # no loop running, or its executor is shut down already
            upload.spool.discard()

    async def _receive_text_bytes(self, raw: bytes | bytearray) -> None:
        """A text message over 1 MiB, still UTF-8 (see uvicorn_host.LARGE_TEXT_BYTES)."""
        frame_class = self.policy.classify(len(raw))
        if frame_class is not FrameClass.NORMAL:
            await self._receive_large(raw, frame_class)
            return
        try:  # a setting allows messages this big: handle it as any other
            text = raw.decode()
        except UnicodeDecodeError:
            await self.close(CLOSE_INVALID_DATA, "invalid UTF-8")  # RFC 6455 §8.1
            return
        pending = self._take_text(text)
        if pending is not None:
            await pending

    def receive_now(self, frame: str) -> bool:
        """Take a small text message inline, from the read that brought it (see
        ``uvicorn_host.WebSocketProtocol.inline_receiver``); False: queue it instead.

        Only while :meth:`run` waits for a message and every reply can go out at once, so
        the order of replies is the order of requests. What cannot finish at once (a reply
        to a slow reader, a close) finishes in a task that :meth:`run` waits for before it
        takes the next message.
        """
        if not self._in_receive or self._finishing is not None or not self._can_send_now():
            return False
        try:
            pending = self._take_text(frame)
        except ClientGone:
            return True
        except Exception:  # as run() would: log it and close with 1011
            log.exception("unexpected error on %s", self.client.client_id)
            pending = self.close(CLOSE_INTERNAL, "unexpected server error")
        if pending is not None:
            self._finishing = task = asyncio.get_running_loop().create_task(
                self._finish(pending))
            self.tasks.add(task)
            task.add_done_callback(self._finished)
        return True

    async def _finish(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        except ClientGone:
            pass
        except Exception:
            if not self.closing:
                log.exception("unexpected error on %s", self.client.client_id)
                await self.close(CLOSE_INTERNAL, "unexpected server error")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._finishing = None
        self.tasks.discard(task)

    def _take_text(self, frame: str) -> Awaitable[None] | None:
        """Handle one text message; what is left to await (a reply that waits for the
        socket, a close, a large message), or None once it is all done."""
        # str.isascii() is O(1) in CPython; encode (O(n)) only non-ASCII frames near a limit.
        size = len(frame)
        if size * 4 > self.policy.limits.max_message_bytes and not frame.isascii():
            size = len(frame.encode("utf-8", "surrogatepass"))
        frame_class = self.policy.classify(size)
        if frame_class is not FrameClass.NORMAL:
            return self._receive_large(frame.encode("utf-8", "surrogatepass"), frame_class)
        try:
            obj = messages.parse_json(frame)
        except ProtocolError as exc:
            self.server.log_in(self.client, "<invalid>", size, frame)
            return self.error_soon(exc)
        self.server.log_in(self.client, messages.peek_type(obj) or "<invalid>", size, frame)
        admission = self.policy.admit(time.monotonic())
        if admission is not Admission.ACCEPT:
            return self._refuse(admission, messages.request_id_of(obj))
        try:
            request = messages.decode_object(obj)
        except ProtocolError as exc:
            return self.error_soon(exc)
        if isinstance(request, messages.Analyze) and request.upload is not None:
            return self._start_upload(request)
        try:
            reply = self.server.handler.answer_now(request, self.client)
        except Exception as exc:  # the same error replies as for a request in a task
            return self.error_soon(replies.as_protocol_error(exc, request.id))
        if reply is not None:
            return self.send_soon(reply)
        self._spawn(request.id, self._reply_all(
            self.server.handler.handle(request, self.client), request.id))
        return None

    async def _admit(self, request_id: messages.RequestId) -> bool:
        """Rate limit: False if refused (answered) or closed for abuse."""
        admission = self.policy.admit(time.monotonic())
        if admission is Admission.ACCEPT:
            return True
        pending = self._refuse(admission, request_id)
        if pending is not None:
            await pending
        return False

    def _refuse(self, admission: Admission,
                request_id: messages.RequestId) -> Awaitable[None] | None:
        if admission is Admission.CLOSE:
            self.server.abuse_closed(self.client, "message rate limit exceeded")
            return self.close(CLOSE_POLICY, "message rate limit exceeded")
        return self.error_soon(ProtocolError(
            "rate_limited", "Too many messages; slow down", request_id=request_id))

    async def _receive_large(self, raw: bytes | bytearray, frame_class: FrameClass) -> None:
        """Over 1 MiB: only an analyze with audio may be this big.

        Parsing 100 MB of JSON holds the GIL for a tenth of a second, and so would handing
        it to another process through a pipe: the frame is written to a spool file from a
        thread, and an analysis worker reads, parses, validates and analyses it. A frame
        that does not even look like an analyze is closed before any of that.
        """
        size = len(raw)
        peek = messages.peek_large(raw)
        self.server.log_in(self.client, peek.type or "<large>", size, "")
        if not peek.may_be_analyze:
            await self._close_too_big(size)
            return
        if not await self._admit(None):
            return
        if frame_class is FrameClass.TOO_LARGE:
            limit = self.policy.limits.max_audio_message_bytes
            await self.send_error(ProtocolError(
                "payload_too_large",
                f"An analyze message may not exceed {limit // (1024 * 1024)} MiB "
                f"({size} bytes received); send a shorter excerpt or upload the file in "
                "binary frames"))
            return
        self._spawn(None, self._run_large(raw, peek))

    async def _run_large(self, raw: bytes | bytearray, peek: messages.LargeFrame) -> None:
        path = await asyncio.to_thread(spool_frame, self.server.upload_dir, raw)
        size = len(raw)
        del raw  # the file holds it now
        try:
            await self._reply_all(delete_before_answer(
                self.server.handler.handle_large(path, peek, self.client),
                functools.partial(discard_file, path)), None)
        except MessageTooLarge:
            await self._close_too_big(size)

    async def _close_too_big(self, size: int, limit: int | None = None) -> None:
        log.warning("closing %s: %d-byte message over the %d-byte limit",
                    self.client.client_id, size, limit or self.policy.limits.max_message_bytes)
        await self.close(CLOSE_TOO_BIG, "message too big")

    def _spawn(self, request_id: messages.RequestId,
               work: Coroutine[Any, Any, None]) -> None:
        if not self.policy.start_request():
            work.close()
            work = self.send_error(ProtocolError(
                "rate_limited",
                f"At most {self.policy.limits.max_in_flight} requests may be in progress",
                request_id=request_id))
            task = asyncio.get_running_loop().create_task(work)
        else:
            task = asyncio.get_running_loop().create_task(work)
            task.add_done_callback(lambda _t: self.policy.finish_request())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply_all(
        self, replies_: AsyncGenerator[dict[str, Any], None], request_id: messages.RequestId
    ) -> None:
        """Send every reply; turn any failure into an ``error`` reply for ``request_id``.

        The replies are closed however this ends (a cancel when the client goes), so the
        handler's work stops with it: a local model's generation, for one.
        """
        try:
            async with aclosing(replies_):
                async for message in replies_:
                    await self.send(message)
        except ClientGone:
            pass
        except (MessageTooLarge, asyncio.CancelledError):
            raise
        except Exception as exc:
            await self.send_error(replies.as_protocol_error(exc, request_id))

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Send one reply, in order; a client that stops reading is closed with 1008."""
        pending = self.send_soon(message)
        if pending is not None:
            await pending

    def send_soon(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """Send one reply now if the socket takes it at once (the common case: nothing
        waits); else the coroutine that sends it in order, once the client reads."""
        text = self.server.encode(message)
        if self.closing:
            raise ClientGone
        if self._can_send_now():
            self._send_now(text)
            self.server.log_out(self.client, message["type"], text)
            return None
        return self._send_queued(message["type"], text)

    def error_soon(self, exc: ProtocolError) -> Awaitable[None] | None:
        """:meth:`send_soon` of an ``error`` reply; a client that is gone is no error."""
        self.server.totals["errors"] += 1
        try:
            pending = self.send_soon(replies.error(exc.code, exc.message, exc.request_id,
                                                  field=exc.field))
        except ClientGone:
            return None
        return None if pending is None else _ignore_client_gone(pending)

    def _can_send_now(self) -> bool:
        return (self._protocol is not None and not self.closing and not self.waiting_bytes
                and not self._lock.locked() and self._protocol.can_send_now())

    def _send_now(self, text: str) -> None:
        try:
            self._protocol.send_text_now(text)
        except (OSError, RuntimeError) as exc:
            raise ClientGone from exc

    async def _send_queued(self, type_: str, text: str) -> None:
        size = len(text)
        if not self._budget.reserve(self.waiting_bytes, size):
            # Closed, not penalised: a frozen browser tab looks the same and should be able to
            # reconnect once it wakes up.
            log.warning("closing %s (Origin %r): not reading its replies",
                        self.client.client_id, self.client.origin)
            await self.close(CLOSE_POLICY, "client does not read its replies")
            raise ClientGone
        self.waiting_bytes += size
        try:
            async with self._lock:
                await self._transmit(text)
        finally:
            self.waiting_bytes -= size
            self._budget.release(size)
        self.server.log_out(self.client, type_, text)

    def push(self, text: str, type_: str) -> bool:
        """Send a subscription frame without waiting; dropped if anything waits already."""
        if (self.closing or self.waiting_bytes or self._lock.locked()
                or self.unsent_bytes() > PUSH_BUFFER_LIMIT):
            self.client.dropped_frames += 1
            return False
        if self._can_send_now():
            try:
                self._send_now(text)
            except ClientGone:
                return False
            self.server.log_out(self.client, type_, text)
            return True
        task = asyncio.get_running_loop().create_task(self._push(text, type_))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _push(self, text: str, type_: str) -> None:
        if not self._budget.reserve(0, len(text)):
            self.client.dropped_frames += 1
            return
        self.waiting_bytes += len(text)
        try:
            async with self._lock:
                await self._transmit(text)
        except ClientGone:
            return
        finally:
            self.waiting_bytes -= len(text)
            self._budget.release(len(text))
        self.server.log_out(self.client, type_, text)

    async def _transmit(self, text: str) -> None:
        if self.closing:
            raise ClientGone
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError) as exc:
            # uvicorn raises ClientDisconnected (an OSError) or RuntimeError after a close.
            raise ClientGone from exc

    async def send_error(self, exc: ProtocolError) -> None:
        pending = self.error_soon(exc)
        if pending is not None:
            await pending

    def unsent_bytes(self) -> int:
        return self._protocol.unsent_bytes() if self._protocol is not None else 0

    def _frames_waiting(self) -> int:
        return self._protocol.frames_waiting() if self._protocol is not None else 0

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (idempotent).

        A client that is not reading cannot take a close frame either: its connection is
        dropped after a grace period instead (:meth:`force_close`).
        """
        if self.closing:
            return
        self.closing = True
        self.close_code, self.close_reason = code, reason
        if self.waiting_bytes:
            self.force_close(code, reason)
            return
        try:
            await asyncio.wait_for(
                self._send({"type": "websocket.close", "code": code, "reason": reason}),
                CLOSE_SEND_TIMEOUT_S)
        except TimeoutError:
            self.force_close(code, reason)
        except (OSError, RuntimeError):
            pass

    def force_close(self, code: int, reason: str) -> None:
        self.closing = True
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if self._protocol is not None:
            self._protocol.force_close(code, reason)

    def cancel_tasks(self) -> None:
        self._end_upload()
        for task in list(self.tasks):
            task.cancel()
