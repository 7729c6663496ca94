"""A Codette WebSocket client in Python (3.11+, ``pip install "websockets>=15"``).

    python client.py [ws://127.0.0.1:8000/ws]

One reader task receives every frame and routes replies to the request with the same
``id``, so requests can run concurrently and pushes (``server_status``) are handled too.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import math
import struct
import sys
import wave
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

DEFAULT_URL = "ws://127.0.0.1:8000/ws"


class CodetteError(Exception):
    """An ``error`` reply: ``code`` is one of the protocol's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class CodetteClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._loop = asyncio.get_running_loop()
        self.welcome: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self.on_push: Callable[[dict[str, Any]], None] = lambda message: None
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[asyncio.Future[dict[str, Any]], Callable[[str], None]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self._dispatch(json.loads(frame))
        finally:  # the connection closed: fail whatever is still waiting
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self._pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "connection":
            self.welcome.set_result(message)
            return
        waiter = self._pending.get(str(message.get("id")))
        if waiter is None:
            self.on_push(message)  # server_status, connection_event, audio_levels, ...
        elif message["type"] == "chat_chunk":
            waiter[1](message["delta"])
        elif not waiter[0].done():
            if message["type"] == "error":
                waiter[0].set_exception(CodetteError(message["code"], message["message"]))
            else:
                waiter[0].set_result(message)

    async def request(
        self, type_: str, on_chunk: Callable[[str], None] = lambda delta: None,
        timeout: float = 30, **fields: Any,
    ) -> dict[str, Any]:
        """Send one request and wait for its reply (chat chunks go to ``on_chunk``)."""
        request_id = f"py-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[request_id] = (future, on_chunk)
        try:
            await self.ws.send(json.dumps({"type": type_, "id": request_id, **fields}))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)


def sine_wav(seconds: float = 2.0, rate: int = 44100, freq: float = 440.0) -> bytes:
    """A 16-bit stereo WAV of a sine at -12 dBFS, made in memory."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        sample = round(0.25 * 32767 * math.sin(2 * math.pi * freq * n / rate))
        frames += struct.pack("<hh", sample, sample)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


async def main(url: str) -> None:
    # proxy=None: the server is on this machine, never reach it through an HTTP proxy.
    async with connect(url, proxy=None, max_size=2**20) as ws:
        client = CodetteClient(ws)
        welcome = await asyncio.wait_for(client.welcome, timeout=10)
        print(f"connected as {welcome['client_id']} to server {welcome['server_version']}")

        pong = await client.request("ping")
        print(f"pong at {pong['timestamp']}")

        status = await client.request("status")
        print(f"status: {status['status']}, {status['active_connections']} connection(s)")

        perspectives = await client.request("perspectives")
        print("perspectives:", ", ".join(p["name"] for p in perspectives["perspectives"]))

        answer = await client.request(
            "chat",
            message="How do I make my vocal sit in the mix?",
            perspective="mix_engineering",
            daw_context={
                "tracks": [{"id": "t1", "name": "Lead Vox", "type": "vocal", "volume": -6.0,
                            "peak_level": -3.2, "rms_level": -18.5}],
                "selected_track": {"id": "t1", "name": "Lead Vox", "type": "vocal"},
                "bpm": 120,
            },
            stream=True,
            on_chunk=lambda delta: print(delta, end="", flush=True),
        )
        print(f"\nchat_response: confidence {answer['confidence']:.2f}")

        # The first analysis after start-up waits for the analysis worker: allow time.
        report = await client.request(
            "analyze", timeout=180,
            track_data={"track_id": "t1", "track_name": "Sine test", "track_type": "audio"},
            analysis_type="full",
            audio={"format": "wav", "data": base64.b64encode(sine_wav()).decode("ascii")},
        )
        if report["status"] != "success":
            raise CodetteError(report["code"], report["message"])
        measurements = report["analysis"]["measurements"]
        print(f"analysis: {measurements['integrated_lufs']:.1f} LUFS, "
              f"true peak {measurements['true_peak_dbtp']:.1f} dBTP, "
              f"quality {report['analysis']['quality_score']:.2f}")

        try:
            await client.request("chat", message="")
        except CodetteError as exc:
            print(f"an empty message is refused: {exc.code}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL))
