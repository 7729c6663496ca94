"""Single instance: lock file + local socket, keyed by the data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import gui_support  # noqa: F401  (offscreen Qt)
from pytestqt.qtbot import QtBot

from codette_desktop.qt.single_instance import LOCK_NAME, SingleInstance, server_name

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from PySide6.QtCore import QCoreApplication
    from codette_desktop.qt.single_instance import SingleInstance
    app = QCoreApplication([])
    instance = SingleInstance(Path(sys.argv[1]))
    print("locked" if instance.acquire() else "busy", flush=True)
    time.sleep(60)
""")


def test_second_copy_is_refused_and_wakes_the_first(qtbot: QtBot, tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    try:
        assert first.acquire() and first.is_primary
        second = SingleInstance(tmp_path)
        assert not second.acquire()
        assert second.owner_pid() == os.getpid()
        with qtbot.waitSignal(first.activation_requested, timeout=5000):
            assert second.notify_primary(timeout_ms=2000)
    finally:
        first.release()
    third = SingleInstance(tmp_path)
    assert third.acquire(), "released: the next copy starts"
    third.release()


def test_different_data_folders_do_not_collide(tmp_path: Path) -> None:
    a, b = SingleInstance(tmp_path / "a"), SingleInstance(tmp_path / "b")
    assert a.name != b.name
    assert a.acquire() and b.acquire()
    a.release()
    b.release()
    assert server_name(tmp_path / "a") == server_name(tmp_path / "x" / ".." / "a")
    assert len(server_name(tmp_path / ("deep" * 60))) < 80


def test_nobody_listening_is_reported(tmp_path: Path) -> None:
    assert not SingleInstance(tmp_path).notify_primary(timeout_ms=300)


def test_stale_lock_of_a_killed_copy_does_not_block(qtbot: QtBot, tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        assert not SingleInstance(tmp_path).acquire(), "the live holder keeps the lock"
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: no cleanup at all
        holder.wait(timeout=10)
    assert (tmp_path / LOCK_NAME).exists(), "the crashed copy left its lock behind"
    instance = SingleInstance(tmp_path)
    assert instance.acquire(), "a lock whose process is gone is stale"
    assert instance.owner_pid() == os.getpid()
    instance.release()
