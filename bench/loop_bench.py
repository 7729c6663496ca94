"""Event-loop benchmark: plain asyncio, stock qasync and FastQEventLoop, side by side.

    .venv/bin/python bench/loop_bench.py [--rounds 3] [--callbacks 200000] [--clients 50]
                                         [--per-client 200] [--pings 1000] [--idle 3]
                                         [--repeats 3]

Each measurement runs in a fresh process per loop (QCoreApplication, headless):
  (a) per CPU second of the process (wall-clock rates swing with the machine's load):
      call_soon with N callbacks chained (each schedules the next: one callback per loop
      iteration); N steps of 100 tasks doing ``await asyncio.sleep(0)`` (100 ready at
      once, the shape of a busy server); N ``call_soon_threadsafe`` calls from a thread
      (how audio blocks and executor results arrive);
  (b) two ping → pong servers from bench/baseline_servers.py on the loop: ``plain``
      (``websockets.asyncio.server.serve``) and ``stack`` (uvicorn + httptools +
      websockets sans-I/O, the app's transport). The clients (bench/ws_bench.py's) run
      in this process, so the server's loop is the only thing measured: throughput with
      --clients × --per-client pings (10 in flight per client; best of --repeats), ping
      round trip p50 with one client, and the server process's CPU time per message
      (lowest of --repeats; steadier than wall-clock rates on a shared machine);
  (c) idle: the stack server with one open WebSocket for --idle seconds: CPU % and
      wake-ups/s of the server process (must stay near zero: no busy spinning).
Rounds rotate the order of the loops; the table shows the median of each figure and its
ratio to plain asyncio measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from idle_bench import measure  # noqa: E402
from ws_bench import throughput  # noqa: E402

from harness import percentile, probe_pings  # noqa: E402

LOOPS = ("asyncio", "qasync", "fast")
SERVERS = ("plain", "stack")
YIELDING_TASKS = 100


# --- in the measured process ----------------------------------------------------------


def make_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "asyncio":
        return asyncio.new_event_loop()
    import qasync
    from PySide6.QtCore import QCoreApplication

    from codette_desktop.qt.event_loop import FastQEventLoop

    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    return FastQEventLoop(app) if kind == "fast" else qasync.QEventLoop(app)


class Countdown:
    """Resolves ``done`` on the ``count``-th call of ``tick``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.left = count
        self.done = loop.create_future()

    def tick(self) -> bool:
        """Count one; True while more are to come."""
        self.left -= 1
        if self.left:
            return True
        self.done.set_result(None)
        return False


async def chained(count: int) -> float:
    loop = asyncio.get_running_loop()
    countdown = Countdown(loop, count)

    def step() -> None:
        if countdown.tick():
            loop.call_soon(step)

    start = time.process_time()
    loop.call_soon(step)
    await countdown.done
    return count / (time.process_time() - start)


async def yielding(count: int) -> float:
    async def task(steps: int) -> None:
        for _ in range(steps):
            await asyncio.sleep(0)

    start = time.process_time()
    await asyncio.gather(*(task(count // YIELDING_TASKS) for _ in range(YIELDING_TASKS)))
    return count / (time.process_time() - start)


async def from_a_thread(count: int) -> float:
    loop = asyncio.get_running_loop()
    countdown = Countdown(loop, count)

    def send() -> None:
        for _ in range(count):
            loop.call_soon_threadsafe(countdown.tick)

    start = time.process_time()
    thread = threading.Thread(target=send)
    thread.start()
    await countdown.done
    rate = count / (time.process_time() - start)
    thread.join()
    return rate


async def serve_until_killed(server: str) -> None:
    from baseline_servers import plain, serve_stack

    await (plain() if server == "plain" else serve_stack())


def run_role(role: str, kind: str, count: int) -> None:
    loop = make_loop(kind)
    asyncio.set_event_loop(loop)
    if role in SERVERS:
        loop.run_until_complete(serve_until_killed(role))
        return
    loop.run_until_complete(chained(1000))  # warm up
    rates = [
        loop.run_until_complete(chained(count)),
        loop.run_until_complete(yielding(count)),
        loop.run_until_complete(from_a_thread(count // 4)),
    ]
    print(json.dumps(rates))
    loop.close()


# --- the orchestrator -----------------------------------------------------------------


def spawn(role: str, kind: str, count: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, "--loop", kind, "--count", str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def measure_server(server_kind: str, kind: str, args: argparse.Namespace) -> dict[str, float]:
    server = spawn(server_kind, kind)
    assert server.stdout is not None
    figures: dict[str, float] = {}
    try:
        line = server.stdout.readline()
        assert line.startswith("READY"), line
        url = f"ws://127.0.0.1:{int(line.split()[1])}/ws"
        asyncio.run(probe_pings(url, count=200))  # warm up
        figures["ping_p50"] = percentile(asyncio.run(probe_pings(url, count=args.pings)), 50)
        cpu = psutil.Process(server.pid)
        rates, costs = [], []
        for _ in range(args.repeats):  # best of: other load only ever slows a run down
            before = sum(cpu.cpu_times()[:2])
            rates.append(asyncio.run(throughput(url, args.clients, args.per_client)))
            used = sum(cpu.cpu_times()[:2]) - before
            costs.append(used / (args.clients * args.per_client) * 1e6)
        figures["throughput"], figures["cpu_us"] = max(rates), min(costs)

        async def hold_idle_connection() -> None:
            async with connect(url) as ws:
                await ws.recv()
                sample = await asyncio.to_thread(measure, server.pid, args.idle, kind)
            figures["idle_cpu"], figures["wakeups"] = sample.cpu_percent, sample.wakeups_per_s

        if server_kind == "stack":
            asyncio.run(hold_idle_connection())
    finally:
        server.terminate()
        server.wait()
    return {f"{server_kind}_{key}": value for key, value in figures.items()}


def measure_callbacks(kind: str, count: int) -> dict[str, float]:
    proc = spawn("callbacks", kind, count)
    out, _ = proc.communicate()
    assert proc.returncode == 0, out
    chain, tasks, threadsafe = json.loads(out)
    return {"chain": chain, "tasks": tasks, "threadsafe": threadsafe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callbacks", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=200)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per server")
    parser.add_argument("--role", choices=("callbacks", *SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        run_role(args.role, args.loop, args.count)
        return

    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in LOOPS}
    for round_ in range(args.rounds):
        order = LOOPS[round_ % 3 :] + LOOPS[: round_ % 3]
        for kind in order:
            figures = measure_callbacks(kind, args.callbacks)
            for server_kind in SERVERS:
                figures.update(measure_server(server_kind, kind, args))
            samples[kind].append(figures)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    median = {
        kind: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for kind, runs in samples.items()
    }
    count = "{:,.0f}".format
    rows: list[tuple[str, str, Callable[[float], str]]] = [
        ("chain", "call_soon chained (callbacks/CPU s)", count),
        ("tasks", f"{YIELDING_TASKS} tasks sleep(0) (steps/CPU s)", count),
        ("threadsafe", "call_soon_threadsafe, 1 thread (calls/CPU s)", count),
    ]
    for server_kind in SERVERS:
        rows += [
            (
                f"{server_kind}_throughput",
                f"{server_kind}: {args.clients}x{args.per_client} pings (msg/s)",
                count,
            ),
            (f"{server_kind}_ping_p50", f"{server_kind}: ping p50, 1 client (ms)", "{:.3f}".format),
            (
                f"{server_kind}_cpu_us",
                f"{server_kind}: server CPU per message (µs)",
                "{:.1f}".format,
            ),
        ]
    rows += [
        ("stack_idle_cpu", f"idle CPU % over {args.idle:g} s", "{:.2f}".format),
        ("stack_wakeups", "idle wake-ups/s", "{:.1f}".format),
    ]
    base, fast, stock = median["asyncio"], median["fast"], median["qasync"]
    print(f"median of {args.rounds} rounds; ratio = loop / plain asyncio (same run)\n")
    print(f"{'':44}" + "".join(f"{kind:>12}{'ratio':>7}" for kind in LOOPS) + "  fast/qasync")
    for key, label, fmt in rows:
        cells = []
        for kind in LOOPS:
            value = median[kind][key]
            ratio = f"{value / base[key]:.2f}" if base[key] > 0.05 else "-"
            cells.append(f"{fmt(value):>12}{ratio:>7}")
        versus = f"{fast[key] / stock[key]:.2f}" if stock[key] > 0.05 else "-"
        print(f"{label:44}" + "".join(cells) + f"{versus:>13}")


if __name__ == "__main__":
    main()
