"""The ASGI application behind the port: who may talk (first), then HTTP or ``/ws``.

Every request is screened by :class:`~.access.AccessControl` before anything else runs: a
refused one costs a header check and a short reply. HTTP requests are routed by Starlette
to thin endpoints that turn the body or query into a protocol request
(:mod:`codette_desktop.protocol.rest`), ask the same handler the WebSocket uses, and give
the reply the frontend's field names; a chat with ``"stream": true`` is answered as
server-sent events instead (:class:`EventStream`). Every HTTP reply carries CORS headers
for an allowed ``Origin`` and is reported to the dashboard (method, route, status, size,
time).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from codette_desktop.errors import ProtocolError
from codette_desktop.protocol import messages, replies, rest
from codette_desktop.server.access import AccessControl, Refusal, RequestHead
from codette_desktop.server.uploads import UploadSpool

if TYPE_CHECKING:
    from codette_desktop.server.clients import ClientInfo
    from codette_desktop.server.server import CodetteServer

log = logging.getLogger("codette.server")

WS_PATH = "/ws"
TEST_PAGE = "web/index.html"
TEST_PAGE_CSP = ("default-src 'self'; img-src 'self' data:; connect-src 'self' ws: ; "
                 "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'")


class _Clock:
    """The ``Date`` header, formatted once a second (RFC 9110 §6.6.1)."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = email.utils.formatdate(now, usegmt=True).encode()
        return self._value


class CodetteApp:
    """ASGI entry point. Holds no state of its own beyond the routing table."""

    def __init__(self, server: CodetteServer, access: AccessControl) -> None:
        self.server = server
        self.access = access
        self._clock = _Clock()
        self._router = Router(routes=self._routes(), default=self._not_found,
                              redirect_slashes=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self.server.serve_websocket(scope, receive, send)

    # -- HTTP ------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        head = RequestHead.from_asgi(scope)
        origin = head.get("origin")
        outcome = {"status": 0, "size": 0}
        refusal = self.access.check(head)
        extra = [] if refusal is not None else [
            (k.encode(), v.encode()) for k, v in self.access.cors_headers(origin)]

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                message["headers"] = [
                    *message.get("headers", ()), *extra, (b"date", self._clock.date()),
                    (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
            elif message["type"] == "http.response.body":
                outcome["size"] += len(message.get("body", b""))
            await send(message)

        try:
            if refusal is not None:
                self.server.refused(refusal, head)
                await _refusal_response(refusal)(scope, receive, send_with_headers)
            elif head.method == "OPTIONS":
                await Response(status_code=204, headers=dict(
                    self.access.preflight_headers(origin)))(scope, receive, send_with_headers)
            else:
                await self._router(scope, receive, send_with_headers)
        finally:
            self.server.log_http(head, scope.get("client"), outcome["status"], outcome["size"],
                                 time.perf_counter() - started)

    def _routes(self) -> list[Route]:
        api = self._api
        routes = [
            Route("/", self._test_page, methods=["GET"]),
            Route("/index.html", self._test_page, methods=["GET"]),
            Route(WS_PATH, self._upgrade_required, methods=["GET"]),
            Route("/health", self._health, methods=["GET"]),
            Route("/api/health", self._health, methods=["GET"]),
            Route("/api/codette/history", api(rest.HISTORY), methods=["GET"]),
            Route("/api/codette/memory/{entry_id}", api(rest.MEMORY_ENTRY), methods=["GET"]),
            Route("/api/analysis/delay-sync", api(rest.DELAY_SYNC), methods=["GET"]),
            Route("/api/analysis/detect-genre", api(rest.DETECT_GENRE), methods=["POST"]),
            Route("/api/analysis/ear-training", api(rest.EAR_TRAINING), methods=["GET"]),
            Route("/api/analysis/production-checklist", api(rest.PRODUCTION_CHECKLIST),
                  methods=["GET"]),
            Route("/api/analysis/instrument-info", api(rest.INSTRUMENT_INFO), methods=["GET"]),
        ]
        for prefix in ("/codette", "/api/codette"):
            routes += [
                Route(f"{prefix}/chat", api(rest.CHAT), methods=["POST"]),
                Route(f"{prefix}/suggest", api(rest.SUGGEST), methods=["POST"]),
                Route(f"{prefix}/analyze", api(rest.ANALYZE), methods=["POST"]),
                Route(f"{prefix}/status", api(rest.STATUS), methods=["GET"]),
            ]
        return routes

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _error_response("not_found", f"No route {scope.get('path', '')!r}; see "
                              "docs/WEBSOCKET_API.md for the routes")(scope, receive, send)

    async def _health(self, request: HttpRequest) -> Response:
        return JSONResponse(self.server.health())

    async def _upgrade_required(self, request: HttpRequest) -> Response:
        return Response("This is a WebSocket endpoint: connect with ws://\n", status_code=426,
                        media_type="text/plain",
                        headers={"Upgrade": "websocket", "Connection": "Upgrade"})

    async def _test_page(self, request: HttpRequest) -> Response:
        page = self.server.resources / TEST_PAGE
        try:
            body = page.read_bytes()
        except OSError:
            return Response("Test page not installed\n", status_code=404,
                            media_type="text/plain")
        return Response(body, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": TEST_PAGE_CSP})

    def _api(self, route: rest.Route) -> Callable[[HttpRequest], Awaitable[Response]]:
        async def endpoint(request: HttpRequest) -> Response:
            client = self.server.http_client(request.scope)
            reply: dict[str, Any] | Response
            try:
                if request.method in ("GET", "HEAD"):
                    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
                    reply = await self.server.answer(
                        rest.request_from_query(route, query, request.path_params), client)
                else:
                    reply = await self._answer_body(route, request, client)
            except Exception as exc:
                error = replies.as_protocol_error(exc, None)
                return _error_response(error.code, error.message, error.field)
            if isinstance(reply, Response):
                return reply
            shaped = route.shape(reply) if route.shape is not None else reply
            status = 200
            if reply.get("type") == "error":
                status = rest.http_status(reply["code"])
            return JSONResponse(shaped, status_code=status)

        return endpoint

    async def _answer_body(self, route: rest.Route, request: HttpRequest,
                           client: ClientInfo) -> dict[str, Any] | Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if route is rest.ANALYZE and content_type in rest.UPLOAD_TYPES:
            return await self._answer_upload(request, content_type, client)
        # JSON bodies share the WebSocket's 1 MiB message limit; audio files are POSTed
        # as themselves (see docs/WEBSOCKET_API.md), not as base64 inside JSON.
        cap = self.server.limits.max_message_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise ProtocolError("payload_too_large", _too_large(cap))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise ProtocolError("payload_too_large", _too_large(cap))
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            obj = messages.parse_json(body) if body.strip() else None
        except ProtocolError:
            raise ProtocolError("invalid_json", "Invalid JSON format: the body must be a "
                                "JSON object") from None
        message = rest.request_from_body(route, obj)
        if isinstance(message, messages.Chat) and message.stream:
            return EventStream(self.server, message, client)
        return await self.server.answer(message, client)


    async def _answer_upload(self, request: HttpRequest, content_type: str,
                             client: ClientInfo) -> dict[str, Any]:
        """``POST /codette/analyze`` with the audio file as the body: spooled to a file as
        it arrives, then analysed like an ``analyze`` upload."""
        query = dict(parse_qsl(request.url.query, keep_blank_values=False))
        cap = self.server.settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise ProtocolError("payload_too_large",
                                f"An upload may not exceed {cap // (1024 * 1024)} MiB")
        fmt = rest.UPLOAD_TYPES[content_type] or query.get("format", "")
        spool = UploadSpool(self.server.upload_dir, expected=cap, suffix=fmt or "bin")
        try:
            async for chunk in request.stream():
                if spool.received + len(chunk) > cap:
                    raise ProtocolError("payload_too_large",
                                        f"An upload may not exceed {cap // (1024 * 1024)} MiB")
                spool.write(chunk)
            spool.close()
            if not spool.received:
                raise ProtocolError("invalid_field", "The body holds no audio", field="body")
            analyze = rest.upload_request(query, fmt=fmt, size=spool.received)
            return await self.server.answer(analyze.with_uploaded_file(spool.path), client)
        finally:
            await asyncio.to_thread(spool.discard)  # freeing a big file's blocks takes ms


class EventStream(Response):
    """A chat with ``"stream": true`` over HTTP: every reply (``chat_chunk``s, then the
    ``chat_response``) as one server-sent event, ``data: <the WebSocket message>``.

    The first reply is awaited before the status line, so a request refused at once
    (``rate_limited``) still gets its HTTP status and JSON error body; an error after
    that is an ``error`` event. A client that disconnects, even while the model reads
    the prompt, stops the answer: the replies are closed and the model request with them.
    """

    media_type = "text/event-stream"

    def __init__(self, server: CodetteServer, request: messages.Chat,
                 client: ClientInfo) -> None:
        self._server = server
        self._request = request
        self._client = client
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        stream = self._server.replies(self._request, self._client)
        pump = loop.create_task(self._pump(stream, scope, receive, send))
        gone = loop.create_task(_disconnected(receive))
        try:
            await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, gone):
                task.cancel()
            await asyncio.gather(pump, gone, return_exceptions=True)
            await stream.aclose()
        if not pump.cancelled() and (failure := pump.exception()) is not None:
            raise failure

    async def _pump(self, stream: AsyncGenerator[dict[str, Any], None], scope: Scope,
                    receive: Receive, send: Send) -> None:
        request_id = self._request.id
        try:
            first = await anext(stream)
        except Exception as exc:
            error = replies.as_protocol_error(exc, request_id)
            await _error_response(error.code, error.message, error.field)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8")]})
        reply: dict[str, Any] | None = first
        while reply is not None:
            await send({"type": "http.response.body", "more_body": True,
                        "body": rest.event_frame(self._server.encode(reply))})
            try:
                reply = await anext(stream, None)
            except Exception as exc:
                error = replies.as_protocol_error(exc, request_id)
                reply = replies.error(error.code, error.message, request_id, field=error.field)
                await send({"type": "http.response.body", "more_body": True,
                            "body": rest.event_frame(self._server.encode(reply))})
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    """Returns when the HTTP client has gone (the body was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _too_large(cap: int) -> str:
    return (f"A JSON body may not exceed {cap // 1024} KiB; upload audio files with "
            "Content-Type audio/wav or audio/flac instead of base64")


def _error_response(code: str, message: str, field: str | None = None) -> Response:
    return JSONResponse(rest.error_body(code, replies.public_message(message), field),
                        status_code=rest.http_status(code))


def _refusal_response(refusal: Refusal) -> Response:
    body = json.dumps(rest.error_body("not_authorized", refusal.message)).encode()
    return Response(body, status_code=refusal.status, media_type="application/json")
