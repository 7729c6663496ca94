"""Whose chat session is it: the ``session_id`` a client sends, mapped to a stored one.

A client reads and writes only sessions it owns, whatever ``session_id`` it sends:

- a **server-issued** id (``cs_`` and 43 random URL-safe characters, 256 bits) is a
  secret: whoever presents it owns that session, from any connection (a native client
  resumes its conversation after a reconnect this way);
- a **client-chosen** id is scoped: to the page's ``Origin`` for web pages (the same
  origin is the same principal, as for a browser's own storage), and to the connection
  for native clients (no ``Origin``), which must present a secret to come back to it.

Every WebSocket connection gets a fresh secret as its default session; REST callers from a
page share their origin's ``default`` session (so the frontend's history shows its own
conversation), and native REST callers get a fresh secret each time unless they send one.
The stored key never leaves the server; clients only ever see the id they sent or their
own secret.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

SECRET_PREFIX = "cs_"
_SECRET = re.compile(r"^cs_[A-Za-z0-9_-]{43}$")
REST_DEFAULT = "default"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def is_secret(session_id: str) -> bool:
    return _SECRET.match(session_id) is not None


@dataclass(frozen=True, slots=True)
class SessionRef:
    key: str  # where the memory stores it (never sent to a client)
    public_id: str  # what the client sees and sends back


def resolve(*, requested: str | None, default_secret: str, origin: str | None,
            connection_id: str, kind: str) -> SessionRef:
    """The session a request uses.

    ``default_secret`` is the connection's own secret (a fresh one per REST request from a
    native caller); ``connection_id`` scopes a native client's own ids.
    """
    if requested is None:
        if kind == "http" and origin is not None:
            requested = REST_DEFAULT
        else:
            return SessionRef(key=default_secret, public_id=default_secret)
    if is_secret(requested):
        return SessionRef(key=requested, public_id=requested)
    scope = f"origin:{origin}" if origin is not None else f"connection:{connection_id}"
    return SessionRef(key=f"{scope}|{requested}", public_id=requested)
