"""Server failures that llama.cpp's server cannot be made to produce on demand (an error
event mid-stream, a 500 with a JSON body, a stall after the first token, a garbled chunk),
played by a scripted HTTP server on a real loopback socket. The happy path and the
failures a real server can show are in test_llm_server.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from itertools import pairwise

import pytest

from codette_desktop.config import Settings
from codette_desktop.errors import LLMError
from codette_desktop.llm import LLMClient, LLMStatus, StreamStats

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "How loud for Spotify?"}]
SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n")


def sse(payload: object) -> bytes:
    """One event as one HTTP chunk."""
    data = f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def delta(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


@asynccontextmanager
async def scripted_server(script: Sequence[tuple[float, bytes]],
                          requests: list[bytes] | None = None) -> AsyncIterator[str]:
    """Answer every request with ``script``: (seconds to wait, bytes to send) steps, then
    hold the connection until the client closes it."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await reader.readexactly(length)
        if requests is not None:
            requests.append(head + body)
        for wait, data in script:
            await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


async def stream_all(url: str, *, timeout_s: float = 5
                     ) -> tuple[list[str], LLMError | None, LLMStatus]:
    """Stream one answer with a fresh client: (deltas, the error if any, final status)."""
    async with LLMClient(url, timeout_s=timeout_s) as client:
        return *await collect(client), client.status


async def collect(client: LLMClient) -> tuple[list[str], LLMError | None]:
    deltas: list[str] = []
    try:
        async with client.stream_chat(MESSAGES, model="m") as stream:
            async for piece in stream:
                deltas.append(piece)
    except LLMError as exc:
        return deltas, exc
    return deltas, None


def test_an_error_event_mid_stream_is_an_llm_error_after_the_text_so_far() -> None:
    script = [(0, SSE_HEAD + sse(delta("Aim for "))),
              (0.05, sse({"error": {"message": "CUDA out of memory", "code": 500}}))]

    async def main() -> tuple[list[str], LLMError | None, LLMStatus]:
        async with scripted_server(script) as url:
            return await stream_all(url)

    deltas, error, status = asyncio.run(main())
    assert deltas == ["Aim for "]
    assert error is not None and error.reason == "model server error: CUDA out of memory"
    assert status.last_error == error.reason and status.reachable is True


def test_a_500_reply_names_the_status_and_the_servers_message() -> None:
    body = json.dumps({"error": {"message": "model 'llama9' not found, try pulling it first"}})
    reply = (f"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
             f"content-length: {len(body)}\r\n\r\n{body}").encode()

    async def main() -> tuple[list[str], LLMError | None, LLMStatus]:
        async with scripted_server([(0, reply)]) as url:
            return await stream_all(url)

    deltas, error, _ = asyncio.run(main())
    assert deltas == []
    assert error is not None
    assert error.reason == "model server error 500: model 'llama9' not found, try pulling it first"


def test_a_stall_after_the_first_token_fails_after_the_timeout() -> None:
    script = [(0, SSE_HEAD + sse(delta("Start "))), (0, sse(delta("at -14 LUFS")))]

    async def main() -> tuple[list[str], LLMError | None, float]:
        async with scripted_server(script) as url:
            started = time.monotonic()
            deltas, error, _ = await stream_all(url, timeout_s=1)
            return deltas, error, time.monotonic() - started

    deltas, error, elapsed = asyncio.run(main())
    assert deltas == ["Start ", "at -14 LUFS"]
    assert error is not None and error.reason == "no token for 1 s"
    assert 1 <= elapsed < 2


def test_a_garbled_chunk_is_an_llm_error() -> None:
    script = [(0, SSE_HEAD + sse(delta("ok")) + sse("{oops"))]

    async def main() -> tuple[list[str], LLMError | None, LLMStatus]:
        async with scripted_server(script) as url:
            return await stream_all(url)

    deltas, error, _ = asyncio.run(main())
    assert deltas == ["ok"]
    assert error is not None and error.reason.startswith("model server sent a malformed chunk")


def test_usage_in_the_stream_is_taken_and_the_key_goes_only_in_the_header() -> None:
    """A client made from the settings (a trailing slash on the URL is fine)."""
    script = [(0, SSE_HEAD + sse(delta("One")) + sse(delta(" two")) + sse(delta(" three"))
               + sse({"choices": [{"delta": {}, "finish_reason": "stop"}]})
               + sse({"choices": [], "usage": {"prompt_tokens": 377, "completion_tokens": 3}})
               + sse("[DONE]") + b"0\r\n\r\n")]
    requests: list[bytes] = []

    async def main() -> tuple[list[str], StreamStats, LLMStatus]:
        async with scripted_server(script, requests) as url, LLMClient.from_settings(
                Settings(llm_url=url + "/", llm_api_key="sk-abc", llm_timeout_s=5)) as client:
            async with client.stream_chat(MESSAGES, model="m", max_tokens=50,
                                          temperature=0.2) as stream:
                deltas = [piece async for piece in stream]
            return deltas, stream.stats, client.status

    deltas, stats, status = asyncio.run(main())
    assert deltas == ["One", " two", " three"]
    assert (stats.prompt_tokens, stats.completion_tokens, stats.finish_reason) == (377, 3, "stop")
    head, _, body = requests[0].partition(b"\r\n\r\n")
    assert b"\r\nauthorization: bearer sk-abc\r\n" in head.lower()
    assert head.lower().count(b"sk-abc") == 1
    sent = json.loads(body)
    assert sent == {"model": "m", "messages": MESSAGES, "max_tokens": 50, "temperature": 0.2,
                    "stream": True, "stream_options": {"include_usage": True}}
    assert status.reachable is True and status.last_error is None
    assert status.tokens_per_s is not None and "sk-abc" not in repr(status)


def test_the_status_callback_hears_each_change_once() -> None:
    script = [(0, SSE_HEAD + sse(delta("a")) + sse(delta("b")) + sse("[DONE]") + b"0\r\n\r\n")]

    async def main() -> list[LLMStatus]:
        heard: list[LLMStatus] = []
        async with scripted_server(script) as url:
            client = LLMClient(url, timeout_s=5, on_status=heard.append)
            assert await collect(client) == (["a", "b"], None)
        _, error = await collect(client)  # the server is gone now
        await client.aclose()
        assert error is not None and error.reason == f"connection refused at {url}"
        return heard

    heard = asyncio.run(main())
    assert all(a != b for a, b in pairwise(heard))
    assert heard[0].reachable is True and heard[0].last_error is None
    answered = heard[1]
    assert answered.tokens_per_s is not None and answered.first_token_s is not None
    assert heard[-1].reachable is False and heard[-1].last_error.startswith("connection refused")
    assert heard[-1].tokens_per_s == answered.tokens_per_s  # the last answer's speed stays
