"""Audio uploads against one pinging client: what an upload costs the others (issue 13
item 3).

    .venv/bin/python bench/upload_bench.py [--minutes 6] [--analysis-type loudness]
                                           [--seconds 10] [--interval-ms 5]

For each upload, starts ``main.py --headless``, waits for the analysis warm-up, and
measures a second client's ping round trips (this process, one ping every
``--interval-ms``): unloaded for ``--seconds``, then while the upload runs in a process of
its own (``tests/upload_client.py``, the one the tests use), from first byte to reply:

  ws    a ``--minutes`` long 44.1 kHz stereo 16-bit WAV as binary WebSocket frames
  http  the same file as the body of ``POST /codette/analyze``
  json  a 70 s excerpt of it (15.7 MiB of base64) inside one JSON ``analyze`` message

Each row gives p99 and max as ratios to that app's unloaded run, and the issue's absolute
bounds (p99 <= 20 ms, worst <= 50 ms) as met or missed; then each upload's time from
first byte to reply. The analysis is ``loudness`` (as in the tests) unless
``--analysis-type`` says otherwise (``full`` keeps a worker busy for much longer).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, AppProcess, PingStats, load_average, probe_pings, start_app

# isort: split
from audio_env import music_wav  # the uploads tests' file; tests/ is on the path via harness

P99_BOUND_MS, WORST_BOUND_MS = 20.0, 50.0
JSON_EXCERPT_S = 70  # 12.3 MB of WAV: 15.7 MiB as base64, under the 16 MiB the docs name


async def ping_during_upload(app: AppProcess, kind: str, audio: Path, analysis_type: str,
                             interval_s: float) -> tuple[list[float], float]:
    """The probe's round trips while the upload runs, and the upload's wall time (s)."""
    url = app.http_base if kind == "http" else app.ws_url
    done = asyncio.Event()
    start = time.perf_counter()
    uploader = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "tests" / "upload_client.py"), kind, url, str(audio),
        analysis_type, stdout=asyncio.subprocess.DEVNULL)

    async def wait_upload() -> float:
        code = await uploader.wait()
        took = time.perf_counter() - start
        done.set()
        if code != 0:
            raise RuntimeError(f"the {kind} upload failed (exit {code})")
        return took

    rtts, took = await asyncio.gather(
        probe_pings(app.ws_url, interval_s=interval_s, until=done), wait_upload())
    return rtts, took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="length of the WAV")
    parser.add_argument("--analysis-type", default="loudness")
    parser.add_argument("--seconds", type=float, default=10.0, help="unloaded probe")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="probe ping pacing")
    args = parser.parse_args()
    interval_s = args.interval_ms / 1000

    print(load_average(), flush=True)
    rows: list[tuple[str, PingStats, PingStats, float, int]] = []
    with tempfile.TemporaryDirectory() as folder:
        whole, excerpt = Path(folder) / "mix.wav", Path(folder) / "excerpt.wav"
        whole.write_bytes(music_wav(args.minutes * 60))
        excerpt.write_bytes(music_wav(JSON_EXCERPT_S))
        for kind, audio in (("ws", whole), ("http", whole), ("json", excerpt)):
            # A fresh app each: the first large message of a process is the costly one
            # (glibc has not yet raised its mmap threshold, so big buffers are fresh pages).
            app = start_app(Path(folder) / f"data-{kind}")
            try:
                app.wait_for_line(r"analysis warm-up finished", timeout=300)
                asyncio.run(probe_pings(app.ws_url, seconds=2.0, interval_s=interval_s))
                unloaded = asyncio.run(probe_pings(app.ws_url, seconds=args.seconds,
                                                   interval_s=interval_s))
                rtts, took = asyncio.run(ping_during_upload(app, kind, audio,
                                                            args.analysis_type, interval_s))
            finally:
                app.terminate(timeout=30)
            rows.append((kind, PingStats.of(unloaded), PingStats.of(rtts), took,
                         audio.stat().st_size))
            print(f"{kind} done; {load_average()}", flush=True)

    print(f"\nProbe ping round trips, one every {args.interval_ms:g} ms; each upload (from a "
          "process of its own) on a fresh app, against that app unloaded")
    print(PingStats.header(with_ratio=True) + "  bounds (20 ms p99, 50 ms worst)")
    for kind, base, stats, _, _ in rows:
        met = stats.p99 <= P99_BOUND_MS and stats.max <= WORST_BOUND_MS
        print(base.row(f"{kind}: unloaded", base))
        print(stats.row(f"{kind}: during upload + analysis", base) +
              f"  {'met' if met else 'MISSED'}")
    print("\nupload  file MB  first byte to reply")
    for kind, _, _, took, size in rows:
        print(f"{kind:6}{size / 1e6:9.1f}{took:10.2f} s")
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
