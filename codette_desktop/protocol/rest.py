"""The HTTP routes the DAW frontend calls, as requests and replies of the same protocol.

A REST route names a message type; its JSON body (or query) becomes that message and is
decoded by :func:`messages.decode_object`, exactly like a WebSocket frame. The reply the
services produce is then given the field names the frontend reads
(``FRONTEND_CONTRACT.md`` §2-3). Pure: dicts in, dicts out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from codette_desktop.errors import ProtocolError
from codette_desktop.protocol import messages

# The AI panel's analyze bodies describe a session (faders, plugins, routing); anything
# carrying one of these fields is an analysis of audio or of measured levels instead.
_AUDIO_ANALYSIS_FIELDS = ("audio", "audio_data", "track_data", "source", "analysis_type")

# Wire error code → HTTP status. Bad input is a 4xx; only a bug is a 500.
_STATUS = {
    "invalid_json": 400, "invalid_message": 400, "unknown_type": 404, "invalid_field": 422,
    "payload_too_large": 413, "rate_limited": 429, "not_authorized": 403,
    "analysis_failed": 422, "capture_unavailable": 503, "internal_error": 500,
    "not_found": 404,
}


@dataclass(frozen=True, slots=True)
class Route:
    """One REST route: how its input becomes a message, how the reply is shaped."""

    message_type: str
    from_query: Mapping[str, Callable[[str], Any]] | None = None  # GET: query → fields
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def http_status(code: str) -> int:
    return _STATUS.get(code, 400)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """A JSON error for HTTP callers: ``error`` is the message, ``code`` the wire code."""
    body: dict[str, Any] = {"status": "error", "error": message, "code": code,
                            "message": message}
    if field is not None:
        body["field"] = field
    return body


def event_frame(data: str) -> bytes:
    """One server-sent event carrying ``data``, a JSON text (its line breaks are escaped,
    so it is a single ``data:`` line; WHATWG HTML §9.2.6 ends an event at a blank line)."""
    if "\n" in data or "\r" in data:
        raise ValueError("an event's data must be one line")
    return f"data: {data}\n\n".encode()


def request_from_body(route: Route, body: Any) -> messages.Request:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ProtocolError("invalid_message", "The request body must be a JSON object")
    message_type = route.message_type
    if message_type == "analyze" and not any(k in body for k in _AUDIO_ANALYSIS_FIELDS):
        message_type = "review_session"
    return messages.decode_object({**body, "type": message_type})


def request_from_query(route: Route, query: Mapping[str, str],
                       path_params: Mapping[str, str] | None = None) -> messages.Request:
    fields: dict[str, Any] = {"type": route.message_type, **(path_params or {})}
    for name, convert in (route.from_query or {}).items():
        raw = query.get(name)
        if raw is None or raw == "":
            continue
        try:
            fields[name] = convert(raw)
        except ValueError:
            raise ProtocolError("invalid_field", f"Query parameter '{name}' must be "
                                f"{_WHAT.get(convert, 'valid')}", field=name) from None
    return messages.decode_object(fields)


# Content types of an audio file POSTed to the analyze route, and the format each means
# (None: say it in the query, ``?format=pcm_s16le&sample_rate=48000&channels=2``).
UPLOAD_TYPES: dict[str, str | None] = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/flac": "flac", "audio/x-flac": "flac", "application/octet-stream": None,
}
_UPLOAD_QUERY: Mapping[str, Callable[[str], Any]] = {
    "analysis_type": str, "sample_rate": int, "channels": int, "session_id": str,
    "track_name": str, "track_type": str, "track_id": str,
}


def upload_request(query: Mapping[str, str], *, fmt: str, size: int) -> messages.Analyze:
    """The analyze request for an uploaded body, from its query string."""
    fields: dict[str, Any] = {}
    for name, convert in _UPLOAD_QUERY.items():
        if query.get(name):
            try:
                fields[name] = convert(query[name])
            except ValueError:
                raise ProtocolError("invalid_field", f"Query parameter '{name}' must be "
                                    f"{_WHAT.get(convert, 'valid')}", field=name) from None
    track = {k: fields.pop(k) for k in ("track_name", "track_type", "track_id") if k in fields}
    upload = {"format": fmt, "size": size}
    for key in ("sample_rate", "channels"):
        if key in fields:
            upload[key] = fields.pop(key)
    request = messages.decode_object({"type": "analyze", "upload": upload,
                                      "track_data": track, **fields})
    assert isinstance(request, messages.Analyze)
    return request


def _finite(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


_WHAT: dict[Callable[[str], Any], str] = {int: "an integer", _finite: "a number",
                                          str: "text"}


# -- reply shapes the frontend reads ------------------------------------------------------


def _chat(reply: dict[str, Any]) -> dict[str, Any]:
    # useCodette stores response, confidence and source; the bubble shows response.
    return {k: v for k, v in reply.items() if k not in ("type", "id")}


def _history(reply: dict[str, Any]) -> dict[str, Any]:
    """``interactions``: id (a string — the UI slices it), ISO timestamp, content."""
    interactions = [
        {"id": str(m["id"]), "timestamp": m["timestamp"], "content": m["text"],
         "role": m["role"], "perspective": m.get("perspective")}
        for m in reply["messages"]
    ]
    return {"status": "ok", "interactions": interactions, "total": len(interactions),
            "session_id": reply.get("session_id"), "timestamp": reply["timestamp"],
            **({"has_more": True} if reply.get("has_more") else {})}


def _analysis(reply: dict[str, Any]) -> dict[str, Any]:
    """An audio or levels analysis in the AI panel's terms.

    The panel shows ``recommendations`` joined (else ``findings``) and ``quality_score``
    as its confidence; ``prediction``/``confidence``/``actionItems`` are read by its other
    buttons (FRONTEND_CONTRACT.md §2, ``POST /codette/analyze``).
    """
    if reply.get("status") != "success":
        return {k: v for k, v in reply.items() if k not in ("type", "id")}
    analysis = reply["analysis"]
    suggestions = list(analysis.get("mixing_suggestions") or [])
    insights = analysis.get("codette_insights") or ""
    findings = [insights] if insights else []
    quality = analysis.get("quality_score")
    measured = bool(analysis.get("measurements", {}).get("integrated_lufs") is not None
                    or analysis.get("measurements", {}).get("sample_peak_dbfs") is not None)
    return {
        "status": "ok",
        "trackId": reply.get("trackId"),
        "prediction": suggestions[0] if suggestions else (insights or "Analysis complete"),
        # How far the advice rests on measurement: audio was measured, metadata was not.
        "confidence": 0.9 if measured else 0.5,
        "actionItems": [{"action": s, "priority": "medium"} for s in suggestions],
        "recommendations": suggestions,
        "findings": findings,
        "quality_score": quality,
        "analysis": {**analysis, "recommendations": suggestions, "findings": findings},
        "timestamp": reply["timestamp"],
    }


def _plain(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k not in ("type", "id")}


def _analysis_or_review(reply: dict[str, Any]) -> dict[str, Any]:
    if reply.get("type") == "analysis_response":
        return _analysis(reply)
    return _plain(reply)


CHAT = Route("chat", shape=_chat)
SUGGEST = Route("suggest", shape=_plain)
ANALYZE = Route("analyze", shape=_analysis_or_review)
STATUS = Route("status", shape=_plain)
HISTORY = Route("history", from_query={"limit": int}, shape=_history)
MEMORY_ENTRY = Route("memory_entry", shape=_plain)
DELAY_SYNC = Route("delay_sync", from_query={"bpm": _finite}, shape=_plain)
DETECT_GENRE = Route("detect_genre", shape=_plain)
EAR_TRAINING = Route("ear_training", from_query={"exercise_type": str, "difficulty": str},
                     shape=_plain)
PRODUCTION_CHECKLIST = Route("production_checklist", from_query={"stage": str}, shape=_plain)
INSTRUMENT_INFO = Route("instrument_info", from_query={"category": str, "instrument": str},
                        shape=_plain)
