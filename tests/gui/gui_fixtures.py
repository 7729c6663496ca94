"""GUI test fixtures, loaded with ``pytest_plugins = ["gui_fixtures"]``.

Not a conftest.py: tests/integration imports ``Client`` from ``conftest``, and a second
conftest module would shadow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_support import settings_for, visible_windows, wait_until, x_env, x_tools_missing

from codette_desktop.config import Settings


@pytest.fixture
def qasync_loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """The app's qasync loop on pytest-qt's QApplication; drive it with run_until_complete."""
    from codette_desktop.qt.event_loop import FastQEventLoop

    # As in the app: closing the last window (a dialog) must not stop the loop.
    qapp.setQuitOnLastWindowClosed(False)
    loop = FastQEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def ui(qtbot: Any, codette_app: Any) -> Iterator[Any]:
    """The desktop UI on ``codette_app``, as if a tray host were there (offscreen)."""
    from codette_desktop.ui.desktop import DesktopUI

    desktop = DesktopUI(service=codette_app.service, hub=codette_app.hub,
                        request_stop=lambda: None, tray_available=True)
    qtbot.addWidget(desktop.dashboard)
    yield desktop
    desktop.shutdown()


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """CODETTE_TEST_DISPLAY (scripts/with-test-env.sh), else an Xvfb of our own."""
    display = os.environ.get("CODETTE_TEST_DISPLAY")
    if display:
        yield display
        return
    if shutil.which("Xvfb") is None:
        pytest.skip("needs CODETTE_TEST_DISPLAY or Xvfb")
    read_fd, write_fd = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it once it accepts clients.
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten",
         "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture
def tray_host(x_display: str, tmp_path: Path) -> Iterator[str]:
    """A fresh ``trayer`` on the display; yields the display once trayer's window exists."""
    missing = x_tools_missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    log_path = tmp_path / "trayer.log"
    trayer: subprocess.Popen[bytes] | None = None
    # trayer occasionally exits at start while the previous test's tray is still being
    # torn down by the X server; a second attempt then succeeds.
    for _attempt in range(3):
        with open(log_path, "ab") as log:
            trayer = subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                 "--height", "24", "--transparent", "false", "--SetDockType", "true"],
                env=x_env(x_display), stdout=log, stderr=log)
        wait_until(lambda p=trayer: visible_windows(x_display, "trayer") or p.poll() is not None,
                   timeout=10, what="trayer's window")
        if trayer.poll() is None:
            break
    assert trayer is not None
    if trayer.poll() is not None:
        pytest.fail(f"trayer exited with {trayer.returncode}: {log_path.read_text()}")
    try:
        yield x_display
    finally:
        trayer.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            trayer.wait(timeout=5)



@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    """The settings ``codette_app`` is built with (a test module may override this)."""
    return settings_for(tmp_path)


@pytest.fixture
def codette_app(qasync_loop: asyncio.AbstractEventLoop, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch, app_settings: Settings) -> Iterator[Any]:
    """The real composition root's objects (not started): service, hub, memory."""
    from codette_desktop.app import Application

    # Start-at-login writes under XDG_CONFIG_HOME: keep it inside the test's folder.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    app = Application(app_settings, headless=False)
    try:
        yield app
    finally:
        qasync_loop.run_until_complete(app.service.stop())
        app.memory.close()

