"""Who may open the microphone through us, without I/O (the clock is passed in).

- A **web page** (a client with an ``Origin``) needs the user's permission for that
  origin, asked like a browser's permission prompt: "Allow once" (one capture start within
  :data:`ONCE_VALID_S`), "Always" (saved in ``capture_allowed_origins``) or "Deny" (saved
  in ``capture_denied_origins``: not asked again). Without a display there is nobody to
  ask: only the saved "Always" list counts.
- A **native client** (no ``Origin``) must present the per-install capture token, which
  the app keeps in a file in the data folder that only this OS user can read — any
  process of the same user can read it too (as with Jupyter's token); another local user
  cannot reach this user's microphone through us.
- ``allow_client_capture`` off refuses every client; the dashboard can always capture.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

ONCE_VALID_S = 120.0


class Verdict(enum.Enum):
    ALLOW = "allow"
    ASK = "ask"  # a page the user has not answered for: ask, refuse for now
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str  # for the not_authorized reply and the log


@dataclass(frozen=True, slots=True)
class CapturePolicy:
    """What the user set (a view of the settings)."""

    clients_may_capture: bool
    allowed_origins: tuple[str, ...]
    denied_origins: tuple[str, ...]
    can_ask: bool  # a desktop UI is there to ask


class CaptureConsent:
    """Decisions for capture requests; "Allow once" grants live here, the rest in settings."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._once: dict[str, float] = {}  # origin -> expiry (monotonic)

    def token_ok(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(str(offered).encode(), self._token.encode())

    def grant_once(self, origin: str, now: float) -> None:
        self._once[origin] = now + ONCE_VALID_S

    def decide(self, policy: CapturePolicy, *, origin: str | None, token: str | None,
               now: float, consume: bool) -> Decision:
        """May this client capture? ``consume`` spends an "Allow once" grant."""
        if not policy.clients_may_capture:
            return Decision(Verdict.REFUSE, "The user has not allowed clients to start audio "
                                            "capture (Settings)")
        if origin is None:
            if self.token_ok(token):
                return Decision(Verdict.ALLOW, "native client with the capture token")
            return Decision(Verdict.REFUSE, "A native client must send the capture token "
                                            "(capture_token) from the file capture-token in "
                                            "the Codette Desktop data folder")
        if origin in policy.denied_origins:
            return Decision(Verdict.REFUSE, f"The user denied microphone access to {origin}")
        if origin in policy.allowed_origins:
            return Decision(Verdict.ALLOW, f"{origin} is always allowed")
        expiry = self._once.get(origin)
        if expiry is not None:
            if now <= expiry:
                if consume:
                    del self._once[origin]
                return Decision(Verdict.ALLOW, f"{origin} was allowed once")
            del self._once[origin]
        if not policy.can_ask:
            return Decision(Verdict.REFUSE, f"Microphone access for {origin} needs the user's "
                                            "permission, and there is no window to ask in "
                                            "(headless); add the origin to "
                                            "capture_allowed_origins to allow it")
        return Decision(Verdict.ASK, f"Waiting for the user to allow {origin} to use the "
                                     "microphone (Codette Desktop asks in its tray); try "
                                     "again once allowed")
