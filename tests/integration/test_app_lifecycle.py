"""The app process: start, logs, shutdown on signals, port conflicts, persistence."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from app_process import REPO, app_env, running_app, start_app
from conftest import Client


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_clients_with_1001_and_exits_0(tmp_path: Path, signum: int) -> None:
    app = start_app(tmp_path)
    clients = [Client(app.ws_url) for _ in range(3)]
    started = time.monotonic()
    app.process.send_signal(signum)
    for c in clients:
        with pytest.raises(ConnectionClosed) as info:
            c.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert app.process.wait(timeout=5) == 0
    assert time.monotonic() - started < 2.0


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(REPO / "main.py"), "--headless", "--port", str(port)],
            env=app_env(tmp_path), capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(error_lines) == 1 and str(port) in error_lines[0]
    assert "Traceback" not in result.stderr


def test_invalid_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"port": "eighty"}))
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--headless", "--config", str(config)],
        env=app_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "port" in result.stderr and "Traceback" not in result.stderr


def test_logs_connection_lifecycle_to_rotating_file(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        c = Client(app.ws_url)
        c.request({"type": "ping"})
        c.close()
        app.wait_for_line(r"WebSocket cleanup: .* \(remaining: 0\)")
    log = (tmp_path / "logs" / "server.log").read_text()
    assert "SERVER READY - ws://127.0.0.1:" in log
    assert "WebSocket connected:" in log and "(total: 1)" in log
    assert "WebSocket disconnected:" in log
    assert "(remaining: 0)" in log


def test_log_records_each_received_type(tmp_path: Path) -> None:
    with running_app(tmp_path, ("--headless", "--port", "0", "--log-level", "DEBUG")) as app:
        c = Client(app.ws_url)
        c.request({"type": "status"})
        c.close()
        app.wait_for_line(r"received: status")


def test_memory_survives_restart_and_kill_9(tmp_path: Path) -> None:
    # A native client comes back to its conversation with the server-issued session id
    # (a secret), not with an id of its own, which is scoped to its connection.
    with running_app(tmp_path) as app:
        c = Client(app.ws_url)
        session = c.request({"type": "chat", "message": "How do I EQ a bass guitar?"})[
            "session_id"]
        assert session.startswith("cs_")
        c.close()
    with running_app(tmp_path) as app:
        c = Client(app.ws_url)
        history = c.request({"type": "history", "session_id": session})["messages"]
        assert [m["role"] for m in history] == ["user", "assistant"]
        c.request({"type": "chat", "message": "And the kick?", "session_id": session})
        c.close()
        workers = psutil.Process(app.process.pid).children(recursive=True)
        assert workers  # the analysis worker processes
        app.process.kill()  # no chance to flush anything
        app.process.wait(timeout=10)
        # Orphaned workers notice and exit on their own.
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, alive
    with running_app(tmp_path) as app:
        c = Client(app.ws_url)
        history = c.request({"type": "history", "session_id": session})["messages"]
        assert len(history) == 4 and history[2]["text"] == "And the kick?"
        status = c.request({"type": "status"})
        assert status["memory_size"] >= 4
        c.close()
    assert (tmp_path / "memory.sqlite3").exists()


def test_ready_line_is_printed_at_any_log_level(tmp_path: Path) -> None:
    with running_app(tmp_path, ("--headless", "--port", "0", "--log-level", "ERROR")) as app:
        assert app.port > 0
        assert not any("WebSocket connected" in line for line in app.lines)
