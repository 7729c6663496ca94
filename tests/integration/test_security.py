"""Attacks from the same machine against the real app (issue 10), each one performed.

Each test plays the attacker from the issue's report: another client reading chats,
a page opening the microphone, clients that never read, a flooder that reconnects,
hundreds of held connections, hostile text in logs and the store.
"""

from __future__ import annotations

import json
import socket
import stat
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from app_process import AppProcess, running_app
from conftest import Client
from silent_client import SilentClient

SECRET_TRACK = "Ex-Girlfriend Diss Track (CONFIDENTIAL)"


def chat(client: Client, message: str, **fields: Any) -> dict[str, Any]:
    reply = client.request({"type": "chat", "message": message, **fields})
    assert reply["type"] == "chat_response", reply
    return reply


def texts(reply: dict[str, Any]) -> str:
    return json.dumps(reply["messages"])


# -- 1. sessions belong to their owner ----------------------------------------------------


def test_another_client_cannot_read_or_write_a_clients_chat(app_server: AppProcess) -> None:
    victim = Client(app_server.ws_url)
    spy = Client(app_server.ws_url)
    try:
        # The spy watches connections, as in the report, and learns nothing from them.
        spy.request({"type": "subscribe", "events": ["connections"]})
        late = Client(app_server.ws_url)
        event = spy.recv()
        while event["type"] != "connection_event":
            event = spy.recv()
        assert late.welcome["client_id"] not in json.dumps(event)
        late.close()

        answer = chat(victim, "How loud should this vocal be?",
                      daw_context={"selected_track": {"name": SECRET_TRACK, "type": "vocal"}})
        victim_session = answer["session_id"]
        assert victim_session.startswith("cs_") and len(victim_session) >= 40
        victim_id = victim.welcome["client_id"]
        # Every handle the old server would have accepted, and a few more.
        for guess in (f"session-{victim_id}", victim_id, "default", "session-1", "s1"):
            history = spy.request({"type": "history", "session_id": guess})
            assert SECRET_TRACK not in texts(history)
            answer = chat(spy, "what was my track called?", session_id=guess)
            assert SECRET_TRACK not in answer["response"]
        # The victim's history holds only the victim's own turns.
        own = victim.request({"type": "history"})
        assert SECRET_TRACK in texts(own) or "vocal" in texts(own)
        assert "what was my track called" not in texts(own)
    finally:
        victim.close()
        spy.close()


def test_chosen_session_ids_are_scoped_and_secrets_carry_over(app_server: AppProcess) -> None:
    first = Client(app_server.ws_url)
    chat(first, "Remember: my session is about kick drums", session_id="mix")
    secret = chat(first, "And snares too")["session_id"]
    first.close()
    # Another native connection choosing the same id gets its own, empty session.
    other = Client(app_server.ws_url)
    assert "kick drums" not in texts(other.request({"type": "history", "session_id": "mix"}))
    # The server-issued secret opens its session from any connection.
    assert "snares" in texts(other.request({"type": "history", "session_id": secret}))
    other.close()
    # Pages: the same origin shares its chosen ids (one principal), another origin does not.
    page = Client(app_server.ws_url, origin="http://localhost:5173")
    chat(page, "Page note: reverb on the snare", session_id="project-7")
    page.close()
    same = Client(app_server.ws_url, origin="http://localhost:5173")
    assert "reverb on the snare" in texts(same.request({"type": "history",
                                                          "session_id": "project-7"}))
    same.close()
    foreign = Client(app_server.ws_url, origin="http://localhost:3000")
    assert "reverb on the snare" not in texts(foreign.request({"type": "history",
                                                                 "session_id": "project-7"}))
    foreign.close()


# -- 2. microphone consent ------------------------------------------------------------------


def test_a_page_cannot_turn_the_microphone_on_without_permission(app_server: AppProcess) -> None:
    page = Client(app_server.ws_url, origin="http://localhost:5173")
    listener = Client(app_server.ws_url, origin="http://localhost:5174")
    try:
        reply = page.request({"type": "capture_start"})
        assert (reply["type"], reply["code"]) == ("error", "not_authorized")
        assert "permission" in reply["message"]
        # Headless: nobody to ask, so only the saved "always" list could allow it.
        assert "headless" in reply["message"]
        reply = page.request({"type": "analyze", "source": "capture", "seconds": 1})
        assert reply["code"] == "not_authorized"
        reply = listener.request({"type": "subscribe", "events": ["audio_levels"]})
        assert reply["code"] == "not_authorized"
        # A page cannot borrow the native token either.
        token = app_server.capture_token
        reply = page.request({"type": "capture_start", "capture_token": token})
        assert reply["code"] == "not_authorized"
    finally:
        page.close()
        listener.close()


def test_a_native_client_needs_the_capture_token(app_server: AppProcess) -> None:
    native = Client(app_server.ws_url)
    try:
        for token in (None, "", "guess", app_server.capture_token[:-1] + "x"):
            fields = {} if token is None else {"capture_token": token}
            reply = native.request({"type": "capture_start", **fields})
            assert reply["code"] == "not_authorized", reply
            assert "capture-token" in reply["message"]
        # The right token gets past consent to the device (none by that index here).
        reply = native.request({"type": "capture_start", "device": 9999,
                                "capture_token": app_server.capture_token})
        assert reply.get("code") != "not_authorized", reply
        reply = native.request({"type": "subscribe", "events": ["audio_levels"]})
        assert reply["type"] == "subscribed"  # authorized for this connection now
    finally:
        native.close()
    token_file = app_server.data_dir / "capture-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_a_saved_always_answer_lets_that_page_capture(tmp_path: Path) -> None:
    env = {"CODETTE_CAPTURE_ALLOWED_ORIGINS": "http://localhost:5173"}
    with running_app(tmp_path, env=env) as app:
        allowed = Client(app.ws_url, origin="http://localhost:5173")
        other = Client(app.ws_url, origin="http://localhost:5175")
        reply = allowed.request({"type": "capture_start", "device": 9999})
        assert reply.get("code") != "not_authorized", reply
        assert other.request({"type": "capture_start"})["code"] == "not_authorized"
        allowed.close()
        other.close()
        app.wait_for_line(r"refused capture to c\d+-\w+ \(http://localhost:5175\)")


# -- 3. clients that never read -----------------------------------------------------------


def rss_mb(app: AppProcess) -> float:
    return psutil.Process(app.process.pid).memory_info().rss / 2**20


def test_clients_that_never_read_are_closed_and_memory_stays_bounded(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        filler = Client(app.ws_url)
        secret = chat(filler, "x")["session_id"]
        for n in range(150):  # a session of its own worth reading: ~2.4 MB of text
            chat(filler, f"{n} " + "long question about compression " * 230, session_id=secret)
        filler.close()
        baseline = rss_mb(app)
        silent = [SilentClient(app.ws_url) for _ in range(10)]
        for _round in range(40):
            for client in silent:
                client.send({"type": "history", "session_id": secret, "limit": 1000})
        peak = baseline
        deadline = time.monotonic() + 30
        bystander = Client(app.ws_url)

        def closed_for_not_reading() -> int:
            return sum("not reading its replies" in line for line in list(app.lines))

        # Wait on the server's word, not by reading: a client that reads is not silent.
        while closed_for_not_reading() < len(silent):
            assert time.monotonic() < deadline, f"{closed_for_not_reading()} closed"
            peak = max(peak, rss_mb(app))
            assert bystander.request({"type": "ping"})["type"] == "pong"
        assert all(client.closed_by_server() for client in silent)
        for client in silent:
            client.close()
        bystander.close()
        print(f"never-reading clients: RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB, "
              f"after they left {rss_mb(app):.0f} MB")
        assert peak < 300, f"peak RSS {peak:.0f} MB"
        assert rss_mb(app) < baseline + 50  # back near the baseline after they left


# -- 5. fair under abuse ----------------------------------------------------------------------


def test_reconnecting_does_not_reset_the_rate_limit(tmp_path: Path) -> None:
    with running_app(tmp_path, env={"CODETTE_RATE_LIMIT_PER_S": "20"}) as app:
        flooder = Client(app.ws_url, origin="http://localhost:5173")
        with pytest.raises(ConnectionClosed) as info:
            for i in range(2000):
                flooder.send({"type": "ping", "id": i})
            while True:
                flooder.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        # The same peer reconnecting at once is refused for a cooldown...
        with pytest.raises(InvalidStatus) as refused:
            connect(app.ws_url, origin="http://localhost:5173", open_timeout=10)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 429
        # ...while everyone else is served.
        other = Client(app.ws_url, origin="http://localhost:5174")
        assert other.request({"type": "ping"})["type"] == "pong"
        other.close()
        app.wait_for_line(r"its address is refused for 5 s")


@contextmanager
def raw_connections(app: AppProcess, count: int) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection((app.host, app.port), timeout=10))
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_a_connection_cap_refuses_cleanly_and_keeps_health_answering(tmp_path: Path) -> None:
    with running_app(tmp_path, env={"CODETTE_MAX_CONNECTIONS": "40"}) as app:
        held = [Client(app.ws_url) for _ in range(40)]
        with pytest.raises(InvalidStatus) as info:
            connect(app.ws_url, open_timeout=10)
        assert info.value.response.status_code == 503
        with raw_connections(app, 100):  # half-open TCP connections on top
            for client in held[:3]:
                assert client.request({"type": "ping"})["type"] == "pong"
        assert urllib.request.urlopen(app.http_base + "/health", timeout=10).status == 200
        for client in held:
            client.close()
        # Capacity is back, and nothing like EMFILE was logged.
        fresh = Client(app.ws_url)
        assert fresh.request({"type": "ping"})["type"] == "pong"
        fresh.close()
        assert not any("EMFILE" in line or "Too many open files" in line for line in app.lines)
        app.wait_for_line(r"open-file limit")


def test_non_analyze_frames_over_1_mib_are_closed_before_parsing(app_server: AppProcess) -> None:
    client = Client(app_server.ws_url)
    client.send('{"type": "chat", "message": "' + "x" * (2 * 1024 * 1024) + '"}')
    with pytest.raises(ConnectionClosed) as info:
        client.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


# -- 6. storage and logs --------------------------------------------------------------------


def test_hostile_text_neither_breaks_the_store_nor_the_log(tmp_path: Path) -> None:
    args = ("--headless", "--port", "0", "--log-level", "DEBUG")
    with running_app(tmp_path, args) as app:
        client = Client(app.ws_url)
        for _ in range(50):
            reply = client.request({"type": "chat", "message": "bass \ud800 boom"})
            assert reply["type"] == "chat_response"
        assert "\ufffd" in json.dumps(client.request({"type": "history"}), ensure_ascii=False)
        client.send({"type": "\x1b[31mEVIL\x1b[0m\nFAKE LINE", "id": 1})
        assert client.recv()["code"] == "unknown_type"
        client.close()
        app.wait_for_line(r"received: \\x1b\[31mEVIL")
    log_text = (tmp_path / "logs" / "server.log").read_text(encoding="utf-8")
    assert "\x1b" not in log_text and "\nFAKE LINE" not in log_text
    assert "Traceback" not in log_text


def test_chat_memory_cannot_grow_without_bound(tmp_path: Path) -> None:
    """The report: chat memory never pruned (8 to 59 MB in 10 s of chats)."""
    with running_app(tmp_path, env={"CODETTE_MEMORY_MAX_MB": "1"}) as app:
        client = Client(app.ws_url)
        big = "how do I compress a vocal " * 300  # ~7.8 KB a question
        for _ in range(1200):  # ~9 MB of questions, plus the answers
            chat(client, big)
        client.close()
    files = list(tmp_path.glob("memory.sqlite3*"))
    total = sum(path.stat().st_size for path in files)
    # 1 MiB of live data, its reused free pages, and a WAL of at most ~4 MiB.
    assert total < 7 * 1024 * 1024, f"{total} bytes in {[p.name for p in files]}"


def test_refusals_are_logged_per_origin_in_a_window(app_server: AppProcess) -> None:
    origins = [f"http://attacker{n}.example" for n in range(150)]
    for origin in origins:
        with pytest.raises(InvalidStatus):
            connect(app_server.ws_url, origin=origin, open_timeout=10)  # type: ignore[arg-type]
    for origin in (origins[0], origins[-1]):  # the 150th is logged like the first
        app_server.wait_for_line(rf"refused GET /ws: Origin '{origin}'")
    with pytest.raises(InvalidStatus):
        connect(app_server.ws_url, origin=origins[0], open_timeout=10)  # type: ignore[arg-type]
    logged = [line for line in app_server.lines if f"Origin '{origins[0]}'" in line]
    assert len(logged) == 1  # a retry loop is not logged again within the window


def test_the_data_folder_is_private(app_server: AppProcess) -> None:
    client = Client(app_server.ws_url)
    chat(client, "private question about my mix")
    client.close()
    data = app_server.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in [*data.glob("memory.sqlite3*"), data / "capture-token",
                 *(data / "logs").iterdir()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"


# -- 8. ids -----------------------------------------------------------------------------------


def test_an_infinite_id_gets_a_valid_json_error(app_server: AppProcess) -> None:
    client = Client(app_server.ws_url)
    client.send('{"type": "ping", "id": 1e400}')
    raw = client.ws.recv(timeout=10)
    assert "Infinity" not in raw
    reply = json.loads(raw)
    assert (reply["code"], reply["field"]) == ("invalid_field", "id")
    client.close()
