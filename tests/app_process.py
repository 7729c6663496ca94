"""Start the real app (``main.py``) as a subprocess and wait until it serves."""

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 20_000
READY = re.compile(r"SERVER READY - (ws://(\S+?):(\d+)/ws)")


@dataclass
class AppProcess:
    process: subprocess.Popen[str]
    ws_url: str
    host: str
    port: int
    data_dir: Path
    # Bounded: a misbehaving audio driver can print millions of lines.
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait until the app's stderr has a line matching ``pattern``; return it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if regex.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def app_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "CODETTE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.setdefault("CODETTE_CACHE_DIR", str(REPO / ".cache" / "codette"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(extra or {})
    return env


def start_app(
    data_dir: Path,
    args: Sequence[str] = ("--headless", "--port", "0"),
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> AppProcess:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), *args],
        cwd=REPO, env=app_env(data_dir, env), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: deque[str] = deque(maxlen=MAX_LINES)
    ready = threading.Event()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if READY.search(line):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.is_set():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("app did not start:\n" + "\n".join(list(lines)[-40:]))
        ready.wait(0.05)
    match = next(m for m in map(READY.search, lines) if m)
    return AppProcess(process, match.group(1), match.group(2), int(match.group(3)), data_dir,
                      lines)


@contextmanager
def running_app(data_dir: Path, args: Sequence[str] = ("--headless", "--port", "0"),
                **kwargs: object) -> Iterator[AppProcess]:
    app = start_app(data_dir, args, **kwargs)  # type: ignore[arg-type]
    try:
        yield app
    finally:
        if app.process.poll() is None:
            app.process.send_signal(signal.SIGTERM)
            try:
                app.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                app.process.kill()
