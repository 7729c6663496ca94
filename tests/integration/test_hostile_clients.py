"""Behaviours bench/hostile_bench.py, bench/load_bench.py and bench/soak.py rely on.

The benches measure what hostile clients cost an honest one; these tests check what they
take for granted, against the real app: that a flooding client has to share the event
loop, that subscribers are served at the status interval set and that a native client
can subscribe to meters with the capture token.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from codette_desktop.server.uvicorn_host import FORCE_CLOSE_GRACE_S

from app_process import AppProcess, running_app
from conftest import Client
from silent_client import SilentClient


def read_to_close(client: SilentClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not client.closed_by_server() and time.monotonic() < deadline:
        pass


def test_a_burst_from_one_client_does_not_make_the_others_wait_for_all_of_it(
        tmp_path: Path) -> None:
    """Frames that arrive together are handled in slices, other connections in between.

    The flooder writes 10,000 pings at once; the victim pings once the flooder's first
    pong is back, so the server is in the middle of the burst. The order in which the
    server takes messages (its DEBUG log) shows how many of the flooder's it handled
    before the victim's: a handful of slices' worth, not the ~2,200 (the burst tokens and
    the abuse limit) it takes before it closes the flooder.
    """
    args = ("--headless", "--port", "0", "--log-level", "DEBUG")
    with running_app(tmp_path, args) as app:
        victim = Client(app.ws_url)
        flooder = SilentClient(app.ws_url, receive_buffer=1024 * 1024)
        try:
            flooder_id = flooder.read_until("connection")["client_id"]
            burst = flooder.frames({"type": "ping", "id": 1}, 10_000)
            first_pong = threading.Event()

            def read() -> None:
                # Reading all the time, so the server's writes to the flooder never wait
                # (a client that stops reading makes the server pause on its own).
                flooder.read_until("pong")
                first_pong.set()
                read_to_close(flooder)

            reader = threading.Thread(target=read)
            reader.start()
            flooder.sock.sendall(burst)
            assert first_pong.wait(30)
            assert victim.request({"type": "ping", "id": "victim"})["type"] == "pong"
            reader.join(30)
            assert flooder.closed
            app.wait_for_line(rf"closing {flooder_id} .*message rate limit exceeded")
        finally:
            victim.close()
            flooder.close()
        received = re.compile(r"WebSocket (\S+) received: ping")
        order = [m.group(1) for line in list(app.lines) if (m := received.search(line))]
        before = order[:order.index(victim.welcome["client_id"])].count(flooder_id)
        assert order.count(flooder_id) > 2000  # the whole burst up to the close was handled
        assert before < 1000, f"{before} of the flooder's pings were handled first"


def test_a_client_closed_for_not_reading_that_reads_again_leaves_no_traceback(
        tmp_path: Path) -> None:
    """The server drops a backed-up client after a grace period unless it reads the close
    in time; one that does must not make the later drop raise inside asyncio."""
    with running_app(tmp_path) as app:
        filler = Client(app.ws_url)
        session = filler.request({"type": "chat", "message": "x"})["session_id"]
        for n in range(60):  # a history worth reading: ~460 kB
            filler.request({"type": "chat", "session_id": session,
                            "message": f"{n} " + "long question about compression " * 230})
        filler.close()
        silent = SilentClient(app.ws_url)
        try:
            for _ in range(40):
                silent.send({"type": "history", "session_id": session, "limit": 1000})
            app.wait_for_line(r"closing c\d+-\w+ .*: not reading its replies")
            read_to_close(silent)  # reads again, within the grace period
            assert silent.closed
        finally:
            silent.close()
        time.sleep(FORCE_CLOSE_GRACE_S + 1)  # until the dropped connection's timer is due
        bystander = Client(app.ws_url)
        assert bystander.request({"type": "ping"})["type"] == "pong"
        bystander.close()
        assert not [line for line in app.lines if "Traceback" in line]


def next_of(client: Client, type_: str, deadline: float) -> dict[str, Any]:
    while True:
        message = client.recv(timeout=max(0.1, deadline - time.monotonic()))
        if message["type"] == type_:
            return message


def test_a_native_subscriber_with_the_token_gets_status_at_the_interval_set(
        tmp_path: Path) -> None:
    """What hostile_bench's subscribers do: the token in ``subscribe`` itself, and
    ``server_status`` at CODETTE_STATUS_INTERVAL_S."""
    with running_app(tmp_path, env={"CODETTE_STATUS_INTERVAL_S": "0.1"}) as app:
        client = Client(app.ws_url)
        try:
            refused = client.request({"type": "subscribe", "events": ["audio_levels"],
                                      "capture_token": "guess"})
            assert refused["code"] == "not_authorized"
            reply = client.request({"type": "subscribe", "capture_token": app.capture_token,
                                    "events": ["server_status", "audio_levels"]})
            assert reply["events"] == ["audio_levels", "server_status"]
            # Ten frames at 0.1 s; at the default 2 s they would take 20 s.
            deadline = time.monotonic() + 10
            frames = [next_of(client, "server_status", deadline) for _ in range(10)]
            assert all(f["data"]["connections"] == 1 for f in frames)
        finally:
            client.close()


@pytest.mark.slow
def test_a_subscriber_that_stops_reading_is_dropped_by_the_keepalive(tmp_path: Path) -> None:
    """It answers no ping either: the server closes it (a ping every 20 s, 20 s for the
    pong), so what waits for it is bounded in time as well as in bytes."""
    with running_app(tmp_path, env={"CODETTE_STATUS_INTERVAL_S": "0.1"}) as app:
        silent = SilentClient(app.ws_url)
        try:
            client_id = silent.read_until("connection")["client_id"]
            silent.send({"type": "subscribe", "events": ["server_status"]})
            silent.read_until("subscribed")
            # It never closes by itself: the server did.
            app.wait_for_line(rf"WebSocket disconnected: {client_id} ", timeout=60)
            read_to_close(silent)
            assert silent.closed
        finally:
            silent.close()


@pytest.mark.slow
def test_honest_load_from_one_address_is_never_limited(app_server: AppProcess) -> None:
    """300 clients from one address at once, each a ping and a chat: all answered, none
    refused (429/503) or rate_limited. bench/load_bench.py does this with 1,000."""
    from websockets.asyncio.client import connect

    async def one(n: int) -> list[str]:
        async with connect(app_server.ws_url, max_size=None, open_timeout=60) as ws:
            await ws.recv()  # welcome
            types = []
            for message in ({"type": "ping", "id": n},
                            {"type": "chat", "id": n, "message": "How do I EQ a vocal?"}):
                await ws.send(json.dumps(message))
                async with asyncio.timeout(120):
                    while (reply := json.loads(await ws.recv()))["type"] == "chat_chunk":
                        pass
                types.append(reply["type"])
            return types

    async def run() -> list[list[str] | BaseException]:
        return await asyncio.gather(*(one(n) for n in range(300)), return_exceptions=True)

    results = asyncio.run(run())
    failures = [r for r in results if r != ["pong", "chat_response"]]
    assert not failures, failures[:5]
