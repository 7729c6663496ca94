"""Runs analyses in worker processes so the event loop never stalls.

Workers (spawn context, safe next to Qt), each a single-process executor so the pool
decides which job runs where:
  * ``fast`` (``max_concurrent_analyses`` processes) never import librosa: metadata,
    loudness, dynamics, spectrum, quality — answer at once.
  * ``full`` (one process) is warmed up after the server is ready (librosa's numba code
    compiles once, 25–30 s with an empty cache, then loads from ``<cache_dir>/numba/<key>``,
    the key naming the app, librosa and numba versions so that two installs never load
    each other's machine code). A ``full`` request that arrives before the warm-up ends
    waits for it. Frames over 1 MiB are parsed and analysed whole in a worker (see
    :func:`_run_frame`).

Fair under abuse (:mod:`.analysis_queue`): jobs wait per owner (the client the server
names) and are served round-robin; a job carrying more than :data:`LARGE_JOB_BYTES` of
audio is *large*. An owner may have :data:`LARGE_JOBS_PER_OWNER` large jobs queued or
running (beyond: ``rate_limited``), and large jobs never hold every fast worker: one stays
free for small ones.

Bounded and crash-proof: every worker runs under a memory limit
(:data:`WORKER_MEMORY_LIMIT`), so an analysis that gets past the decoder's size checks
fails with ``analysis_failed`` instead of taking the machine's memory. A worker that dies
is replaced. The full worker's numba cache is wiped and rebuilt once per run when its
warm-up fails or it dies, and the job it was running is then retried once; what fails
after that is answered with ``analysis_failed`` naming the reason and reported as
:class:`~codette_desktop.protocol.events.AnalysisWorkerFailed`.

A client that disconnects mid-analysis only abandons its result; the worker finishes and
is reused. A job still waiting in the queue is dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Hashable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib import metadata
from pathlib import Path
from typing import Any

from codette_desktop import __version__
from codette_desktop.config import MIB
from codette_desktop.errors import AnalysisError, ProtocolError
from codette_desktop.protocol import events, messages

from .analysis_queue import FairQueue, LargeJobQuota

log = logging.getLogger("codette.analysis")

LIBROSA_TYPES = frozenset({"full"})
# Jobs with more audio than this (base64 characters, bytes of an upload or of captured
# samples) are large: the size of the biggest ordinary frame, so every oversized analyze
# frame is one.
LARGE_JOB_BYTES = 1 * MIB
# One running and one waiting, so an honest client that sends its next large analysis
# before the last one is answered never leaves the worker idle; more would only park
# 100 MiB frames in the server's memory.
LARGE_JOBS_PER_OWNER = 2
# Per worker, as RLIMIT_DATA (heap and private writable mappings; Linux enforces it for
# mmap too since 4.7). Not RLIMIT_AS: numba/LLVM and every thread's malloc arena reserve
# address space they never touch (a warmed full worker maps ~1 GB for ~0.3 GB resident).
# Measured peaks of VmData for the largest legitimate inputs: 1.23-1.36 GB for a full
# analysis of a 10-minute 48 kHz stereo FLAC in a 127 MiB frame, 0.76 GB for a loudness
# analysis of a 128 MiB 16-bit WAV frame; 2 GiB leaves over 50 % headroom over the worst,
# and a decoded buffer at the decoder's limit (2**26 float32 samples) is 256 MiB.
WORKER_MEMORY_LIMIT = 2048 * MIB
_DEATH_WAIT_S = 1.0
_STOPPED = "the analysis workers have stopped (the app is shutting down)"


def numba_cache_dir(cache_dir: Path) -> Path:
    """``<cache_dir>/numba/<key>``: numba's cache for this app, librosa and numba.

    numba checks a cached function against its source file's timestamp, not against the
    library that compiled it; two installs sharing one folder (or an upgrade) can load
    machine code built for another numba, which crashes the worker.
    """
    parts = [f"codette-{__version__}"]
    for dist in ("librosa", "numba"):
        try:
            parts.append(f"{dist}-{metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}-unknown")
    return cache_dir / "numba" / re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(parts))


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    # Imported in the worker only: numpy/scipy stay out of the server process's startup.
    from codette_desktop.analysis.worker import run_job

    return run_job(job)


def _run_frame(path: str) -> dict[str, Any]:
    """Read, parse, validate and analyse one oversized ``analyze`` frame, all in the
    worker; ``path`` is the spool file the server wrote it to (UTF-8 JSON).

    Returns ``{"too_large": type}`` if it is not an analyze with audio,
    ``{"error": {code, message, field, request_id}}`` if it breaks the contract, else
    ``{"request": Analyze, "result": run_job(...)}``.
    """
    from codette_desktop.analysis.worker import run_job

    with open(path, "rb") as f:
        raw = f.read()
    try:
        obj = messages.parse_json(raw)  # json.loads reads UTF-8 bytes, and refuses others
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
    wire = {"format": audio.format, "sample_rate": audio.sample_rate,
            "channels": audio.channels}
    # Base64 text, or the file a binary upload was spooled to (the worker maps it).
    wire.update({"data": audio.data} if audio.path is None else {"path": audio.path})
    return {"kind": "audio", "audio": wire, "samples": None, "sample_rate": None,
            "track": request.track.to_job(), "analysis_type": request.analysis_type}


def _warm_up() -> dict[str, Any]:
    """The full worker's warm-up; ``{"seconds": s}`` or ``{"error": description}``."""
    from codette_desktop.analysis.worker import describe, warm_up

    try:
        return {"seconds": warm_up()}
    except Exception as exc:  # e.g. a corrupt numba cache: UnpicklingError
        logging.getLogger("codette.analysis.worker").exception("analysis warm-up failed")
        return {"error": describe(exc)}


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


def _limit_memory(limit: int | None) -> None:
    """Lower this process's RLIMIT_DATA soft limit to ``limit`` bytes where the OS has it.

    Allocations beyond it fail (numpy raises MemoryError) instead of growing the process.
    Never raises the limit, never above the hard limit; a no-op without ``resource``.
    """
    if limit is None:
        return
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _init_worker(numba_cache_dir: str, log_level: str, parent: int,
                 memory_limit: int | None) -> None:
    # Must be set before numba is first imported in the worker.
    os.environ["NUMBA_CACHE_DIR"] = numba_cache_dir
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _exit_with_parent(parent)
    _limit_memory(memory_limit)
    # Worker logs go to the console the app inherited (the rotating file is the parent's).
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Analysis is background work: the server and the GUI must win the CPU when they need it.
    if hasattr(os, "nice"):
        os.nice(10)


class _Worker:
    """One worker process, behind a single-process executor that can be replaced."""

    def __init__(self, start: Callable[[], ProcessPoolExecutor]) -> None:
        self._start = start
        self.executor = start()
        # The processes as of the last submit: once the pool breaks, its management thread
        # may already have dropped them, and their exit status says how they died.
        self._processes: list[Any] = []

    @property
    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in the worker; BrokenProcessPool if the process dies."""
        future = self.executor.submit(fn, *args)  # starts the process if there is none
        self._processes = list((getattr(self.executor, "_processes", None) or {}).values())
        return await asyncio.wrap_future(future)

    def death(self) -> str:
        """How the process ended, for a user: "killed by SIGSEGV", "exit status 1".

        Blocks for up to a second: call it in a thread.
        """
        current = list((getattr(self.executor, "_processes", None) or {}).values())
        for process in current or self._processes:
            # The executor learns of the death when the process's pipes close, a moment
            # before the kernel lets it be reaped; wait for the exit status. Its manager
            # thread may reap it first (our waitpid then fails and join returns early):
            # the status lands on the shared Popen object a moment later.
            deadline = time.monotonic() + _DEATH_WAIT_S
            process.join(timeout=_DEATH_WAIT_S)
            while process.exitcode is None and time.monotonic() < deadline:
                time.sleep(0.01)
            code = process.exitcode
            if code is not None and code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"signal {-code}"
                # The kernel's OOM killer sends SIGKILL.
                oom = -code == getattr(signal, "SIGKILL", None)
                return f"killed by {name}{' (out of memory?)' if oom else ''}"
            if code:
                return f"exit status {code}"
        return "it ended unexpectedly"

    def restart(self) -> None:
        _terminate(self.executor)
        self.executor = self._start()

    def close(self) -> None:
        _terminate(self.executor)


@dataclasses.dataclass(eq=False)
class _Job:
    fn: Callable[[Any], dict[str, Any]]
    arg: Any
    owner: Hashable
    large: bool
    # A result dict, or the exception to raise in the requester.
    outcome: asyncio.Future[dict[str, Any] | BaseException]


class _Lane:
    """Workers of one kind, their idle ones and the jobs waiting for them."""

    def __init__(self, name: str, workers: list[_Worker]) -> None:
        self.name = name
        self.workers = workers
        self.idle: list[_Worker] = []
        self.queue: FairQueue[_Job] = FairQueue()
        # Large jobs may hold every worker but one (all of them if there is only one).
        self.large_cap = max(1, len(workers) - 1)
        self.large_running = 0
        self.failure: str | None = None  # set when the lane is given up


class AnalysisPool:
    def __init__(
        self, *, cache_dir: Path, observer: events.Observer, fast_workers: int = 2,
        memory_limit: int | None = WORKER_MEMORY_LIMIT,
        large_jobs_per_owner: int = LARGE_JOBS_PER_OWNER,
    ) -> None:
        self._fast_workers = fast_workers
        self.numba_dir = numba_cache_dir(cache_dir)
        self._observer = observer
        self._memory_limit = memory_limit
        self._quota = LargeJobQuota(large_jobs_per_owner)
        self._fast: _Lane | None = None
        self._full: _Lane | None = None
        self._warm = asyncio.Event()
        self.warmup_seconds: float | None = None
        self._worker_warmup_s = 0.0  # inside the worker, without its start-up
        self._warm_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._cache_refreshed = False  # the numba cache was wiped and rebuilt this run

    @property
    def warm(self) -> bool:
        return self._warm.is_set()

    def _executor(self) -> ProcessPoolExecutor:
        self.numba_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(self.numba_dir), logging.getLevelName(log.getEffectiveLevel()),
                      os.getpid(), self._memory_limit),
        )

    def start(self) -> None:
        """Create the workers and start warming the full one in the background."""
        if self._fast is not None:
            return
        self._fast = _Lane("fast", [_Worker(self._executor) for _ in range(self._fast_workers)])
        self._full = _Lane("full", [_Worker(self._executor)])
        for worker in self._fast.workers:
            worker.executor.submit(_prime)
            self._fast.idle.append(worker)
        limit = f"{self._memory_limit // MIB} MiB" if self._memory_limit else "none"
        log.info("analysis workers: %d fast, 1 full; memory limit per worker: %s",
                 self._fast_workers, limit)
        self._warm_task = asyncio.get_running_loop().create_task(self._warm_up())

    async def _warm_up(self) -> None:
        assert self._full is not None
        lane, worker = self._full, self._full.workers[0]
        started = time.monotonic()
        failure = await self._warm_worker(worker)
        if failure is not None and not self._cache_refreshed:
            self._report(lane, f"its warm-up failed ({failure})", restarted=True)
            await self._refresh_cache(worker)
            failure = await self._warm_worker(worker)
        if failure is not None:
            self._give_up(lane, f"its warm-up failed twice, the second time with a fresh "
                                f"numba cache ({failure})")
            return
        self.warmup_seconds = time.monotonic() - started
        log.info("analysis warm-up finished in %.1f s (worker %.1f s)",
                 self.warmup_seconds, self._worker_warmup_s)
        self._warm.set()
        self._observer(events.AnalysisWarmedUp(seconds=self.warmup_seconds))
        self._release(lane, worker)

    async def _warm_worker(self, worker: _Worker) -> str | None:
        """Warm ``worker`` up; None, or why it failed."""
        try:
            outcome = await worker.call(_warm_up)
        except BrokenProcessPool:
            return f"the worker crashed: {await asyncio.to_thread(worker.death)}"
        if "error" in outcome:
            return str(outcome["error"])
        self._worker_warmup_s = float(outcome["seconds"])
        return None

    async def _refresh_cache(self, worker: _Worker) -> None:
        """End ``worker``, wipe the numba cache and start a new worker on an empty one."""
        worker.close()
        self._cache_refreshed = True
        log.warning("wiping the numba cache %s", self.numba_dir)
        # Hundreds of files: in a thread, not on the event loop.
        await asyncio.to_thread(shutil.rmtree, self.numba_dir, ignore_errors=True)
        worker.restart()

    async def run(self, job: dict[str, Any], *, owner: Hashable = None) -> dict[str, Any]:
        """Run one job (see :func:`codette_desktop.analysis.worker.run_job`).

        ``owner`` (the client) decides the job's turn; raises ``rate_limited``
        :class:`ProtocolError` if the owner already has its large jobs in progress.
        """
        needs_librosa = job.get("analysis_type") in LIBROSA_TYPES and job.get("kind") == "audio"
        return await self._submit(needs_librosa, _run_job, job, owner=owner,
                                  size=_job_bytes(job))

    async def run_frame(self, frame_path: str, *, analysis_type: str,
                        owner: Hashable = None) -> dict[str, Any]:
        """Parse, validate and analyse an undecoded oversized frame in a worker
        (see :func:`_run_frame`); ``owner`` as for :meth:`run`.

        Only the ``full`` worker ever runs librosa: two processes compiling into one numba
        cache can corrupt it. So the caller says which ``analysis_type`` the frame names
        (:func:`codette_desktop.protocol.messages.peek_large`).
        """
        return await self._submit(analysis_type in LIBROSA_TYPES, _run_frame, frame_path,
                                  owner=owner, size=os.path.getsize(frame_path))

    async def _submit(self, needs_librosa: bool, fn: Callable[[Any], dict[str, Any]],
                      arg: Any, *, owner: Hashable, size: int) -> dict[str, Any]:
        lane = self._full if needs_librosa else self._fast
        if lane is None:
            raise AnalysisError("the analysis workers are not running")
        if lane.failure is not None:
            raise AnalysisError(lane.failure)
        large = size > LARGE_JOB_BYTES
        if large and not self._quota.admit(owner):
            raise ProtocolError(
                "rate_limited",
                f"At most {self._quota.per_owner} analyses of more than "
                f"{LARGE_JOB_BYTES // MIB} MiB of audio may be queued or running per "
                "client; wait for an analysis_response before sending another")
        job = _Job(fn, arg, owner, large, asyncio.get_running_loop().create_future())
        lane.queue.push(job, owner=owner, large=large)
        self._dispatch(lane)
        try:
            # Shielded: a requester that gives up must not cancel the job's bookkeeping.
            outcome = await asyncio.shield(job.outcome)
        except asyncio.CancelledError:
            if lane.queue.discard(job):
                self._finished(job)
            raise
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _dispatch(self, lane: _Lane) -> None:
        """Start waiting jobs on idle workers, fairly (see :mod:`.analysis_queue`)."""
        while lane.idle and lane.failure is None:
            job = lane.queue.pop(allow_large=lane.large_running < lane.large_cap)
            if job is None:
                return
            worker = lane.idle.pop()
            if job.large:
                lane.large_running += 1
            self._spawn(self._execute(lane, worker, job))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, lane: _Lane, worker: _Worker, job: _Job) -> None:
        # What the requester gets if this task is cancelled (the pool is closing).
        outcome: dict[str, Any] | BaseException = AnalysisError(_STOPPED)
        try:
            outcome = await self._run_guarded(lane, worker, job)
        except Exception as exc:  # handed to the requester, who reports it
            outcome = exc
        finally:
            if job.large:
                lane.large_running -= 1
            self._finished(job)
            self._release(lane, worker)
            if not job.outcome.done():
                job.outcome.set_result(outcome)

    def _finished(self, job: _Job) -> None:
        if job.large:
            self._quota.release(job.owner)

    def _release(self, lane: _Lane, worker: _Worker) -> None:
        if lane.failure is None and self._fast is not None:
            lane.idle.append(worker)
            self._dispatch(lane)

    async def _run_guarded(self, lane: _Lane, worker: _Worker,
                           job: _Job) -> dict[str, Any] | BaseException:
        """Run ``job`` on ``worker``, replacing the worker if it dies (see the module doc)."""
        if worker.broken:  # died while idle: not this job's doing
            failure = await self._replace(lane, worker, fresh_cache=False)
            if failure is not None:
                return AnalysisError(failure)
        retried = False
        while True:
            try:
                return await worker.call(job.fn, job.arg)
            except BrokenProcessPool:
                death = await asyncio.to_thread(worker.death)
                crash = f"the {lane.name} analysis worker crashed ({death})"
            retry = lane is self._full and not self._cache_refreshed and not retried
            log.error("%s; restarting it%s", crash, " with a fresh numba cache" if retry else "")
            self._report(lane, crash, restarted=True)
            failure = await self._replace(lane, worker, fresh_cache=retry)
            if failure is not None:
                return AnalysisError(failure)
            if not retry:
                again = " again, after a fresh start" if retried else ""
                return AnalysisError(f"{crash}{again} while analysing this audio; it has "
                                     "been restarted for the next request")
            retried = True

    async def _replace(self, lane: _Lane, worker: _Worker, *, fresh_cache: bool) -> str | None:
        """A new process for ``worker`` (warmed, for the full lane); None or the lane's
        failure if it cannot be brought back."""
        if fresh_cache:
            await self._refresh_cache(worker)
        else:
            worker.restart()
        if lane is not self._full:
            worker.executor.submit(_prime)
            return None
        failure = await self._warm_worker(worker)
        if failure is None:
            return None
        return self._give_up(lane, f"it could not be restarted ({failure})")

    def _give_up(self, lane: _Lane, why: str) -> str:
        """Stop using ``lane``: its waiting jobs and every later one get ``why``."""
        kinds = "full analyses are" if lane is self._full else "analyses are"
        lane.failure = (f"{kinds} unavailable: the {lane.name} analysis worker failed, {why}; "
                        "restart the app to try again")
        log.error("%s", lane.failure)
        self._report(lane, why, restarted=False)
        self._answer_waiting(lane, lane.failure)
        return lane.failure

    def _answer_waiting(self, lane: _Lane, failure: str) -> None:
        """Take every job still waiting in ``lane`` off its queue, answered ``failure``."""
        for job in lane.queue.drain():
            self._finished(job)
            if not job.outcome.done():
                job.outcome.set_result(AnalysisError(failure))

    def _report(self, lane: _Lane, reason: str, *, restarted: bool) -> None:
        self._observer(events.AnalysisWorkerFailed(worker=lane.name, reason=reason,
                                                   restarted=restarted))

    async def close(self) -> None:
        if self._warm_task is not None:
            self._warm_task.cancel()
        lanes = [lane for lane in (self._fast, self._full) if lane is not None]
        self._fast = self._full = None
        for task in list(self._tasks):
            task.cancel()
        for lane in lanes:
            self._answer_waiting(lane, _STOPPED)
            for worker in lane.workers:
                # A long analysis must not hold up shutdown: end the workers outright.
                worker.close()


def _job_bytes(job: dict[str, Any]) -> int:
    """How much audio ``job`` carries: base64 characters, bytes of an uploaded file, or
    bytes of captured samples."""
    audio = job.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("data"), str):
        return len(audio["data"])
    if isinstance(audio, dict) and isinstance(audio.get("path"), str):
        try:
            return os.path.getsize(audio["path"])
        except OSError:
            return 0  # the worker will say the file is unreadable
    return int(getattr(job.get("samples"), "nbytes", 0))


def _terminate(executor: ProcessPoolExecutor) -> None:
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
