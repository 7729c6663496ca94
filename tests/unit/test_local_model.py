"""LocalModel and Generation: batching, the shared deadline, the queue, new settings.

The model server here is scripted: a loopback HTTP server that speaks just enough of the
OpenAI API (``/v1/models``, a streamed ``/v1/chat/completions``) to send deltas at chosen
instants and in chosen bursts, which llama.cpp's real server (used by
tests/integration/test_llm_chat.py) cannot be made to do. The client is the real one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from codette_desktop.config import Settings
from codette_desktop.errors import LLMError, ProtocolError
from codette_desktop.llm import LLMGate
from codette_desktop.protocol import events
from codette_desktop.protocol.rest import event_frame
from codette_desktop.services.local_model import COALESCE_S, LocalModel

MESSAGES = [{"role": "user", "content": "How do I compress a vocal?"}]
# One step of a script: wait this long, then send these deltas in one write.
Script = Sequence[tuple[float, Sequence[str]]]


@dataclass
class ScriptedServer:
    script: Script = ()
    models_delay_s: float = 0.0
    port: int = 0
    written_at: list[float] = field(default_factory=list)  # loop.time() of each write
    requests: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def chunk(delta: str) -> bytes:
    return event_frame(json.dumps({"choices": [{"delta": {"content": delta}}]}))


@asynccontextmanager
async def scripted_server(script: Script = (), *,
                          models_delay_s: float = 0.0) -> AsyncIterator[ScriptedServer]:
    state = ScriptedServer(script, models_delay_s)
    loop = asyncio.get_running_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            length = next((int(line.split(":")[1]) for line in head.split("\r\n")
                           if line.lower().startswith("content-length:")), 0)
            await reader.readexactly(length)
            state.requests += 1
            if head.startswith("GET /v1/models"):
                await asyncio.sleep(state.models_delay_s)
                body = json.dumps({"data": [{"id": "scripted"}]}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Connection: close\r\n\r\n")
                for delay, deltas in state.script:
                    await asyncio.sleep(delay)
                    writer.write(b"".join(chunk(d) for d in deltas))
                    await writer.drain()
                    state.written_at.append(loop.time())
                finish = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
                writer.write(event_frame(json.dumps(finish)) + b"data: [DONE]\n\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


def model_for(url: str, tmp_path: Path, *, gate: LLMGate | None = None,
              seen: list[events.Event] | None = None, **settings: object) -> LocalModel:
    config = Settings(data_dir=tmp_path, llm_url=url, **settings)  # type: ignore[arg-type]
    return LocalModel(config, gate=gate or LLMGate(),
                      observer=(seen.append if seen is not None else lambda _e: None))


async def batches_of(model: LocalModel) -> tuple[list[tuple[float, str]], str]:
    loop = asyncio.get_running_loop()
    out = []
    async with model.generate(MESSAGES) as generation:
        async for batch in generation:
            out.append((loop.time(), batch))
    return out, generation.model


@pytest.mark.slow
def test_a_burst_is_one_batch_and_spaced_deltas_go_out_at_once(tmp_path: Path) -> None:
    async def main() -> tuple[list[tuple[float, str]], list[float], str]:
        script = [(0.0, ["Cut ", "250 ", "Hz"]), (0.05, [" by"]), (0.05, [" 3 dB."])]
        async with scripted_server(script) as server:
            model = model_for(server.url, tmp_path)
            batches, name = await batches_of(model)
            await model.aclose()
            return batches, server.written_at, name

    batches, written, name = asyncio.run(main())
    assert [text for _, text in batches] == ["Cut 250 Hz", " by", " 3 dB."]
    assert name == "scripted"  # the server's first model, as no model is set
    # Each write is passed on as it comes: the wait is the coalescing window at most
    # (plus scheduling on a loaded machine), never the next delta's arrival.
    for (arrived, _), sent in zip(batches, written, strict=True):
        assert 0 <= arrived - sent < COALESCE_S + 0.03


def test_an_answer_without_text_is_an_llm_error(tmp_path: Path) -> None:
    async def main() -> tuple[str, list[events.Event]]:
        seen: list[events.Event] = []
        async with scripted_server([(0.0, ["  "])]) as server:
            model = model_for(server.url, tmp_path, seen=seen, llm_model="m")
            with pytest.raises(LLMError) as info:
                await batches_of(model)
            await model.aclose()
        return info.value.reason, seen

    reason, seen = asyncio.run(main())
    assert reason == "the model answered with no text"
    last = seen[-1]
    assert isinstance(last, events.LLMStatusChanged)
    assert last.reachable is True and last.last_error == reason


@pytest.mark.slow
def test_finding_the_model_and_the_first_token_share_the_timeout(tmp_path: Path) -> None:
    """With no model set the server's list is asked first; that time counts toward
    llm_timeout_s, so the built-in answer still comes within it."""
    async def main() -> tuple[str, float]:
        async with scripted_server([(0.7, ["late"])], models_delay_s=0.7) as server:
            model = model_for(server.url, tmp_path, llm_timeout_s=1.0)
            started = time.monotonic()
            with pytest.raises(LLMError) as info:
                await batches_of(model)
            took = time.monotonic() - started
            await model.aclose()
        return info.value.reason, took

    reason, took = asyncio.run(main())
    assert reason == "no first token within 1 s"
    assert 1.0 <= took < 1.3


def test_past_the_queue_bound_a_chat_is_rate_limited(tmp_path: Path) -> None:
    async def main() -> tuple[ProtocolError, list[str]]:
        async with scripted_server([(0.0, ["one"]), (0.3, [" two"])]) as server:
            model = model_for(server.url, tmp_path, llm_model="m",
                              gate=LLMGate(max_concurrent=1, max_waiting=0))
            running = asyncio.ensure_future(batches_of(model))
            await asyncio.sleep(0.1)  # the first holds the only slot
            with pytest.raises(ProtocolError) as info:
                await batches_of(model)
            batches, _ = await running
            await model.aclose()
        return info.value, [text for _, text in batches]

    error, first = asyncio.run(main())
    assert error.code == "rate_limited"
    assert "busy (1 answering, 0 waiting)" in error.message
    assert first == ["one", " two"]


def test_new_settings_make_a_new_client_and_the_old_one_closes_when_idle(
        tmp_path: Path) -> None:
    async def main() -> list[object]:
        seen: list[events.Event] = []
        facts: list[object] = []
        async with scripted_server([(0.0, ["a"]), (0.3, ["b"])]) as server:
            model = model_for(server.url, tmp_path, seen=seen, llm_model="m")
            old = model._client
            assert old is not None
            answering = asyncio.ensure_future(batches_of(model))
            await asyncio.sleep(0.1)
            other = f"http://127.0.0.1:{server.port}/other/v1"
            model.settings_changed(model._settings.replace(llm_url=other))
            facts.append(seen[-1])
            facts.append(old._http.is_closed)  # still answering
            batches, _ = await answering
            facts.append([text for _, text in batches])
            await asyncio.sleep(0.05)  # the close runs as a task
            facts.append(old._http.is_closed)
            model.settings_changed(model._settings.replace(llm_url=""))
            facts.append((model.configured, seen[-1]))
            await model.aclose()
        return facts

    changed, closed_while_answering, answer, closed_after, (configured, last) = \
        asyncio.run(main())
    assert isinstance(changed, events.LLMStatusChanged)
    assert changed.engine == "llm" and changed.url.endswith("/other/v1")
    assert changed.reachable is None  # the new server was not asked yet
    assert closed_while_answering is False and answer == ["a", "b"]
    assert closed_after is True
    assert configured is False and last == events.LLMStatusChanged(engine="builtin")


def test_event_frame_is_one_data_line() -> None:
    assert event_frame('{"delta": "a\\nb"}') == b'data: {"delta": "a\\nb"}\n\n'
    with pytest.raises(ValueError):
        event_frame("two\nlines")
