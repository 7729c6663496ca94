"""A preallocated multichannel ring buffer with one writer thread and one reader thread.

The writer is the PortAudio callback. It must not allocate, lock or wait (python-sounddevice
``examples/asyncio_generators.py``), so :meth:`RingBuffer.write` is two numpy slice
assignments at most and one integer update. The reader is the event loop; it never blocks
the writer either. Safety comes from ordering instead of a lock:

- the writer copies a block in first and only then publishes it by advancing
  :attr:`RingBuffer.frames_total` (a plain ``int`` attribute; the GIL makes the store atomic);
- a reader looks at ``frames_total`` once and copies only frames before it;
- the storage holds ``headroom`` frames more than a reader may ask for, so the block the
  writer is copying in while the reader copies out never lands on the frames being read,
  as long as a block is no longer than ``headroom``.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """The last ``frames`` frames of a ``channels``-channel float32 stream.

    Frames are addressed by their absolute index since the buffer was created
    (``0 .. frames_total``), which is what lets a reader say "everything after frame N"
    without sharing a read pointer with the writer.
    """

    def __init__(self, *, frames: int, channels: int, headroom: int) -> None:
        if frames <= 0 or channels <= 0 or headroom <= 0:
            raise ValueError("frames, channels and headroom must be positive")
        self.frames = frames  # how many past frames a reader can get
        self.channels = channels
        self.headroom = headroom
        self.capacity = frames + headroom
        # np.zeros maps zero pages lazily, so a 60 s buffer costs memory only as it fills.
        self._data = np.zeros((self.capacity, channels), dtype=np.float32)
        self.frames_total = 0  # frames ever written; published after the data

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (shape ``(n, channels)``). Called from the audio thread.

        Allocation-free apart from the slice views. A block longer than the whole storage
        keeps only its tail (it cannot happen with PortAudio block sizes, but must not
        raise in the audio thread).
        """
        n = block.shape[0]
        data = self._data
        capacity = self.capacity
        if n > capacity:
            block = block[n - capacity :]
            skipped = n - capacity
        else:
            skipped = 0
        start = (self.frames_total + skipped) % capacity
        end = start + block.shape[0]
        if end <= capacity:
            data[start:end] = block
        else:
            split = capacity - start
            data[start:] = block[:split]
            data[: end - capacity] = block[split:]
        self.frames_total += n

    @property
    def available(self) -> int:
        """How many frames a reader can get right now (at most ``frames``)."""
        return min(self.frames_total, self.frames)

    def read_latest(self, count: int) -> np.ndarray:
        """A copy of the newest ``min(count, available)`` frames, shape ``(n, channels)``."""
        end = self.frames_total
        n = max(0, min(count, end, self.frames))
        return self._copy(end - n, end)

    def read_since(self, start: int) -> tuple[np.ndarray, int, int]:
        """A copy of frames ``start .. frames_total``; returns ``(block, first, end)``.

        ``first`` is later than ``start`` when frames were overwritten before the reader
        came back (the reader fell more than ``frames`` behind); pass ``end`` as the next
        ``start``.
        """
        end = self.frames_total
        first = min(max(start, end - self.frames, 0), end)
        return self._copy(first, end), first, end

    def _copy(self, first: int, end: int) -> np.ndarray:
        n = end - first
        out = np.empty((n, self.channels), dtype=np.float32)
        if n == 0:
            return out
        start = first % self.capacity
        stop = start + n
        if stop <= self.capacity:
            out[:] = self._data[start:stop]
        else:
            split = self.capacity - start
            out[:split] = self._data[start:]
            out[split:] = self._data[: stop - self.capacity]
        return out
