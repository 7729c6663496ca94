"""Who may talk to the server, decided from the request head before any work is done.

The same rules hold for ``/ws`` and every HTTP route (PROTOCOL.md, "Who may talk to it"):

- a repeated ``Host``/``Origin``/``Upgrade``/``Authorization`` header → 400;
- a ``Host`` that is not a loopback name (or a configured one) → 403 (DNS rebinding);
- an ``Origin`` that is present and not allowed → 403, before any handler runs, so a
  cross-site "simple" POST never reaches one; ``Origin: null`` only if the user allowed it;
- with ``auth_token`` set, a valid token on everything but ``/health`` and the test page.

CORS: allowed origins get ``Access-Control-Allow-Origin: <that origin>`` on every reply
(errors included) and a 204 to their preflights.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from codette_desktop.config import LOOPBACK_NAMES, Settings

# What CoreLogic Studio sends (FRONTEND_CONTRACT.md §1): JSON bodies, Accept, its request
# marker and, with a Supabase key configured, Authorization.
CORS_ALLOW_HEADERS = "content-type, accept, x-codette-request, authorization"
CORS_ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"
CORS_MAX_AGE_S = "600"
PUBLIC_PATHS = frozenset({"/health", "/api/health", "/", "/index.html"})
UNIQUE_HEADERS = ("host", "origin", "upgrade", "authorization")


@dataclass(frozen=True, slots=True)
class RequestHead:
    """Method, path, query and headers (names lower-case) of an HTTP request."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def from_asgi(cls, scope: Any) -> RequestHead:
        return cls(
            method=scope.get("method", "GET"),
            path=scope.get("path", "/"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=tuple((k.decode("latin-1").lower(), v.decode("latin-1"))
                          for k, v in scope.get("headers", ())),
        )

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str
    # What the refusal is about, for the windowed log and the tray's origin prompt.
    kind: str  # "header" | "host" | "origin" | "token"
    value: str


def host_name(host_header: str) -> str:
    """``Host`` header without its port: ``[::1]:8000`` → ``::1``, ``a.b:80`` → ``a.b``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AccessControl:
    """Screens request heads against the current settings (read live, never cached)."""

    def __init__(self, settings: Callable[[], Settings], port: Callable[[], int]) -> None:
        self._settings = settings
        self._port = port

    def allowed_origins(self) -> set[str]:
        port = self._port()
        # The bundled test page is served from this very port, so its origin is ours.
        own = {f"http://{host}:{port}" for host in ("localhost", "127.0.0.1", "[::1]")}
        return set(self._settings().allowed_origins) | own

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:
            return True  # native clients send none
        if origin == "null":
            return self._settings().allow_null_origin
        return origin in self.allowed_origins()

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False  # HTTP/1.1 requires Host (RFC 9112 §3.2)
        settings = self._settings()
        name = host_name(host_header)
        extra = {h.lower() for h in settings.allowed_hosts}
        if settings.allow_non_loopback:
            extra.add(settings.host.lower())
        return name in LOOPBACK_NAMES or name in extra

    def token_ok(self, head: RequestHead) -> bool:
        token = self._settings().auth_token
        # Preflights carry no credentials (Fetch standard, CORS-preflight request).
        if not token or head.path in PUBLIC_PATHS or head.method == "OPTIONS":
            return True
        offered = parse_qs(head.query).get("token", [""])[0]
        auth = head.get("authorization") or ""
        return any(hmac.compare_digest(candidate.encode(), token.encode())
                   for candidate in (offered, auth.removeprefix("Bearer ")))

    def check(self, head: RequestHead) -> Refusal | None:
        """None if the request may proceed, else how to refuse it."""
        for name in UNIQUE_HEADERS:
            # A repeated Host is a 400 (RFC 9112 §3.2); a repeated Origin is never sent by
            # a browser (RFC 6454 §7.3). Either is a forgery attempt or a broken client.
            if len(head.get_all(name)) > 1:
                return Refusal(400, f"Repeated {name} header", "header", name)
        host = head.get("host")
        if not self.host_allowed(host):
            return Refusal(403, "Host not allowed", "host", host or "")
        origin = head.get("origin")
        if not self.origin_allowed(origin):
            return Refusal(403, "Origin not allowed", "origin", origin or "")
        if not self.token_ok(head):
            return Refusal(403, "A valid token is required", "token", origin or "")
        return None

    def cors_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The CORS headers for a reply to ``origin`` (none for native clients)."""
        if origin is None or not self.origin_allowed(origin):
            return []
        return [("access-control-allow-origin", origin), ("vary", "Origin")]

    def preflight_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """A preflight's answer, besides :meth:`cors_headers` (which every reply gets)."""
        if not self.cors_headers(origin):
            return []
        return [("access-control-allow-methods", CORS_ALLOW_METHODS),
                ("access-control-allow-headers", CORS_ALLOW_HEADERS),
                ("access-control-max-age", CORS_MAX_AGE_S)]


class WindowedLog:
    """Says each distinct thing at most once per window, with how often it was repeated.

    A page retrying in a loop cannot flood the log, and a refusal an hour later is still
    logged (a fixed "first N only" would go silent for good).
    """

    def __init__(self, emit: Callable[[str], None], *, window_s: float = 60.0,
                 max_keys: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._seen: dict[tuple[str, ...], tuple[float, int]] = {}

    def __call__(self, key: Iterable[str], message: str) -> bool:
        """Log ``message`` unless ``key`` was logged within the window; True if logged."""
        key = tuple(key)
        now = self._clock()
        last, repeats = self._seen.get(key, (-float("inf"), 0))
        if now - last < self._window_s:
            self._seen[key] = (last, repeats + 1)
            return False
        self._seen.pop(key, None)
        self._seen[key] = (now, 0)
        while len(self._seen) > self._max_keys:
            del self._seen[next(iter(self._seen))]
        suffix = f" (and {repeats} more like it in the last {self._window_s:g} s)" if repeats \
            else ""
        self._emit(message + suffix)
        return True
