"""Run llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) with SmolLM2-135M for
the `llm` tests and bench/llm_bench.py. scripts/setup-llm-server.sh builds it and writes
where the python and the model are; ``LLM_SERVER_PYTHON``/``LLM_SERVER_MODEL`` override.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
ENV_FILE = REPO / ".venv-llm" / "llm-server.env"
MODEL_ALIAS = "smollm2-135m-instruct"
# Sized for the tests: the grounded prompt is ~450 tokens, answers are capped well below.
N_CTX = 2048
NOT_BUILT = "llama.cpp's model server is not built: run scripts/setup-llm-server.sh"
# On a machine shared with other work llama.cpp's second thread mostly waits for the first
# (measured here under load: 3.5 tokens/s with 2 threads, 35-50 with 1); the tests that
# chat through the app run one thread so that a full answer takes seconds, not minutes.
APP_TEST_THREADS = 1


def server_paths() -> tuple[Path, Path] | None:
    """(python of .venv-llm, the GGUF model), or None when the setup script has not run."""
    values = dict(os.environ)
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), value.strip())
    python, model = values.get("LLM_SERVER_PYTHON"), values.get("LLM_SERVER_MODEL")
    if not python or not model or not Path(python).exists() or not Path(model).exists():
        return None
    return Path(python), Path(model)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LLMServer:
    process: subprocess.Popen[str]
    port: int
    model: str = MODEL_ALIAS
    started_s: float = 0.0  # launch to the first model list
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=5000))  # its output

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def connections(self) -> int:
        """Established TCP connections on the server's port (clients being served)."""
        conns = psutil.Process(self.process.pid).net_connections(kind="tcp")
        return sum(1 for c in conns
                   if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port)

    def wait_for_line(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no server log line with {text!r} within {timeout} s:\n"
                             + "\n".join(list(self.lines)[-20:]))

    def kill(self) -> None:
        """SIGKILL: the way a crashed model server goes, with no goodbye on the socket."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running_llm_server(paths: tuple[Path, Path], *, api_key: str | None = None,
                       threads: int = 2, n_ctx: int = N_CTX,
                       timeout: float = 60.0) -> Iterator[LLMServer]:
    """Start the server on a free loopback port, wait for ``GET /v1/models``, stop it after.

    Requests are queued rather than interrupting the one in progress (llama-cpp-python's
    default interrupts it; Ollama and LM Studio queue), so concurrent tests see a real queue.
    """
    python, model = paths
    port = free_port()
    command = [str(python), "-m", "llama_cpp.server", "--model", str(model),
               "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(n_ctx), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--interrupt_requests", "False"]
    if api_key:
        command += ["--api_key", api_key]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace")
    server = LLMServer(process, port)
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: server.lines.extend(stdout), daemon=True)
    reader.start()
    try:
        _wait_until_serving(server, api_key, started + timeout)
        server.started_s = time.monotonic() - started
        yield server
    finally:
        server.stop()
        reader.join(timeout=5)


def _wait_until_serving(server: LLMServer, api_key: str | None, deadline: float) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/models", headers=headers, timeout=2).is_success:
                return
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("llama.cpp's server did not serve its model list:\n"
                       + "\n".join(list(server.lines)[-30:]))


@dataclass
class ProxiedConnection:
    """One client connection through a :class:`RecordingProxy`: what the client sent, and
    what the server answered with the ``time.monotonic()`` at which it was passed on."""

    sent: bytearray = field(default_factory=bytearray)
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() of each read
    answered: list[tuple[float, bytes]] = field(default_factory=list)
    closed_at: float | None = None  # time.monotonic() when the client closed its side

    def client_sent(self, data: bytes) -> None:
        self.sent_at.append(time.monotonic())
        self.sent.extend(data)

    def requests(self) -> list[tuple[str, Any]]:
        """(request line, JSON body or None) of every request on this connection."""
        out: list[tuple[str, Any]] = []
        data = bytes(self.sent)
        while data:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if not sep:
                break
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                           if line.lower().startswith("content-length:")), 0)
            body, data = rest[:length], rest[length:]
            out.append((lines[0], json.loads(body) if body else None))
        return out


@dataclass
class RecordingProxy:
    port: int = 0
    connections: list[ProxiedConnection] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[Any]:
        """The JSON bodies of every chat completion requested through the proxy."""
        return [body for conn in list(self.connections) for line, body in conn.requests()
                if line.startswith("POST ") and "/chat/completions" in line]


@contextmanager
def recording_proxy(upstream_port: int) -> Iterator[RecordingProxy]:
    """A loopback TCP proxy to the model server that records what passes, in threads of
    its own (usable from asyncio code and from tests driving the app in a subprocess)."""
    proxy = RecordingProxy()
    listener = socket.create_server(("127.0.0.1", 0))
    proxy.port = listener.getsockname()[1]
    sockets: list[socket.socket] = [listener]

    def pipe(src: socket.socket, dst: socket.socket, record: Any,
             ended: Any = None) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                record(data)
                dst.sendall(data)
        if ended is not None:
            ended()
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
            sockets.extend((client, upstream))
            conn = ProxiedConnection()
            proxy.connections.append(conn)
            threading.Thread(target=pipe, daemon=True, args=(
                client, upstream, conn.client_sent,
                lambda c=conn: setattr(c, "closed_at", time.monotonic()))).start()
            threading.Thread(target=pipe, daemon=True, args=(
                upstream, client, lambda data, c=conn: c.answered.append(
                    (time.monotonic(), data)))).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        thread.join(timeout=5)
