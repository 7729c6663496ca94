"""Runs analyses in worker processes so the event loop never stalls.

Two executors (spawn context, safe next to Qt):
  * ``fast`` (``max_concurrent_analyses`` processes) never imports librosa: metadata,
    loudness, dynamics, spectrum, quality — answers at once.
  * ``full`` (one process) is warmed up after the server is ready (librosa's numba code
    compiles once, 25–30 s with an empty cache, then loads from ``<cache_dir>/numba``).
    A ``full`` request that arrives before the warm-up ends waits for it. Frames over
    1 MiB are parsed and analysed whole in a ``fast`` worker (see :func:`_run_frame`).
A client that disconnects mid-analysis only abandons its result; the worker finishes and
is reused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from codette_desktop.errors import AnalysisError, ProtocolError
from codette_desktop.protocol import events, messages

log = logging.getLogger("codette.analysis")

LIBROSA_TYPES = frozenset({"full"})


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    # Imported in the worker only: numpy/scipy stay out of the server process's startup.
    from codette_desktop.analysis.worker import run_job

    return run_job(job)


def _run_frame(frame: str) -> dict[str, Any]:
    """Parse, validate and analyse one oversized ``analyze`` frame, all in the worker.

    Returns ``{"too_large": type}`` if it is not an analyze with audio,
    ``{"error": {code, message, field, request_id}}`` if it breaks the contract, else
    ``{"request": Analyze, "result": run_job(...)}``.
    """
    from codette_desktop.analysis.worker import run_job

    try:
        obj = messages.parse_json(frame)
    except ProtocolError:
        return {"too_large": None}
    envelope = obj.get("data") if isinstance(obj, dict) else None
    if messages.peek_type(obj) != "analyze" or not (
            "audio" in obj or (isinstance(envelope, dict) and "audio" in envelope)):
        # Only an analyze with audio may exceed 1 MiB; anything else is closed with 1009.
        return {"too_large": messages.peek_type(obj)}
    try:
        request = messages.decode_object(obj)
    except ProtocolError as exc:
        return {"error": {"code": exc.code, "message": exc.message, "field": exc.field,
                          "request_id": exc.request_id}}
    if not isinstance(request, messages.Analyze) or request.audio is None:
        return {"too_large": "analyze"}  # "audio": null is no audio
    result = run_job(audio_job(request))
    # Send back the request without its audio: unpickling 100 MB in the server process
    # would take the GIL from the event loop.
    return {"request": dataclasses.replace(request, audio=None), "result": result}


def audio_job(request: messages.Analyze) -> dict[str, Any]:
    audio = request.audio
    assert audio is not None
    wire = {"format": audio.format, "data": audio.data, "sample_rate": audio.sample_rate,
            "channels": audio.channels}
    return {"kind": "audio", "audio": wire, "samples": None, "sample_rate": None,
            "track": request.track.to_job(), "analysis_type": request.analysis_type}


def _warm_up() -> float:
    from codette_desktop.analysis.worker import warm_up

    return warm_up()


def _prime() -> None:
    # Spawn the fast worker and import numpy/scipy now, not on the first request.
    import codette_desktop.analysis.report  # noqa: F401


def _exit_with_parent(parent: int) -> None:
    """End this worker when the app (pid ``parent``) is gone, even after a kill -9.

    The pid comes from the app: a worker that boots after the app died must not take
    its new parent (init) for the app.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_worker(numba_cache_dir: str, log_level: str, parent: int) -> None:
    # Must be set before numba is first imported in the worker.
    os.environ["NUMBA_CACHE_DIR"] = numba_cache_dir
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _exit_with_parent(parent)
    # Worker logs go to the console the app inherited (the rotating file is the parent's).
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Analysis is background work: the server and the GUI must win the CPU when they need it.
    if hasattr(os, "nice"):
        os.nice(10)


class AnalysisPool:
    def __init__(
        self, *, cache_dir: Path, observer: events.Observer, fast_workers: int = 2
    ) -> None:
        self._fast_workers = fast_workers
        self._numba_dir = cache_dir / "numba"
        self._observer = observer
        self._fast: ProcessPoolExecutor | None = None
        self._full: ProcessPoolExecutor | None = None
        self._warm = asyncio.Event()
        self.warmup_seconds: float | None = None
        self._warm_task: asyncio.Task[None] | None = None

    @property
    def warm(self) -> bool:
        return self._warm.is_set()

    def _executor(self, workers: int = 1) -> ProcessPoolExecutor:
        self._numba_dir.mkdir(parents=True, exist_ok=True)
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(self._numba_dir), logging.getLevelName(log.getEffectiveLevel()),
                      os.getpid()),
        )

    def start(self) -> None:
        """Create the workers and start warming the full one in the background."""
        if self._fast is None:
            self._fast = self._executor(self._fast_workers)
            self._full = self._executor()
            self._fast.submit(_prime)
            self._warm_task = asyncio.get_running_loop().create_task(self._warm_up())

    async def _warm_up(self) -> None:
        assert self._full is not None
        started = time.monotonic()
        try:
            worker_seconds = await asyncio.get_running_loop().run_in_executor(
                self._full, _warm_up)
        except Exception:
            log.exception("analysis warm-up failed; full analyses will compile on demand")
            worker_seconds = time.monotonic() - started
        self.warmup_seconds = time.monotonic() - started
        log.info("analysis warm-up finished in %.1f s (worker %.1f s)",
                 self.warmup_seconds, worker_seconds)
        self._warm.set()
        self._observer(events.AnalysisWarmedUp(seconds=self.warmup_seconds))

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one job (see :func:`codette_desktop.analysis.worker.run_job`)."""
        needs_librosa = job.get("analysis_type") in LIBROSA_TYPES and job.get("kind") == "audio"
        return await self._submit(needs_librosa, _run_job, job)

    async def run_frame(self, frame: str, *, analysis_type: str) -> dict[str, Any]:
        """Parse, validate and analyse an undecoded oversized frame in a worker
        (see :func:`_run_frame`).

        Only the ``full`` worker ever runs librosa: two processes compiling into one numba
        cache can corrupt it. So the caller says which ``analysis_type`` the frame names
        (:func:`codette_desktop.protocol.messages.peek_large`).
        """
        return await self._submit(analysis_type in LIBROSA_TYPES, _run_frame, frame)

    async def _submit(self, needs_librosa: bool, fn: Callable[[Any], dict[str, Any]],
                      arg: Any) -> dict[str, Any]:
        if self._fast is None or self._full is None:
            raise AnalysisError("the analysis workers are not running")
        if needs_librosa:
            await self._warm.wait()
        executor = self._full if needs_librosa else self._fast
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, arg)
        except BrokenProcessPool:
            # A worker died (a crash, out of memory): replace the pool so the next request
            # works, and end what is left of the broken one.
            log.error("an analysis worker died; restarting it")
            _terminate(executor)
            if needs_librosa:
                self._full = self._executor()
            else:
                self._fast = self._executor(self._fast_workers)
            raise AnalysisError("the analysis worker crashed; please try again") from None

    async def close(self) -> None:
        if self._warm_task is not None:
            self._warm_task.cancel()
        for executor in (self._fast, self._full):
            if executor is not None:
                # A long analysis must not hold up shutdown: end the workers outright.
                _terminate(executor)
        self._fast = self._full = None


def _terminate(executor: ProcessPoolExecutor) -> None:
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
