"""Small messages are answered from the read that brought them, in order, in one write.

``WebSocketProtocol.inline_receiver`` lets the app take a text message without the ASGI
queue and a task wake-up, and ``CorkedTransport`` sends what one read produced in one
``send``. Against the real app: replies keep the order of the requests whether a message
was taken inline or queued behind others. Against the embedded server with a minimal app
(plain asyncio loop, a raw client socket): the counts of reads, inline messages and
socket writes, and an HTTP response's head and body leaving in one write.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from websockets.frames import Opcode

from codette_desktop.server import uvicorn_host
from codette_desktop.server.uvicorn_host import (
    INLINE_MESSAGES_PER_READ,
    PROTOCOL_EXTENSION,
    WebSocketProtocol,
)

from app_process import AppProcess
from embedded_server import embedded_server
from silent_client import SilentClient

BURST = 3 * INLINE_MESSAGES_PER_READ


def test_a_burst_is_answered_in_order_whether_taken_inline_or_queued(
        app_server: AppProcess) -> None:
    """More messages in one write than are taken inline: the rest wait in the queue, and
    every reply (pongs, and errors for an unknown type) still comes in request order."""
    client = SilentClient(app_server.ws_url, receive_buffer=1 << 20)
    try:
        client.read_until("connection")
        for i in range(BURST):
            request = {"type": "no_such_type" if i % 7 == 3 else "ping", "id": i}
            client.protocol.send_text(json.dumps(request).encode())
        client.sock.sendall(b"".join(client.protocol.data_to_send()))
        replies: list[dict[str, Any]] = []
        while len(replies) < BURST:
            reply = client.next_message()
            if reply.get("type") in ("pong", "error"):
                replies.append(reply)
        assert [r["id"] for r in replies] == list(range(BURST))
        assert [r["type"] for r in replies] == [
            "error" if i % 7 == 3 else "pong" for i in range(BURST)]
        assert all(r["code"] == "unknown_type" for r in replies if r["type"] == "error")
    finally:
        client.close()


def test_replies_to_one_read_go_out_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    inline_calls = 0
    queued: list[str] = []
    reads = 0
    writes_after_handshake = 0
    real_write = asyncio.selector_events._SelectorSocketTransport.write  # type: ignore[attr-defined]
    real_buffer_updated = WebSocketProtocol.buffer_updated
    handshake_done = False
    writes_for_echoes: list[int] = []

    def counting_write(self: Any, data: bytes) -> None:
        nonlocal writes_after_handshake
        if handshake_done:
            writes_after_handshake += 1
        real_write(self, data)

    def counting_buffer_updated(self: WebSocketProtocol, nbytes: int) -> None:
        nonlocal reads
        if handshake_done:
            reads += 1
        real_buffer_updated(self, nbytes)

    monkeypatch.setattr(asyncio.selector_events._SelectorSocketTransport, "write",  # type: ignore[attr-defined]
                        counting_write)
    monkeypatch.setattr(WebSocketProtocol, "buffer_updated", counting_buffer_updated)

    async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Echoes inline (upper-cased); whatever is queued is echoed by this task."""
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        protocol: WebSocketProtocol = scope["extensions"][PROTOCOL_EXTENSION]

        def take(text: str) -> bool:
            nonlocal inline_calls
            inline_calls += 1
            protocol.send_text_now(text.upper())
            return True

        protocol.inline_receiver = take
        while (message := await receive())["type"] == "websocket.receive":
            queued.append(message["text"])
            await send({"type": "websocket.send", "text": message["text"].upper()})

    async def main() -> list[str]:
        nonlocal handshake_done
        async with embedded_server(echo_app) as url:
            client = await asyncio.to_thread(SilentClient, url, 1 << 20)
            handshake_done = True
            try:
                for i in range(BURST):
                    client.protocol.send_text(f"m{i}".encode())
                burst = b"".join(client.protocol.data_to_send())
                await asyncio.to_thread(client.sock.sendall, burst)
                echoes: list[str] = []

                def read_all() -> None:
                    while len(echoes) < BURST:
                        client.sock.settimeout(10)
                        data = client.sock.recv(65536)
                        assert data, "closed early"
                        client.protocol.receive_data(data)
                        echoes.extend(event.data.decode() for event in
                                      client.protocol.events_received()
                                      if getattr(event, "opcode", None) is Opcode.TEXT)

                await asyncio.to_thread(read_all)
                writes_for_echoes.append(writes_after_handshake)  # not the close at the end
                return echoes
            finally:
                client.close()

    echoes = asyncio.run(main())

    assert echoes == [f"M{i}" for i in range(BURST)]
    # A burst this small comes in one read (one loopback segment); its first messages are
    # answered inline, the rest queued for the app's task, in order.
    assert reads == 1
    assert inline_calls == INLINE_MESSAGES_PER_READ
    assert queued == [f"m{i}" for i in range(INLINE_MESSAGES_PER_READ, BURST)]
    # All inline replies in one write; each queued one sent by the task on its own.
    assert writes_for_echoes == [1 + len(queued)]


def test_a_message_the_receiver_declines_is_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn_host, "INLINE_MESSAGES_PER_READ", 4)
    offered: list[str] = []
    queued: list[str] = []

    async def declining_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        protocol: WebSocketProtocol = scope["extensions"][PROTOCOL_EXTENSION]
        protocol.inline_receiver = lambda text: bool(offered.append(text))  # always False
        while (message := await receive())["type"] == "websocket.receive":
            queued.append(message["text"])
            await send({"type": "websocket.send", "text": "ok"})

    async def main() -> None:
        async with embedded_server(declining_app) as url:
            client = await asyncio.to_thread(SilentClient, url, 1 << 20)
            try:
                for i in range(3):
                    client.protocol.send_text(f"m{i}".encode())
                await asyncio.to_thread(client.sock.sendall,
                                        b"".join(client.protocol.data_to_send()))
                async with asyncio.timeout(10):
                    while len(queued) < 3:
                        await asyncio.sleep(0.01)
            finally:
                client.close()

    asyncio.run(main())
    # Offered while the queue was empty; declined, so queued, and the messages behind it
    # were not offered (they would have overtaken it).
    assert offered == ["m0"]
    assert queued == ["m0", "m1", "m2"]


def test_the_read_buffer_is_shared_and_what_came_is_copied_out() -> None:
    """Two connections reading in turn get their own data (the buffer is reused)."""
    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    async def main() -> tuple[str, str]:
        async with embedded_server(echo) as url:
            a = await asyncio.to_thread(SilentClient, url, 1 << 20)
            b = await asyncio.to_thread(SilentClient, url, 1 << 20)
            try:
                a.protocol.send_text(("a" * 5000).encode())
                b.protocol.send_text(b"b")
                for client in (a, b):
                    await asyncio.to_thread(client.sock.sendall,
                                            b"".join(client.protocol.data_to_send()))

                def echo_of(client: SilentClient) -> str:
                    while True:
                        for event in client.protocol.events_received():
                            if getattr(event, "opcode", None) is Opcode.TEXT:
                                return event.data.decode()
                        client.sock.settimeout(10)
                        data = client.sock.recv(65536)
                        assert data, "closed early"
                        client.protocol.receive_data(data)

                return (await asyncio.to_thread(echo_of, a),
                        await asyncio.to_thread(echo_of, b))
            finally:
                a.close()
                b.close()

    assert asyncio.run(main()) == ("a" * 5000, "b")


def test_corked_transport_writes_in_order_once_and_flushes_before_closing() -> None:
    """On a real socket pair: held while corked, one write on uncork, close sends first."""
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        corked = uvicorn_host.CorkedTransport(transport)  # type: ignore[arg-type]
        corked.corked = True
        corked.write(b"one ")
        corked.write(b"two ")
        assert corked.get_write_buffer_size() == 8  # held bytes count as unsent
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)  # nothing on the wire yet
        corked.uncork()
        corked.corked = True
        corked.write(b"three")
        corked.close()  # sends what is held, then closes
        theirs.setblocking(True)
        theirs.settimeout(5)
        received = b""
        while chunk := await asyncio.to_thread(theirs.recv, 100):
            received += chunk
        theirs.close()
        return received

    assert asyncio.run(main()) == b"one two three"


def test_an_http_reply_leaves_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn writes a response's head and body separately; both leave in one send."""
    writes: list[bytes] = []
    real_write = asyncio.selector_events._SelectorSocketTransport.write  # type: ignore[attr-defined]

    def counting_write(self: Any, data: bytes) -> None:
        writes.append(bytes(data))
        real_write(self, data)

    monkeypatch.setattr(asyncio.selector_events._SelectorSocketTransport, "write",  # type: ignore[attr-defined]
                        counting_write)

    async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    async def main() -> bytes:
        async with embedded_server(hello) as url:
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                for _ in range(3):  # keep-alive: every response in one send
                    writer.write(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    head = await reader.readuntil(b"\r\n\r\n")
                    body = await reader.readexactly(5)
                return head + body
            finally:
                writer.close()

    # The client's own writes go through the same transport class: count the server's.
    reply = asyncio.run(main())
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"hello")
    server_writes = [w for w in writes if w.startswith(b"HTTP/1.1 200")]
    assert len(server_writes) == 3
    assert all(w.endswith(b"\r\n\r\nhello") for w in server_writes), server_writes
