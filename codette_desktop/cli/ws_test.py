"""``codette-ws-test``: check a Codette server from the command line.

Runs the design note's flow against a running server — connect, expect the
``connection`` welcome, ``ping`` → ``pong``, ``status`` → ``status_response``,
``chat`` → ``chat_response`` — printing one line per step, and exits non-zero on the
first failure (connection refused, handshake rejected, wrong reply, error reply, timeout).

``--http`` checks the REST routes instead, as the DAW frontend calls them
(FRONTEND_CONTRACT.md): each reply must be 2xx JSON, carry the CORS header for the page's
origin, and hold the fields the frontend reads.

Only the standard library and ``websockets`` are used, so it runs wherever the app does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from codette_desktop import __version__

DEFAULT_URL = "ws://127.0.0.1:8000/ws"
DEFAULT_MESSAGE = "How do I EQ vocals?"
# Pushed by the server only to subscribers; skipped in case an old server sends them anyway.
PUSH_TYPES = frozenset({"server_status", "connection_event", "audio_levels"})

EXIT_OK = 0
EXIT_FAILED = 1


class CheckFailed(Exception):
    """One step of the flow failed; the message says why."""


class Reporter:
    """Prints ``✓``/``✗`` lines (``OK``/``FAIL`` where the console cannot show them)."""

    def __init__(self, out: TextIO, *, verbose: bool) -> None:
        self.out = out
        self.verbose = verbose
        encoding = getattr(out, "encoding", None) or "ascii"
        try:
            "✓✗→".encode(encoding)
            self.ok, self.fail, self.arrow = "✓", "✗", "→"
        except (UnicodeEncodeError, LookupError):
            self.ok, self.fail, self.arrow = "OK", "FAIL", "->"

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, passed: bool, name: str, ms: float | None, summary: str) -> None:
        mark = self.ok if passed else self.fail
        timing = f"{ms:8.1f} ms" if ms is not None else " " * 11
        self.line(f"{mark} {name:<16} {timing}  {summary}")

    def raw(self, message: dict[str, Any]) -> None:
        if self.verbose:
            self.line("    " + json.dumps(message, ensure_ascii=False)[:2000])


def _shorten(text: str, limit: int = 72) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Session:
    """A connected client that sends requests and checks their replies."""

    def __init__(self, ws: ClientConnection, timeout: float, report: Reporter) -> None:
        self.ws = ws
        self.timeout = timeout
        self.report = report
        self._next_id = 0

    def receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            frame = self.ws.recv(timeout=remaining)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            reason = exc.rcvd.reason if exc.rcvd is not None else "no close frame"
            raise CheckFailed(f"the server closed the connection (code {code}: "
                              f"{reason or 'no reason'})") from None
        if isinstance(frame, bytes):
            raise CheckFailed(f"got a binary frame of {len(frame)} bytes; expected JSON text")
        try:
            message = json.loads(frame)
        except ValueError:
            raise CheckFailed(f"got a frame that is not JSON: {_shorten(frame)!r}") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise CheckFailed(f"got JSON without a string 'type': {_shorten(frame)!r}")
        self.report.raw(message)
        return message

    def expect(self, expected: str, request_id: str | None, what: str) -> dict[str, Any]:
        """Wait for the reply of type ``expected`` (skipping pushes and chat chunks)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                message = self.receive(deadline)
            except TimeoutError:
                raise CheckFailed(f"no {expected} within {self.timeout:g} s after {what}") from None
            type_ = message["type"]
            if type_ in PUSH_TYPES or (type_ == "chat_chunk" and expected == "chat_response"):
                continue
            if type_ == "error":
                code = message.get("code") or (message.get("data") or {}).get("code")
                raise CheckFailed(f"error reply to {what}: {code}: {message.get('message')}")
            if type_ != expected:
                raise CheckFailed(f"expected {expected} after {what}, got {type_}")
            if request_id is not None and message.get("id") != request_id:
                raise CheckFailed(f"{expected} carries id {message.get('id')!r}, "
                                  f"expected {request_id!r} (replies must echo the id)")
            if not isinstance(message.get("timestamp"), str):
                raise CheckFailed(f"{expected} has no 'timestamp' string")
            return message

    def request(self, type_: str, **fields: Any) -> tuple[str, float]:
        self._next_id += 1
        request_id = f"ws-test-{self._next_id}"
        self.ws.send(json.dumps({"type": type_, "id": request_id, **fields}))
        return request_id, time.perf_counter()


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _check_welcome(message: dict[str, Any]) -> str:
    if message.get("status") != "connected":
        raise CheckFailed(f"welcome status is {message.get('status')!r}, expected 'connected'")
    client_id = message.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise CheckFailed("the welcome has no client_id")
    caps = message.get("capabilities")
    n_caps = len(caps) if isinstance(caps, list) else 0
    return (f"client {client_id}, server {message.get('server_version')}, "
            f"protocol {message.get('protocol_version')}, {n_caps} capabilities")


def _check_status(message: dict[str, Any]) -> str:
    if message.get("status") != "ok":
        raise CheckFailed(f"status is {message.get('status')!r}, expected 'ok'")
    uptime = message.get("uptime_s")
    uptime_text = f"{uptime:.1f} s" if isinstance(uptime, int | float) else "?"
    return (f"engine {message.get('engine_type')}, "
            f"{message.get('active_connections')} connection(s), uptime {uptime_text}, "
            f"memory {message.get('memory_size')}")


def _check_chat(message: dict[str, Any]) -> str:
    response = message.get("response")
    if not isinstance(response, str) or not response.strip():
        raise CheckFailed("chat_response has an empty 'response'")
    confidence = message.get("confidence")
    if (isinstance(confidence, bool) or not isinstance(confidence, int | float)
            or not 0 <= confidence <= 1):
        raise CheckFailed(f"chat_response confidence {confidence!r} is not a number in 0..1")
    quote = _shorten(response, 48)
    return f"confidence {confidence:.2f}, {message.get('perspective')}: \"{quote}\""


def run_checks(
    url: str, *, timeout: float, origin: str | None, token: str | None, message: str,
    report: Reporter,
) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    started = time.perf_counter()
    step_start = started
    try:
        ws = connect(
            url, origin=Origin(origin) if origin else None, additional_headers=headers,
            open_timeout=timeout, close_timeout=2, proxy=None,
            user_agent_header=f"codette-ws-test/{__version__}",
        )
    except Exception as exc:
        report.step(False, "connect", _ms(step_start), _connect_error(exc, url, timeout))
        return False
    report.step(True, "connect", _ms(step_start), "handshake accepted (101)")
    session = Session(ws, timeout, report)

    def welcome() -> str:
        return _check_welcome(session.expect("connection", None, "connecting"))

    def ping() -> str:
        rid, _ = session.request("ping")
        session.expect("pong", rid, "ping")
        return "round trip"

    def status() -> str:
        rid, _ = session.request("status")
        return _check_status(session.expect("status_response", rid, "status"))

    def chat() -> str:
        rid, _ = session.request("chat", message=message)
        return _check_chat(session.expect("chat_response", rid, "chat"))

    steps: list[tuple[str, Callable[[], str]]] = [
        ("connection", welcome), ("pong", ping), ("status_response", status),
        ("chat_response", chat),
    ]
    passed = True
    with ws:
        for name, check in steps:
            step_start = time.perf_counter()
            try:
                summary = check()
            except CheckFailed as exc:
                report.step(False, name, _ms(step_start), str(exc))
                passed = False
                break
            except OSError as exc:
                report.step(False, name, _ms(step_start), f"connection error: {exc}")
                passed = False
                break
            report.step(True, name, _ms(step_start), summary)
    total = _ms(started)
    if passed:
        report.line(f"All {len(steps) + 1} checks passed in {total:.0f} ms.")
    return passed


# -- --http: the REST routes the frontend calls --------------------------------------------

FRONTEND_ORIGIN = "http://localhost:5173"


def _fields(body: Any, *names: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise CheckFailed(f"expected a JSON object, got {type(body).__name__}")
    missing = [name for name in names if name not in body]
    if missing:
        raise CheckFailed(f"missing field(s) the frontend reads: {', '.join(missing)}")
    return body


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise CheckFailed(f"{name} {value!r} is not a number in 0..1")
    return float(value)


def _http_health(body: Any) -> str:
    return f"{_fields(body, 'status')['status']}, version {body.get('version')}"


def _http_chat(body: Any) -> str:
    _fields(body, "response", "confidence")
    if not isinstance(body["response"], str) or not body["response"].strip():
        raise CheckFailed("empty 'response'")
    return (f"confidence {_fraction(body['confidence'], 'confidence'):.2f}: "
            f"\"{_shorten(body['response'], 40)}\"")


def _http_suggest(body: Any) -> str:
    items = _fields(body, "suggestions")["suggestions"]
    if not isinstance(items, list) or not items:
        raise CheckFailed("no suggestions")
    for item in items:
        _fields(item, "title", "description", "confidence")
        _fraction(item["confidence"], "suggestion confidence")
    titles = [item["title"] for item in items]
    if len(set(titles)) != len(titles):
        raise CheckFailed(f"repeated titles: {titles}")
    return f"{len(items)}: {_shorten(', '.join(titles), 50)}"


def _http_status(body: Any) -> str:
    quantum = _fields(body, "status", "quantum_state")["quantum_state"]
    if not isinstance(quantum, dict) or not quantum:
        raise CheckFailed("quantum_state is not an object of numbers")
    for key, value in quantum.items():
        _fraction(value, f"quantum_state.{key}")
    return f"{body['status']}, {len(quantum)} quantum_state values in 0..1"


def _http_history(body: Any) -> str:
    items = _fields(body, "interactions")["interactions"]
    for item in items:
        _fields(item, "id", "timestamp", "content")
        if not isinstance(item["id"], str):
            raise CheckFailed(f"interaction id {item['id']!r} is not a string")
    return f"{len(items)} interaction(s)"


def _http_delay_sync(body: Any) -> str:
    divisions = _fields(body, "divisions")["divisions"]
    if not isinstance(divisions, dict) or not divisions or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in divisions.values()):
        raise CheckFailed("divisions must map names to numbers of milliseconds")
    return f"{len(divisions)} divisions at 120 BPM"


def _http_genre(body: Any) -> str:
    _fields(body, "detected_genre", "confidence", "candidates")
    if not all(isinstance(c, str) for c in body["candidates"]):
        raise CheckFailed("candidates must be strings")
    return f"{body['detected_genre']} ({_fraction(body['confidence'], 'confidence'):.2f})"


def _http_list(key: str) -> Callable[[Any], str]:
    def check(body: Any) -> str:
        value = _fields(body, key)[key]
        if not value:
            raise CheckFailed(f"'{key}' is empty")
        return f"{len(value)} {key}"

    return check


def _http_analyze(body: Any) -> str:
    _fields(body, "prediction", "confidence", "recommendations", "findings", "quality_score")
    return f"confidence {_fraction(body['confidence'], 'confidence'):.2f}, " \
           f"{len(body['recommendations'])} recommendation(s)"


HTTP_STEPS: list[tuple[str, str, str, Any, Callable[[Any], str]]] = [
    ("GET /health", "GET", "/health", None, _http_health),
    ("POST chat", "POST", "/codette/chat",
     {"message": DEFAULT_MESSAGE, "perspective": "mix_engineering"}, _http_chat),
    ("POST suggest", "POST", "/codette/suggest", {"context": {"type": "mixing"}, "limit": 5},
     _http_suggest),
    ("GET status", "GET", "/codette/status", None, _http_status),
    ("GET history", "GET", "/api/codette/history?limit=20", None, _http_history),
    ("GET delay-sync", "GET", "/api/analysis/delay-sync?bpm=120", None, _http_delay_sync),
    ("POST genre", "POST", "/api/analysis/detect-genre",
     {"tracks": [{"id": "1", "name": "808", "type": "instrument"},
                 {"id": "2", "name": "Trap Hats", "type": "audio"}]}, _http_genre),
    ("GET ear-training", "GET", "/api/analysis/ear-training?exercise_type=interval"
     "&difficulty=beginner", None, _http_list("exercises")),
    ("GET checklist", "GET", "/api/analysis/production-checklist?stage=mixing", None,
     _http_list("sections")),
    ("GET instrument", "GET", "/api/analysis/instrument-info?category=vocals&instrument=lead",
     None, _http_list("data")),
    ("POST analyze", "POST", "/codette/analyze",
     {"trackCount": 2, "trackTypes": ["audio", "instrument"], "hasAux": False}, _http_analyze),
]


def run_http_checks(
    base: str, *, timeout: float, origin: str | None, token: str | None, report: Reporter,
) -> bool:
    """Call each route like the frontend's fetch; check status, CORS and fields."""
    import urllib.error
    import urllib.request

    started = time.perf_counter()
    for name, method, path, body, check in HTTP_STEPS:
        step_start = time.perf_counter()
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if origin:
            headers["Origin"] = origin
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status, got, raw = response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                status, got, raw = exc.code, exc.headers, exc.read()
            if not 200 <= status < 300:
                raise CheckFailed(f"HTTP {status}: {_shorten(raw.decode('utf-8', 'replace'))}")
            if origin and got.get("Access-Control-Allow-Origin") != origin:
                raise CheckFailed(f"no Access-Control-Allow-Origin: {origin} (a browser page "
                                  "could not read this reply)")
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise CheckFailed("the reply is not JSON") from None
            report.raw(parsed if isinstance(parsed, dict) else {"reply": parsed})
            summary = check(parsed)
        except CheckFailed as exc:
            report.step(False, name, _ms(step_start), str(exc))
            return False
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            report.step(False, name, _ms(step_start), f"cannot connect: {reason}")
            return False
        report.step(True, name, _ms(step_start), summary)
    report.line(f"All {len(HTTP_STEPS)} HTTP checks passed in {_ms(started):.0f} ms.")
    return True


def http_base(url: str) -> str:
    """``ws://host:port/ws`` → ``http://host:port``."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def _connect_error(exc: Exception, url: str, timeout: float) -> str:
    if isinstance(exc, InvalidURI):
        return f"invalid URL {url!r}: use ws://HOST:PORT/ws"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
        hint = {
            403: "the server refused this client (Origin, Host or token; see --origin/--token)",
            404: "wrong path: the endpoint is /ws",
        }.get(status, "the server refused the WebSocket upgrade")
        return f"HTTP {status}{f' ({body})' if body else ''}: {hint}"
    if isinstance(exc, ConnectionRefusedError):
        where = urlsplit(url).netloc or url
        return f"connection refused at {where}: is Codette Desktop running on that port?"
    if isinstance(exc, TimeoutError):
        return f"no handshake within {timeout:g} s"
    if isinstance(exc, InvalidHandshake):
        return f"handshake failed: {exc}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    return f"cannot connect: {type(exc).__name__}: {exc}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="codette-ws-test",
        description="Check a Codette WebSocket server: welcome, ping, status and chat.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the handshake and for each reply (default 10)")
    parser.add_argument("--origin", help="send this Origin header, as a browser page would "
                        f"(with --http the default is {FRONTEND_ORIGIN}, as the DAW's)")
    parser.add_argument("--http", action="store_true",
                        help="check the HTTP routes the DAW frontend calls instead of /ws")
    parser.add_argument("--token", help="access token, if the server requires one")
    parser.add_argument("--message", default=DEFAULT_MESSAGE,
                        help=f"chat question (default {DEFAULT_MESSAGE!r})")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every reply as JSON")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be positive")
    if not args.message.strip():
        parser.error("--message must not be empty")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Reporter(sys.stdout, verbose=args.verbose)
    if args.http:
        base = http_base(args.url)
        report.line(f"codette-ws-test {__version__} {report.arrow} {base} (HTTP routes, "
                    f"timeout {args.timeout:g} s)")
        ok = run_http_checks(base, timeout=args.timeout, origin=args.origin or FRONTEND_ORIGIN,
                             token=args.token, report=report)
    else:
        report.line(f"codette-ws-test {__version__} {report.arrow} {args.url} "
                    f"(timeout {args.timeout:g} s)")
        ok = run_checks(args.url, timeout=args.timeout, origin=args.origin, token=args.token,
                        message=args.message, report=report)
    if not ok:
        report.line("FAILED: the server did not pass the checks.")
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
