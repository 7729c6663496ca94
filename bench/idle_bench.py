"""Idle cost of the desktop app: CPU with the dashboard hidden and shown, vs a sleeping
Python process.

    python bench/idle_bench.py [--seconds 10] [--display :N]

Starts ``main.py --port 0`` under its own Xvfb + trayer (or on ``--display``) with a temp
CODETTE_DATA_DIR, waits for ``SERVER READY`` and the analysis warm-up, measures the app
process's CPU over ``--seconds`` with the dashboard hidden (start minimised), then starts
a second copy, which makes the first show its dashboard, and measures again. The baseline
is ``python -c "import time; time.sleep(N)"`` measured the same way in the same run.
CPU % is (user + system CPU time) / wall time of one process (100 % = one core).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
READY = re.compile(r"SERVER READY - (ws://\S+)")
WARM = re.compile(r"analysis warm-up finished")


@dataclass
class Sample:
    name: str
    seconds: float
    cpu_percent: float
    wakeups_per_s: float
    rss_mib: float
    children_cpu_percent: float | None = None


def _children_cpu(process: psutil.Process) -> dict[int, float]:
    times = {}
    for child in process.children(recursive=True):
        try:
            cpu = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        times[child.pid] = cpu.user + cpu.system
    return times


def measure(pid: int, seconds: float, name: str, *, children: bool = False) -> Sample:
    process = psutil.Process(pid)
    cpu0 = process.cpu_times()
    ctx0 = process.num_ctx_switches()
    kids0 = _children_cpu(process) if children else {}
    wall0 = time.monotonic()
    time.sleep(seconds)
    cpu1 = process.cpu_times()
    ctx1 = process.num_ctx_switches()
    kids1 = _children_cpu(process) if children else {}
    wall = time.monotonic() - wall0
    used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    # Voluntary context switches ~ how often the process woke up from a wait.
    wakeups = (ctx1.voluntary - ctx0.voluntary) / wall
    kids = sum(t - kids0.get(pid, 0.0) for pid, t in kids1.items()) if children else None
    return Sample(name, wall, 100.0 * used / wall, wakeups,
                  process.memory_info().rss / 2**20,
                  None if kids is None else 100.0 * kids / wall)


class LineReader:
    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._stream = stream
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self._stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout: float,
                 process: subprocess.Popen[str]) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = pattern.search(line)
                if match:
                    return line
            if process.poll() is not None:
                raise SystemExit("the app exited:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.05)
        return None


def start_x() -> tuple[str, list[subprocess.Popen[bytes]]]:
    """An Xvfb with a free display number and a trayer on it."""
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                             "1600x1000x24", "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = f":{pipe.readline().strip()}"
    env = {**os.environ, "DISPLAY": display}
    trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype",
                               "request", "--height", "24", "--transparent", "false"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait for trayer's window (it owns the tray then)
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "trayer"],
                               env=env, capture_output=True, text=True)
        if found.stdout.strip():
            break
        time.sleep(0.1)
    else:
        raise SystemExit("trayer did not start")
    return display, [trayer, xvfb]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--display", help="use this X display instead of starting Xvfb")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait after each state change before measuring")
    args = parser.parse_args()

    helpers: list[subprocess.Popen[bytes]] = []
    if args.display:
        display = args.display
    elif shutil.which("Xvfb") and shutil.which("trayer") and shutil.which("xdotool"):
        display, helpers = start_x()
    elif os.environ.get("DISPLAY"):
        display = os.environ["DISPLAY"]
    else:
        raise SystemExit("needs Xvfb + trayer + xdotool, --display or DISPLAY")

    data = Path(tempfile.mkdtemp(prefix="codette-idle-"))
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
           "CODETTE_DATA_DIR": str(data), "CODETTE_START_MINIMISED": "true",
           "XDG_CONFIG_HOME": str(data / "xdg"), "PYTHONUNBUFFERED": "1"}
    env.setdefault("CODETTE_CACHE_DIR", str(REPO / ".cache" / "codette"))
    command = [sys.executable, str(REPO / "main.py"), "--port", "0"]
    samples: list[Sample] = []
    app = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        reader = LineReader(app.stderr)
        ready = reader.wait_for(READY, 60, app)
        if ready is None:
            raise SystemExit("no SERVER READY within 60 s")
        print(f"display {display}; {ready.split(' - ', 1)[-1]}; data {data}", flush=True)
        if reader.wait_for(WARM, 180, app) is None:
            print("(analysis warm-up did not finish within 180 s; measuring anyway)")
        time.sleep(args.settle)

        baseline = subprocess.Popen(
            [sys.executable, "-c", f"import time; time.sleep({args.seconds + 5})"])
        time.sleep(0.5)  # past the interpreter's start-up
        samples.append(measure(baseline.pid, args.seconds, "baseline: python sleeping"))
        baseline.kill()
        baseline.wait()

        samples.append(measure(app.pid, args.seconds, "app, dashboard hidden (tray)",
                               children=True))

        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=60)
        if second.returncode != 0 or "already running" not in second.stderr:
            raise SystemExit(f"second copy did not hand over:\n{second.stderr}")
        time.sleep(args.settle)  # the window maps and paints once
        samples.append(measure(app.pid, args.seconds, "app, dashboard shown, idle",
                               children=True))
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=15)
            except subprocess.TimeoutExpired:
                app.kill()
        for helper in helpers:
            helper.terminate()
            helper.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)

    print()
    print(f"{'scenario':32} {'seconds':>8} {'CPU %':>7} {'wakeups/s':>10} {'RSS MiB':>8} "
          f"{'workers CPU %':>14}")
    for s in samples:
        workers = "" if s.children_cpu_percent is None else f"{s.children_cpu_percent:.2f}"
        print(f"{s.name:32} {s.seconds:8.1f} {s.cpu_percent:7.2f} {s.wakeups_per_s:10.1f} "
              f"{s.rss_mib:8.1f} {workers:>14}")
    print(f"app exit code: {app.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
