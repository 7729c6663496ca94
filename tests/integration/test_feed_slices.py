"""A burst of frames read at once is parsed over several turns of the loop, in order.

The embedded server with a minimal ASGI app on a plain asyncio loop, a raw client that
writes 3,000 pings in one ``sendall``. A callback that reschedules itself counts the
loop's turns; a spy on the protocol notes the turn in which each message was parsed.
With the turn budget at zero every slice ends a turn, so the count per turn is exact.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from codette_desktop.server import uvicorn_host
from codette_desktop.server.uvicorn_host import FEED_SLICE_BYTES, WebSocketProtocol

from embedded_server import embedded_server
from silent_client import SilentClient

BURST = 3000
RECEIVED: list[str] = []


async def receive_all(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accept, then take messages until the client leaves; keep their texts."""
    assert scope["type"] == "websocket"
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        RECEIVED.append(message["text"])


def test_a_burst_read_at_once_is_parsed_a_slice_per_turn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn_host, "FEED_TURN_S", 0.0)
    RECEIVED.clear()
    turn = 0
    parsed_in_turn: Counter[int] = Counter()
    original = WebSocketProtocol.send_receive_event_to_app

    def spy(self: WebSocketProtocol) -> None:
        parsed_in_turn[turn] += 1
        original(self)

    monkeypatch.setattr(WebSocketProtocol, "send_receive_event_to_app", spy)

    async def main() -> None:
        nonlocal turn
        loop = asyncio.get_running_loop()
        ticking = True

        def tick() -> None:
            nonlocal turn
            turn += 1
            if ticking:
                loop.call_soon(tick)

        async with embedded_server(receive_all) as url:
            client = await asyncio.to_thread(SilentClient, url, 1 << 20)
            burst = b"".join(client.frames({"type": "ping", "id": i}, 1)
                             for i in range(BURST))
            tick()
            await asyncio.to_thread(client.sock.sendall, burst)
            async with asyncio.timeout(30):
                while len(RECEIVED) < BURST:
                    await asyncio.sleep(0.01)
            ticking = False
            client.close()

    asyncio.run(main())

    assert [json.loads(text)["id"] for text in RECEIVED] == list(range(BURST))
    frame_bytes = len(json.dumps({"type": "ping", "id": BURST}).encode()) + 6
    per_slice = FEED_SLICE_BYTES // 20 + 2  # the shortest frame here is over 20 bytes
    assert sum(parsed_in_turn.values()) == BURST
    # Unsliced, a 256 KiB read of these would be parsed in one turn (thousands of frames).
    assert max(parsed_in_turn.values()) <= per_slice, parsed_in_turn.most_common(3)
    assert len(parsed_in_turn) >= BURST * frame_bytes // FEED_SLICE_BYTES // 2
