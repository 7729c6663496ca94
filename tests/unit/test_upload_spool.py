"""Upload spool files: written as chunks come, deleted before the answer goes out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from codette_desktop.errors import ProtocolError
from codette_desktop.server.uploads import UploadSpool, delete_before_answer


def test_a_spool_takes_the_announced_bytes_and_no_more(tmp_path: Path) -> None:
    spool = UploadSpool(tmp_path, expected=6, suffix="wav")
    spool.write(b"RIFF")
    with pytest.raises(ProtocolError, match="more than the 6"):
        spool.write(b"xyz")
    spool.write(b"!!")
    assert spool.complete and Path(spool.path).read_bytes() == b"RIFF!!"
    spool.discard()
    spool.discard()  # twice: nothing to do, no error
    assert not Path(spool.path).exists()


def run(replies: AsyncGenerator[dict[str, Any], None], path: Path) -> list[str]:
    """What the client would see, with "deleted" where the file went."""
    seen: list[str] = []

    def delete() -> None:
        path.unlink()  # a second call would raise: the file is deleted once
        seen.append("deleted")

    async def main() -> None:
        async for message in delete_before_answer(replies, delete):
            seen.append(message["type"])

    try:
        asyncio.run(main())
    except RuntimeError as exc:
        seen.append(f"raised {exc}")
    return seen


def test_the_file_goes_before_the_answer(tmp_path: Path) -> None:
    async def replies() -> AsyncGenerator[dict[str, Any], None]:
        yield {"type": "analysis_progress"}
        yield {"type": "analysis_progress"}
        yield {"type": "analysis_response"}

    path = tmp_path / "upload-1.wav"
    path.write_bytes(b"audio")
    assert run(replies(), path) == ["analysis_progress", "analysis_progress", "deleted",
                                    "analysis_response"]


def test_the_file_goes_before_an_error_reaches_the_caller(tmp_path: Path) -> None:
    async def replies() -> AsyncGenerator[dict[str, Any], None]:
        yield {"type": "analysis_progress"}
        raise RuntimeError("decoder failed")

    path = tmp_path / "upload-2.wav"
    path.write_bytes(b"audio")
    assert run(replies(), path) == ["analysis_progress", "deleted", "raised decoder failed"]
