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


def test_a_streamed_chat_is_server_sent_events(app_server: AppProcess) -> None:
    """Without a local model the built-in answer's chunks come as events, then the reply
    (the same messages as over the WebSocket); CORS headers are on the stream too."""
    conn = http.client.HTTPConnection(app_server.host, app_server.port, timeout=30)
    try:
        conn.request("POST", "/codette/chat", body=json.dumps(
            {"message": "How should I compress a lead vocal?", "stream": True, "id": "s1"}),
            headers={"Origin": FRONTEND, "Content-Type": "application/json"})
        response = conn.getresponse()
        text = response.read().decode()
        got = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    assert response.status == 200
    assert got["content-type"] == "text/event-stream; charset=utf-8"
    assert got["access-control-allow-origin"] == FRONTEND
    assert got["transfer-encoding"] == "chunked"
    events = text.split("\n\n")
    assert events[-1] == ""
    messages = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert all(event.startswith("data: ") and "\n" not in event for event in events[:-1])
    *chunks, final = messages
    assert chunks and {m["type"] for m in chunks} == {"chat_chunk"}
    assert final["type"] == "chat_response" and final["engine"] == "builtin"
    assert "".join(m["delta"] for m in chunks) == final["response"]
    assert {m["id"] for m in messages} == {"s1"}


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



# -- the studio routes (FRONTEND_CONTRACT.md §2-3) ------------------------------------------


def test_suggestions_for_each_context_type(app_server: AppProcess) -> None:
    seen: dict[str, list[str]] = {}
    for context in ("general", "gain-staging", "mixing", "mastering"):
        status, headers, body = call(app_server, "POST", "/codette/suggest",
                                     {"context": {"type": context}, "limit": 5})
        assert status == 200 and headers["access-control-allow-origin"] == FRONTEND
        items = body["suggestions"]
        assert 1 <= len(items) <= 5
        titles = [item["title"] for item in items]
        assert len(set(titles)) == len(titles)
        for item in items:
            assert item["description"] and item["type"] and item["source"]
            assert 0 < item["confidence"] <= 1
        seen[context] = titles
    assert seen["mastering"] != seen["gain-staging"]
    # MenuBar's body names a track type, and the answer follows it.
    _, _, vocal = call(app_server, "POST", "/api/codette/suggest",
                       {"context": {"type": "mixing", "track_type": "vocal"}, "limit": 5})
    assert any("ocal" in item["title"] for item in vocal["suggestions"])
    confidences = {item["confidence"] for titles in (vocal["suggestions"],) for item in titles}
    assert len(confidences) > 1  # computed per match, not one constant


def test_delay_sync_in_milliseconds(app_server: AppProcess) -> None:
    status, _, body = call(app_server, "GET", "/api/analysis/delay-sync?bpm=120")
    assert status == 200
    divisions = body["divisions"]
    assert all(isinstance(ms, int | float) for ms in divisions.values())
    assert 500.0 in divisions.values() and 375.0 in divisions.values()  # 1/4, dotted 1/8
    for bad in ("abc", "0", "100000", "nan"):
        status, _, reply = call(app_server, "GET", f"/api/analysis/delay-sync?bpm={bad}")
        assert 400 <= status < 500 and reply["field"] == "bpm"


def test_genre_from_the_tracks_given(app_server: AppProcess) -> None:
    tracks = [{"id": "1", "name": "808", "type": "instrument", "volume": 0, "pan": 0,
               "inserts": [], "sends": []},
              {"id": "2", "name": "Trap Hats", "type": "audio", "volume": -3, "pan": 0.2,
               "inserts": [{"id": "p", "name": "Saturator", "type": "saturation"}],
               "sends": []}]
    status, _, body = call(app_server, "POST", "/api/analysis/detect-genre", {"tracks": tracks})
    assert status == 200
    assert isinstance(body["detected_genre"], str) and 0 <= body["confidence"] <= 1
    assert body["candidates"] and all(isinstance(c, str) for c in body["candidates"])
    assert "trap" in body["detected_genre"].lower()
    _, _, unknown = call(app_server, "POST", "/api/analysis/detect-genre",
                         {"tracks": [{"id": "1", "name": "Audio 1", "type": "audio"}]})
    assert unknown["confidence"] < body["confidence"]
    status, _, reply = call(app_server, "POST", "/api/analysis/detect-genre",
                            {"tracks": "everything"})
    assert 400 <= status < 500 and reply["field"] == "tracks"


def test_reference_routes(app_server: AppProcess) -> None:
    _, _, intervals = call(app_server, "GET",
                           "/api/analysis/ear-training?exercise_type=interval&difficulty=beginner")
    assert intervals["exercises"] and all("name" in e and "example" in e
                                          for e in intervals["exercises"])
    _, _, chords = call(app_server, "GET",
                        "/api/analysis/ear-training?exercise_type=chord&difficulty=beginner")
    assert chords["exercises"] and all("quality" in e for e in chords["exercises"])
    for stage in ("mixing", "mastering"):
        status, _, body = call(app_server, "GET",
                               f"/api/analysis/production-checklist?stage={stage}")
        assert status == 200 and body["sections"]
        assert all(isinstance(items, list) and items for items in body["sections"].values())
    status, _, body = call(app_server, "GET", "/api/analysis/production-checklist?stage=cooking")
    assert status == 422 and body["field"] == "stage"
    status, _, body = call(app_server, "GET",
                           "/api/analysis/instrument-info?category=vocals&instrument=lead")
    assert status == 200 and isinstance(body["data"], dict)
    first_key, first_value = next(iter(body["data"].items()))
    assert first_key and isinstance(first_value, str) and "Hz" in first_value


# The AI panel's bodies (FRONTEND_CONTRACT.md §2, POST /codette/analyze): faders in dB,
# unity sent as -60, peaks invented as level + 3.
PANEL_BODIES = {
    "gain": {"tracks": [{"id": "t1", "level": -60, "peak": -57},
                        {"id": "t2", "level": -6, "peak": -3}]},
    "chain": {"trackType": "audio", "metrics": {"level": -60, "peak": -57,
                                                "plugins": ["EQ", "Compressor"]}},
    "routing": {"trackCount": 6, "trackTypes": ["audio"] * 4 + ["instrument"] * 2,
                "hasAux": False},
    "session": {"trackCount": 2, "totalDuration": 0, "sampleRate": 48000,
                "trackMetrics": [{"trackId": "t1", "name": "Lead Vox", "type": "audio",
                                  "level": -60, "peak": -57, "plugins": ["EQ"]},
                                 {"trackId": "t2", "name": "Kick", "type": "audio",
                                  "level": -2, "peak": 1, "plugins": []}],
                "masterLevel": -60, "masterPeak": -57, "hasClipping": False},
}


@pytest.mark.parametrize("shape", sorted(PANEL_BODIES))
def test_every_ai_panel_body_gets_every_field_it_reads(app_server: AppProcess,
                                                        shape: str) -> None:
    status, headers, body = call(app_server, "POST", "/codette/analyze", PANEL_BODIES[shape],
                                 headers={"X-Codette-Request": "true"})
    assert status == 200 and headers["access-control-allow-origin"] == FRONTEND
    for key in ("prediction", "confidence", "actionItems", "recommendations", "findings",
                "quality_score", "analysis"):
        assert key in body, key
    assert isinstance(body["prediction"], str) and body["prediction"]
    assert 0 <= body["confidence"] <= 1 and 0 <= body["quality_score"] <= 1
    text = json.dumps(body).lower()
    # Faders are not measurements: no invented "peaks at" or clipping findings.
    assert "dbfs" not in text
    if shape in ("gain", "session"):
        assert "fader" in text


def test_analyze_with_measured_levels_and_with_audio(app_server: AppProcess) -> None:
    import base64
    import io
    import math
    import wave

    status, _, body = call(app_server, "POST", "/codette/analyze", {
        "audio_data": {"duration": 30, "sample_rate": 44100, "peak_level": -0.2,
                       "rms_level": -9}, "analysis_type": "loudness"})
    assert status == 200 and body["analysis"]["analysis_type"] == "loudness"
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        frames = bytearray()
        for n in range(48000):
            value = int(0.25 * 32767 * math.sin(2 * math.pi * 1000 * n / 48000))
            frames += value.to_bytes(2, "little", signed=True)
        wav.writeframes(bytes(frames))
    audio = base64.b64encode(buffer.getvalue()).decode()
    status, _, body = call(app_server, "POST", "/api/codette/analyze", {
        "audio": {"format": "wav", "data": audio}, "analysis_type": "loudness"})
    assert status == 200 and body["confidence"] > 0.5
    peak = body["analysis"]["measurements"]["sample_peak_dbfs"]
    assert abs(peak - (-12.04)) < 0.1
    assert isinstance(body["recommendations"], list) and body["findings"]


def test_unknown_analyze_body_names_what_is_wrong(app_server: AppProcess) -> None:
    status, _, body = call(app_server, "POST", "/codette/analyze", {"weather": "sunny"})
    assert 400 <= status < 500 and body["code"] == "invalid_field"


def test_status_quantum_state_is_real(app_server: AppProcess) -> None:
    _, _, before = call(app_server, "GET", "/codette/status")
    quantum = before["quantum_state"]
    assert set(quantum) == {"coherence", "entanglement", "resonance", "phase", "fluctuation"}
    assert all(0 <= value <= 1 for value in quantum.values())
    call(app_server, "POST", "/codette/chat", {"message": "How do I EQ a kick drum?",
                                               "daw_context": PANEL_CONTEXT})
    _, _, after = call(app_server, "GET", "/codette/status")
    assert after["quantum_state"]["coherence"] > 0  # chats were answered
    assert after["quantum_state"]["entanglement"] > 0  # one carried DAW context
