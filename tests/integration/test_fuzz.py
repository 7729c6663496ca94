"""Property: whatever a client sends, it gets a reply or a defined close, and the server
keeps serving everyone."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from codette_desktop.protocol.messages import MESSAGE_TYPES

from app_process import AppProcess
from conftest import Client

PUSHES = {"server_status", "connection_event", "audio_levels", "capture_status"}
DEFINED_CLOSE_CODES = {1000, 1008, 1009}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from([
    "message", "perspective", "daw_context", "session_id", "stream", "track_data",
    "audio_data", "analysis_type", "events", "rate_hz", "limit", "device", "data", "id",
    "source", "seconds", "audio",
]) | st.text(max_size=8)
messages_like = st.fixed_dictionaries(
    {"type": st.sampled_from(MESSAGE_TYPES) | st.text(max_size=12)},
    optional={"id": st.text(max_size=5) | st.integers()},
).flatmap(lambda base: st.dictionaries(field_names, json_values, max_size=5).map(
    lambda extra: {**extra, **base}))
frames = (
    messages_like.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=200)
)


class Session:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = Client(url)
        self.counter = 0

    def exchange(self, frame: str | bytes) -> None:
        """Send ``frame`` and check that it is answered.

        Requests run concurrently, so a JSON object gets an ``id`` and we wait for the reply
        that carries it; anything else is refused as soon as it is read, before the ping
        that follows it is answered.
        """
        self.counter += 1
        marker = f"fuzz-{self.counter}"
        obj = _as_object(frame)
        try:
            if obj is not None:
                obj["id"] = marker
                self.client.send(obj)
                self._wait(lambda r: r.get("id") == marker and r["type"] != "chat_chunk")
            else:
                self.client.ws.send(frame)
                self.client.send({"type": "ping", "id": marker})
                before_pong = self._wait(lambda r: r.get("id") == marker)
                assert any(r["type"] == "error" for r in before_pong), frame
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code in DEFINED_CLOSE_CODES, exc
            self.client = Client(self.url)

    def _wait(self, done: Any) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        while True:
            reply = self.client.recv(timeout=90)
            assert isinstance(reply, dict) and isinstance(reply.get("type"), str)
            assert "timestamp" in reply
            seen.append(reply)
            if done(reply):
                return seen


def _reject(name: str) -> None:
    raise ValueError(name)


def _as_object(frame: str | bytes) -> dict[str, Any] | None:
    if isinstance(frame, bytes):
        return None
    try:
        # Infinity/NaN literals are not JSON: the server rightly answers invalid_json,
        # which cannot carry an id.
        value = json.loads(frame, parse_constant=_reject)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_arbitrary_frames_get_replies_and_server_keeps_serving(app_server: AppProcess) -> None:
    session = Session(app_server.ws_url)
    bystander = Client(app_server.ws_url)

    # No shrinking: each shrink step of a hang costs a full reply timeout.
    @settings(max_examples=200, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(frame=frames)
    def check(frame: str | bytes) -> None:
        session.exchange(frame)

    try:
        check()
        assert bystander.request({"type": "ping"})["type"] == "pong"
    finally:
        session.client.close()
        bystander.close()
