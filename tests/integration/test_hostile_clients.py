"""Behaviours bench/hostile_bench.py, bench/load_bench.py and bench/soak.py rely on.

The benches measure what hostile clients cost an honest one; these tests check what they
take for granted, against the real app: that a flooding client has to share the event
loop, that subscribers are served at the status interval set and that a native client
can subscribe to meters with the capture token.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from codette_desktop.server.uvicorn_host import FORCE_CLOSE_GRACE_S

from app_process import running_app
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
