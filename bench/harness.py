"""What the server benchmarks share: baseline servers, client processes, the probe that
times one client's pings, and figures about the processes and the machine.

Clients run in processes of their own (:class:`ClientProcess`), so that their CPU lands
neither on the server being measured nor on the probe timing another client's pings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import time
import traceback
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

# The one launcher of the app, shared with the tests; the benches import it from here.
from app_process import AppProcess, start_app  # noqa: E402, F401

# What the benches' clients ask the chat engine.
QUESTIONS = (
    "How do I EQ vocals for clarity?", "What attack time for a snare compressor?",
    "How loud should my master be for Spotify?", "How do I stop kick and bass masking?",
    "What reverb pre-delay for a ballad vocal?", "How do I check mono compatibility?",
)
# Error messages a client process sends back in full (the rest are only counted).
MAX_ERRORS_KEPT = 20
# Descriptors a client process asks for: a few hundred connections each, and some spare.
CLIENT_NOFILE = 8192
MIB = 1024 * 1024


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_baseline(kind: str) -> tuple[subprocess.Popen[str], int]:
    """Start ``bench/baseline_servers.py KIND``; returns the process and its port."""
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "baseline_servers.py"), kind],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), line
    return proc, int(line.split()[1])


def stop_process(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft open-file limit toward ``wanted``; returns the limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MIB


def settled_rss_mib(pid: int, samples: int = 5, gap_s: float = 0.2) -> float:
    """The median of a few RSS readings (one reading can catch a passing allocation)."""
    readings = []
    for _ in range(samples):
        readings.append(rss_mib(pid))
        time.sleep(gap_s)
    return percentile(readings, 50)


@dataclass(frozen=True)
class ProcessFigures:
    """RSS and descriptors of a server process and, apart, of its child processes."""

    rss_mib: float
    fds: int
    client_sockets: int  # established TCP connections on the server's port
    children: int
    children_rss_mib: float
    children_fds: int

    @property
    def other_fds(self) -> int:
        """Descriptors not held by a connected client: a leak shows here, churn does not."""
        return self.fds - self.client_sockets


def process_figures(pid: int, port: int) -> ProcessFigures:
    process = psutil.Process(pid)
    with process.oneshot():
        rss = process.memory_info().rss
        fds = process.num_fds()
        sockets = sum(1 for c in process.net_connections(kind="tcp")
                      if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
    children_rss = children_fds = 0
    children = process.children(recursive=True)
    for child in children:
        try:
            children_rss += child.memory_info().rss
            children_fds += child.num_fds()
        except psutil.NoSuchProcess:
            continue
    return ProcessFigures(rss / MIB, fds, sockets, len(children), children_rss / MIB,
                          children_fds)


def sine_wav(seconds: float, dbfs: float, rate: int = 44_100, freq: float = 1000.0) -> str:
    """A stereo 16-bit WAV of a sine at ``dbfs`` peak, base64: it reads ``dbfs`` LUFS.

    (EBU Tech 3341 case 1: a stereo 1 kHz sine at -23 dBFS reads -23 LUFS.)
    """
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    tone = np.round(10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.column_stack([tone, tone]).tobytes())
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- the probe --------------------------------------------------------------------------


@dataclass(frozen=True)
class PingStats:
    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, rtts: Sequence[float]) -> PingStats:
        return cls(len(rtts), percentile(rtts, 50), percentile(rtts, 99), max(rtts))

    def row(self, name: str, base: PingStats | None = None) -> str:
        text = f"{name:34}{self.count:7d}{self.p50:9.2f}{self.p99:9.2f}{self.max:9.2f}"
        if base is not None:
            text += f"{self.p99 / base.p99:9.2f}x{self.max / base.max:9.2f}x"
        return text

    @staticmethod
    def header(with_ratio: bool = False) -> str:
        text = f"{'':34}{'pings':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        return text + (f"{'p99/base':>10}{'max/base':>10}" if with_ratio else "")


async def probe_pings(url: str, *, count: int | None = None, seconds: float | None = None,
                      interval_s: float = 0.0, until: asyncio.Event | None = None,
                      origin: str | None = None) -> list[float]:
    """Ping round trips (ms) of one client, one ping in flight at a time.

    Stops after ``count`` pings, after ``seconds``, or when ``until`` is set, whichever
    comes first; ``interval_s`` paces the pings (a DAW page pings now and then, not flat
    out, and a flat-out probe would itself load a 2-core machine).
    """
    from websockets.asyncio.client import connect

    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    rtts: list[float] = []
    async with connect(url, max_size=None, compression=None, ping_interval=None,
                       origin=origin, open_timeout=30) as ws:  # type: ignore[arg-type]
        await ws.recv()  # welcome
        for i in itertools.count():
            if (count is not None and i >= count) or time.monotonic() >= deadline or (
                    until is not None and until.is_set()):
                break
            start = time.perf_counter()
            await ws.send(json.dumps({"type": "ping", "id": i}))
            while json.loads(await ws.recv()).get("id") != i:
                pass
            rtts.append((time.perf_counter() - start) * 1000)
            if interval_s:
                await asyncio.sleep(interval_s)
    return rtts


# -- client processes -----------------------------------------------------------------


class ClientProcess:
    """An asyncio process running ``agent_type(*args)``: its async methods are commands.

    ``send`` starts a command and returns at once; ``result`` waits for its return value
    (an exception in the agent is raised here with the agent's traceback). Commands run
    as tasks, so one may hold connections open while another reports on them.
    """

    def __init__(self, agent_type: type, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")  # no fork next to threads
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_agent_main, args=(child, agent_type, args),
                                       daemon=True)
        self.process.start()
        child.close()
        self._ids = itertools.count()
        self._results: dict[int, tuple[bool, Any]] = {}

    def send(self, command: str, **kwargs: Any) -> int:
        seq = next(self._ids)
        self._conn.send((seq, command, kwargs))
        return seq

    def result(self, seq: int, timeout: float = 600.0) -> Any:
        deadline = time.monotonic() + timeout
        while seq not in self._results:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"no answer from client process {self.process.pid} "
                                   f"within {timeout} s")
            done, ok, value = self._conn.recv()
            self._results[done] = (ok, value)
        ok, value = self._results.pop(seq)
        if not ok:
            raise RuntimeError(f"client process {self.process.pid} failed:\n{value}")
        return value

    def call(self, command: str, timeout: float = 600.0, **kwargs: Any) -> Any:
        return self.result(self.send(command, **kwargs), timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def call_all(processes: Sequence[ClientProcess], command: str, timeout: float = 600.0,
             per_process: Sequence[dict[str, Any]] | None = None,
             **kwargs: Any) -> list[Any]:
    """Run one command in every process at once; their results in order."""
    seqs = [p.send(command, **kwargs, **(per_process[i] if per_process else {}))
            for i, p in enumerate(processes)]
    return [p.result(seq, timeout) for p, seq in zip(processes, seqs, strict=True)]


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as it goes."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _agent_main(conn: Connection, agent_type: type, args: tuple[Any, ...]) -> None:
    raise_nofile(CLIENT_NOFILE)
    asyncio.run(_agent_loop(conn, agent_type(*args)))


async def _agent_loop(conn: Connection, agent: Any) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def run(seq: int, command: str, kwargs: dict[str, Any]) -> None:
        try:
            value = await getattr(agent, command)(**kwargs)
        except Exception:
            conn.send((seq, False, traceback.format_exc()))
        else:
            conn.send((seq, True, value))

    while True:
        try:
            message = await loop.run_in_executor(None, conn.recv)
        except EOFError:  # the bench went away
            message = None
        if message is None:
            break
        task = loop.create_task(run(*message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in list(tasks):
        task.cancel()
