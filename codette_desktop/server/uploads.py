"""Audio uploads, written to a private spool file as they arrive.

An upload never sits whole in the server's memory or on the event loop: each chunk (a
binary WebSocket frame of at most :data:`MAX_CHUNK_BYTES`, or a piece of an HTTP body)
is appended to a file in ``<cache dir>/uploads`` (0600, this user's only) in well under a
millisecond, and the analysis worker reads the file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from codette_desktop.errors import ProtocolError

MAX_CHUNK_BYTES = 1024 * 1024
# A client that starts an upload and goes quiet frees its spool file after this long.
IDLE_TIMEOUT_S = 30.0
# Progress replies at most this often (and at the end).
PROGRESS_INTERVAL_S = 0.25


def spool_dir(cache_dir: Path) -> Path:
    folder = cache_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def clear_spool(cache_dir: Path) -> int:
    """Delete what a crashed run left behind; returns how many files went."""
    removed = 0
    for path in spool_dir(cache_dir).glob("upload-*"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


class UploadSpool:
    """One upload of ``expected`` bytes being written to a temp file."""

    def __init__(self, folder: Path, *, expected: int, suffix: str) -> None:
        self.expected = expected
        self.received = 0
        fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=f".{suffix}")
        self._fd: int | None = fd
        self.path = name
        self.started = time.monotonic()
        self.last_chunk = self.started
        self._last_progress = 0.0

    @property
    def complete(self) -> bool:
        return self.received == self.expected

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; ProtocolError if it would pass the announced size."""
        if self._fd is None:
            raise ProtocolError("invalid_message", "The upload is already complete")
        if self.received + len(chunk) > self.expected:
            raise ProtocolError(
                "invalid_message",
                f"The upload sent {self.received + len(chunk)} bytes, more than the "
                f"{self.expected} its analyze message announced")
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.received += len(chunk)
        self.last_chunk = time.monotonic()
        if self.complete:
            self.close()

    def progress_due(self) -> bool:
        """Time for a progress reply? (at most every PROGRESS_INTERVAL_S, and the last)."""
        now = time.monotonic()
        if self.complete or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            return True
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        self.close()
        discard_file(self.path)


def spool_frame(folder: Path, data: bytes | bytearray) -> str:
    """Write a whole oversized message to a spool file (in a thread); returns its path."""
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=".json")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return name


def discard_file(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


async def delete_before_answer(
    replies_: AsyncGenerator[dict[str, Any], None], delete: Callable[[], None]
) -> AsyncGenerator[dict[str, Any], None]:
    """An upload's replies, its spool file deleted before the answer or error goes out (as
    over HTTP): a client holding its answer finds nothing of its audio left on disk.
    ``delete`` runs once, in a thread (freeing a big file's blocks takes ms)."""
    deleted = False
    try:
        async with aclosing(replies_):
            async for message in replies_:
                if message.get("type") != "analysis_progress" and not deleted:
                    deleted = True
                    await asyncio.to_thread(delete)
                yield message
    finally:
        if not deleted:
            await asyncio.to_thread(delete)
