"""Server benchmark: the app's headless server against two baselines, in one run.

    .venv/bin/python bench/ws_bench.py [--pings 2000] [--clients 50] [--per-client 200]

Every server runs as a separate process on this machine in the same run:
  * ``plain`` — plain asyncio + websockets (ping → pong only): bench/baseline_servers.py
  * ``stack`` — the app's stack with nothing on it: uvicorn (httptools, websockets
    sans-I/O) on a qasync loop answering ping, /health and a fixed /codette/chat
  * ``app``   — ``main.py --headless`` (validation, policy, logging, observers, the engine)
WebSocket: ping round trip p50/p99 with one client, throughput with N clients, the app's
chat answer time. HTTP: /health and /codette/chat requests per second over keep-alive
connections, app vs stack. Ratios are what to compare: the machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from harness import (
    QUESTIONS,
    percentile,
    probe_pings,
    start_app,
    start_baseline,
    stop_process,
)


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


async def http_rate(port: int, method: str, path: str, body: bytes, connections: int,
                    per_connection: int) -> float:
    """Requests per second over ``connections`` keep-alive connections (sequential each)."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Origin: http://localhost:5173\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(per_connection):
            writer.write(head)
            length = 0
            status = await reader.readline()
            assert b" 200 " in status, status
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return connections * per_connection / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=200)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--http-connections", type=int, default=20)
    parser.add_argument("--http-requests", type=int, default=100, help="per connection")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure every server this many times, in turn; medians shown")
    args = parser.parse_args()

    chat_body = json.dumps({"message": QUESTIONS[0], "perspective": "mix_engineering"}).encode()
    with tempfile.TemporaryDirectory() as data:
        app = start_app(Path(data), ("--headless", "--port", "0", "--log-level", "WARNING"))
        plain, plain_port = start_baseline("plain")
        stack, stack_port = start_baseline("stack")
        try:
            servers = (("plain", plain_port), ("stack", stack_port), ("app", app.port))
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in servers}
            for round_ in range(args.rounds):
                # Interleaved, so a noisy moment on a shared machine hits every server.
                order = servers[round_ % 3:] + servers[:round_ % 3]
                for name, port in order:
                    url = f"ws://127.0.0.1:{port}/ws"
                    asyncio.run(probe_pings(url, count=200))  # warm up
                    rtts = asyncio.run(probe_pings(url, count=args.pings))
                    rate = asyncio.run(throughput(url, args.clients, args.per_client))
                    one = {"p50": percentile(rtts, 50), "p99": percentile(rtts, 99),
                           "mean": statistics.fmean(rtts), "throughput": rate}
                    if name != "plain":
                        for route, method, path, body in (("health", "GET", "/health", b""),
                                                          ("chat", "POST", "/codette/chat",
                                                           chat_body)):
                            asyncio.run(http_rate(port, method, path, body, 2, 20))
                            one[route] = asyncio.run(http_rate(
                                port, method, path, body, args.http_connections,
                                args.http_requests))
                    rounds[name].append(one)
            results = {name: {key: statistics.median(r[key] for r in runs)
                              for key in runs[0]} for name, runs in rounds.items()}
            chats = asyncio.run(chat_times(app.ws_url, args.chats))
        finally:
            app.terminate()
            for proc in (plain, stack):
                stop_process(proc)

    p, k, a = results["plain"], results["stack"], results["app"]
    print(f"medians of {args.rounds} interleaved rounds")
    print(f"WebSocket ping round trip, 1 client, {args.pings} pings (ms)")
    print(f"{'':10}{'p50':>9}{'p99':>9}{'mean':>9}")
    for name, r in results.items():
        print(f"{name:10}{r['p50']:9.3f}{r['p99']:9.3f}{r['mean']:9.3f}")
    for label, base in (("app/plain", p), ("app/stack", k)):
        print(f"{label:10}{a['p50'] / base['p50']:9.2f}{a['p99'] / base['p99']:9.2f}"
              f"{a['mean'] / base['mean']:9.2f}")
    print(f"\nWebSocket throughput, {args.clients} clients x {args.per_client} pings "
          "(messages/s)")
    for name, r in results.items():
        print(f"{name:10}{r['throughput']:12.0f}")
    print(f"{'app/plain':10}{a['throughput'] / p['throughput']:12.2f}")
    print(f"{'app/stack':10}{a['throughput'] / k['throughput']:12.2f}")
    print(f"\nWebSocket chat answer time, {args.chats} questions (ms): "
          f"p50 {percentile(chats, 50):.2f}  p99 {percentile(chats, 99):.2f}")
    print(f"\nHTTP requests/s, {args.http_connections} keep-alive connections x "
          f"{args.http_requests} requests (the stack's chat is a fixed reply)")
    print(f"{'':10}{'health':>10}{'chat':>10}")
    for name in ("stack", "app"):
        print(f"{name:10}{results[name]['health']:10.0f}{results[name]['chat']:10.0f}")
    print(f"{'app/stack':10}{a['health'] / k['health']:10.2f}{a['chat'] / k['chat']:10.2f}")


if __name__ == "__main__":
    main()
