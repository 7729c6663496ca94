"""Hostile clients against one honest client: what they cost it (issue 13 item 5).

    .venv/bin/python bench/hostile_bench.py [--seconds 15] [--interval-ms 5]

Starts ``main.py --headless`` (``server_status`` every 0.1 s) and measures a victim
client's ping round trips (this process; one ping every ``--interval-ms``) for
``--seconds`` unloaded, then while the attackers of each phase run in a client process:

  (a) 500 half-open TCP connections: connect, send part of a request head, hold; one
      the server closes (its 10 s head timeout) is opened again at once;
  (b) one client sends pings as fast as it can, reading the replies, until the server
      closes it; the phase is that client's lifetime, repeated with new clients (each
      from a loopback address of its own, so a new peer) until ``--seconds`` are
      covered. Control: the same flood on the app while the victim pings a separate
      plain echo server (bench/baseline_servers.py) — on a small machine the flooding
      process and the busy app take the CPU the victim's own process needs, which no
      server can help; the control's ratio is that share;
  (c) one client floods, is closed with 1008, reconnects (refused with 429 during its
      cooldown: it retries at once) and floods again, in a loop;
  (d) 10 subscribers to ``server_status`` and ``audio_levels`` (with the capture token)
      that stop reading: raw sockets with a tiny receive buffer, for
      ``--subscriber-seconds``. Also the app's RSS before, at the end (still connected,
      backed up) and after they leave, and how many of the pushes sent in the phase
      reached them when they read again (or that the server closed them: they answer
      no keepalive ping either).

Each phase's p99 and max are printed as ratios to the unloaded run's. Issue 13's goal for
(a) is a p99 at most 2x unloaded; the others are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    AppProcess,
    ClientProcess,
    PingStats,
    load_average,
    probe_pings,
    settled_rss_mib,
    start_app,
    start_baseline,
    stop_process,
)

STATUS_INTERVAL_S = 0.1
HALF_OPEN_GOAL = 2.0
# (b)'s clients come from loopback addresses of their own: each is a new peer, which no
# penalty of an earlier one applies to (any local process can bind these).
FLOOD_ADDRESSES = [f"127.0.{n // 250}.{2 + n % 250}" for n in range(1000)]
RECONNECT_ORIGIN = "http://localhost:5173"  # a page: a peer apart from the victim's


class Attacker:
    """The hostile clients, one kind per command (run in a process of their own)."""

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.counts: Counter[str] = Counter()
        self.silent: list[Any] = []

    async def _finish(self) -> dict[str, int]:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks, self._stop = [], asyncio.Event()
        counts, self.counts = dict(self.counts), Counter()
        return counts

    # (a) ---------------------------------------------------------------------------------

    async def half_open_start(self, host: str, port: int, count: int) -> float:
        """Open ``count`` half-open connections; returns the seconds it took."""
        started = time.perf_counter()
        opened = [asyncio.Event() for _ in range(count)]
        self._tasks = [asyncio.create_task(self._hold(host, port, ready))
                       for ready in opened]
        await asyncio.gather(*(ready.wait() for ready in opened))
        return time.perf_counter() - started

    async def _hold(self, host: str, port: int, ready: asyncio.Event) -> None:
        partial = f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n".encode()
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(partial)
            except OSError as exc:
                self.counts[f"failed: {exc.strerror}"] += 1
                await asyncio.sleep(0.1)
                continue
            self.counts["opened"] += 1
            ready.set()
            stop = asyncio.create_task(self._stop.wait())
            read = asyncio.create_task(reader.read(1024))
            await asyncio.wait({stop, read}, return_when=asyncio.FIRST_COMPLETED)
            if read.done() and (read.exception() is not None or read.result() == b""):
                self.counts["closed by the server"] += 1
            stop.cancel()
            read.cancel()
            writer.close()

    async def half_open_stop(self) -> dict[str, int]:
        return await self._finish()

    # (b) and (c) ---------------------------------------------------------------------------

    async def flood(self, url: str, origin: str | None = None,
                    address: str = "127.0.0.1") -> dict[str, Any]:
        """Ping as fast as the socket takes it, reading the replies, until closed."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        started = time.perf_counter()
        async with connect(url, origin=origin, max_size=None,  # type: ignore[arg-type]
                           compression=None, ping_interval=None,
                           local_addr=(address, 0)) as ws:
            async def read() -> None:
                async for frame in ws:
                    refused = "rate_limited" in str(frame)
                    self.counts["rate_limited" if refused else "replies"] += 1

            reader = asyncio.create_task(read())
            message = '{"type":"ping","id":1}'
            try:
                while not self._stop.is_set():
                    await ws.send(message)
                    self.counts["sent"] += 1
                    if self.counts["sent"] % 16 == 0:
                        # send() returns without yielding while the socket takes data:
                        # let the reader run, so this client reads what it is sent.
                        await asyncio.sleep(0)
            except ConnectionClosed:
                pass
            await asyncio.gather(reader, return_exceptions=True)
        self.counts[f"closed {ws.close_code}"] += 1
        return {"seconds": time.perf_counter() - started, **self.counts}

    async def flood_once(self, url: str, address: str) -> dict[str, Any]:
        result = await self.flood(url, address=address)
        self.counts = Counter()
        return result

    async def reconnect_flood_start(self, url: str, origin: str) -> None:
        self._tasks = [asyncio.create_task(self._reconnect_flood(url, origin))]

    async def _reconnect_flood(self, url: str, origin: str) -> None:
        from websockets.exceptions import InvalidStatus

        while not self._stop.is_set():
            try:
                await self.flood(url, origin)
                self.counts["floods"] += 1
            except InvalidStatus as exc:
                self.counts[f"refused {exc.response.status_code}"] += 1

    async def reconnect_flood_stop(self) -> dict[str, int]:
        return await self._finish()

    # (d) ---------------------------------------------------------------------------------

    async def silent_start(self, url: str, count: int, token: str) -> int:
        """Subscribe ``count`` raw clients, read the ``subscribed`` replies, stop reading."""
        from silent_client import SilentClient

        def subscribe() -> SilentClient:
            client = SilentClient(url)
            client.send({"type": "subscribe", "capture_token": token,
                         "events": ["server_status", "audio_levels"]})
            reply = client.read_until("subscribed")
            assert sorted(reply["events"]) == ["audio_levels", "server_status"], reply
            return client

        self.silent = [await asyncio.to_thread(subscribe) for _ in range(count)]
        return len(self.silent)

    async def silent_stop(self) -> dict[str, Any]:
        """Unread bytes in each client's socket; then unsubscribe, read all that came
        before the answer (or up to the server's close), and leave."""
        unread = [client.unread_bytes() for client in self.silent]
        closed = 0
        for client in self.silent:
            client.send({"type": "unsubscribe", "events": ["server_status", "audio_levels"]})
            try:
                await asyncio.to_thread(client.read_until, "subscribed", 30.0)
            except ConnectionError:
                closed += 1
            client.close()
        received = [client.received["server_status"] for client in self.silent]
        self.silent = []
        return {"unread": unread, "server_status": received, "closed": closed}


def probe(app: AppProcess, args: argparse.Namespace, until: asyncio.Event | None = None,
          seconds: float | None = None) -> list[float]:
    return asyncio.run(probe_pings(app.ws_url, seconds=seconds or args.seconds,
                                   interval_s=args.interval_ms / 1000, until=until))


async def probe_during(url: str, args: argparse.Namespace, attacker: ClientProcess,
                       seq: int) -> tuple[list[float], Any]:
    """Probe until the attacker's command ``seq`` returns (at most ``--seconds`` * 4)."""
    done = asyncio.Event()

    async def wait() -> Any:
        try:
            return await asyncio.to_thread(attacker.result, seq, args.seconds * 4)
        finally:
            done.set()

    return await asyncio.gather(probe_pings(
        url, seconds=args.seconds * 4, interval_s=args.interval_ms / 1000,
        until=done), wait())


Phase = tuple[str, list[float], str]  # name, the victim's round trips, what happened


def half_open(app: AppProcess, attacker: ClientProcess, args: argparse.Namespace) -> Phase:
    took = attacker.call("half_open_start", host=app.host, port=app.port, count=args.half_open)
    rtts = probe(app, args)
    counts = attacker.call("half_open_stop")
    return (f"(a) {args.half_open} half-open", rtts,
            f"opened in {took:.2f} s; {counts.get('opened', 0)} opened in all, "
            f"{counts.get('closed by the server', 0)} closed by the server")


def flood(app: AppProcess, attacker: ClientProcess, args: argparse.Namespace,
          victim_url: str | None = None, addresses: list[str] = FLOOD_ADDRESSES) -> Phase:
    rtts: list[float] = []
    floods = []
    started = time.monotonic()
    for address in addresses:
        if time.monotonic() - started >= args.seconds:
            break
        seq = attacker.send("flood_once", url=app.ws_url, address=address)
        part, result = asyncio.run(probe_during(victim_url or app.ws_url, args, attacker, seq))
        rtts += part
        floods.append(result)
    if victim_url is not None:
        return ("(b) control: victim on plain", rtts, "the victim pinged a plain echo server "
                "while the same flood hit the app")
    closes = Counter(k for f in floods for k in f if k.startswith("closed"))
    return ("(b) one client floods", rtts,
            f"{len(floods)} clients one after the other, each until closed "
            f"({', '.join(f'{v} {k}' for k, v in closes.items())}) after "
            f"{statistics.median(f['seconds'] for f in floods):.2f} s: "
            f"{statistics.median(f['sent'] for f in floods):.0f} sent, "
            f"{statistics.median(f.get('replies', 0) for f in floods):.0f} answered, "
            f"{statistics.median(f.get('rate_limited', 0) for f in floods):.0f} "
            "rate_limited (medians)")


def reconnect_flood(app: AppProcess, attacker: ClientProcess,
                    args: argparse.Namespace) -> Phase:
    attacker.call("reconnect_flood_start", url=app.ws_url, origin=RECONNECT_ORIGIN)
    rtts = probe(app, args)
    counts = attacker.call("reconnect_flood_stop")
    return ("(c) reconnect + flood loop", rtts,
            ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


def silent_subscribers(app: AppProcess, attacker: ClientProcess,
                       args: argparse.Namespace) -> Phase:
    rss_before = settled_rss_mib(app.process.pid)
    attacker.call("silent_start", url=app.ws_url, count=args.subscribers,
                  token=app.capture_token)
    subscribed = time.monotonic()
    rtts = probe(app, args, seconds=args.subscriber_seconds)
    rss_end = settled_rss_mib(app.process.pid)
    sent = (time.monotonic() - subscribed) / STATUS_INTERVAL_S
    silent = attacker.call("silent_stop")
    rss_after = settled_rss_mib(app.process.pid)
    return (f"(d) {args.subscribers} subscribers stop reading", rtts,
            f"app RSS {rss_before:.1f} MiB before, {rss_end:.1f} at the end, "
            f"{rss_after:.1f} after they left; unread bytes in their sockets "
            f"{min(silent['unread'])}-{max(silent['unread'])}; server_status frames "
            f"they got when they read again: {min(silent['server_status'])}-"
            f"{max(silent['server_status'])} of ~{sent:.0f} sent; "
            f"{silent['closed']} closed by the server before they read")


def flood_control(app: AppProcess, attacker: ClientProcess, args: argparse.Namespace
                  ) -> Phase:
    plain, port = start_baseline("plain")
    try:
        # Addresses of their own: the app's penalties for (b)'s clients still run.
        return flood(app, attacker, args, victim_url=f"ws://127.0.0.1:{port}/ws",
                     addresses=FLOOD_ADDRESSES[len(FLOOD_ADDRESSES) // 2:])
    finally:
        stop_process(plain)


PHASES = {"a": half_open, "b": flood, "B": flood_control, "c": reconnect_flood,
          "d": silent_subscribers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="victim ping pacing")
    parser.add_argument("--phases", default="abBcd",
                        help="which of a, b, B (b's control), c, d to run")
    parser.add_argument("--half-open", type=int, default=500)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--subscriber-seconds", type=float, default=50.0,
                        help="(d) lasts longer: uvicorn pings every 20 s, waits 20 s for a pong")
    args = parser.parse_args()

    print(load_average(), flush=True)
    results: list[Phase] = []
    attacker = ClientProcess(Attacker)
    with tempfile.TemporaryDirectory() as data:
        app = start_app(Path(data), env={"CODETTE_STATUS_INTERVAL_S": str(STATUS_INTERVAL_S)})
        try:
            app.wait_for_line(r"analysis warm-up finished", timeout=300)
            probe(app, args, seconds=2.0)  # warm-up of the probe's path
            results.append(("unloaded", probe(app, args), ""))
            for key in args.phases:
                print(f"{results[-1][0]} done; {load_average()}", flush=True)
                results.append(PHASES[key](app, attacker, args))
        finally:
            attacker.close()
            app.terminate(timeout=30)

    base = PingStats.of(results[0][1])
    print(f"\nVictim ping round trips, one every {args.interval_ms:g} ms, "
          f"{args.seconds:g} s per phase")
    print(PingStats.header(with_ratio=True))
    for name, rtts, _ in results:
        print(PingStats.of(rtts).row(name, base))
    print()
    for name, _, note in results[1:]:
        print(f"{name.split()[0]} {note}")
    if "a" in args.phases:
        ratio = PingStats.of(results[1 + args.phases.index("a")][1]).p99 / base.p99
        print(f"\ngoal (a) p99 <= {HALF_OPEN_GOAL:g}x unloaded: "
              f"{'met' if ratio <= HALF_OPEN_GOAL else 'MISSED'} ({ratio:.2f}x)")
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
