"""``codette-ws-test`` as a user runs it: a subprocess against the real app, a closed port
and fake servers that break the contract in one way each."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from static_server import serve_static
from websockets.sync.server import ServerConnection, serve

from app_process import AppProcess, running_app

REPO = Path(__file__).resolve().parents[2]
STEPS = ("connect", "connection", "pong", "status_response", "chat_response")


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "codette_desktop.cli.ws_test", *args],
        cwd=REPO, env=env, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
    )


def step_lines(stdout: str) -> dict[str, str]:
    """``{step name: mark}`` for each ``✓ name`` / ``✗ name`` line."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^([✓✗]) (\S+)", stdout, re.M)}


def test_passes_against_the_real_app(app_server: AppProcess) -> None:
    result = run_cli("--url", app_server.ws_url, "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert step_lines(result.stdout) == dict.fromkeys(STEPS, "✓")
    assert "All 5 checks passed" in result.stdout
    # Each step line has a timing, and the welcome line names this connection's id,
    # which the server logged when it accepted the connection.
    assert all(re.search(rf"^✓ {s}\s+\d+\.\d ms  \S", result.stdout, re.M) for s in STEPS)
    client_id = re.search(r"client (c\d+-[0-9a-f]{6})", result.stdout)
    assert client_id, result.stdout
    app_server.wait_for_line(rf"WebSocket connected: {client_id.group(1)} ")
    assert re.search(r"confidence (0|1)\.\d\d, mix_engineering: \"", result.stdout)


def test_verbose_prints_the_replies(app_server: AppProcess) -> None:
    result = run_cli("--url", app_server.ws_url, "--timeout", "30", "-v")
    assert result.returncode == 0, result.stdout
    replies = [json.loads(line) for line in result.stdout.splitlines()
               if line.startswith("    {")]
    assert [r["type"] for r in replies] == [
        "connection", "pong", "status_response", "chat_response"]
    assert [r.get("id") for r in replies] == [None, "ws-test-1", "ws-test-2", "ws-test-3"]


def test_origin_header_is_checked_by_the_server(app_server: AppProcess) -> None:
    allowed = run_cli("--url", app_server.ws_url, "--origin", "http://localhost:5173")
    assert allowed.returncode == 0, allowed.stdout
    denied = run_cli("--url", app_server.ws_url, "--origin", "http://evil.example")
    assert denied.returncode == 1, denied.stdout
    assert step_lines(denied.stdout) == {"connect": "✗"}
    assert "HTTP 403" in denied.stdout and "Origin" in denied.stdout
    assert "FAILED" in denied.stdout


def test_http_mode_checks_the_frontends_routes(app_server: AppProcess) -> None:
    result = run_cli("--http", "--url", app_server.ws_url, "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = re.findall(r"^([✓✗]) (GET|POST) (\S+)", result.stdout, re.M)
    assert len(lines) == 11 and all(mark == "✓" for mark, _, _ in lines), result.stdout
    assert "All 11 HTTP checks passed" in result.stdout
    # The page's origin is refused: the first route already fails, and says why.
    denied = run_cli("--http", "--url", app_server.ws_url, "--origin", "http://evil.example")
    assert denied.returncode == 1
    assert re.search(r"^✗ GET /health .*HTTP 403", denied.stdout, re.M), denied.stdout


def test_http_mode_fails_when_a_reply_lacks_the_cors_header() -> None:
    """A server whose replies a page could not read (no CORS header) fails the check."""
    with serve_static(b'{"status": "healthy"}', "application/json") as origin:
        result = run_cli("--http", "--url", origin.replace("http://", "ws://") + "/ws")
    assert result.returncode == 1
    assert "no Access-Control-Allow-Origin: http://localhost:5173" in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_closed_port_fails_with_a_clear_message() -> None:
    port = free_port()
    result = run_cli("--url", f"ws://127.0.0.1:{port}/ws", "--timeout", "5")
    assert result.returncode == 1, result.stdout
    assert step_lines(result.stdout) == {"connect": "✗"}
    assert f"connection refused at 127.0.0.1:{port}" in result.stdout
    assert "is Codette Desktop running" in result.stdout


def test_usage_errors_exit_2() -> None:
    result = run_cli("--timeout", "0")
    assert result.returncode == 2
    assert "--timeout must be positive" in result.stderr


WELCOME = {"type": "connection", "status": "connected", "client_id": "fake-1",
           "server_version": "0", "protocol_version": "1", "capabilities": [],
           "timestamp": "2025-01-01T00:00:00+00:00"}
Behaviour = Callable[[dict[str, Any]], list[Any] | None]


def reply(type_: str, request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": request.get("id"), "timestamp": WELCOME["timestamp"], **fields}


def correct(request: dict[str, Any]) -> list[Any]:
    answers = {
        "ping": reply("pong", request),
        "status": reply("status_response", request, status="ok", engine_type="fake",
                        active_connections=1, uptime_s=1.0, memory_size=0),
        "chat": reply("chat_response", request, response="Cut mud around 300 Hz.",
                      perspective="mix_engineering", confidence=0.5),
    }
    return [answers[request["type"]]]


def wrong_type_for_ping(request: dict[str, Any]) -> list[Any]:
    if request["type"] == "ping":
        return [reply("status_response", request, status="ok")]
    return correct(request)


def error_for_chat(request: dict[str, Any]) -> list[Any]:
    if request["type"] == "chat":
        return [reply("error", request, code="internal_error", message="engine exploded")]
    return correct(request)


def no_id_echo(request: dict[str, Any]) -> list[Any]:
    return [{k: v for k, v in r.items() if k != "id"} for r in correct(request)]


def silent_on_status(request: dict[str, Any]) -> list[Any] | None:
    return None if request["type"] == "status" else correct(request)


def not_json(request: dict[str, Any]) -> list[Any]:
    return ["pong!"] if request["type"] == "ping" else correct(request)


def out_of_range_confidence(request: dict[str, Any]) -> list[Any]:
    if request["type"] == "chat":
        return [reply("chat_response", request, response="ok", confidence=7)]
    return correct(request)


def close_on_chat(request: dict[str, Any]) -> list[Any]:
    return [1011] if request["type"] == "chat" else correct(request)


@contextmanager
def fake_server(behaviour: Behaviour, *, welcome: bool = True) -> Iterator[str]:
    def handler(ws: ServerConnection) -> None:
        if welcome:
            ws.send(json.dumps(WELCOME))
        for frame in ws:
            for out in behaviour(json.loads(frame)) or []:
                if isinstance(out, int):
                    ws.close(out, "fake failure")
                    return
                ws.send(out if isinstance(out, str) else json.dumps(out))

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/ws"
        finally:
            server.shutdown()
            thread.join(5)


def test_fake_server_that_follows_the_contract_passes() -> None:
    # The control for the failure cases below: the same fake, answering correctly.
    with fake_server(correct) as url:
        result = run_cli("--url", url, "--timeout", "5")
    assert result.returncode == 0, result.stdout
    assert step_lines(result.stdout) == dict.fromkeys(STEPS, "✓")


@pytest.mark.parametrize(
    ("behaviour", "failed_step", "message"),
    [
        (wrong_type_for_ping, "pong", "expected pong after ping, got status_response"),
        (error_for_chat, "chat_response", "error reply to chat: internal_error: engine exploded"),
        (no_id_echo, "pong", "replies must echo the id"),
        (silent_on_status, "status_response", "no status_response within 1 s after status"),
        (not_json, "pong", "not JSON"),
        (out_of_range_confidence, "chat_response", "confidence 7 is not a number in 0..1"),
        (close_on_chat, "chat_response", "closed the connection (code 1011"),
    ],
)
def test_fake_server_breaking_the_contract_fails(
    behaviour: Behaviour, failed_step: str, message: str
) -> None:
    with fake_server(behaviour) as url:
        result = run_cli("--url", url, "--timeout", "1")
    assert result.returncode == 1, result.stdout
    marks = step_lines(result.stdout)
    assert marks[failed_step] == "✗", result.stdout
    assert list(marks.values()).count("✗") == 1  # it stops at the first failure
    assert message in result.stdout
    assert "FAILED" in result.stdout


def test_server_without_welcome_fails() -> None:
    with fake_server(correct, welcome=False) as url:
        result = run_cli("--url", url, "--timeout", "1")
    assert result.returncode == 1
    assert step_lines(result.stdout) == {"connect": "✓", "connection": "✗"}
    assert "no connection within 1 s after connecting" in result.stdout


def test_token_option(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", env={"CODETTE_AUTH_TOKEN": "s3cret"}) as app:
        without = run_cli("--url", app.ws_url)
        assert without.returncode == 1
        assert "HTTP 403 (A valid token is required)" in without.stdout
        wrong = run_cli("--url", app.ws_url, "--token", "guess")
        assert wrong.returncode == 1
        right = run_cli("--url", app.ws_url, "--token", "s3cret", "--timeout", "30")
        assert right.returncode == 0, right.stdout
        assert step_lines(right.stdout) == dict.fromkeys(STEPS, "✓")
