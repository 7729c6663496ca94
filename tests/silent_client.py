"""A WebSocket client that stops reading: a raw socket with a tiny receive buffer.

Used by the security tests and bench/hostile_bench.py. It reads what it is told to read
(the handshake, a reply it waits for) and nothing else, so the server's replies and
pushes back up in the kernel's buffers and then in the server's.
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import termios
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

RECEIVE_BUFFER_BYTES = 4096


class SilentClient:
    """``receive_buffer``: small, so the server backs up at once; large (the kernel caps
    it at net.core.rmem_max), so the server can write on for a while."""

    def __init__(self, url: str, receive_buffer: int = RECEIVE_BUFFER_BYTES) -> None:
        self.protocol = ClientProtocol(parse_uri(url))
        parts = urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((parts.hostname, parts.port))
        request = self.protocol.connect()
        self.protocol.send_request(request)
        self._flush()
        # Read only the handshake response (and whatever came with it), then stop.
        self.sock.settimeout(10)
        data = self.sock.recv(65536)
        self.protocol.receive_data(data)
        assert self.protocol.handshake_exc is None
        self.closed = False
        self.received: Counter[str] = Counter()  # message types read so far
        self._backlog: list[dict[str, Any]] = []  # read, not taken by next_message yet

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def send(self, message: dict[str, Any]) -> bool:
        try:
            self.protocol.send_text(json.dumps(message).encode())
            self._flush()
            return True
        except OSError:
            return False

    def frames(self, message: dict[str, Any], count: int) -> bytes:
        """``count`` copies of ``message``, framed, to write at once (``sock.sendall``)."""
        text = json.dumps(message).encode()
        for _ in range(count):
            self.protocol.send_text(text)
        return b"".join(self.protocol.data_to_send())

    def read_until(self, type_: str, timeout: float = 10.0) -> dict[str, Any]:
        """Read until a message of ``type_`` arrives (then stop reading again).

        Everything read on the way is counted by type in ``received``.
        """
        deadline = time.monotonic() + timeout
        while True:
            for message in self._messages():
                if message.get("type") == type_:
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {type_!r} within {timeout} s")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed before a {type_!r} came")
            self.protocol.receive_data(data)

    def next_message(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next message, in the order the server sent them (reading as needed)."""
        deadline = time.monotonic() + timeout
        while not self._backlog:
            self._backlog.extend(self._messages())
            if self._backlog:
                break
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed before the next message came")
            self.protocol.receive_data(data)
        return self._backlog.pop(0)

    def _messages(self) -> list[dict[str, Any]]:
        out = []
        for event in self.protocol.events_received():
            if getattr(event, "opcode", None) is Opcode.TEXT:  # not the handshake response
                message = json.loads(event.data)
                self.received[message.get("type", "?")] += 1
                out.append(message)
        return out

    def unread_bytes(self) -> int:
        """Bytes the kernel holds for this client that it has not read."""
        return struct.unpack("i", fcntl.ioctl(self.sock, termios.FIONREAD, b"\0" * 4))[0]

    def closed_by_server(self) -> bool:
        """Has the server ended the connection? (reads what is left, to find out)."""
        if not self.closed:
            self.closed = self._read_to_close()
        return self.closed

    def _read_to_close(self) -> bool:
        self.sock.settimeout(0.2)
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    return True
                self.protocol.receive_data(data)
                for event in self.protocol.events_received():
                    if getattr(event, "opcode", None) is Opcode.CLOSE:
                        return True
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()
