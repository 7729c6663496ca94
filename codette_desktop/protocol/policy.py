"""Per-connection policy, without I/O: what a client may send and how much may wait for it.

The adapters (WebSocket and HTTP) feed these objects what happened and ask what to do;
the clock is passed in, so every rule is tested without sockets or sleeps.

- :class:`ConnectionPolicy` — one connection: the size class of each frame, a token
  bucket (``rate_per_s`` sustained, twice that in a burst), the abuse window (a client that
  earns ``abuse_limit`` ``rate_limited`` errors within ``abuse_window_s`` is closed with
  1008) and the cap on requests in progress.
- :class:`OutboundBudget` — bytes handed to a connection that it has not taken yet, per
  connection and for the whole app: a client that stops reading is closed, never buffered
  without end.
- :class:`PeerPenalties` — a peer (address + origin) closed for abuse is refused for a
  cooldown, so reconnecting does not reset its limits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 1 * MIB
    max_audio_message_bytes: int = 128 * MIB
    rate_per_s: float = 1000.0
    abuse_limit: int = 200
    abuse_window_s: float = 10.0
    max_in_flight: int = 32
    # Replies may wait this long in total for one client; pushes are dropped as soon as
    # anything waits (a stale meter frame is worthless).
    max_unsent_bytes: int = 1 * MIB
    max_unsent_bytes_total: int = 64 * MIB


class FrameClass(enum.Enum):
    NORMAL = "normal"  # within the 1 MiB limit: decode on the loop
    LARGE = "large"  # over 1 MiB: only an analyze with audio may be this big
    TOO_LARGE = "too_large"  # over the audio limit too


class Admission(enum.Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"  # answer rate_limited
    CLOSE = "close"  # abusive: close 1008


class ConnectionPolicy:
    """The rules for one connection. Not thread-safe (one event loop owns it)."""

    def __init__(self, limits: Limits, *, now: float) -> None:
        self.limits = limits
        self.tokens = 2 * limits.rate_per_s
        self._token_time = now
        self.refusals = 0
        self._refusals_since = now
        self.in_flight = 0

    def classify(self, size: int) -> FrameClass:
        if size <= self.limits.max_message_bytes:
            return FrameClass.NORMAL
        if size <= self.limits.max_audio_message_bytes:
            return FrameClass.LARGE
        return FrameClass.TOO_LARGE

    def admit(self, now: float) -> Admission:
        """Take a token for one message; past the abuse limit, close."""
        rate = self.limits.rate_per_s
        self.tokens = min(2 * rate, self.tokens + (now - self._token_time) * rate)
        self._token_time = now
        if self.tokens >= 1:
            self.tokens -= 1
            return Admission.ACCEPT
        if now - self._refusals_since > self.limits.abuse_window_s:
            self.refusals, self._refusals_since = 0, now
        self.refusals += 1
        return Admission.CLOSE if self.refusals > self.limits.abuse_limit else Admission.REFUSE

    def start_request(self) -> bool:
        """Count a request that runs on after its frame was read; False at the cap."""
        if self.in_flight >= self.limits.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def finish_request(self) -> None:
        self.in_flight -= 1


class OutboundBudget:
    """Bytes waiting to be taken by clients, per connection and in total."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0

    def reserve(self, waiting: int, size: int) -> bool:
        """May ``size`` more bytes wait for a client that has ``waiting`` bytes waiting?"""
        if waiting and waiting + size > self.limits.max_unsent_bytes:
            return False
        # A single reply larger than the cap still goes to a client that reads: replies
        # are paged well below it, and only what waits behind a blocked client counts.
        if self.total + size > self.limits.max_unsent_bytes_total:
            return False
        self.total += size
        return True

    def release(self, size: int) -> None:
        self.total -= size


@dataclass(slots=True)
class _Penalty:
    until: float
    cooldown_s: float


class PeerPenalties:
    """Peers closed for abuse, refused until their cooldown ends.

    The first close costs ``first_cooldown_s``; each further close within a cooldown
    doubles it up to ``max_cooldown_s``. Bounded: the oldest entries go first.
    """

    def __init__(self, *, first_cooldown_s: float = 5.0, max_cooldown_s: float = 60.0,
                 max_peers: int = 4096) -> None:
        self.first_cooldown_s = first_cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.max_peers = max_peers
        self._peers: dict[str, _Penalty] = {}

    def penalise(self, peer: str, now: float) -> float:
        """Record an abuse close; returns the cooldown in seconds."""
        previous = self._peers.pop(peer, None)
        if previous is not None and now < previous.until + previous.cooldown_s:
            cooldown = min(self.max_cooldown_s, previous.cooldown_s * 2)
        else:
            cooldown = self.first_cooldown_s
        self._peers[peer] = _Penalty(until=now + cooldown, cooldown_s=cooldown)
        while len(self._peers) > self.max_peers:
            del self._peers[next(iter(self._peers))]
        return cooldown

    def refused_for(self, peer: str, now: float) -> float:
        """Seconds this peer is still refused (0 when it may connect)."""
        penalty = self._peers.get(peer)
        if penalty is None:
            return 0.0
        return max(0.0, penalty.until - now)


def peer_key(address: str | None, origin: str | None) -> str:
    """Who a connection is, for penalties: the remote address (no port) and the Origin."""
    return f"{address or '?'}|{origin or '-'}"
