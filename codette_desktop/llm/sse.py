"""The OpenAI-style streaming wire format, without I/O: server-sent-event lines in,
chat-completion chunks out. The client feeds it lines as they arrive.

A stream is ``data: {json chunk}`` events separated by blank lines, ended by
``data: [DONE]`` (WHATWG HTML, "Server-sent events" §9.2.6 for the line rules). A chunk
carries ``choices[0].delta.content`` and, at the end, ``finish_reason``; servers asked for
``stream_options.include_usage`` add a last chunk with ``usage``. Ollama and llama.cpp
report a failure mid-stream as an event whose JSON has an ``error`` object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from codette_desktop.errors import LLMError

DONE = "[DONE]"


class SseDecoder:
    """Collects ``data:`` lines into events; :meth:`feed` returns an event's data when a
    blank line completes it. Comments (``:``) and other fields (``event:``, ``id:``) are
    skipped: the chat stream carries everything in ``data``."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if not line:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """The last event when the stream ended without its closing blank line."""
        return self.feed("")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One parsed event: text to show, and what the server says about the end."""

    delta: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    done: bool = False  # the [DONE] sentinel


def parse_chunk(data: str) -> Chunk:
    """Parse one event's data. A server-reported error raises :class:`LLMError`."""
    if data.strip() == DONE:
        return Chunk(done=True)
    try:
        payload = json.loads(data)
    except ValueError:
        raise LLMError(f"model server sent a malformed chunk: {data[:80]!r}") from None
    if not isinstance(payload, dict):
        raise LLMError(f"model server sent a malformed chunk: {data[:80]!r}")
    if "error" in payload:
        raise LLMError(f"model server error: {error_message(payload)}")
    delta = ""
    finish_reason = None
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        content = (choice.get("delta") or {}).get("content")
        delta = content if isinstance(content, str) else ""
        reason = choice.get("finish_reason")
        finish_reason = reason if isinstance(reason, str) else None
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Chunk(delta=delta, finish_reason=finish_reason,
                 prompt_tokens=_count(usage.get("prompt_tokens")),
                 completion_tokens=_count(usage.get("completion_tokens")))


def error_message(payload: Any, limit: int = 200) -> str:
    """The human part of an OpenAI-style (``{"error": {"message"}}``), FastAPI-style
    (``{"detail"}``) or plain error body, cut to ``limit`` characters."""
    message: Any = payload
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload))
        message = error.get("message", error) if isinstance(error, dict) else error
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
