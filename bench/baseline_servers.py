"""Baselines for bench/ws_bench.py, each in a process of its own.

    python bench/baseline_servers.py plain   # plain asyncio + websockets.serve
    python bench/baseline_servers.py stack   # uvicorn (httptools, websockets sans-I/O) on a
                                             # qasync loop: the app's stack with nothing on it

Both print ``READY <port>`` once listening. They answer the same messages as the app with
nothing behind them: ``ping`` → ``pong`` on ``/ws``; the ``stack`` server also answers
``GET /health`` and ``POST /codette/chat`` (a fixed reply to any JSON body), so the HTTP
leg measures the stack, not the chat engine.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from datetime import UTC, datetime
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _pong(frame: str | bytes) -> str:
    message = json.loads(frame)
    reply = {"type": "pong", "timestamp": _now()}
    if "id" in message:
        reply["id"] = message["id"]
    return json.dumps(reply)


WELCOME = json.dumps({"type": "connection", "status": "connected"})


async def plain() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        await ws.send(WELCOME)
        async for frame in ws:
            await ws.send(_pong(frame))

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        print(f"READY {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await asyncio.Future()


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": WELCOME})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send",
                        "text": _pong(message.get("text") or message.get("bytes"))})
    elif scope["type"] == "http":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/codette/chat":
            json.loads(body)
            reply = {"response": "ok", "confidence": 0.5, "timestamp": _now()}
        else:
            reply = {"status": "healthy", "timestamp": _now()}
        payload = json.dumps(reply).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def stack() -> None:
    import qasync
    import uvicorn
    from PySide6.QtCore import QCoreApplication

    app = QCoreApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    # IPPROTO_TCP: asyncio disables Nagle only on sockets that say they are TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(asgi_app, http="httptools", ws="websockets-sansio",
                            lifespan="off", log_config=None, access_log=False,
                            ws_per_message_deflate=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        print(f"READY {sock.getsockname()[1]}", flush=True)
        await asyncio.Future()

    with loop:
        loop.run_until_complete(run())


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "plain"
    try:
        if kind == "plain":
            asyncio.run(plain())
        elif kind == "stack":
            stack()
        else:
            sys.exit(f"unknown baseline {kind!r}: plain or stack")
    except KeyboardInterrupt:
        sys.exit(0)
