"""The app's embedded uvicorn server around a minimal ASGI app, for protocol-level tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from codette_desktop.server.uvicorn_host import EmbeddedServer, bind_socket, make_config


@contextlib.asynccontextmanager
async def embedded_server(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port of the running loop; yields the /ws URL."""
    sock = bind_socket("127.0.0.1", 0)
    server = EmbeddedServer(make_config(
        app, max_frame_bytes=1 << 20, head_timeout_s=5.0, max_connections=10,
        server_header="test"), sock)
    await server.start()
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"
    finally:
        await server.stop()
