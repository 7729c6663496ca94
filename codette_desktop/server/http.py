"""The plain-HTTP side of the port: handshake checks and the few HTTP routes.

``screen_request`` runs for every incoming HTTP request before the WebSocket handshake
(websockets' ``process_request`` hook). It answers ``/health``, the test page and errors
itself, and returns ``None`` only for a well-formed, allowed upgrade on ``/ws``.
"""

from __future__ import annotations

import http
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from codette_desktop.config import LOOPBACK_NAMES, Settings

log = logging.getLogger("codette.server")

WS_PATH = "/ws"
TEST_PAGE = "web/index.html"
# Refusals are logged once per origin/host, so a page retrying in a loop cannot flood the log.
MAX_REFUSALS_LOGGED = 100


def _response(
    status: http.HTTPStatus, body: bytes, content_type: str, *, head: bool = False,
    extra: dict[str, str] | None = None,
) -> Response:
    headers = Headers()
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    headers["Cache-Control"] = "no-store"
    headers["X-Content-Type-Options"] = "nosniff"
    for key, value in (extra or {}).items():
        headers[key] = value
    # HEAD carries the GET headers (Content-Length included) and no body (RFC 9110 §9.3.2).
    return Response(status.value, status.phrase, headers, b"" if head else body)


def text_response(status: http.HTTPStatus, text: str, **kwargs: Any) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8", **kwargs)


def json_response(status: http.HTTPStatus, payload: dict[str, Any], **kwargs: Any) -> Response:
    return _response(status, json.dumps(payload).encode(), "application/json", **kwargs)


def host_name(host_header: str) -> str:
    """``Host`` header without its port: ``[::1]:8000`` → ``::1``, ``a.b:80`` → ``a.b``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestScreen:
    """Decides what to do with each HTTP request on the server's port."""

    def __init__(
        self,
        settings: Settings,
        *,
        health: Callable[[], dict[str, Any]],
        resources: Path,
        port: Callable[[], int],
    ) -> None:
        self._settings = settings
        self._health = health
        self._resources = resources
        self._port = port
        self._refusals_logged: set[tuple[str, str]] = set()

    def _log_refusal(self, kind: str, value: str, message: str) -> None:
        """Say in the log why a client was refused: the browser only sees a failed socket."""
        key = (kind, value)
        if key in self._refusals_logged or len(self._refusals_logged) >= MAX_REFUSALS_LOGGED:
            return
        self._refusals_logged.add(key)
        log.warning("%s (HTTP 403; repeats are not logged)", message)

    def allowed_origins(self) -> set[str]:
        port = self._port()
        # The bundled test page is served from this very port, so its origin is ours.
        own = {f"http://{host}:{port}" for host in ("localhost", "127.0.0.1", "[::1]")}
        return set(self._settings.allowed_origins) | own

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False  # HTTP/1.1 requires Host (RFC 9112 §3.2)
        name = host_name(host_header)
        extra = {h.lower() for h in self._settings.allowed_hosts}
        if self._settings.allow_non_loopback:
            extra.add(self._settings.host.lower())
        return name in LOOPBACK_NAMES or name in extra

    def token_ok(self, request: Request) -> bool:
        token = self._settings.auth_token
        if not token:
            return True
        query = parse_qs(urlsplit(request.path).query)
        offered = query.get("token", [None])[0]
        auth = request.headers.get("Authorization", "")
        return offered == token or auth == f"Bearer {token}"

    def __call__(self, request: Request) -> Response | None:
        method = getattr(request, "method", "GET")
        head = method == "HEAD"
        for name in ("Host", "Origin", "Upgrade", "Authorization"):
            # A repeated Host is a 400 (RFC 9112 §3.2); a repeated Origin is never sent by
            # a browser (RFC 6454 §7.3). Either is a forgery attempt or a broken client.
            if len(request.headers.get_all(name)) > 1:
                return text_response(http.HTTPStatus.BAD_REQUEST, f"Repeated {name} header\n",
                                     head=head)
        if not self.host_allowed(request.headers.get("Host")):
            host = request.headers.get("Host") or ""
            self._log_refusal("host", host, f"refused a request with Host {host!r}: not a "
                              "loopback name (add it to allowed_hosts to accept it)")
            return text_response(http.HTTPStatus.FORBIDDEN, "Host not allowed\n", head=head)
        path = urlsplit(request.path).path
        if path == "/health":
            if method not in ("GET", "HEAD"):
                return text_response(
                    http.HTTPStatus.METHOD_NOT_ALLOWED, "Use GET or HEAD\n",
                    extra={"Allow": "GET, HEAD"},
                )
            return json_response(http.HTTPStatus.OK, self._health(), head=head)
        if path in ("/", "/index.html"):
            if method not in ("GET", "HEAD"):
                return text_response(
                    http.HTTPStatus.METHOD_NOT_ALLOWED, "Use GET\n", extra={"Allow": "GET, HEAD"}
                )
            return self._test_page(head)
        if path != WS_PATH:
            return text_response(http.HTTPStatus.NOT_FOUND, "Not found\n", head=head)
        if method != "GET":
            return text_response(
                http.HTTPStatus.METHOD_NOT_ALLOWED, "WebSocket upgrade needs GET\n",
                extra={"Allow": "GET"},
            )
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            return text_response(
                http.HTTPStatus.UPGRADE_REQUIRED,
                "This is a WebSocket endpoint: connect with ws://\n",
                extra={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.allowed_origins():
            self._log_refusal("origin", origin, f"refused a WebSocket from Origin {origin!r}: "
                              "not in allowed_origins")
            return text_response(http.HTTPStatus.FORBIDDEN, "Origin not allowed\n")
        if not self.token_ok(request):
            self._log_refusal("token", str(origin), "refused a WebSocket without a valid "
                              f"token (Origin {origin!r})")
            return text_response(http.HTTPStatus.FORBIDDEN, "A valid token is required\n")
        return None

    def _test_page(self, head: bool) -> Response:
        page = self._resources / TEST_PAGE
        try:
            body = page.read_bytes()
        except OSError:
            return text_response(http.HTTPStatus.NOT_FOUND, "Test page not installed\n", head=head)
        return _response(
            http.HTTPStatus.OK, body, "text/html; charset=utf-8", head=head,
            extra={"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                   "connect-src 'self' ws: ; "
                   "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"},
        )
