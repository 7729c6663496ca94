"""Who is connected: one :class:`ClientInfo` per WebSocket connection or HTTP caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientInfo:
    """One client as the server, the services and the dashboard see it.

    ``kind`` is ``"ws"`` for a WebSocket connection and ``"http"`` for a REST caller (one
    per request). ``session_id`` is the default chat session for messages without one.
    """

    client_id: str
    peer: str
    origin: str | None
    connected_at: float
    session_id: str
    kind: str = "ws"
    messages_in: int = 0
    messages_out: int = 0
    last_type: str | None = None
    # event name -> rate in Hz (only meaningful for audio_levels)
    subscriptions: dict[str, float] = field(default_factory=dict)
    last_levels_sent: float = 0.0
    dropped_frames: int = 0
    # Allowed to capture (consent or token checked): only such clients get meter frames.
    capture_authorized: bool = False

    @property
    def address(self) -> str:
        """The peer without its port (penalties are per address, not per connection)."""
        host, sep, port = self.peer.rpartition(":")
        return host if sep and port.isdigit() else self.peer

    @property
    def owner(self) -> str:
        """Whose turn a queued job is (fair analysis queueing): the connection, or for
        REST callers, who has no connection, their page's origin or their address."""
        if self.kind == "ws":
            return self.client_id
        return f"http:{self.origin or self.address}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id, "peer": self.peer, "origin": self.origin,
            "connected_at": self.connected_at, "messages_in": self.messages_in,
            "messages_out": self.messages_out, "last_type": self.last_type,
            "subscriptions": sorted(self.subscriptions),
        }
