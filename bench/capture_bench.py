"""CPU cost and latency of live capture + meters, against a baseline from the same run.

    .venv/bin/python bench/capture_bench.py            # 10 s per phase, 48 kHz stereo
    .venv/bin/python bench/capture_bench.py --seconds 5 --device default

Starts the private PulseAudio of ``scripts/pulse-test-env.sh`` (unless ``--no-pulse-env``)
and plays a 1 kHz sine into its null sink for the whole run, so the capture meters real,
non-silent audio from PortAudio's ALSA ``pulse`` device. Three phases of ``--seconds``
each, in one process on one asyncio loop:

1. ``idle``: the loop runs and waits; the process's baseline.
2. ``stream``: a bare input stream whose callback does what the service's does (copy
   into a ring buffer, hand off with ``call_soon_threadsafe``) and nothing on the loop.
   It stamps ``time.monotonic()`` in the callback — this bench's stream only — to
   measure the hand-off latency the service's stream has too.
3. ``capture``: ``CaptureService`` (stream, continuity check, peak/RMS, streaming
   loudness, 30 Hz ``LevelsMeasured``, watchdog).

CPU is ``time.process_time()`` (all threads, PortAudio's included) over wall time, in %
of one core. Latency of the meters is from the hand-off of a block arriving on the loop
to the ``LevelsMeasured`` event it completed being emitted.

4. ``websocket``: the same service wired into the real ``CodetteService`` and
   ``CodetteServer`` on this loop, with a WebSocket client subscribed to
   ``audio_levels`` at 30 Hz: latency from a block's hand-off to the ``audio_levels``
   frame it completed arriving at the client (so it includes the send).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codette_desktop.capture import CaptureService  # noqa: E402
from codette_desktop.capture.ring_buffer import RingBuffer  # noqa: E402
from codette_desktop.capture.service import _Session  # noqa: E402
from codette_desktop.protocol.events import LevelsMeasured  # noqa: E402


def start_pulse_env() -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pulse-test-env.sh"), "start"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pulse-test-env.sh failed: {done.stderr.strip()}")
    for line in done.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export ") :].split("=", 1)
            os.environ[name] = value


def play_sine(seconds: float, rate: int, channels: int, directory: Path) -> subprocess.Popen[bytes]:
    import soundfile as sf

    t = np.arange(round(seconds * rate)) / rate
    x = (10 ** (-12 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    path = directory / "bench-sine.wav"
    sf.write(str(path), np.repeat(x[:, None], channels, axis=1), rate, subtype="FLOAT")
    return subprocess.Popen(["paplay", str(path)], stdout=subprocess.DEVNULL)


async def measure_cpu(seconds: float, body: Callable[[], Any] | None = None) -> float:
    """% of one core used by the whole process while ``seconds`` pass."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return 100.0 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)


async def phase_idle(seconds: float) -> dict[str, Any]:
    return {"cpu": await measure_cpu(seconds)}


async def phase_stream(seconds: float, device: str, rate: int, channels: int) -> dict[str, Any]:
    """The service's callback work, without meters; records callback → loop latency."""
    import sounddevice as sd

    loop = asyncio.get_running_loop()
    ring = RingBuffer(frames=60 * rate, channels=channels, headroom=rate)
    latencies: list[float] = []

    def on_block(stamped: float) -> None:
        latencies.append(time.monotonic() - stamped)

    def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        ring.write(indata)
        loop.call_soon_threadsafe(on_block, time.monotonic())

    with sd.InputStream(
        device=device, samplerate=rate, channels=channels, dtype="float32", callback=callback
    ):
        while ring.frames_total == 0:  # do not bill the first-block wait to the stream
            await asyncio.sleep(0.01)
        latencies.clear()
        cpu = await measure_cpu(seconds)
    return {"cpu": cpu, "handoff": np.array(latencies)}


class _TimedCaptureService(CaptureService):
    """Stamps each hand-off's arrival on the loop; bench-only instrumentation."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[float] = []

    def _on_block(self, session: _Session, frames: int, adc_time: float, flagged: int) -> None:
        self.arrivals.append(time.monotonic())
        super()._on_block(session, frames, adc_time, flagged)


async def phase_capture(seconds: float, device: str, rate: int, channels: int) -> dict[str, Any]:
    emitted: list[tuple[float, float, LevelsMeasured]] = []  # (arrival, emitted, event)
    service: _TimedCaptureService

    def observer(event: object) -> None:
        if isinstance(event, LevelsMeasured):
            emitted.append((service.arrivals[-1], time.monotonic(), event))

    service = _TimedCaptureService(observer=observer)
    await service.start(device=device, sample_rate=rate, channels=channels)
    while service.state.frames == 0:
        await asyncio.sleep(0.01)
    emitted.clear()
    cpu = await measure_cpu(seconds)
    state = service.state
    await service.close()
    latency = np.array([done - arrived for arrived, done, _ in emitted])
    at = np.array([event.at for _, _, event in emitted])
    return {
        "cpu": cpu,
        "latency": latency,
        "events": len(emitted),
        "rate_hz": (len(at) - 1) / (at[-1] - at[0]) if len(at) > 1 else 0.0,
        "overflows": state.overflows,
        "last": emitted[-1][2] if emitted else None,
    }


async def phase_websocket(seconds: float, device: str, rate: int, channels: int
                          ) -> dict[str, Any]:
    import json

    from websockets.asyncio.client import connect

    from codette_desktop.config import Settings, resources_dir
    from codette_desktop.engine import CodetteEngine, KnowledgeBase, MemoryStore
    from codette_desktop.server.server import CodetteServer
    from codette_desktop.services.analysis_pool import AnalysisPool
    from codette_desktop.services.codette_service import CodetteService

    arrivals: dict[tuple[Any, ...], float] = {}
    service: CodetteService
    capture: _TimedCaptureService

    def on_capture(event: object) -> None:
        if isinstance(event, LevelsMeasured):
            key = (tuple(event.peak_dbfs), tuple(event.rms_dbfs), event.momentary_lufs)
            arrivals[key] = capture.arrivals[-1]
        service.on_capture_event(event)

    with tempfile.TemporaryDirectory() as data:
        settings = Settings(port=0, data_dir=Path(data), cache_dir=Path(data))
        memory = MemoryStore(settings.memory_path)
        server = CodetteServer(settings, observer=lambda _e: None, resources=resources_dir())
        capture = _TimedCaptureService(observer=on_capture)
        knowledge = KnowledgeBase.load(resources_dir() / "knowledge")
        service = CodetteService(
            settings, server=server, engine=CodetteEngine(knowledge, memory), knowledge=knowledge,
            memory=memory, analysis=AnalysisPool(cache_dir=Path(data), observer=lambda _e: None),
            capture=capture, observer=lambda _e: None, capture_token="bench-token")
        await server.start(service)
        latencies: list[float] = []
        async with connect(server.url, max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "events": ["audio_levels"],
                                      "rate_hz": 30, "capture_token": "bench-token"}))
            await capture.start(device=device, sample_rate=rate, channels=channels)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                message = json.loads(await ws.recv())
                received = time.monotonic()
                if message["type"] != "audio_levels":
                    continue
                key = (tuple(message["peak_dbfs"]), tuple(message["rms_dbfs"]),
                       message["momentary_lufs"])
                if key in arrivals:
                    latencies.append(received - arrivals[key])
        await capture.close()
        await server.stop()
        memory.close()
    return {"latency": np.array(latencies)}


def ms(values: np.ndarray, q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):7.3f}" if len(values) else "    n/a"


async def run(args: argparse.Namespace) -> None:
    idle = await phase_idle(args.seconds)
    stream = await phase_stream(args.seconds, args.device, args.rate, args.channels)
    capture = await phase_capture(args.seconds, args.device, args.rate, args.channels)
    websocket = await phase_websocket(args.seconds, args.device, args.rate, args.channels)

    print(
        f"\ncapture bench: {args.device!r}, {args.rate} Hz, {args.channels} ch, "
        f"{args.seconds:g} s per phase, 1 kHz sine at -12 dBFS playing"
    )
    print(f"\n{'phase':<38}{'CPU % of a core':>16}{'vs idle':>10}")
    rows = [
        ("idle asyncio loop (baseline)", idle["cpu"]),
        ("stream + ring + hand-off, no meters", stream["cpu"]),
        ("CaptureService (stream + meters)", capture["cpu"]),
    ]
    for name, cpu in rows:
        print(f"{name:<38}{cpu:16.2f}{cpu - idle['cpu']:+10.2f}")
    print(f"{'meters alone (service - stream)':<38}{'':16}{capture['cpu'] - stream['cpu']:+10.2f}")

    print(f"\n{'latency (ms)':<44}{'p50':>8}{'p99':>8}{'max':>8}{'n':>7}")
    handoff, latency = stream["handoff"], capture["latency"]
    print(
        f"{'callback -> loop hand-off (bare stream)':<44}{ms(handoff, 50)} {ms(handoff, 99)}"
        f" {ms(handoff, 100)}{len(handoff):7d}"
    )
    print(
        f"{'hand-off on loop -> LevelsMeasured emitted':<44}{ms(latency, 50)} {ms(latency, 99)}"
        f" {ms(latency, 100)}{len(latency):7d}"
    )
    wire = websocket["latency"]
    print(
        f"{'hand-off -> audio_levels frame at client':<44}{ms(wire, 50)} {ms(wire, 99)}"
        f" {ms(wire, 100)}{len(wire):7d}"
    )
    print(
        f"\nLevelsMeasured: {capture['events']} events, {capture['rate_hz']:.1f} Hz; "
        f"overflows: {capture['overflows']}"
    )
    last = capture["last"]
    if last is not None:
        print(
            f"last levels: peak {last.peak_dbfs}, rms {last.rms_dbfs}, "
            f"M {last.momentary_lufs}, S {last.short_term_lufs}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--device", default="pulse", help="PortAudio input device name")
    parser.add_argument(
        "--no-pulse-env", action="store_true", help="do not start scripts/pulse-test-env.sh"
    )
    args = parser.parse_args(argv)
    if not args.no_pulse_env:
        start_pulse_env()
    with tempfile.TemporaryDirectory() as tmp:
        player = (
            None
            if args.no_pulse_env
            else play_sine(3 * args.seconds + 20, args.rate, args.channels, Path(tmp))
        )
        try:
            asyncio.run(run(args))
        finally:
            if player is not None:
                player.kill()
                player.wait()


if __name__ == "__main__":
    main()
