"""The contract, message by message, with a real client against the real app process."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from app_process import AppProcess, running_app
from conftest import Client


def test_welcome_is_first_and_complete(client: Client) -> None:
    welcome = client.welcome
    assert welcome["type"] == "connection"
    assert welcome["status"] == "connected"
    assert welcome["message"] == "Connected to Codette AI Unified Server"
    assert welcome["codette_available"] is True
    assert welcome["protocol_version"] == "1"
    assert welcome["client_id"] and welcome["server_version"]
    assert "chat" in welcome["capabilities"]
    assert welcome["timestamp"].endswith("+00:00")


def test_ping_pong_echoes_id(client: Client) -> None:
    for rid in ("abc", 7, 2.5):
        client.send({"type": "ping", "id": rid})
        reply = client.recv()
        assert reply["type"] == "pong" and reply["id"] == rid and "timestamp" in reply


@pytest.mark.parametrize("type_", ["status", "get_status"])
def test_status(client: Client, type_: str) -> None:
    reply = client.request({"type": type_})
    assert reply["type"] == "status_response"
    assert reply["status"] == "ok" and reply["codette_available"] is True
    for key in ("engine_type", "memory_size", "active_connections", "uptime_s", "version",
                "protocol_version", "capture"):
        assert key in reply, key
    assert reply["active_connections"] >= 1
    assert isinstance(reply["memory_size"], int)


def test_chat_compat_envelope_and_response(client: Client) -> None:
    reply = client.request({"type": "chat", "data": {"message": "How do I compress vocals?"}})
    assert reply["type"] == "chat_response"
    assert len(reply["response"]) > 40
    assert reply["perspective"] == "mix_engineering"
    assert 0 <= reply["confidence"] <= 1
    assert reply["session_id"]
    assert reply["sources"]


def test_chat_confidence_is_computed(client: Client) -> None:
    on_topic = client.request({"type": "chat", "message": "how to EQ a kick drum"})
    off_topic = client.request({"type": "chat", "message": "what is the capital of France"})
    assert on_topic["confidence"] > off_topic["confidence"]
    assert off_topic["confidence"] < 0.3


def test_chat_stream_sends_chunks_then_response(client: Client) -> None:
    client.send({"type": "chat", "id": "s1", "stream": True,
                 "message": "How should I set reverb pre-delay on vocals?"})
    chunks = []
    while True:
        reply = client.recv()
        assert reply["id"] == "s1"
        if reply["type"] == "chat_chunk":
            chunks.append(reply["delta"])
        else:
            break
    assert reply["type"] == "chat_response"
    assert len(chunks) >= 2
    assert "".join(chunks) == reply["response"]


def test_unknown_perspective_lists_valid_ones(client: Client) -> None:
    reply = client.request({"type": "chat", "message": "hi", "perspective": "astrology"})
    assert reply["type"] == "error" and reply["code"] == "invalid_field"
    assert reply["field"] == "perspective"
    assert "mix_engineering" in reply["message"] and "psychological" in reply["message"]


def test_perspectives(client: Client) -> None:
    reply = client.request({"type": "perspectives"})
    names = [p["name"] for p in reply["perspectives"]]
    assert len(names) == 12 and names[0] == "mix_engineering"
    assert all(p["description"] for p in reply["perspectives"])


def test_history_per_session(client: Client) -> None:
    session = f"hist-{time.time_ns()}"
    client.request({"type": "chat", "message": "How loud should I master for Spotify?",
                    "session_id": session})
    reply = client.request({"type": "history", "session_id": session})
    assert reply["type"] == "history_response"
    roles = [m["role"] for m in reply["messages"]]
    assert roles == ["user", "assistant"]
    assert reply["messages"][0]["text"] == "How loud should I master for Spotify?"
    assert all({"role", "text", "perspective", "timestamp"} <= m.keys()
               for m in reply["messages"])


def test_client_without_session_gets_its_own(app_server: AppProcess) -> None:
    a, b = Client(app_server.ws_url), Client(app_server.ws_url)
    try:
        ra = a.request({"type": "chat", "message": "snare eq tips"})
        rb = b.request({"type": "chat", "message": "snare eq tips"})
        assert ra["session_id"] != rb["session_id"]
        assert len(a.request({"type": "history"})["messages"]) == 2
    finally:
        a.close()
        b.close()


def test_metadata_analysis_scores_headroom(client: Client) -> None:
    def analyze(peak: float) -> dict:
        return client.request({
            "type": "analyze",
            "track_data": {"track_id": "t1", "track_name": "Lead", "track_type": "vocal"},
            "audio_data": {"peak_level": peak, "rms_level": peak - 12, "duration": 180,
                           "sample_rate": 48000},
        })
    hot, safe = analyze(-0.3), analyze(-6.0)
    for reply in (hot, safe):
        assert reply["type"] == "analysis_response" and reply["status"] == "success"
        assert reply["trackId"] == "t1"
        analysis = reply["analysis"]
        assert analysis["mixing_suggestions"] and analysis["codette_insights"]
        assert 0 <= analysis["quality_score"] <= 1
    assert hot["analysis"]["quality_score"] < safe["analysis"]["quality_score"]
    assert hot["analysis"]["mixing_suggestions"] != safe["analysis"]["mixing_suggestions"]


def test_wrong_types_are_invalid_field(client: Client) -> None:
    reply = client.request({"type": "analyze", "audio_data": {"peak_level": "loud"}})
    assert reply["type"] == "error" and reply["code"] == "invalid_field"
    assert reply["field"] == "audio_data.peak_level"
    assert reply["data"]["code"] == "invalid_field"


def test_errors_keep_the_connection_open(client: Client) -> None:
    client.send("this is not json")
    reply = client.recv()
    assert (reply["type"], reply["code"], reply["message"]) == (
        "error", "invalid_json", "Invalid JSON format")
    client.send(json.dumps({"type": "teleport", "id": 9}))
    reply = client.recv()
    assert reply["code"] == "unknown_type" and reply["id"] == 9
    assert reply["message"] == "Unknown message type: teleport"
    client.send(json.dumps([1, 2, 3]))
    assert client.recv()["code"] == "invalid_message"
    client.ws.send(b"\x00\x01binary")
    reply = client.recv()
    assert reply["code"] == "invalid_message"
    assert client.request({"type": "ping"})["type"] == "pong"


def test_oversized_message_closes_only_that_connection(app_server: AppProcess) -> None:
    bystander = Client(app_server.ws_url)
    big = Client(app_server.ws_url)
    try:
        big.send({"type": "chat", "message": "x" * (1024 * 1024 + 10)})
        with pytest.raises(ConnectionClosed) as info:
            big.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        assert bystander.request({"type": "ping"})["type"] == "pong"
    finally:
        bystander.close()
        big.close()


def test_subscriptions(app_server: AppProcess) -> None:
    watcher = Client(app_server.ws_url)
    try:
        reply = watcher.request({"type": "subscribe", "events": ["server_status", "connections"]})
        assert reply["type"] == "subscribed"
        assert reply["events"] == ["connections", "server_status"]
        other = Client(app_server.ws_url)
        opened = _next_of(watcher, "connection_event")
        assert opened["event"] == "opened" and opened["active_connections"] >= 2
        # Counts only: another client's id would be a handle on its session (issue 10).
        assert "client_id" not in opened
        assert other.welcome["client_id"] not in json.dumps(opened)
        other.close()
        closed = _next_of(watcher, "connection_event")
        assert closed["event"] == "closed" and "client_id" not in closed
        status = _next_of(watcher, "server_status", timeout=6)
        assert status["data"]["health"]["status"] == "healthy"
        assert status["data"]["connections"] >= 1
        reply = watcher.request({"type": "unsubscribe", "events": ["server_status"]})
        assert reply["events"] == ["connections"]
    finally:
        watcher.close()


def test_request_reply_clients_get_no_pushes(client: Client) -> None:
    client.send({"type": "ping", "id": "only"})
    assert client.recv()["type"] == "pong"
    with pytest.raises(TimeoutError):
        client.recv(timeout=2.5)  # longer than the 2 s status interval


def test_capture_messages_answer_cleanly(client: Client) -> None:
    reply = client.request({"type": "devices"})
    assert reply["type"] in ("devices_response", "error")
    if reply["type"] == "error":
        assert reply["code"] == "capture_unavailable"
    else:
        assert isinstance(reply["devices"], list)


def _next_of(c: Client, type_: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = c.recv(timeout=max(0.05, deadline - time.monotonic()))
        if reply["type"] == type_:
            return reply
    raise AssertionError(f"no {type_} within {timeout} s")


# -- plain HTTP on the same port ----------------------------------------------------------

def _http(url: str, method: str = "GET", headers: dict[str, str] | None = None
          ) -> tuple[int, bytes, Message]:
    """Status, body and the (case-insensitive) headers of one request."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_health(app_server: AppProcess) -> None:
    status, body, headers = _http(app_server.http_base + "/health")
    assert status == 200 and headers["Content-Type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "healthy" and health["protocol_version"] == "1"
    for key in ("version", "uptime_s", "connections", "timestamp"):
        assert key in health
    status, body, _ = _http(app_server.http_base + "/health", "HEAD")
    assert status == 200 and body == b""


def test_http_errors_never_crash(app_server: AppProcess) -> None:
    assert _http(app_server.http_base + "/nope")[0] == 404
    assert 400 <= _http(app_server.http_base + "/ws")[0] < 500
    assert _http(app_server.http_base + "/health", "DELETE")[0] == 405
    assert _http(app_server.http_base + "/health", headers={"Host": "evil.example"})[0] == 403
    assert _http(app_server.http_base + "/health")[0] == 200


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [({"Origin": "http://localhost:5173"}, True), ({"Origin": "http://127.0.0.1:3000"}, True),
     ({}, True), ({"Origin": "http://evil.example"}, False), ({"Origin": "null"}, False)],
)
def test_origin_check_on_the_handshake(app_server: AppProcess, headers: dict[str, str],
                                       allowed: bool) -> None:
    if allowed:
        with connect(app_server.ws_url, additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "connection"
    else:
        with pytest.raises(InvalidStatus) as info:
            connect(app_server.ws_url, additional_headers=headers, open_timeout=10)
        assert info.value.response.status_code == 403


def _raw_handshake(app: AppProcess, headers: list[tuple[str, str]]) -> int:
    """Send a WebSocket handshake with exactly these headers; return the HTTP status."""
    lines = ["GET /ws HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in headers]
    with socket.create_connection((app.host, app.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    ("headers", "status"),
    [([("Host", f"127.0.0.1:{0}")], 101), ([("Host", "localhost")], 101),
     ([("Host", "attacker.example")], 403), ([("Host", "attacker.example:8000")], 403),
     ([("Host", "127.0.0.1"), ("Host", "attacker.example")], 400), ([], 403)],
)
def test_host_header_check_defends_against_dns_rebinding(
    app_server: AppProcess, headers: list[tuple[str, str]], status: int
) -> None:
    assert _raw_handshake(app_server, headers) == status


def test_rate_limit_then_policy_close(tmp_path: Path) -> None:
    with running_app(tmp_path, env={"CODETTE_RATE_LIMIT_PER_S": "20"}) as app:
        flooder = Client(app.ws_url)
        bystander = Client(app.ws_url)
        # Within the budget every request is answered...
        for i in range(10):
            assert flooder.request({"type": "ping", "id": f"ok{i}"})["type"] == "pong"
        # ...a flood is refused, and a client that keeps flooding is closed with 1008.
        codes = []
        try:
            for i in range(400):
                flooder.send({"type": "ping", "id": i})
            while True:
                reply = flooder.recv(timeout=10)
                codes.append(reply.get("code") or reply["type"])
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1008
        assert codes.count("rate_limited") >= 200
        assert bystander.request({"type": "ping"})["type"] == "pong"
        bystander.close()
