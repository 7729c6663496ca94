"""The OpenAI streaming wire format: event lines in, text deltas and end markers out."""

from __future__ import annotations

import json

import pytest

from codette_desktop.errors import LLMError
from codette_desktop.llm.sse import Chunk, SseDecoder, error_message, parse_chunk


def chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    return json.dumps({"object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def decode(lines: list[str]) -> list[str]:
    decoder = SseDecoder()
    events = [data for line in lines if (data := decoder.feed(line)) is not None]
    if (last := decoder.flush()) is not None:
        events.append(last)
    return events


def test_events_are_split_on_blank_lines_and_comments_skipped() -> None:
    lines = [": ping - 2026-12-04", "", "data: " + chunk("Hel"), "", "data:" + chunk("lo"),
             "", "event: message", "id: 7", "data: [DONE]", ""]
    assert decode(lines) == [chunk("Hel"), chunk("lo"), "[DONE]"]


def test_multi_line_data_is_joined_and_a_missing_last_blank_line_still_ends_the_event() -> None:
    assert decode(["data: {\"a\":", "data: 1}", "", "data: tail"]) == ['{"a":\n1}', "tail"]
    assert decode([]) == [] and decode(["", ""]) == []


def test_parse_content_finish_usage_and_done() -> None:
    assert parse_chunk(chunk("Cut 2 dB")) == Chunk(delta="Cut 2 dB")
    assert parse_chunk(json.dumps({"choices": [{"delta": {"role": "assistant"}}]})) == Chunk()
    assert parse_chunk(chunk(None, "stop")) == Chunk(finish_reason="stop")
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 412, "completion_tokens": 57}})
    assert parse_chunk(usage) == Chunk(prompt_tokens=412, completion_tokens=57)
    assert parse_chunk(" [DONE]") == Chunk(done=True)


@pytest.mark.parametrize("payload, reason", [
    ({"error": {"message": "model 'x' not found", "type": "not_found"}},
     "model server error: model 'x' not found"),
    ({"error": "out of memory"}, "model server error: out of memory"),
])
def test_an_error_event_mid_stream_raises_with_the_servers_message(
        payload: dict[str, object], reason: str) -> None:
    with pytest.raises(LLMError) as info:
        parse_chunk(json.dumps(payload))
    assert info.value.reason == reason


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", "null"])
def test_a_malformed_chunk_is_an_llm_error(data: str) -> None:
    with pytest.raises(LLMError, match="malformed chunk"):
        parse_chunk(data)


def test_error_message_reads_the_usual_error_bodies_and_stays_short() -> None:
    assert error_message({"error": {"message": "Invalid API key"}}) == "Invalid API key"
    assert error_message({"detail": "Invalid API key"}) == "Invalid API key"
    assert error_message({"detail": [{"loc": ["body"], "msg": "bad"}]}).startswith('[{"loc"')
    assert error_message("Bad Gateway\n  nginx") == "Bad Gateway nginx"
    assert len(error_message("x" * 1000)) == 200
