"""The WebSocket reader that hands a large payload over without copying it."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from codette_desktop.server.uvicorn_host import LARGE_TEXT_BYTES, read_exact_in_place


def run(generator: Generator[None, None, bytearray]) -> bytearray:
    try:
        next(generator)
    except StopIteration as done:
        return done.value
    raise AssertionError("the read waited for more data")


def test_a_large_payload_is_the_buffer_itself_and_what_follows_stays_buffered() -> None:
    reader = StreamReader()
    payload, rest = os.urandom(LARGE_TEXT_BYTES + 5), b"next frame"
    reader.feed_data(payload + rest)
    buffer = reader.buffer
    data = run(read_exact_in_place(reader, len(payload)))
    assert data is buffer  # no copy
    assert data == payload and reader.buffer == rest


def test_a_large_read_waits_for_all_of_it_and_fails_at_eof() -> None:
    reader = StreamReader()
    reader.feed_data(b"x" * LARGE_TEXT_BYTES)
    read = read_exact_in_place(reader, LARGE_TEXT_BYTES + 1)
    next(read)  # waiting: one byte short
    reader.feed_eof()
    with pytest.raises(EOFError):
        next(read)


def test_small_reads_are_websockets_own() -> None:
    reader = StreamReader()
    reader.feed_data(b"abcdef")
    assert run(read_exact_in_place(reader, 4)) == b"abcd"
    assert reader.buffer == b"ef"


def test_websockets_parses_a_masked_frame_through_it() -> None:
    text = ("é" * LARGE_TEXT_BYTES).encode()
    reader = StreamReader()
    reader.feed_data(Frame(Opcode.TEXT, text).serialize(mask=True) + b"tail")
    frame = run(Frame.parse(lambda n: read_exact_in_place(reader, n), mask=True))
    assert frame.opcode is Opcode.TEXT and frame.data == text
    assert reader.buffer == b"tail"
