"""WebSocket benchmark: the app's headless server against a plain-asyncio baseline.

    .venv/bin/python bench/ws_bench.py [--pings 2000] [--clients 50] [--per-client 200]

Both servers run as separate processes on this machine in the same run:
  * ``app``      — ``main.py --headless`` (qasync loop, validation, logging, observers)
  * ``baseline`` — bench/plain_echo_server.py (plain asyncio websockets, ping → pong only)
Prints ping round-trip p50/p99 with one client, throughput with N concurrent clients, and
the app's chat answer time p50/p99, with ratios app/baseline (machines are noisy: only
the ratios measured in one run are comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from app_process import start_app  # noqa: E402

QUESTIONS = [
    "How do I EQ vocals for clarity?", "What attack time for a snare compressor?",
    "How loud should my master be for Spotify?", "How do I stop kick and bass masking?",
    "What reverb pre-delay for a ballad vocal?", "How do I check mono compatibility?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def ping_rtts(url: str, count: int) -> list[float]:
    async with connect(url, max_size=None) as ws:
        await ws.recv()
        rtts = []
        for i in range(count):
            start = time.perf_counter()
            await ws.send(json.dumps({"type": "ping", "id": i}))
            while json.loads(await ws.recv()).get("id") != i:
                pass
            rtts.append((time.perf_counter() - start) * 1000)
        return rtts


async def throughput(url: str, clients: int, per_client: int) -> float:
    async def one() -> None:
        async with connect(url, max_size=None) as ws:
            await ws.recv()
            window = 10  # keep a few requests in flight, like a busy DAW page
            sent = received = 0
            while received < per_client:
                while sent < per_client and sent - received < window:
                    await ws.send(json.dumps({"type": "ping", "id": sent}))
                    sent += 1
                await ws.recv()
                received += 1

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return clients * per_client / (time.perf_counter() - start)


async def chat_times(url: str, count: int) -> list[float]:
    async with connect(url, max_size=None) as ws:
        await ws.recv()
        times = []
        for i in range(count):
            start = time.perf_counter()
            await ws.send(json.dumps({"type": "chat", "id": i,
                                      "message": QUESTIONS[i % len(QUESTIONS)]}))
            while json.loads(await ws.recv()).get("id") != i:
                pass
            times.append((time.perf_counter() - start) * 1000)
        return times


def start_baseline() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "plain_echo_server.py")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), line
    return proc, f"ws://127.0.0.1:{int(line.split()[1])}/ws"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=200)
    parser.add_argument("--chats", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data:
        app = start_app(Path(data), ("--headless", "--port", "0", "--log-level", "WARNING"))
        baseline, baseline_url = start_baseline()
        try:
            results: dict[str, dict[str, float]] = {}
            for name, url in (("baseline", baseline_url), ("app", app.ws_url)):
                asyncio.run(ping_rtts(url, 200))  # warm up
                rtts = asyncio.run(ping_rtts(url, args.pings))
                rate = asyncio.run(throughput(url, args.clients, args.per_client))
                results[name] = {"p50": percentile(rtts, 50), "p99": percentile(rtts, 99),
                                 "mean": statistics.fmean(rtts), "throughput": rate}
            chats = asyncio.run(chat_times(app.ws_url, args.chats))
        finally:
            app.terminate()
            baseline.terminate()
            baseline.wait()

    b, a = results["baseline"], results["app"]
    print(f"ping round trip, 1 client, {args.pings} pings (ms)")
    print(f"{'':10}{'p50':>9}{'p99':>9}{'mean':>9}")
    for name, r in results.items():
        print(f"{name:10}{r['p50']:9.3f}{r['p99']:9.3f}{r['mean']:9.3f}")
    print(f"{'ratio':10}{a['p50'] / b['p50']:9.2f}{a['p99'] / b['p99']:9.2f}"
          f"{a['mean'] / b['mean']:9.2f}   (app / baseline)")
    print(f"\nthroughput, {args.clients} clients x {args.per_client} pings (messages/s)")
    for name, r in results.items():
        print(f"{name:10}{r['throughput']:12.0f}")
    print(f"{'ratio':10}{a['throughput'] / b['throughput']:12.2f}   (app / baseline)")
    print(f"\nchat answer time, {args.chats} questions (ms): "
          f"p50 {percentile(chats, 50):.2f}  p99 {percentile(chats, 99):.2f}  "
          f"ratio p50 chat / p50 ping baseline {percentile(chats, 50) / b['p50']:.1f}")


if __name__ == "__main__":
    main()
