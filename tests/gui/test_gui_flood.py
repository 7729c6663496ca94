"""A flood of 5,000 messages/s for 10 s: the dashboard stays responsive and bounded."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import psutil
import pytest
from gui_support import message
from PySide6.QtCore import QEvent, QObject
from pytestqt.qtbot import QtBot

from codette_desktop.qt.bridge import ServiceBridge
from codette_desktop.ui.dashboard import DashboardWindow

RATE = 5000  # messages per second
DURATION = 10.0  # seconds
TYPES = ("chat", "chat_response", "analyze", "analysis_response", "ping", "pong")

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


@pytest.mark.slow
def test_flood_keeps_the_window_responsive_and_memory_bounded(
        qtbot: QtBot, codette_app: Any, qasync_loop: asyncio.AbstractEventLoop) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    dashboard = DashboardWindow(bridge)
    qtbot.addWidget(dashboard)
    dashboard.show()
    qtbot.waitExposed(dashboard)
    paints = PaintCounter()
    dashboard.log_view.viewport().installEventFilter(paints)
    batches: list[int] = []
    bridge.messages_logged.connect(lambda batch: batches.append(len(batch)))
    process = psutil.Process()
    hub = codette_app.hub

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        lateness: list[float] = []
        rss: dict[str, int] = {}
        done = asyncio.Event()

        async def probe() -> None:
            # How late a 20 ms sleep wakes up = how long the loop was busy elsewhere.
            while not done.is_set():
                before = loop.time()
                await asyncio.sleep(0.02)
                lateness.append(loop.time() - before - 0.02)

        async def flood() -> int:
            start = loop.time()
            sent = 0
            while (elapsed := loop.time() - start) < DURATION:
                due = min(int(elapsed * RATE), int(DURATION * RATE)) - sent
                for n in range(sent, sent + due):
                    hub(message(n, client=f"c{n % 4}", type_=TYPES[n % len(TYPES)],
                                direction="in" if n % 2 else "out"))
                sent += due
                if "warm" not in rss and elapsed > 3:
                    rss["warm"] = process.memory_info().rss
                await asyncio.sleep(0.005)
            return sent

        probing = asyncio.ensure_future(probe())
        started = loop.time()
        sent = await flood()
        elapsed = loop.time() - started
        await asyncio.sleep(0.2)  # the last batch
        rss["end"] = process.memory_info().rss
        done.set()
        await probing
        return {"sent": sent, "elapsed": elapsed, "lateness": lateness, "rss": rss}

    result = qasync_loop.run_until_complete(scenario())
    elapsed = result["elapsed"]
    lateness = sorted(result["lateness"])
    assert result["sent"] >= RATE * DURATION * 0.95, "the flood kept its rate"
    assert dashboard.log_model.total == result["sent"]
    assert dashboard.log_model.rowCount() == 5000, "the log is a ring of 5,000 rows"
    assert len(batches) / elapsed <= 35, "model updates are batched at ~30 Hz"
    assert paints.count / elapsed <= 40, "repaints are throttled to ~30 Hz"
    # Responsive: the loop is never blocked for long (input is handled on the same loop).
    p95 = lateness[int(len(lateness) * 0.95)]
    assert p95 < 0.1, f"95th percentile loop lateness {p95 * 1000:.0f} ms"
    assert lateness[-1] < 0.5, f"worst loop lateness {lateness[-1] * 1000:.0f} ms"
    growth_mb = (result["rss"]["end"] - result["rss"]["warm"]) / 2**20
    assert growth_mb < 30, f"memory grew {growth_mb:.1f} MiB after the log filled"
    print(f"\nflood: {result['sent']} msgs in {elapsed:.1f} s, {len(batches)} batches, "
          f"{paints.count} log repaints, loop lateness median "
          f"{statistics.median(lateness) * 1000:.1f} ms p95 {p95 * 1000:.1f} ms "
          f"max {lateness[-1] * 1000:.1f} ms, RSS growth {growth_mb:.1f} MiB")
    bridge.close()
