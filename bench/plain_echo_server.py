"""Baseline for bench/ws_bench.py: the same ping/pong protocol on plain asyncio websockets.

Prints ``READY <port>`` once listening. No Qt, no validation, no logging, no observers.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve


async def handler(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "connection", "status": "connected",
                              "timestamp": datetime.now(UTC).isoformat()}))
    async for frame in ws:
        message = json.loads(frame)
        reply = {"type": "pong", "timestamp": datetime.now(UTC).isoformat()}
        if "id" in message:
            reply["id"] = message["id"]
        await ws.send(json.dumps(reply))


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
