"""Shared fixtures. The app runs as a real subprocess; clients are real websockets clients."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_process import AppProcess, running_app
from llm_server import NOT_BUILT, LLMServer, running_llm_server, server_paths


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """One headless app for the session (tests that need a fresh one start their own)."""
    with running_app(tmp_path_factory.mktemp("codette-data")) as app:
        yield app


class Client:
    """A synchronous websockets client that skips pushes it was not waiting for."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, open_timeout=10, max_size=None, legacy=True, **kwargs)
        self.welcome = self.recv()

    def send(self, message: dict[str, Any] | str) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float = 30.0) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def request(self, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send and return the reply with the same id (``id`` is added if missing)."""
        message = {"id": f"t{id(message)}", **message}
        self.send(message)
        while True:
            reply = self.recv(timeout)
            if reply.get("id") == message["id"] and reply["type"] != "chat_chunk":
                return reply

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def client(app_server: AppProcess) -> Iterator[Client]:
    c = Client(app_server.ws_url)
    yield c
    c.close()


@pytest.fixture(scope="session")
def llm_server_paths() -> tuple[Path, Path]:
    """The model server's python and GGUF model (tests that need them are marked ``llm``)."""
    paths = server_paths()
    if paths is None:
        pytest.skip(NOT_BUILT)
    return paths


@pytest.fixture(scope="session")
def llm_server(llm_server_paths: tuple[Path, Path]) -> Iterator[LLMServer]:
    """One llama.cpp server with SmolLM2-135M for the session (tests that kill it or need
    other options start their own with ``running_llm_server``)."""
    with running_llm_server(llm_server_paths) as server:
        yield server
