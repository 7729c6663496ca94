"""Builders for every server → client message. Pure: dict in, dict out."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from codette_desktop.errors import CodetteError, ProtocolError
from codette_desktop.protocol.messages import RequestId

log = logging.getLogger("codette.server")

ERROR_CODES = frozenset({
    "invalid_json", "invalid_message", "unknown_type", "invalid_field", "payload_too_large",
    "rate_limited", "analysis_failed", "capture_unavailable", "not_authorized", "internal_error",
})


_second: list[Any] = [-1, ""]  # the last whole second seen, and its formatted prefix


def utc_timestamp() -> str:
    """Now as ISO-8601 UTC with microseconds (``2026-11-26T07:00:00.123456+00:00``).

    Every server message carries one: the date part is formatted once a second.
    """
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[0] = second
        _second[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - second) * 1e6):06d}+00:00"


def reply(type_: str, request_id: RequestId = None, **fields: Any) -> dict[str, Any]:
    """A server message: ``type``, the caller's fields, ``timestamp`` and the echoed ``id``."""
    message: dict[str, Any] = {"type": type_, **fields}
    message.setdefault("timestamp", utc_timestamp())
    if request_id is not None:
        message["id"] = request_id
    return message


# Object reprs ("<... object at 0x7f...>") tell a client nothing and an attacker about the
# heap layout: they never reach an error reply.
_ADDRESS = re.compile(r"\s*(?:object )?at 0x[0-9a-fA-F]{6,}")


def public_message(message: str) -> str:
    return _ADDRESS.sub("", message)


def error(
    code: str, message: str, request_id: RequestId = None, *, field: str | None = None
) -> dict[str, Any]:
    """An ``error`` message; ``data`` repeats code and message for the existing frontend."""
    assert code in ERROR_CODES, code
    message = public_message(message)
    data: dict[str, Any] = {"code": code, "message": message}
    extra: dict[str, Any] = {}
    if field is not None:
        data["field"] = field
        extra["field"] = field
    return reply("error", request_id, code=code, message=message, data=data, **extra)


def welcome(
    *, client_id: str, server_version: str, protocol_version: str, capabilities: list[str]
) -> dict[str, Any]:
    return reply(
        "connection",
        status="connected",
        message="Connected to Codette AI Unified Server",
        codette_available=True,
        protocol_version=protocol_version,
        server_version=server_version,
        client_id=client_id,
        capabilities=capabilities,
    )


def server_status(*, connections: int, uptime_s: float) -> dict[str, Any]:
    now = utc_timestamp()
    return reply(
        "server_status",
        data={
            "health": {"status": "healthy", "timestamp": now},
            "connections": connections,
            "uptime_s": round(uptime_s, 3),
        },
        timestamp=now,
    )


def connection_event(*, event: str, active_connections: int) -> dict[str, Any]:
    """A client came or went. Counts only: no client learns another's id (the dashboard,
    which sees everything, gets ClientConnected/ClientDisconnected instead)."""
    return reply("connection_event", event=event, active_connections=active_connections)


def audio_levels(levels: dict[str, Any]) -> dict[str, Any]:
    return reply("audio_levels", **levels)


def health(
    *, version: str, protocol_version: str, uptime_s: float, connections: int
) -> dict[str, Any]:
    return {
        "status": "healthy",
        "version": version,
        "protocol_version": protocol_version,
        "uptime_s": round(uptime_s, 3),
        "connections": connections,
        "timestamp": utc_timestamp(),
    }


def as_protocol_error(exc: Exception, request_id: RequestId) -> ProtocolError:
    """The ``error`` reply for a failed request: ours carry their wire code; anything
    else is a bug, logged with its traceback and answered ``internal_error``."""
    if isinstance(exc, ProtocolError):
        if exc.request_id is None:
            exc.request_id = request_id
        return exc
    if isinstance(exc, CodetteError):
        return ProtocolError(exc.code, str(exc), field=getattr(exc, "field", None),
                             request_id=request_id)
    log.error("unexpected error while handling a request", exc_info=exc)
    return ProtocolError("internal_error",
                         "The server hit an unexpected error; it is still running",
                         request_id=request_id)
