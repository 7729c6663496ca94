"""The local-model client against a real llama.cpp server (llama-cpp-python[server] with
SmolLM2-135M-Instruct, built by scripts/setup-llm-server.sh).

The 135M model's answers are not expected to be good, or even on topic: these tests check
the plumbing (streaming, errors, timeouts, cancellation, what reaches the server), never
the quality of what the model says.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from codette_desktop.engine.prompt import PROMPT_TOKEN_BUDGET, build_messages, estimate_tokens
from codette_desktop.errors import LLMError
from codette_desktop.llm import LLMClient, LLMStatus, StreamStats

from groundings import QUESTIONS, vocal_compression
from llm_server import MODEL_ALIAS, LLMServer, free_port, recording_proxy, running_llm_server

pytestmark = [pytest.mark.llm, pytest.mark.slow]

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Name three instruments in a rock band."}]


def test_list_models_names_the_model(llm_server: LLMServer) -> None:
    async def main() -> tuple[list[str], str, LLMStatus]:
        async with LLMClient(llm_server.base_url, timeout_s=10) as client:
            return await client.list_models(), await client.pick_model(), client.status

    models, picked, status = asyncio.run(main())
    assert models == [MODEL_ALIAS]
    assert picked == MODEL_ALIAS  # an empty llm_model setting takes the first
    assert status.reachable is True and status.last_error is None


def test_deltas_arrive_incrementally_and_join_to_the_full_answer(llm_server: LLMServer) -> None:
    async def main() -> tuple[list[tuple[float, str]], float, StreamStats, LLMStatus]:
        arrivals = []
        async with LLMClient(llm_server.base_url, timeout_s=30) as client:
            started = time.monotonic()
            async with client.stream_chat(MESSAGES, model=MODEL_ALIAS, max_tokens=40,
                                          temperature=0.0) as stream:
                async for delta in stream:
                    arrivals.append((time.monotonic() - started, delta))
            return arrivals, time.monotonic() - started, stream.stats, client.status

    arrivals, ended, stats, status = asyncio.run(main())
    text = "".join(delta for _, delta in arrivals)
    # The same request unstreamed (greedy decoding: same tokens) is the full answer.
    reply = httpx.post(f"{llm_server.base_url}/chat/completions", timeout=60, json={
        "model": MODEL_ALIAS, "messages": MESSAGES, "max_tokens": 40, "temperature": 0.0})
    assert text == reply.json()["choices"][0]["message"]["content"]
    assert len(arrivals) >= 10
    # Incremental: deltas came one by one as generated, not in one burst at the end.
    times = [t for t, _ in arrivals]
    assert times[-1] - times[0] > 0.05
    assert len({round(t, 3) for t in times}) > len(times) // 2
    assert times[0] < ended
    assert stats.completion_tokens == len(arrivals)
    assert stats.first_token_s == pytest.approx(times[0], abs=0.05)
    assert stats.tokens_per_s and stats.tokens_per_s > 0
    assert status.tokens_per_s == stats.tokens_per_s
    assert status.first_token_s == stats.first_token_s


def test_the_prompt_is_compact_measured_by_the_server(llm_server: LLMServer) -> None:
    """The real token counts (usage.prompt_tokens) of typical grounded prompts; printed
    for the record (pytest -s), bounded, and close to the builder's own estimate."""
    for code in ("en", "de"):  # every language's estimate is unit-tested
        for with_session in (False, True):
            messages = build_messages(vocal_compression(code, with_session=with_session))
            reply = httpx.post(f"{llm_server.base_url}/chat/completions", timeout=120, json={
                "model": MODEL_ALIAS, "messages": messages, "max_tokens": 1})
            real = reply.json()["usage"]["prompt_tokens"]
            estimate = estimate_tokens(messages)
            print(f"prompt {code} session={with_session}: {real} tokens "
                  f"(estimate {estimate})")
            assert real <= PROMPT_TOKEN_BUDGET
            assert 0.85 <= estimate / real <= 1.2, (code, with_session, estimate, real)


def test_the_german_grounding_asks_the_server_for_german(llm_server: LLMServer) -> None:
    """What arrives at the model server (seen through a loopback proxy) says "Answer in
    German". Whether the 135M model manages German is not tested."""
    async def main(url: str) -> str:
        async with LLMClient(url, timeout_s=60) as client, client.stream_chat(
                build_messages(vocal_compression("de")), model=MODEL_ALIAS,
                max_tokens=8) as stream:
            return "".join([delta async for delta in stream])

    with recording_proxy(llm_server.port) as proxy:
        text = asyncio.run(main(proxy.base_url))
    (sent,) = proxy.chat_requests()
    system, user = sent["messages"]
    assert "Answer in German." in system["content"]
    assert user["content"].endswith(QUESTIONS["de"])
    assert sent["stream"] is True
    assert text  # the server answered that request


def test_cancelling_the_consumer_closes_the_request_to_the_model(llm_server: LLMServer) -> None:
    async def main() -> tuple[int, int]:
        client = LLMClient(llm_server.base_url, timeout_s=30)
        first = asyncio.Event()

        async def consume() -> None:
            async with client.stream_chat(MESSAGES, model=MODEL_ALIAS, max_tokens=1000) as s:
                async for _ in s:
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 30)
        during = llm_server.connections()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await wait_for_value(llm_server.connections, 0, timeout=5)
        await client.aclose()
        return during, after

    before = len([line for line in llm_server.lines if "Disconnected from client" in line])
    during, after = asyncio.run(main())
    assert (during, after) == (1, 0)
    # The server noticed the disconnect and stopped generating for it.
    wait_until(lambda: sum("Disconnected from client" in line
                           for line in llm_server.lines) > before, timeout=10)


def test_leaving_the_stream_early_closes_the_request(llm_server: LLMServer) -> None:
    async def main() -> tuple[int, int, list[str]]:
        async with LLMClient(llm_server.base_url, timeout_s=30) as client:
            deltas = []
            async with client.stream_chat(MESSAGES, model=MODEL_ALIAS, max_tokens=1000) as s:
                async for delta in s:
                    deltas.append(delta)
                    if len(deltas) == 3:
                        break
                during = llm_server.connections()
            after = await wait_for_value(llm_server.connections, 0, timeout=5)
            return during, after, deltas

    during, after, deltas = asyncio.run(main())
    assert (during, after, len(deltas)) == (1, 0, 3)


def test_server_killed_mid_answer_is_an_llm_error(llm_server_paths: tuple[Path, Path]) -> None:
    with running_llm_server(llm_server_paths) as server:
        async def main() -> tuple[LLMError, int, LLMStatus]:
            client = LLMClient(server.base_url, timeout_s=30)
            received = 0
            with pytest.raises(LLMError) as info:
                async with client.stream_chat(MESSAGES, model=MODEL_ALIAS,
                                              max_tokens=1000) as stream:
                    async for _ in stream:
                        received += 1
                        if received == 2:
                            await asyncio.to_thread(server.kill)
            await client.aclose()
            return info.value, received, client.status

        error, received, status = asyncio.run(main())
    assert error.reason == "stream ended early"
    assert received >= 2
    assert status.last_error == "stream ended early"


def test_an_unreachable_url_fails_at_once_with_the_reason() -> None:
    port = free_port()  # nothing listens there now
    url = f"http://127.0.0.1:{port}/v1"

    async def main() -> tuple[list[str], float, LLMStatus]:
        reasons = []
        started = time.monotonic()
        async with LLMClient(url, timeout_s=5) as client:
            for call in (client.list_models(), consume(client.stream_chat(MESSAGES, model="m"))):
                with pytest.raises(LLMError) as info:
                    await call
                reasons.append(info.value.reason)
            return reasons, time.monotonic() - started, client.status

    reasons, elapsed, status = asyncio.run(main())
    assert reasons == [f"connection refused at {url}"] * 2
    assert elapsed < 5
    assert status.reachable is False and status.last_error == reasons[0]


def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    """A real socket that accepts connections (the kernel does the handshake) and never
    says a word: a model still loading, or a hung server."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"

        async def main() -> tuple[str, float, str, float]:
            async with LLMClient(url, timeout_s=1.5) as client:
                started = time.monotonic()
                with pytest.raises(LLMError) as streamed:
                    await consume(client.stream_chat(MESSAGES, model="m"))
                stream_s = time.monotonic() - started
                started = time.monotonic()
                with pytest.raises(LLMError) as listed:
                    await client.list_models()
                return streamed.value.reason, stream_s, listed.value.reason, \
                    time.monotonic() - started

        stream_reason, stream_s, list_reason, list_s = asyncio.run(main())
    assert stream_reason == "no first token within 1.5 s"
    assert list_reason == f"no answer from {url} within 1.5 s"
    assert 1.5 <= stream_s < 2.5 and 1.5 <= list_s < 2.5


def test_a_prompt_over_the_context_is_an_error_not_an_answer(llm_server: LLMServer) -> None:
    too_long = [{"role": "user", "content": "mix " * 3000}]

    async def main() -> str:
        async with LLMClient(llm_server.base_url, timeout_s=30) as client:
            with pytest.raises(LLMError) as info:
                await consume(client.stream_chat(too_long, model=MODEL_ALIAS, max_tokens=5))
            return info.value.reason

    # llama-cpp-python has already sent 200 OK when it finds the prompt too long; the
    # stream then ends with no chunk at all.
    assert asyncio.run(main()) == "stream ended early"


def test_the_api_key_is_sent_as_a_bearer_token(llm_server_paths: tuple[Path, Path]) -> None:
    with running_llm_server(llm_server_paths, api_key="sk-test-7f3a") as server:
        async def main() -> tuple[str, str, list[str], str]:
            async with LLMClient(server.base_url, timeout_s=10) as anonymous:
                with pytest.raises(LLMError) as listing:
                    await anonymous.list_models()
                with pytest.raises(LLMError) as streaming:
                    await consume(anonymous.stream_chat(MESSAGES, model=MODEL_ALIAS))
            async with LLMClient(server.base_url, api_key="sk-test-7f3a",
                                 timeout_s=30) as keyed:
                models = await keyed.list_models()
                text = await consume(keyed.stream_chat(MESSAGES, model=MODEL_ALIAS,
                                                       max_tokens=4))
                assert "sk-test" not in repr(keyed) + repr(keyed.status)
            return listing.value.reason, streaming.value.reason, models, text

        listing, streaming, models, text = asyncio.run(main())
    assert listing == streaming == "model server error 401: Invalid API key"
    assert models == [MODEL_ALIAS] and text


async def consume(stream: AsyncIterator[str]) -> str:
    return "".join([delta async for delta in stream])


async def wait_for_value(probe: object, expected: int, *, timeout: float) -> int:
    """Poll ``probe()`` off the loop until it returns ``expected`` or time runs out."""
    assert callable(probe)
    deadline = time.monotonic() + timeout
    value = await asyncio.to_thread(probe)
    while value != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        value = await asyncio.to_thread(probe)
    return int(value)


def wait_until(condition: object, *, timeout: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
