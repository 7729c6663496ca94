"""AnalysisPool with its real worker processes: the memory limit, the per-owner bound on
large jobs, the worker kept for small jobs, and workers that die being replaced.

Killing a worker with SIGKILL stands in for a crash (a segfault in a library, the OOM
killer): the pool sees the same thing, a process that ended without a reply.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from codette_desktop.errors import AnalysisError, ProtocolError
from codette_desktop.protocol import events
from codette_desktop.services.analysis_pool import AnalysisPool, numba_cache_dir

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
REPO_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "codette"


def wav_job(seconds: float, *, analysis_type: str = "loudness", rate: int = 48_000
            ) -> dict[str, Any]:
    rng = np.random.default_rng(int(seconds * 10))
    x = (0.1 * rng.standard_normal((round(seconds * rate), 2))).astype(np.float32)
    out = io.BytesIO()
    soundfile.write(out, x, rate, format="WAV", subtype="PCM_16")
    audio = {"format": "wav", "data": base64.b64encode(out.getvalue()).decode()}
    return {"kind": "audio", "audio": audio, "samples": None, "sample_rate": None,
            "track": {}, "analysis_type": analysis_type}


def silence_flac_job(seconds: float, *, rate: int = 48_000, channels: int = 2
                     ) -> dict[str, Any]:
    """Compressed silence: a few hundred KB that decode to ``seconds`` of float32."""
    out = io.BytesIO()
    block = np.zeros((1 << 18, channels), dtype=np.int16)
    with soundfile.SoundFile(out, "w", rate, channels, format="FLAC", subtype="PCM_16") as f:
        left = round(seconds * rate)
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    audio = {"format": "flac", "data": base64.b64encode(out.getvalue()).decode()}
    return {"kind": "audio", "audio": audio, "samples": None, "sample_rate": None,
            "track": {}, "analysis_type": "loudness"}


def run_pool(tmp_path: Path, scenario: Callable[[AnalysisPool, list[events.Event]],
                                                Awaitable[None]], **kwargs: Any) -> None:
    """Start a pool with its own cache, run ``scenario``, close the pool."""
    seen: list[events.Event] = []

    async def main() -> None:
        pool = AnalysisPool(cache_dir=tmp_path / "cache", observer=seen.append, **kwargs)
        pool.start()
        try:
            await scenario(pool, seen)
        finally:
            await pool.close()

    asyncio.run(main())


def worker_pid(pool: AnalysisPool, lane: str, index: int = 0) -> int:
    # The pool does not publish its pids; the test reaches in to kill one.
    worker = getattr(pool, f"_{lane}").workers[index]
    return next(iter(worker.executor._processes))


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def seeded_cache(tmp_path: Path) -> Iterator[Path]:
    """A copy of the checkout's numba cache when it has one (saves a cold compile)."""
    source = numba_cache_dir(REPO_CACHE)
    target = numba_cache_dir(tmp_path / "cache")
    if list(source.glob("**/*.nbi")):
        shutil.copytree(source, target)
    yield target


def test_memory_limit_turns_an_oversized_analysis_into_analysis_failed(tmp_path: Path) -> None:
    """11 minutes of stereo silence passes the decoder's checks (63 M samples) but needs
    253 MB decoded: over a 384 MiB limit (a fast worker idles at ~220 MB)."""
    bomb = silence_flac_job(11 * 60)
    assert len(bomb["audio"]["data"]) < MIB

    async def scenario(pool: AnalysisPool, _: list[events.Event]) -> None:
        result = await pool.run(bomb)
        assert result["ok"] is False, result
        assert result["code"] == "analysis_failed"
        assert result["message"] == ("the analysis ran out of memory (the worker's limit is "
                                     "384 MiB); send a shorter excerpt")
        pid = worker_pid(pool, "fast")
        small = await pool.run(wav_job(2.0))
        assert small["ok"] is True
        assert worker_pid(pool, "fast") == pid, "the worker survived its MemoryError"

    run_pool(tmp_path, scenario, fast_workers=1, memory_limit=384 * MIB)


def test_large_jobs_are_bounded_per_owner_and_leave_a_worker_for_small_ones(
        tmp_path: Path) -> None:
    large = wav_job(240.0)  # 61 MB of base64, ~1 s of analysis
    small = wav_job(1.0)
    assert len(large["audio"]["data"]) > MIB > len(small["audio"]["data"])

    async def scenario(pool: AnalysisPool, _: list[events.Event]) -> None:
        finished: dict[str, float] = {}

        async def timed(name: str, job: dict[str, Any], owner: str) -> None:
            result = await pool.run(job, owner=owner)
            assert result["ok"] is True, result
            finished[name] = time.monotonic()

        first = asyncio.create_task(timed("large-1", large, "attacker"))
        second = asyncio.create_task(timed("large-2", large, "attacker"))
        await asyncio.sleep(0)  # both are queued now
        with pytest.raises(ProtocolError) as info:
            await pool.run(large, owner="attacker")
        assert info.value.code == "rate_limited"
        assert "At most 2 analyses of more than 1 MiB" in info.value.message
        # Another owner is not held to the attacker's bound, and small jobs go past.
        other = asyncio.create_task(timed("large-other", large, "victim"))
        await timed("small", small, "victim")
        await asyncio.gather(first, second, other)
        # The small job went past the queued large ones to the worker kept free for it;
        # the large ones ran one at a time in the owners' turns (the victim's turn went
        # to its small job, so the attacker's second came first).
        order = sorted(finished, key=finished.__getitem__)
        assert order == ["small", "large-1", "large-2", "large-other"]

    run_pool(tmp_path, scenario, fast_workers=2)


def test_a_killed_fast_worker_is_replaced_and_the_reason_named(tmp_path: Path) -> None:
    long_job = wav_job(300.0)

    async def scenario(pool: AnalysisPool, seen: list[events.Event]) -> None:
        await pool.run(wav_job(1.0))  # the worker is up
        running = asyncio.create_task(pool.run(long_job))
        await until(lambda: not pool._fast.idle)  # type: ignore[union-attr]
        os.kill(worker_pid(pool, "fast"), signal.SIGKILL)
        with pytest.raises(AnalysisError) as info:
            await running
        assert info.value.message == (
            "the fast analysis worker crashed (killed by SIGKILL (out of memory?)) while "
            "analysing this audio; it has been restarted for the next request")
        assert events.AnalysisWorkerFailed(
            worker="fast", reason="the fast analysis worker crashed (killed by SIGKILL "
            "(out of memory?))", restarted=True) in seen
        assert (await pool.run(wav_job(1.0)))["ok"] is True

    run_pool(tmp_path, scenario, fast_workers=1)


def test_a_fast_worker_that_died_idle_is_replaced_without_failing_the_job(
        tmp_path: Path) -> None:
    async def scenario(pool: AnalysisPool, _: list[events.Event]) -> None:
        await pool.run(wav_job(1.0))
        pid = worker_pid(pool, "fast")
        os.kill(pid, signal.SIGKILL)
        await until(lambda: pool._fast.workers[0].broken)  # type: ignore[union-attr]
        assert (await pool.run(wav_job(1.0)))["ok"] is True
        assert worker_pid(pool, "fast") != pid

    run_pool(tmp_path, scenario, fast_workers=1)


def test_a_crashed_full_worker_is_retried_once_on_a_fresh_cache(
        tmp_path: Path, seeded_cache: Path) -> None:
    """Item 7: the first crash wipes the numba cache and retries the job on a new worker;
    a second crash in the same run is answered with the reason (no second wipe)."""
    job = wav_job(120.0, analysis_type="full")

    async def crash_during(pool: AnalysisPool, seen: list[events.Event]) -> Any:
        running = asyncio.create_task(pool.run(job))
        await until(lambda: not pool._full.idle)  # type: ignore[union-attr]
        os.kill(worker_pid(pool, "full"), signal.SIGKILL)
        return running

    async def scenario(pool: AnalysisPool, seen: list[events.Event]) -> None:
        await until(lambda: pool.warm, timeout=240)
        marker = seeded_cache / "stale-marker"
        marker.write_text("from before the crash")
        result = await (await crash_during(pool, seen))
        assert result["ok"] is True, result
        assert "tempo_bpm" in result["analysis"]["measurements"]
        assert not marker.exists(), "the numba cache was not wiped"
        assert list(seeded_cache.glob("**/*.nbi")), "the fresh cache was not rebuilt"
        crashes = [e for e in seen if isinstance(e, events.AnalysisWorkerFailed)]
        assert [(e.worker, e.restarted) for e in crashes] == [("full", True)]

        with pytest.raises(AnalysisError, match=r"the full analysis worker crashed \(killed "
                           r"by SIGKILL .*\) while analysing this audio; it has been "
                           r"restarted for the next request"):
            await (await crash_during(pool, seen))
        assert (await pool.run(wav_job(6.0, analysis_type="full")))["ok"] is True

    run_pool(tmp_path, scenario, fast_workers=1)


def test_closing_answers_running_and_waiting_jobs(tmp_path: Path) -> None:
    async def main() -> None:
        pool = AnalysisPool(cache_dir=tmp_path / "cache", observer=lambda _: None,
                            fast_workers=1)
        pool.start()
        running = asyncio.create_task(pool.run(wav_job(300.0)))
        waiting = asyncio.create_task(pool.run(wav_job(1.0)))
        await until(lambda: not pool._fast.idle)  # type: ignore[union-attr]
        await pool.close()
        for task in (running, waiting):
            with pytest.raises(AnalysisError, match="the analysis workers have stopped"):
                await task
        with pytest.raises(AnalysisError, match="not running"):
            await pool.run(wav_job(1.0))

    asyncio.run(main())
