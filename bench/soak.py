"""Soak: mixed traffic for N minutes; the app's memory and descriptors must stay flat.

    .venv/bin/python bench/soak.py --minutes 30 [--processes 2] [--max-growth 5]

Starts ``main.py --headless`` (INFO logging, as users run it; ``server_status`` every
0.5 s), waits for the analysis warm-up, then runs from ``--processes`` client processes,
each at once:

  * ``daw`` pages (Origin localhost:5173): a ping every 0.1 s, a chat every 3 s, their
    history every 10 s;
  * a native subscriber to ``server_status``, ``connections`` and ``audio_levels`` (with
    the capture token; capture does not run), which also pings once a second;
  * an analyst: ``analyze`` ``loudness`` of a 2 s generated WAV (base64) every second,
    each answer checked against the level it was made at;
  * churn: connect, ping, chat every third time, disconnect, again;
  * a REST caller (one keep-alive connection): /health, POST /codette/chat,
    POST /codette/suggest, GET /api/codette/history.

Every 10 s it prints the app's RSS and descriptors (those not held by a connected client
apart: churn moves the total, a leak moves the rest) and its child processes' (the
analysis workers). Growth is the mean of the last three samples over the mean of the
first three after the warm-up (``--warmup-s``, the first minute). Exit status 1 if the
app's or the children's RSS, or the app's descriptors not held by clients, grew by more
than ``--max-growth`` %, or if any request failed (an error reply, a wrong answer, a
refused connection, no answer within 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    MAX_ERRORS_KEPT,
    QUESTIONS,
    ClientProcess,
    ProcessFigures,
    call_all,
    load_average,
    process_figures,
    sine_wav,
    start_app,
)

STATUS_INTERVAL_S = 0.5
REPLY_TIMEOUT_S = 60.0
PAGE = "http://localhost:5173"
LEVELS_DBFS = (-14.0, -18.0, -23.0)
# A loudness answer further than this from the level the sine was made at is wrong
# (EBU Tech 3341 allows ±0.1 LU; a 16-bit 2 s sine reads within a few hundredths).
LUFS_TOLERANCE = 0.5


class Failure(Exception):
    """A request that did not get the answer it should have."""


class Traffic:
    """One client process's share of the mix (see the module docstring)."""

    def __init__(self, ws_url: str, host: str, port: int, capture_token: str, seed: int):
        self.ws_url, self.host, self.port = ws_url, host, port
        self.capture_token = capture_token
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.errors = 0
        self.first_errors: list[str] = []
        self.started = time.monotonic()
        self.deadline = 0.0
        self.wavs = {level: sine_wav(2.0, level) for level in LEVELS_DBFS}
        self._ids = itertools.count()

    async def run(self, seconds: float, daw_clients: int = 2) -> dict[str, Any]:
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        roles = [*(self._role(f"daw{i}", self._daw) for i in range(daw_clients)),
                 self._role("subscriber", self._subscriber),
                 self._role("analyst", self._analyst),
                 self._role("churn", self._churn),
                 self._role("rest", self._rest)]
        await asyncio.gather(*roles)
        return await self.progress()

    async def progress(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "errors": self.errors,
                "first_errors": list(self.first_errors)}

    # -- roles ---------------------------------------------------------------------------

    async def _role(self, name: str, body: Any) -> None:
        """Run ``body`` until the deadline; a failure is counted and the role starts over."""
        while time.monotonic() < self.deadline:
            try:
                await body()
            except Exception as exc:  # any failure of an honest client is an error
                self._error(name, exc)
                await asyncio.sleep(0.5)

    async def _daw(self) -> None:
        async with self._connect(origin=PAGE) as ws:
            for n in itertools.count():
                if time.monotonic() >= self.deadline:
                    return
                await self._ping(ws)
                if n % 30 == 29:
                    await self._chat(ws)
                if n % 100 == 99:
                    await self._history(ws)
                await asyncio.sleep(0.1)

    async def _subscriber(self) -> None:
        async with self._connect() as ws:
            reply = await self._request(ws, {
                "type": "subscribe", "capture_token": self.capture_token,
                "events": ["server_status", "connections", "audio_levels"]})
            if reply.get("type") != "subscribed" or "audio_levels" not in reply["events"]:
                raise Failure(f"subscribe: {reply}")
            next_ping = time.monotonic()
            while time.monotonic() < self.deadline:
                if time.monotonic() >= next_ping:
                    # Pushes arrive between the pong and the ping: _request counts them.
                    await self._ping(ws)
                    next_ping += 1.0
                with contextlib.suppress(TimeoutError):
                    self._count_push(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))

    async def _analyst(self) -> None:
        async with self._connect() as ws:
            while time.monotonic() < self.deadline:
                level = self.random.choice(LEVELS_DBFS)
                reply = await self._request(ws, {
                    "type": "analyze", "analysis_type": "loudness",
                    "audio": {"format": "wav", "data": self.wavs[level]},
                    "track_data": {"track_id": "soak", "track_name": "Soak mix"}})
                if reply.get("type") != "analysis_response" or reply.get("status") != "success":
                    raise Failure(f"analyze: {str(reply)[:300]}")
                lufs = reply["analysis"]["measurements"]["integrated_lufs"]
                if lufs is None or abs(lufs - level) > LUFS_TOLERANCE:
                    raise Failure(f"analyze: {lufs} LUFS for a sine at {level} dBFS")
                self.counts["analyze"] += 1
                await asyncio.sleep(1.0)

    async def _churn(self) -> None:
        for n in itertools.count():
            if time.monotonic() >= self.deadline:
                return
            async with self._connect(origin=PAGE if n % 2 else None) as ws:
                await self._ping(ws)
                if n % 3 == 0:
                    await self._chat(ws)
            self.counts["connections"] += 1
            await asyncio.sleep(0.1)

    async def _rest(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REPLY_TIMEOUT_S)
        try:
            for n in itertools.count():
                if time.monotonic() >= self.deadline:
                    return
                call = (("GET", "/health", None, "status"),
                        ("POST", "/codette/chat", {"message": self.random.choice(QUESTIONS)},
                         "response"),
                        ("POST", "/codette/suggest", {"context": {"type": "mixing"},
                                                      "limit": 3}, "suggestions"),
                        ("GET", "/api/codette/history?limit=5", None, "interactions"))[n % 4]
                await asyncio.to_thread(self._http, conn, *call)
                self.counts["rest"] += 1
                await asyncio.sleep(0.25)
        finally:
            conn.close()

    # -- requests ------------------------------------------------------------------------

    def _connect(self, origin: str | None = None) -> Any:
        from websockets.asyncio.client import connect

        return connect(self.ws_url, origin=origin, max_size=None,  # type: ignore[arg-type]
                       compression=None, open_timeout=REPLY_TIMEOUT_S)

    async def _request(self, ws: Any, message: dict[str, Any]) -> dict[str, Any]:
        """Send and return the reply with the same id; pushes on the way are counted."""
        message = {"id": next(self._ids), **message}
        await ws.send(json.dumps(message))
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == message["id"] and reply.get("type") != "chat_chunk":
                    if reply.get("type") == "error":
                        raise Failure(f"{message['type']}: {reply['code']}: {reply['message']}")
                    return reply
                if "id" not in reply:
                    self._count_push(reply)

    def _count_push(self, push: dict[str, Any]) -> None:
        if push.get("type") == "connection":
            return  # the welcome
        self.counts[f"push {push.get('type')}"] += 1

    async def _ping(self, ws: Any) -> None:
        if (await self._request(ws, {"type": "ping"}))["type"] != "pong":
            raise Failure("ping: no pong")
        self.counts["ping"] += 1

    async def _chat(self, ws: Any) -> None:
        reply = await self._request(ws, {"type": "chat",
                                         "message": self.random.choice(QUESTIONS)})
        if reply["type"] != "chat_response" or not reply.get("response"):
            raise Failure(f"chat: {str(reply)[:300]}")
        self.counts["chat"] += 1

    async def _history(self, ws: Any) -> None:
        reply = await self._request(ws, {"type": "history", "limit": 20})
        if reply["type"] != "history_response" or not isinstance(reply["messages"], list):
            raise Failure(f"history: {str(reply)[:300]}")
        self.counts["history"] += 1

    def _http(self, conn: http.client.HTTPConnection, method: str, path: str,
              body: dict[str, Any] | None, field: str) -> None:
        headers = {"Origin": PAGE, "Content-Type": "application/json"}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200 or field not in json.loads(data):
            raise Failure(f"{method} {path}: HTTP {response.status} {data[:200]!r}")

    def _error(self, role: str, exc: Exception) -> None:
        self.errors += 1
        if len(self.first_errors) < MAX_ERRORS_KEPT:
            self.first_errors.append(f"{time.monotonic() - self.started:7.1f} s {role}: "
                                     f"{type(exc).__name__}: {exc}"[:400])


# -- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float
    figures: ProcessFigures
    requests: int
    errors: int


def growth_percent(samples: list[Sample], value: Any, warmup_s: float) -> float | None:
    """Mean of the last three samples over the mean of the first three after warm-up."""
    after = [value(s.figures) for s in samples if s.t >= warmup_s]
    if len(after) < 2:
        return None
    n = min(3, len(after) // 2)
    first, last = statistics.fmean(after[:n]), statistics.fmean(after[-n:])
    return (last - first) / first * 100 if first else 0.0


CHECKED = (("app RSS", lambda f: f.rss_mib),
           ("app fds not held by clients", lambda f: f.other_fds),
           ("children RSS", lambda f: f.children_rss_mib),
           ("app fds (all)", lambda f: f.fds),
           ("children fds", lambda f: f.children_fds))
GATED = {"app RSS", "app fds not held by clients", "children RSS"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--max-growth", type=float, default=5.0, help="percent")
    args = parser.parse_args()
    seconds = args.minutes * 60
    print(f"soak: {args.minutes:g} min, {args.processes} client processes; {load_average()}",
          flush=True)

    with tempfile.TemporaryDirectory() as data:
        app = start_app(Path(data), env={"CODETTE_STATUS_INTERVAL_S": str(STATUS_INTERVAL_S)})
        workers: list[ClientProcess] = []
        try:
            app.wait_for_line(r"analysis warm-up finished", timeout=300)
            workers = [ClientProcess(Traffic, app.ws_url, app.host, app.port,
                                     app.capture_token, seed) for seed in range(args.processes)]
            runs = [w.send("run", seconds=seconds) for w in workers]
            started = time.monotonic()
            samples: list[Sample] = []
            print(f"{'t s':>6}{'RSS MiB':>9}{'fds':>6}{'clients':>8}{'other':>7}"
                  f"{'kids':>6}{'kid RSS':>9}{'kid fds':>8}{'requests':>10}{'errors':>8}")
            for tick in itertools.count(1):
                wake = started + tick * args.sample_s
                if wake > started + seconds + 1e-6:
                    break
                time.sleep(max(0.0, wake - time.monotonic()))
                figures = process_figures(app.process.pid, app.port)
                progress = call_all(workers, "progress", timeout=30)
                requests = sum(sum(p["counts"].values()) for p in progress)
                errors = sum(p["errors"] for p in progress)
                sample = Sample(time.monotonic() - started, figures, requests, errors)
                samples.append(sample)
                print(f"{sample.t:6.0f}{figures.rss_mib:9.1f}{figures.fds:6d}"
                      f"{figures.client_sockets:8d}{figures.other_fds:7d}{figures.children:6d}"
                      f"{figures.children_rss_mib:9.1f}{figures.children_fds:8d}"
                      f"{requests:10d}{errors:8d}", flush=True)
            results = [w.result(seq, timeout=REPLY_TIMEOUT_S + 30)
                       for w, seq in zip(workers, runs, strict=True)]
        finally:
            for worker in workers:
                worker.close()
            exit_code = app.terminate(timeout=30)

    counts: Counter[str] = Counter()
    for result in results:
        counts.update(result["counts"])
    errors = sum(r["errors"] for r in results)
    print(f"\nrequests and pushes: {dict(sorted(counts.items()))}")
    print(f"errors: {errors}")
    for result in results:
        for line in result["first_errors"]:
            print(f"  {line}")
    print(f"app exit status {exit_code}; {load_average()}")
    print(f"\ngrowth after the {args.warmup_s:g} s warm-up (last 3 samples / first 3 after it):")
    failed = errors > 0 or exit_code != 0
    for name, value in CHECKED:
        growth = growth_percent(samples, value, args.warmup_s)
        if growth is None:
            print(f"  {name:30} not enough samples after the warm-up")
            failed = True
            continue
        gated = name in GATED
        over = gated and growth > args.max_growth
        failed |= over
        verdict = ("OVER" if over else "ok") if gated else "(reported)"
        print(f"  {name:30}{growth:+8.2f} %  {verdict}")
    print("FAILED" if failed else f"PASSED (growth <= {args.max_growth:g} %, no errors)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
