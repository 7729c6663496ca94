"""Composition root: builds the settings, services, server and UI, and wires them.

``main()`` is the ``codette-desktop`` entry point and what ``main.py`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import logging.handlers
import multiprocessing
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from codette_desktop import __version__
from codette_desktop.config import (
    Settings,
    load_settings,
    private_dir,
    private_file,
    private_secret,
    resources_dir,
)
from codette_desktop.errors import AddressInUseError, CodetteError, ConfigError

log = logging.getLogger("codette")

EXIT_OK = 0
EXIT_USAGE = 2
FD_RESERVE = 256


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="codette-desktop",
        description="Codette Desktop: the local WebSocket companion for browser DAWs.",
    )
    parser.add_argument("--headless", action="store_true",
                        help="run the server without tray or windows")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000; 0 = any)")
    parser.add_argument("--config", type=Path, help="settings file (default: in the data folder)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        type=str.upper)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class SafeFormatter(logging.Formatter):
    """Escapes control characters in every message, so no value a client sent (a message
    type, an origin) can write terminal codes or fake lines into the log. Tracebacks,
    added after the message, keep their line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", record.message)
        return super().formatMessage(record)


class RepeatFilter(logging.Filter):
    """Rate-limits identical warnings and errors: the first few of a kind in a window pass,
    the rest are counted and summed up when the next one passes. A client that provokes
    the same error in a loop cannot rotate every earlier log away."""

    def __init__(self, *, window_s: float = 60.0, burst: int = 3, max_keys: int = 512) -> None:
        super().__init__()
        self.window_s, self.burst, self.max_keys = window_s, burst, max_keys
        self._seen: dict[tuple[object, ...], list[float]] = {}  # key -> [since, count, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc_type = record.exc_info[0] if record.exc_info else None
        key = (record.name, record.levelno, record.getMessage()[:300], exc_type)
        now = time.monotonic()
        entry = self._seen.get(key)
        if entry is None or now - entry[0] > self.window_s:
            dropped = int(entry[2]) if entry is not None else 0
            self._seen.pop(key, None)
            self._seen[key] = [now, 1, 0]
            while len(self._seen) > self.max_keys:
                del self._seen[next(iter(self._seen))]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this were not logged]"
            return True
        entry[1] += 1
        if entry[1] <= self.burst:
            return True
        entry[2] += 1
        return False


def setup_logging(settings: Settings) -> Path:
    private_dir(settings.log_dir)
    log_file = settings.log_dir / "server.log"
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    root.addHandler(console)
    rotating = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=2 * 1024 * 1024, backupCount=5, encoding="utf-8")
    rotating.setFormatter(fmt)
    root.addHandler(rotating)
    for handler in root.handlers:
        handler.addFilter(RepeatFilter())
    logging.getLogger("codette.server.ready").setLevel(logging.INFO)
    # uvicorn logs every handshake and connection at INFO; the server logs what matters.
    logging.getLogger("uvicorn").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    # httpx logs every request to the local model at INFO; failures are logged by us.
    logging.getLogger("httpx").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    return log_file


def secure_storage(settings: Settings) -> None:
    """Everything the app writes is this OS user's alone: folders 0700, files 0600.

    The umask covers what SQLite, the logs and the workers create from now on; existing
    files from older versions are tightened once here.
    """
    if os.name != "posix":
        return
    os.umask(0o077)
    for folder in (settings.data_dir, settings.log_dir, settings.cache_dir):
        private_dir(folder)
    for pattern in ("memory.sqlite3*", "settings.json", "capture-token", "logs/*"):
        for path in settings.data_dir.glob(pattern):
            private_file(path)


def return_freed_memory() -> None:
    """Make glibc give large freed blocks back to the system at once.

    glibc raises its mmap threshold each time a large block is freed, after which big
    replies (a history page, an upload chunk) come from the heap and stay with the process
    when freed. A fixed threshold keeps every block over 128 KiB in its own mapping, so
    memory returns to the baseline after a burst of clients has gone.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # malloc.h
    mallopt(m_mmap_threshold, 128 * 1024)
    mallopt(m_trim_threshold, 1024 * 1024)
    mallopt(m_arena_max, 2)


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft NOFILE limit toward the hard one; returns the limit in force.

    Each connection is a file descriptor: at the common default of 1024 a thousand clients
    would exhaust it and every accept() would fail with EMFILE.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit for sockets
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("open-file limit raised from %d to %d", soft, target)
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d (%s)", soft, target, exc)
    else:
        log.info("open-file limit: %s", "unlimited" if soft == resource.RLIM_INFINITY else soft)
    return wanted if soft == resource.RLIM_INFINITY else soft


def display_available() -> bool:
    """Is there a display to open? Qt aborts the process (qFatal) on one that is not there."""
    if sys.platform in ("win32", "darwin"):
        return True
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        if Path(wayland).is_absolute() or Path(runtime, wayland).exists():
            return True
    display = os.environ.get("DISPLAY", "")
    if not display:
        return False
    host, _, number = display.rpartition(":")
    if host not in ("", "unix"):
        return True  # X over TCP (ssh -X and the like): Qt will find out
    socket_path = Path("/tmp/.X11-unix") / f"X{number.split('.')[0]}"
    return socket_path.exists()


class Application:
    """Everything the app runs, built in one place."""

    def __init__(self, settings: Settings, *, headless: bool) -> None:
        from codette_desktop.capture import CaptureService
        from codette_desktop.engine import CodetteEngine, KnowledgeBase, MemoryStore
        from codette_desktop.llm import LLMClient, LLMGate
        from codette_desktop.server.server import CodetteServer
        from codette_desktop.services.analysis_pool import AnalysisPool
        from codette_desktop.services.codette_service import CodetteService
        from codette_desktop.services.local_model import LocalModel
        from codette_desktop.services.observers import ObserverHub

        self.settings = settings
        self.headless = headless
        self.stopped = asyncio.Event()
        self.hub = ObserverHub()
        resources = resources_dir()
        private_dir(settings.data_dir)
        knowledge = KnowledgeBase.load(resources / "knowledge")
        self.memory = MemoryStore(
            settings.memory_path, max_bytes=int(settings.memory_max_mb * 1024 * 1024),
            max_age_days=settings.memory_max_age_days)
        engine = CodetteEngine(knowledge, self.memory)
        server = CodetteServer(settings, observer=self.hub, resources=resources)
        analysis = AnalysisPool(cache_dir=settings.cache_dir, observer=self.hub,
                                fast_workers=settings.max_concurrent_analyses)
        # A client of the local model when llm_url is set (a new one when the llm_*
        # settings change), queued per model: one answer at a time, four waiting.
        model = LocalModel(settings, gate=LLMGate(max_concurrent=1, max_waiting=4),
                           observer=self.hub, connect=LLMClient.from_settings)
        self.service: CodetteService
        capture = CaptureService(observer=lambda event: self.service.on_capture_event(event))
        self.service = CodetteService(
            settings, server=server, engine=engine, knowledge=knowledge, memory=self.memory,
            analysis=analysis,
            capture=capture, observer=self.hub,
            capture_token=private_secret(settings.capture_token_path), model=model,
        )
        self.ui: Any = None

    def request_stop(self) -> None:
        self.stopped.set()

    async def run(self) -> int:
        # Before the server says READY, so a signal right after it is never missed.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, self.request_stop)
            except (NotImplementedError, RuntimeError):  # Windows
                signal.signal(signum, lambda *_: loop.call_soon_threadsafe(self.request_stop))
        try:
            await self.service.start()
        except AddressInUseError as exc:
            # GUI: offer the next free port (the server then runs; start the analysis too).
            if self.ui is None or not await self.ui.recover_port_in_use(exc):
                print(f"codette-desktop: error: {exc}; stop the other program or pass --port",
                      file=sys.stderr)
                if self.ui is not None:
                    self.ui.shutdown()
                return EXIT_USAGE
            self.service.analysis.start()
        # Everything built so far (Qt, numpy, the knowledge base: about a million objects)
        # lives as long as the app. Moved out of the collector's reach, a full collection
        # takes a millisecond instead of ~30 ms that any request could have waited for.
        gc.collect()
        gc.freeze()
        await self.stopped.wait()
        log.info("shutting down")
        await self.service.stop()
        if self.ui is not None:
            self.ui.shutdown()
        self.memory.close()
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = parse_args(argv)
    overrides: dict[str, Any] = {}
    for key in ("host", "port", "log_level"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    try:
        settings = load_settings(config_path=args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"codette-desktop: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    secure_storage(settings)
    return_freed_memory()
    log_file = setup_logging(settings)
    # Descriptors for every connection allowed, plus room for files, workers and Qt.
    limit = raise_open_file_limit(settings.max_connections + FD_RESERVE)
    if limit - FD_RESERVE < settings.max_connections:
        log.warning("max_connections %d exceeds what the open-file limit %d allows; using %d",
                    settings.max_connections, limit, max(1, limit - FD_RESERVE))
        # Marked overridden: a settings save keeps the user's own value in the file.
        settings = dataclasses.replace(settings, max_connections=max(1, limit - FD_RESERVE),
                                       overridden=settings.overridden | {"max_connections"})
    headless = args.headless or not display_available()
    if headless and not args.headless:
        log.warning("no display found (DISPLAY/WAYLAND_DISPLAY unset or not reachable): "
                    "running headless")
    log.info("Codette Desktop %s starting (data: %s, log: %s)", __version__,
             settings.data_dir, log_file)

    from PySide6.QtCore import QCoreApplication

    from codette_desktop.qt.event_loop import FastQEventLoop

    instance = None
    if headless:
        qt_app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    else:
        from codette_desktop.ui.desktop import claim_single_instance, create_qt_application

        qt_app = create_qt_application(sys.argv[:1])
        instance = claim_single_instance(settings)
        if instance is None:  # another copy runs; it was asked to show its dashboard
            return EXIT_OK
    loop = FastQEventLoop(qt_app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            try:
                app = Application(settings, headless=headless)
            except CodetteError as exc:
                print(f"codette-desktop: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            if not headless:
                from codette_desktop.ui.desktop import DesktopUI

                app.ui = DesktopUI(service=app.service, hub=app.hub,
                                   request_stop=app.request_stop, instance=instance)
            return loop.run_until_complete(app.run())
    finally:
        asyncio.set_event_loop(None)


if __name__ == "__main__":
    sys.exit(main())
