"""The capture ring buffer: wrap-around, reads by absolute frame, overrun, oversize blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codette_desktop.capture.ring_buffer import RingBuffer


def ramp(start: int, n: int, channels: int = 2) -> np.ndarray:
    """Frames numbered start..start+n-1; channel c holds -(frame number) on odd c."""
    frames = np.arange(start, start + n, dtype=np.float32)
    return np.stack([frames if c % 2 == 0 else -frames for c in range(channels)], axis=1)


def test_empty_buffer_reads_nothing() -> None:
    ring = RingBuffer(frames=10, channels=2, headroom=4)
    assert ring.available == 0
    assert ring.read_latest(5).shape == (0, 2)
    block, first, end = ring.read_since(0)
    assert block.shape == (0, 2) and (first, end) == (0, 0)


def test_read_latest_returns_what_there_is() -> None:
    ring = RingBuffer(frames=10, channels=2, headroom=4)
    ring.write(ramp(0, 3))
    np.testing.assert_array_equal(ring.read_latest(100), ramp(0, 3))
    np.testing.assert_array_equal(ring.read_latest(2), ramp(1, 2))


@pytest.mark.parametrize("block", [1, 3, 4, 7, 13])
def test_wraps_and_keeps_the_newest_frames(block: int) -> None:
    ring = RingBuffer(frames=10, channels=2, headroom=4)  # 14 slots
    written = 0
    while written < 40:
        ring.write(ramp(written, block))
        written += block
    assert ring.frames_total == written
    assert ring.available == 10
    np.testing.assert_array_equal(ring.read_latest(10), ramp(written - 10, 10))


def test_read_since_skips_overwritten_frames() -> None:
    ring = RingBuffer(frames=10, channels=1, headroom=2)
    ring.write(ramp(0, 25, channels=1))
    block, first, end = ring.read_since(3)
    assert (first, end) == (15, 25)  # frames 3..14 were overwritten
    np.testing.assert_array_equal(block, ramp(15, 10, channels=1))
    block, first, end = ring.read_since(25)
    assert block.shape == (0, 1) and (first, end) == (25, 25)


def test_block_longer_than_the_storage_keeps_its_tail() -> None:
    ring = RingBuffer(frames=4, channels=2, headroom=2)
    ring.write(ramp(0, 2))
    ring.write(ramp(2, 15))
    assert ring.frames_total == 17
    np.testing.assert_array_equal(ring.read_latest(4), ramp(13, 4))


def test_reads_are_copies() -> None:
    ring = RingBuffer(frames=4, channels=1, headroom=2)
    ring.write(ramp(0, 4, channels=1))
    out = ring.read_latest(4)
    ring.write(ramp(4, 4, channels=1))
    np.testing.assert_array_equal(out, ramp(0, 4, channels=1))


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        RingBuffer(frames=0, channels=2, headroom=1)


@settings(max_examples=200, deadline=None)
@given(
    frames=st.integers(1, 50),
    headroom=st.integers(1, 20),
    blocks=st.lists(st.integers(0, 80), max_size=30),
    since=st.integers(0, 400),
)
def test_matches_a_plain_concatenation(
    frames: int, headroom: int, blocks: list[int], since: int
) -> None:
    ring = RingBuffer(frames=frames, channels=2, headroom=headroom)
    written = 0
    for n in blocks:
        ring.write(ramp(written, n))
        written += n
    everything = ramp(0, written)
    np.testing.assert_array_equal(ring.read_latest(frames), everything[max(0, written - frames) :])
    block, first, end = ring.read_since(since)
    assert end == written
    assert first == min(max(since, written - frames, 0), written)
    np.testing.assert_array_equal(block, everything[first:end])
