"""An asyncio client for an OpenAI-compatible model server (Ollama, LM Studio, llama.cpp).

    client = LLMClient.from_settings(settings, on_status=hub.publish_llm_status)
    model = await client.pick_model(settings.llm_model)
    async with client.stream_chat(messages, model=model) as stream:
        async for delta in stream:
            ...                     # text as the model produces it
    stream.stats.tokens_per_s       # and first_token_s, prompt_tokens, completion_tokens

Everything that goes wrong is an :class:`~codette_desktop.errors.LLMError` with a short
``reason`` for the user; answer with the built-in engine and show the reason. Leaving the
``async with`` early, or cancelling the task that iterates, closes the HTTP request, so
the model server stops generating for a client that went away.

The reply is read line by line as the server sends it (never buffered whole). The API key
is sent only in the ``Authorization`` header and appears in no log, repr or status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, cast

import httpx

from codette_desktop.config import DEFAULT_LLM_TIMEOUT_S, Settings
from codette_desktop.errors import LLMError
from codette_desktop.llm.sse import SseDecoder, error_message, parse_chunk

log = logging.getLogger(__name__)

# Enough for a short grounded answer (the prompt asks for at most five sentences).
DEFAULT_MAX_TOKENS = 400
DEFAULT_TEMPERATURE = 0.3
# An error body is read only this far: its message is all the user is shown.
_MAX_ERROR_BODY = 4096


@dataclass(frozen=True, slots=True)
class LLMStatus:
    """What the dashboard shows about the model server. ``reachable`` is None until the
    first request; ``tokens_per_s`` and ``first_token_s`` are from the last answer."""

    url: str
    reachable: bool | None = None
    last_error: str | None = None
    tokens_per_s: float | None = None
    first_token_s: float | None = None


@dataclass(slots=True)
class StreamStats:
    """Measured on one streamed answer. ``tokens_per_s`` is generation speed after the
    first token; ``prompt_tokens`` comes from the server's usage report, when it sends one."""

    first_token_s: float | None = None
    completion_tokens: int = 0
    prompt_tokens: int | None = None
    tokens_per_s: float | None = None
    finish_reason: str | None = None


class LLMClient:
    """One model server. Create it on the event loop that will use it; close it with
    :meth:`aclose` (or ``async with``). ``on_status`` is called on that loop whenever
    :attr:`status` changes."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 timeout_s: float = DEFAULT_LLM_TIMEOUT_S,
                 on_status: Callable[[LLMStatus], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._on_status = on_status
        self.status = LLMStatus(url=self.base_url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # httpx's read timeout bounds the gap between two chunks once the answer runs;
        # the first token has its own deadline (see ChatStream).
        self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout_s))

    @classmethod
    def from_settings(cls, settings: Settings, *,
                      on_status: Callable[[LLMStatus], None] | None = None) -> LLMClient:
        return cls(settings.llm_url, api_key=settings.llm_api_key,
                   timeout_s=settings.llm_timeout_s, on_status=on_status)

    def __repr__(self) -> str:
        return f"LLMClient({self.base_url!r})"

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_models(self) -> list[str]:
        """The ids the server offers (``GET /models``), in its order."""
        url = f"{self.base_url}/models"
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._http.get(url)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise self._failed(self._transport_reason(exc)) from exc
        self._update(reachable=True)
        if response.status_code >= 400:
            raise self._failed(_status_reason(response.status_code, _body_json(response.text)))
        try:
            models = [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise self._failed(f"{url} did not return a model list") from None
        self._update(last_error=None)
        return models

    async def pick_model(self, configured: str = "") -> str:
        """``configured``, or the server's first model when that is empty."""
        if configured:
            return configured
        models = await self.list_models()
        if not models:
            raise self._failed(f"{self.base_url} offers no model")
        return models[0]

    def stream_chat(self, messages: Sequence[Mapping[str, str]], *, model: str,
                    max_tokens: int = DEFAULT_MAX_TOKENS,
                    temperature: float = DEFAULT_TEMPERATURE,
                    first_token_by: float | None = None) -> ChatStream:
        """A streamed completion: the request goes out when the result is first iterated;
        close it (``async with``) to end it early. ``first_token_by`` (``loop.time()``)
        moves the first-token deadline earlier, for a caller that already spent part of
        ``timeout_s`` (on finding the model); by default it is ``timeout_s`` from the
        first iteration."""
        body = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return ChatStream(self, body, first_token_by)

    # -- internals shared with ChatStream ---------------------------------------------

    def _update(self, **changes: Any) -> None:
        status = dataclasses.replace(self.status, **changes)
        if status != self.status:
            self.status = status
            if self._on_status is not None:
                self._on_status(status)

    def _failed(self, reason: str) -> LLMError:
        self._update(last_error=reason)
        log.warning("local model: %s", reason)
        return LLMError(reason)

    def _transport_reason(self, exc: BaseException) -> str:
        """Why no HTTP response came; marks whether the server could be reached at all."""
        connected = isinstance(exc, TimeoutError | httpx.TimeoutException) and not isinstance(
            exc, httpx.ConnectTimeout)
        self._update(reachable=connected)
        if connected:
            return f"no answer from {self.base_url} within {self.timeout_s:g} s"
        if isinstance(exc, httpx.ConnectTimeout):
            return f"no connection to {self.base_url} within {self.timeout_s:g} s"
        if _refused(exc):
            return f"connection refused at {self.base_url}"
        return f"cannot connect to {self.base_url}: {exc or type(exc).__name__}"


class TextStream:
    """Text from an async generator, as an async iterator and an async context manager:
    leaving the ``async with`` (or :meth:`aclose`) ends the generator at once, so what it
    holds (an HTTP request, a reading task) is released, not left to the garbage collector."""

    def __init__(self, texts: AsyncGenerator[str, None]) -> None:
        self._texts = texts

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        return await self._texts.__anext__()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._texts.aclose()


class ChatStream(TextStream):
    """The text deltas of one streamed answer; closing it closes the HTTP request (the
    server sees the disconnect).

    Connecting and the first token share one deadline (``timeout_s``): a server that
    accepts but is still reading a long prompt fails with "no first token within N s".
    After the first token, a gap longer than ``timeout_s`` fails too.
    """

    def __init__(self, client: LLMClient, body: dict[str, Any],
                 first_token_by: float | None = None) -> None:
        self._client = client
        self._body = body
        self._first_token_by = first_token_by
        self.stats = StreamStats()
        super().__init__(self._run())

    async def _run(self) -> AsyncGenerator[str, None]:
        client = self._client
        timeout_s = client.timeout_s
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout_s
        if self._first_token_by is not None:
            deadline = min(deadline, self._first_token_by)
        request = client._http.build_request(
            "POST", f"{client.base_url}/chat/completions", json=self._body,
            headers={"Accept": "text/event-stream"})
        try:
            async with asyncio.timeout_at(deadline):
                response = await client._http.send(request, stream=True)
        except TimeoutError as exc:
            client._update(reachable=True)
            raise client._failed(f"no first token within {timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise client._failed(client._transport_reason(exc)) from exc
        try:
            client._update(reachable=True)
            if response.status_code >= 400:
                body = await _read_some(response)
                raise client._failed(_status_reason(response.status_code, _body_json(body)))
            # Closed explicitly, so leaving early never leaves a generator for the GC.
            # (httpx types aiter_lines as an iterator; it is an async generator.)
            line_gen = cast(AsyncGenerator[str, None], response.aiter_lines())
            async with (aclosing(line_gen) as lines,
                        aclosing(self._parse(lines, started, deadline)) as deltas):
                async for delta in deltas:
                    yield delta
        finally:
            await response.aclose()
        stats = self.stats
        client._update(last_error=None, tokens_per_s=stats.tokens_per_s,
                       first_token_s=stats.first_token_s)

    async def _next_line(self, lines: AsyncIterator[str],
                         first_deadline: float | None) -> str | None:
        """The next line, or None at the end of the body. Before the first token the
        stream's deadline applies; after it, httpx's read timeout bounds each gap."""
        client = self._client
        try:
            if first_deadline is None:
                return await anext(lines)
            async with asyncio.timeout_at(first_deadline):
                return await anext(lines)
        except StopAsyncIteration:
            return None
        except (TimeoutError, httpx.ReadTimeout) as exc:
            waited = "no first token within" if first_deadline else "no token for"
            raise client._failed(f"{waited} {client.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            # A killed or crashed server: the connection drops mid-body.
            raise client._failed("stream ended early") from exc

    async def _parse(self, lines: AsyncIterator[str], started: float,
                     deadline: float) -> AsyncGenerator[str, None]:
        """Text deltas from the event-stream lines. Never ``yield`` inside a timeout block:
        the deadline must cancel only this stream's read, not what the consumer does
        between deltas."""
        client = self._client
        stats = self.stats
        loop = asyncio.get_running_loop()
        first_at = last_at = 0.0
        chunks = 0
        decoder = SseDecoder()
        done = False
        while not done:
            first_deadline = deadline if stats.first_token_s is None else None
            line = await self._next_line(lines, first_deadline)
            data = decoder.flush() if line is None else decoder.feed(line)
            if data is not None:
                try:
                    chunk = parse_chunk(data)
                except LLMError as exc:
                    raise client._failed(exc.reason) from None
                done = chunk.done
                stats.prompt_tokens = chunk.prompt_tokens or stats.prompt_tokens
                stats.completion_tokens = chunk.completion_tokens or stats.completion_tokens
                stats.finish_reason = chunk.finish_reason or stats.finish_reason
                if chunk.delta:
                    last_at = loop.time()
                    if stats.first_token_s is None:
                        first_at = last_at
                        stats.first_token_s = first_at - started
                    chunks += 1
                    yield chunk.delta
            if line is None:
                break
        if not done and stats.finish_reason is None:
            raise client._failed("stream ended early")
        # One chunk is one token on llama.cpp, Ollama and LM Studio; the usage report,
        # when sent, is exact.
        stats.completion_tokens = max(stats.completion_tokens, chunks)
        if stats.completion_tokens >= 2 and last_at > first_at:
            stats.tokens_per_s = (stats.completion_tokens - 1) / (last_at - first_at)


def _refused(exc: BaseException) -> bool:
    """httpx wraps the OSError; look down the chain (a few links at most)."""
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _status_reason(status: int, body: Any) -> str:
    return f"model server error {status}: {error_message(body)}"


def _body_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _read_some(response: httpx.Response) -> str:
    data = bytearray()
    async for part in response.aiter_bytes():
        data += part
        if len(data) >= _MAX_ERROR_BODY:
            break
    return data[:_MAX_ERROR_BODY].decode("utf-8", "replace")

