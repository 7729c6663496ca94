"""1,000 clients: served without error, idle connections cheap, pings unaffected.

    .venv/bin/python bench/load_bench.py [--clients 1000] [--processes 4] [--pings 2000]

Three servers, each a process of its own, measured one after the other in this run:
  * ``plain`` — plain asyncio + websockets echo (bench/baseline_servers.py): the baseline;
  * ``stack`` — uvicorn on a qasync loop with nothing on it: what the loop itself costs;
  * ``app``   — ``main.py --headless`` at the default INFO logging.
For each: a few clients ping and chat and leave (warm-up), RSS with no client; then
``--clients`` WebSocket connections opened from ``--processes`` client processes (each
raises its own open-file limit) and left idle: RSS again, and ``--repeat`` runs of
``--pings`` round trips by one more client (this process). RSS per idle connection is the
difference over the count. The app then gets the real load: every one of the idle clients
sends a ping and a chat at once (``--rounds`` times), and every reply is checked.

Exit status 1 if any client was not served: a refused or failed connection, an error
reply, a missing or wrong reply. The speed goals (issue 13: ping p99 with the idle
connections at most 2x the plain echo's, at most 50 KiB per idle connection) are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    MAX_ERRORS_KEPT,
    QUESTIONS,
    ClientProcess,
    PingStats,
    call_all,
    load_average,
    probe_pings,
    settled_rss_mib,
    split,
    start_app,
    start_baseline,
    stop_process,
)

REPLY_TIMEOUT_S = 180.0
P99_GOAL = 2.0
KIB_PER_CONNECTION_GOAL = 50.0


class LoadClients:
    """One client process's share of the connections."""

    def __init__(self) -> None:
        self.connections: list[Any] = []

    async def open(self, url: str, count: int, concurrency: int = 64) -> dict[str, Any]:
        """Open ``count`` connections (``concurrency`` handshakes at a time), welcome read."""
        from websockets.asyncio.client import connect

        gate = asyncio.Semaphore(concurrency)
        errors: list[str] = []

        async def one() -> None:
            async with gate:
                try:
                    ws = await connect(url, max_size=None, compression=None,
                                       ping_interval=None, open_timeout=REPLY_TIMEOUT_S)
                    welcome = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S))
                    if welcome.get("type") != "connection":
                        raise ValueError(f"first message {welcome!r}")
                    self.connections.append(ws)
                except Exception as exc:
                    errors.append(f"connect: {type(exc).__name__}: {exc}"[:300])

        await asyncio.gather(*(one() for _ in range(count)))
        return {"opened": len(self.connections), "errors": len(errors),
                "first_errors": errors[:MAX_ERRORS_KEPT]}

    async def ping_chat(self, rounds: int) -> dict[str, Any]:
        """Every connection at once: ping, then chat, ``rounds`` times; replies checked."""
        pings: list[float] = []
        chats: list[float] = []
        errors: list[str] = []

        async def request(ws: Any, message: dict[str, Any], expected: str) -> float:
            started = time.perf_counter()
            await ws.send(json.dumps(message))
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("id") == message["id"] and reply["type"] != "chat_chunk":
                        break
            if reply["type"] != expected:
                raise ValueError(f"{message['type']} got {str(reply)[:200]}")
            if expected == "chat_response" and not reply.get("response"):
                raise ValueError(f"empty chat answer {str(reply)[:200]}")
            return (time.perf_counter() - started) * 1000

        async def one(n: int, ws: Any) -> None:
            try:
                for r in range(rounds):
                    pings.append(await request(ws, {"type": "ping", "id": f"p{r}"}, "pong"))
                    chats.append(await request(ws, {
                        "type": "chat", "id": f"c{r}",
                        "message": QUESTIONS[(n + r) % len(QUESTIONS)]}, "chat_response"))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])

        started = time.perf_counter()
        await asyncio.gather(*(one(n, ws) for n, ws in enumerate(self.connections)))
        return {"pings": pings, "chats": chats, "seconds": time.perf_counter() - started,
                "errors": len(errors), "first_errors": errors[:MAX_ERRORS_KEPT]}

    async def close_all(self) -> int:
        connections, self.connections = self.connections, []
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
        return len(connections)


def measure(name: str, url: str, pid: int, workers: list[ClientProcess],
            args: argparse.Namespace, *, load: bool) -> dict[str, Any]:
    """The figures of one server (see the module docstring)."""
    print(f"\n[{name}] {load_average()}", flush=True)
    asyncio.run(probe_pings(url, count=200))  # warm-up of the probe's path
    call_all(workers, "open", url=url, count=5)
    if load:
        call_all(workers, "ping_chat", rounds=1)
    call_all(workers, "close_all")
    idle0 = PingStats.of(asyncio.run(probe_pings(url, count=args.pings)))
    rss0 = settled_rss_mib(pid)

    started = time.perf_counter()
    opened = call_all(workers, "open", url=url, timeout=REPLY_TIMEOUT_S * 2,
                      per_process=[{"count": n} for n in split(args.clients, len(workers))])
    open_s = time.perf_counter() - started
    count = sum(o["opened"] for o in opened)
    open_errors = sum(o["errors"] for o in opened)
    print(f"  {count} connections open in {open_s:.1f} s ({open_errors} failed)", flush=True)
    time.sleep(1.0)  # let the handshakes' garbage go before reading RSS
    rss1 = settled_rss_mib(pid)
    runs = [PingStats.of(asyncio.run(probe_pings(url, count=args.pings)))
            for _ in range(args.repeat)]
    result: dict[str, Any] = {
        "idle0": idle0, "runs": runs, "rss0": rss0, "rss1": rss1, "open_s": open_s,
        "opened": count, "errors": args.clients - count,
        "first_errors": [e for o in opened for e in o["first_errors"]],
        "kib_per_connection": (rss1 - rss0) * 1024 / max(1, count),
        "p99": statistics.median(r.p99 for r in runs),
        "p50": statistics.median(r.p50 for r in runs),
    }
    if load:
        served = call_all(workers, "ping_chat", timeout=REPLY_TIMEOUT_S * 3, rounds=args.rounds)
        result["load"] = {
            "pings": [x for s in served for x in s["pings"]],
            "chats": [x for s in served for x in s["chats"]],
            "seconds": max(s["seconds"] for s in served),
        }
        result["errors"] += sum(s["errors"] for s in served)
        result["first_errors"] += [e for s in served for e in s["first_errors"]]
    call_all(workers, "close_all")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="probe runs with the idle clients")
    parser.add_argument("--rounds", type=int, default=1, help="ping + chat per client")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    workers = [ClientProcess(LoadClients) for _ in range(args.processes)]
    with tempfile.TemporaryDirectory() as data:
        app = start_app(Path(data), ("--headless", "--port", "0"))
        nofile = app.wait_for_line(r"open-file limit.*").group(0)
        plain, plain_port = start_baseline("plain")
        stack, stack_port = start_baseline("stack")
        try:
            for name, port, pid in (("plain", plain_port, plain.pid),
                                    ("stack", stack_port, stack.pid),
                                    ("app", app.port, app.process.pid)):
                results[name] = measure(name, f"ws://127.0.0.1:{port}/ws", pid, workers, args,
                                        load=name == "app")
        finally:
            for worker in workers:
                worker.close()
            app.terminate(timeout=30)
            for proc in (plain, stack):
                stop_process(proc)

    plain_p99 = results["plain"]["p99"]
    print(f"\nThe app's log: {nofile}")
    print(f"\nPing round trip of one more client, {args.pings} pings per run (ms)")
    print(PingStats.header(with_ratio=True))
    for name, r in results.items():
        print(r["idle0"].row(f"{name}, no other client", results["plain"]["idle0"]))
        for i, run in enumerate(r["runs"], 1):
            print(run.row(f"{name}, {r['opened']} idle, run {i}", results["plain"]["runs"][i - 1]))
    plain_p50 = results["plain"]["p50"]
    print(f"\nwith {args.clients} idle, median of {args.repeat} runs, / plain echo's")
    print(f"  {'':8}{'p99 ms':>8}{'ratio':>8}{'p50 ms':>9}{'ratio':>8}")
    for name, r in results.items():
        print(f"  {name:8}{r['p99']:8.2f}{r['p99'] / plain_p99:7.2f}x"
              f"{r['p50']:9.2f}{r['p50'] / plain_p50:7.2f}x")
    ratio = results["app"]["p99"] / plain_p99
    print(f"  goal app <= {P99_GOAL:g}x plain: {'met' if ratio <= P99_GOAL else 'MISSED'}")

    print(f"\nRSS per idle connection ({args.clients} idle minus none)")
    for name, r in results.items():
        print(f"  {name:8}{r['rss0']:8.1f} -> {r['rss1']:7.1f} MiB  "
              f"{r['kib_per_connection']:6.1f} KiB/connection  (opened in {r['open_s']:.1f} s)")
    kib = results["app"]["kib_per_connection"]
    print(f"  goal app <= {KIB_PER_CONNECTION_GOAL:g} KiB: "
          f"{'met' if kib <= KIB_PER_CONNECTION_GOAL else 'MISSED'}")

    load = results["app"]["load"]
    pings, chats = PingStats.of(load["pings"]), PingStats.of(load["chats"])
    print(f"\nThe app under load: {args.clients} clients x {args.rounds} (ping + chat) at once, "
          f"all done in {load['seconds']:.1f} s")
    print(PingStats.header())
    print(pings.row(f"ping (with {args.clients} chats)"))
    print(chats.row("chat answer"))
    errors = sum(r["errors"] for r in results.values())
    print(f"\nerrors: {errors} (app {results['app']['errors']})")
    for name, r in results.items():
        for line in r["first_errors"]:
            print(f"  {name}: {line}")
    print(load_average())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
