"""Start the real app as a subprocess and wait until it serves.

One launcher for the tests and the benchmarks: ``main.py`` from this checkout by default,
or any command (the PyInstaller bundle) that prints ``SERVER READY - ws://HOST:P/ws``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 20_000
READY = re.compile(r"SERVER READY - (ws://(\S+?):(\d+)/ws)")
HEADLESS = ("--headless", "--port", "0")


@dataclass
class AppProcess:
    process: subprocess.Popen[str]
    data_dir: Path
    started: float  # time.monotonic() at launch
    ws_url: str = ""
    host: str = ""
    port: int = 0
    ready_s: float = 0.0  # launch to SERVER READY
    # Bounded: a misbehaving audio driver can print millions of lines.
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))  # stderr
    out: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))  # stdout

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def capture_token(self) -> str:
        """The per-install token native clients send to use the microphone."""
        return (self.data_dir / "capture-token").read_text().strip()

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the app's stderr has a line matching ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = regex.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s:\n"
                             + "\n".join(list(self.lines)[-30:]))

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for the exit status (kill if it does not come)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    stop = terminate


def app_env(data_dir: Path, extra: dict[str, str] | None = None, *,
            cache_dir: Path | None = None, headless: bool = True) -> dict[str, str]:
    env = {**os.environ, "CODETTE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    if cache_dir is not None:
        env["CODETTE_CACHE_DIR"] = str(cache_dir)
        env.pop("NUMBA_CACHE_DIR", None)  # the app derives it from CODETTE_CACHE_DIR
    env.setdefault("CODETTE_CACHE_DIR", str(REPO / ".cache" / "codette"))
    if headless:
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    env.update(extra or {})
    return env


def start_app(
    data_dir: Path,
    args: Sequence[str] = HEADLESS,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    command: Sequence[str] | None = None,
    cache_dir: Path | None = None,
) -> AppProcess:
    """Launch ``command`` (default: this checkout's main.py) and wait for SERVER READY."""
    command = list(command or [sys.executable, str(REPO / "main.py")])
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, *args], cwd=REPO, stdin=subprocess.DEVNULL,
        env=app_env(data_dir, env, cache_dir=cache_dir, headless="--headless" in args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    app = AppProcess(process, data_dir, started)
    ready = threading.Event()

    def pump_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            app.lines.append(line.rstrip("\n"))
            match = READY.search(line)
            if match and not ready.is_set():
                app.ready_s = time.monotonic() - started
                app.ws_url, app.host, app.port = match.group(1), match.group(2), int(
                    match.group(3))
                ready.set()

    def pump_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            app.out.append(line.rstrip("\n"))

    threading.Thread(target=pump_stderr, daemon=True).start()
    threading.Thread(target=pump_stdout, daemon=True).start()
    deadline = started + timeout
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("app did not start:\n" + "\n".join(list(app.lines)[-40:]))
    return app


@contextmanager
def running_app(data_dir: Path, args: Sequence[str] = HEADLESS,
                **kwargs: object) -> Iterator[AppProcess]:
    app = start_app(data_dir, args, **kwargs)  # type: ignore[arg-type]
    try:
        yield app
    finally:
        with suppress(subprocess.TimeoutExpired):  # terminate() has killed it then
            app.terminate(timeout=20)
