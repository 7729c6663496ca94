"""Regression test for the PySide6 pin.

PySide6 6.12.0 drops a reference to ``None`` on every ``QObject.killTimer()``; qasync calls
``startTimer(0)``/``killTimer()`` for every ``call_soon``, so the process dies with
``Fatal Python error: none_dealloc``. This drives 50,000 callbacks through the same kind of
loop the app uses (stock qasync, and ``FastQEventLoop``, which batches them through one
QTimer) and checks that ``None``'s reference count did not fall. It runs in a subprocess
so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

CALLBACKS = 50_000

LOOPS = ["qasync.QEventLoop", "FastQEventLoop"]

SCRIPT = textwrap.dedent(f"""
    import asyncio, gc, sys
    import qasync
    from PySide6.QtCore import QCoreApplication
    from codette_desktop.qt.event_loop import FastQEventLoop

    app = QCoreApplication(sys.argv[:1])
    loop = {{loop_class}}(app)
    asyncio.set_event_loop(loop)

    async def drive():
        done = asyncio.Event()
        count = 0
        def tick():
            nonlocal count
            count += 1
            if count == {CALLBACKS}:
                done.set()
            else:
                loop.call_soon(tick)
        loop.call_soon(tick)
        await done.wait()
        return count

    with loop:
        loop.run_until_complete(asyncio.sleep(0))  # warm up the loop's own objects
        gc.collect()
        before = sys.getrefcount(None)
        ran = loop.run_until_complete(drive())
        gc.collect()
        after = sys.getrefcount(None)
    print(ran, before, after)
""")


def test_pyside6_pin_is_the_safe_version() -> None:
    version = metadata.version("PySide6-Essentials")
    assert version != "6.12.0", "6.12.0 crashes under qasync (none_dealloc); keep the pin"
    requirement = [r for r in metadata.requires("codette-desktop") or [] if "PySide6" in r]
    assert requirement and "==" in requirement[0], requirement


@pytest.mark.parametrize("loop_class", LOOPS)
def test_qasync_call_soon_does_not_leak_none_references(loop_class: str) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    script = SCRIPT.format(loop_class=loop_class)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ran, before, after = (int(x) for x in result.stdout.split())
    assert ran == CALLBACKS
    # Allow a little noise from objects created along the way; the bug loses 50,000+.
    assert after >= before - 50, f"refcount(None) fell from {before} to {after}"
