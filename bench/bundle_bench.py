"""PyInstaller bundle benchmark: build time, size, and start-up with a cold and a warm cache.

    .venv/bin/python bench/bundle_bench.py [--build] [--no-baseline] [--runs 1]

Measures, for the bundle ``dist/codette-desktop-<version>/codette-desktop``:
  * build time (``packaging/build.sh``, with ``--build``; otherwise the existing bundle
    is used, rebuilt only if a source file is newer) and bundle size;
  * time from launch to ``SERVER READY`` with a cold numba cache (``CODETTE_CACHE_DIR``
    pointing at an empty folder) and a warm one (the same folder again);
  * time from launch to the first ``loudness`` answer (the fast worker) and to the first
    ``full`` answer (librosa's worker: the server is ready long before librosa has
    compiled, or loaded from the cache, its numba code; a ``full`` request waits for it),
    both requests sent as soon as the server is ready;
  * the app's own warm-up time (its "analysis warm-up finished in X s" log line).
The baseline is the same app from source (``python main.py``) measured in the same run;
ratios bundle/source are what to compare across machines.

The helpers at the top (bundle path, freshness, launching, a test WAV, requests) are also
used by tests/integration/test_bundle.py.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

ROOT_FOR_TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(ROOT_FOR_TESTS))

from app_process import HEADLESS, AppProcess, running_app, start_app  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WARMED = re.compile(r"analysis warm-up finished in ([\d.]+) s \(worker ([\d.]+) s\)")
# Everything whose change makes a bundle stale.
SOURCES = ("codette_desktop", "resources", "main.py", "pyproject.toml",
           "packaging/codette_desktop.spec", "packaging/rthook_portaudio.py",
           "packaging/install-linux.sh", "packaging/uninstall-linux.sh", "packaging/linux")


def project_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def bundle_dir() -> Path:
    return REPO / "dist" / f"codette-desktop-{project_version()}"


def bundle_executable() -> Path:
    return bundle_dir() / ("codette-desktop.exe" if os.name == "nt" else "codette-desktop")


def newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = REPO / name
        files = [path] if path.is_file() else path.rglob("*")
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                newest = max(newest, f.stat().st_mtime)
    return newest


def bundle_is_fresh() -> bool:
    """True if the bundle exists and is newer than every source file."""
    exe = bundle_executable()
    return exe.is_file() and exe.stat().st_mtime > newest_source_mtime()


def build(extra_args: Sequence[str] = ()) -> float:
    """Run packaging/build.sh; return the wall-clock seconds it took."""
    started = time.monotonic()
    subprocess.run(["bash", str(REPO / "packaging" / "build.sh"), *extra_args], cwd=REPO,
                   check=True)
    return time.monotonic() - started


def ensure_bundle() -> tuple[Path, float | None]:
    """The bundle's executable, building it if it is missing or stale (build seconds or None)."""
    if bundle_is_fresh():
        return bundle_executable(), None
    seconds = build()
    return bundle_executable(), seconds


def dir_size(path: Path) -> int:
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def launch(command: Sequence[str], *, data_dir: Path, cache_dir: Path,
           args: Sequence[str] = HEADLESS,
           env: dict[str, str] | None = None, timeout: float = 120.0) -> AppProcess:
    """Start the app (the bundle) and wait for SERVER READY on its stderr."""
    return start_app(data_dir, args, command=command, cache_dir=cache_dir, env=env,
                     timeout=timeout)


def running(command: Sequence[str], *, data_dir: Path, cache_dir: Path,
            args: Sequence[str] = HEADLESS, env: dict[str, str] | None = None,
            timeout: float = 120.0) -> AbstractContextManager[AppProcess]:
    """:func:`launch` as a context manager that stops the app on exit."""
    return running_app(data_dir, args, command=command, cache_dir=cache_dir, env=env,
                       timeout=timeout)


def make_wav(seconds: float = 5.0, rate: int = 44_100) -> dict[str, str]:
    """A stereo WAV (sine per channel + a little noise) as the wire's audio object.

    At 44.1 kHz the request is over 1 MiB, so it also exercises the oversized-frame path
    (parsed and analysed in a worker process).
    """
    import numpy as np
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(1)
    left = 0.25 * np.sin(2 * np.pi * 220.0 * t)
    right = 0.25 * np.sin(2 * np.pi * 330.0 * t)
    samples = np.stack([left, right], axis=1) + 0.02 * rng.standard_normal((t.size, 2))
    buf = io.BytesIO()
    soundfile.write(buf, samples.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return {"format": "wav", "data": base64.b64encode(buf.getvalue()).decode("ascii")}


def request(ws_url: str, message: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """One request on its own connection; returns the reply with the same id."""
    from websockets.sync.client import connect

    with connect(ws_url, open_timeout=10, max_size=None) as ws:
        json.loads(ws.recv(timeout=10))  # welcome
        ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == message.get("id") and reply.get("type") != "chat_chunk":
                return reply


def analyze(ws_url: str, analysis_type: str, audio: dict[str, str], request_id: Any = 1,
            timeout: float = 180.0) -> dict[str, Any]:
    return request(ws_url, {"type": "analyze", "id": request_id, "analysis_type": analysis_type,
                            "audio": audio}, timeout=timeout)


# -- the benchmark ------------------------------------------------------------------------

def measure_start(command: Sequence[str], cache_dir: Path, audio: dict[str, str]) -> dict[str, Any]:
    """Launch, then send loudness and full at once; times are seconds since launch."""
    with tempfile.TemporaryDirectory() as data:
        run = launch(command, data_dir=Path(data), cache_dir=cache_dir)
        try:
            def timed(kind: str, rid: int) -> tuple[float, dict[str, Any]]:
                reply = analyze(run.ws_url, kind, audio, rid, timeout=300)
                return time.monotonic() - run.started, reply

            with ThreadPoolExecutor(2) as pool:
                loud = pool.submit(timed, "loudness", 1)
                full = pool.submit(timed, "full", 2)
                loud_s, loud_reply = loud.result()
                full_s, full_reply = full.result()
            for reply in (loud_reply, full_reply):
                if reply.get("status") != "success":
                    raise AssertionError(f"analysis failed: {json.dumps(reply)[:500]}")
            warm = run.wait_for_line(WARMED.pattern, 300)
            rc = run.stop()
        finally:
            if run.process.poll() is None:
                run.process.kill()
    return {"ready_s": run.ready_s, "first_loudness_s": loud_s, "first_full_s": full_s,
            "warmup_s": float(warm.group(1)), "warmup_worker_s": float(warm.group(2)),
            "exit_code": rc}


def measure(command: Sequence[str], runs: int, audio: dict[str, str]) -> dict[str, Any]:
    """Cold (empty cache) then warm (same cache), ``runs`` times each; keeps the medians."""
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    for _ in range(runs):
        cache = Path(tempfile.mkdtemp(prefix="codette-bench-cache-"))
        try:
            cold.append(measure_start(command, cache, audio))
            warm.append(measure_start(command, cache, audio))
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    def median(rows: list[dict[str, Any]]) -> dict[str, Any]:
        keys = rows[0].keys()
        return {k: sorted(r[k] for r in rows)[len(rows) // 2] for k in keys}

    return {"cold": median(cold), "warm": median(warm)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="store_true", help="always rebuild the bundle")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the from-source baseline")
    parser.add_argument("--runs", type=int, default=1, help="cold+warm pairs per variant")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    build_s: float | None = None
    if args.build or not bundle_is_fresh():
        build_s = build()
    exe = bundle_executable()
    size = dir_size(bundle_dir())
    audio = make_wav()
    results: dict[str, Any] = {
        "version": project_version(), "cpus": os.cpu_count(),
        "build_s": build_s, "bundle_bytes": size,
        "bundle": measure([str(exe)], args.runs, audio),
    }
    if not args.no_baseline:
        results["source"] = measure([sys.executable, str(REPO / "main.py")], args.runs, audio)

    print(f"bundle {bundle_dir().relative_to(REPO)}: {size / 2**20:.0f} MiB"
          + (f", built in {build_s:.0f} s" if build_s is not None else " (not rebuilt)")
          + f", {os.cpu_count()} CPUs")
    header = f"{'':28}{'bundle':>10}" + ("" if args.no_baseline else f"{'source':>10}{'ratio':>8}")
    print(header)
    for cache in ("cold", "warm"):
        for key, label in (("ready_s", "SERVER READY"), ("first_loudness_s", "first loudness"),
                           ("first_full_s", "first full analysis"),
                           ("warmup_s", "librosa warm-up")):
            b = results["bundle"][cache][key]
            line = f"{cache + ' ' + label:28}{b:9.1f}s"
            if not args.no_baseline:
                s = results["source"][cache][key]
                line += f"{s:9.1f}s{b / s:8.2f}"
            print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
