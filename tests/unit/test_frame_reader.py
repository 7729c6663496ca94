"""The WebSocket reader that hands a large payload over without copying it."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from codette_desktop.server.uvicorn_host import (
    LARGE_TEXT_BYTES,
    read_exact_in_place,
    unmask_in_place,
)


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


@pytest.mark.parametrize("extra", [0, 1, 3, 7])  # the unmask goes 8 bytes a step
def test_websockets_parses_a_masked_frame_through_it_unmasked_in_place(extra: int) -> None:
    text = ("é" * LARGE_TEXT_BYTES).encode() + b"!" * extra
    reader = StreamReader()
    reader.feed_data(Frame(Opcode.TEXT, text).serialize(mask=True) + b"tail")
    buffer = reader.buffer
    frame = run(Frame.parse(lambda n: read_exact_in_place(reader, n), mask=True))
    assert frame.opcode is Opcode.TEXT and frame.data == text
    assert frame.data is buffer  # unmasked where it was read: no new 2 MiB object
    assert reader.buffer == b"tail"


def test_a_large_payload_sent_from_this_process_is_not_unmasked_in_place() -> None:
    """Only the payload the reader handed over is changed in place: a caller's own
    bytearray masked for sending (a client in this process) stays as it was."""
    payload = bytearray(os.urandom(LARGE_TEXT_BYTES + 3))
    original = bytes(payload)
    wire = Frame(Opcode.BINARY, payload).serialize(mask=True)
    assert payload == original
    reader = StreamReader()
    reader.feed_data(wire)
    frame = run(Frame.parse(lambda n: read_exact_in_place(reader, n), mask=True))
    assert frame.data == original


def test_unmask_in_place_is_rfc_6455_masking() -> None:
    data = bytearray(os.urandom(1000 + 5))
    mask = os.urandom(4)
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    unmask_in_place(data, mask)
    assert data == expected
    data.extend(b"resizable again")  # no buffer export left behind
