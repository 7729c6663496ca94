"""The HTTP API on the WebSocket's port, against the real app: every route the DAW
frontend calls (FRONTEND_CONTRACT.md §2-3), the CORS and preflight rules, and bad bodies.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any

import pytest

from app_process import AppProcess
from conftest import Client

FRONTEND = "http://localhost:5173"
# What CodettePanel sends with a chat (FRONTEND_CONTRACT.md §2, POST /codette/chat).
PANEL_CONTEXT = {
    "selected_track": {"id": "t1", "name": "Lead Vox", "type": "audio", "volume": -6.0,
                       "pan": 0.0, "muted": False, "soloed": False, "armed": False,
                       "inserts": 2, "sends": 1},
    "tracks": [{"id": "t1", "name": "Lead Vox", "type": "audio", "muted": False,
                "soloed": False},
               {"id": "t2", "name": "Kick", "type": "audio", "muted": False, "soloed": False}],
    "track_counts": {"total": 2, "audio": 2, "instrument": 0, "midi": 0, "aux": 0, "vca": 0,
                     "master": 0},
    "is_playing": False, "current_time": 0, "bpm": 120, "time_signature": "4/4",
}


def call(app: AppProcess, method: str, path: str, body: Any = None, *,
         origin: str | None = FRONTEND, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    """One request like the frontend's fetch: JSON in and out, Origin set."""
    conn = http.client.HTTPConnection(app.host, app.port, timeout=30)
    sent = dict(headers or {})
    if origin is not None:
        sent["Origin"] = origin
    payload = raw
    if body is not None:
        payload = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        data = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    parsed: Any = None
    if data and got.get("content-type", "").startswith("application/json"):
        parsed = json.loads(data)
    return response.status, got, parsed


def test_health_is_readable_by_the_page(app_server: AppProcess) -> None:
    for path in ("/health", "/api/health"):
        status, headers, body = call(app_server, "GET", path)
        assert status == 200 and body["status"] == "healthy"
        assert headers["access-control-allow-origin"] == FRONTEND
        assert headers["content-type"] == "application/json"
        assert "date" in headers


@pytest.mark.parametrize("origin", ["null", "http://localhost:4173", "http://127.0.0.1:5173"])
def test_preflight_for_the_frontends_headers(app_server: AppProcess, origin: str) -> None:
    status, headers, _ = call(app_server, "OPTIONS", "/codette/status", origin=origin, headers={
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "content-type, accept, x-codette-request, authorization",
    })
    if origin == "null":  # file:// pages only when the user allowed them (default: no)
        assert status == 403 and "access-control-allow-origin" not in headers
        return
    assert status == 204
    assert headers["access-control-allow-origin"] == origin
    for name in ("content-type", "accept", "x-codette-request", "authorization"):
        assert name in headers["access-control-allow-headers"]
    assert "GET" in headers["access-control-allow-methods"]


def test_a_disallowed_origin_is_refused_before_any_handler_runs(app_server: AppProcess,
                                                                tmp_path: Any) -> None:
    client = Client(app_server.ws_url)
    before = client.request({"type": "status"})["memory_size"]
    # A cross-site "simple" POST (text/plain, no preflight) must not reach the chat.
    status, headers, body = call(app_server, "POST", "/codette/chat", origin="http://evil.example",
                                 raw=b'{"message": "write this into memory"}',
                                 headers={"Content-Type": "text/plain"})
    assert status == 403 and body["code"] == "not_authorized"
    assert "access-control-allow-origin" not in headers
    assert client.request({"type": "status"})["memory_size"] == before
    client.close()


def test_chat_is_a_chat(app_server: AppProcess) -> None:
    status, headers, body = call(app_server, "POST", "/codette/chat", {
        "message": "How should I compress a lead vocal?", "perspective": "mix_engineering",
        "daw_context": PANEL_CONTEXT})
    assert status == 200 and headers["access-control-allow-origin"] == FRONTEND
    assert isinstance(body["response"], str) and len(body["response"]) > 80
    assert 0 < body["confidence"] <= 1
    assert body["perspective"] == "mix_engineering" and body["engine"] == "builtin"
    assert body["source"] and body["session_id"] and body["sources"]
    assert any(s["id"].startswith("vocal") for s in body["sources"])
    # The fader at -6 dB is not a measured level: no "peaks at -6 dBFS" story.
    assert "-6.0 dBFS" not in body["response"]


def test_rest_history_shows_that_frontend_its_own_conversation(app_server: AppProcess) -> None:
    origin = "http://localhost:5174"
    question = "What does a high-pass filter do on a vocal? (history test)"
    assert call(app_server, "POST", "/api/codette/chat", {"message": question},
                origin=origin)[0] == 200
    status, _, body = call(app_server, "GET", "/api/codette/history?limit=20", origin=origin)
    assert status == 200
    contents = [item["content"] for item in body["interactions"]]
    assert question in contents
    for item in body["interactions"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["timestamp"].endswith("+00:00")
    # Another page's history does not hold it.
    other = call(app_server, "GET", "/api/codette/history?limit=20", origin="http://localhost:3000")
    assert question not in [item["content"] for item in other[2]["interactions"]]
    # One interaction by id; unknown ids are a 4xx, never a 500.
    first = body["interactions"][0]["id"]
    status, _, entry = call(app_server, "GET", f"/api/codette/memory/{first}", origin=origin)
    assert status == 200 and entry["entry"]["id"] == first
    assert call(app_server, "GET", f"/api/codette/memory/{first}",
                origin="http://localhost:3000")[0] == 422
    assert call(app_server, "GET", "/api/codette/memory/nope", origin=origin)[0] == 422


def test_status_carries_the_status_response_fields(app_server: AppProcess) -> None:
    for path in ("/codette/status", "/api/codette/status"):
        status, headers, body = call(app_server, "GET", path,
                                     headers={"Content-Type": "application/json"})
        assert status == 200 and headers["access-control-allow-origin"] == FRONTEND
        assert body["status"] == "ok" and body["protocol_version"] == "1"
        assert isinstance(body["memory_size"], int)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/codette/chat", {}, "message"),
     ("/codette/chat", {"message": 5}, "message"),
     ("/codette/chat", {"message": "hi", "perspective": "astrology"}, "perspective"),
     ("/codette/chat", {"message": "hi", "daw_context": {"tracks": "all"}},
      "daw_context.tracks"),
     ("/codette/chat", {"message": "hi", "daw_context": {"selected_track": {"volume": "loud"}}},
      "daw_context.selected_track.volume")],
)
def test_a_body_of_the_wrong_shape_gets_a_4xx_naming_the_field(
        app_server: AppProcess, path: str, body: Any, field: str) -> None:
    status, headers, reply = call(app_server, "POST", path, body)
    assert 400 <= status < 500
    assert reply["field"] == field and reply["code"] == "invalid_field"
    assert headers["access-control-allow-origin"] == FRONTEND  # errors are readable too


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bad_json_bodies_are_400(app_server: AppProcess, raw: bytes) -> None:
    status, _, reply = call(app_server, "POST", "/codette/chat", raw=raw,
                            headers={"Content-Type": "application/json"})
    assert status == 400 and reply["code"] in ("invalid_json", "invalid_message")


def test_oversized_bodies_are_refused_before_they_are_read(app_server: AppProcess) -> None:
    status, _, reply = call(app_server, "POST", "/codette/chat",
                            raw=b'{"message": "' + b"a" * (2 * 1024 * 1024) + b'"}',
                            headers={"Content-Type": "application/json"})
    assert status == 413 and reply["code"] == "payload_too_large"


def test_unknown_routes_and_methods(app_server: AppProcess) -> None:
    status, headers, body = call(app_server, "GET", "/codette/process")
    assert status == 404 and body["code"] == "not_found"
    assert headers["access-control-allow-origin"] == FRONTEND
    assert call(app_server, "GET", "/codette/chat")[0] == 405
    assert call(app_server, "DELETE", "/health")[0] == 405
    assert 400 <= call(app_server, "GET", "/ws")[0] < 500


def test_keep_alive_serves_many_requests_on_one_connection(app_server: AppProcess) -> None:
    conn = http.client.HTTPConnection(app_server.host, app_server.port, timeout=10)
    try:
        for _ in range(20):
            conn.request("GET", "/health")
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read())["status"]
    finally:
        conn.close()


def test_a_silent_connection_is_closed_after_the_head_timeout(app_server: AppProcess) -> None:
    """uvicorn alone would keep a socket that never sends a request open for good."""
    sock = socket.create_connection((app_server.host, app_server.port), timeout=30)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 25
    finally:
        sock.close()

