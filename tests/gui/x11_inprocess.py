"""In-process checks on a real X server with a tray host.

Not collected on its own (no ``test_`` prefix): ``test_gui_x11.py`` runs it in a child
pytest with ``QT_QPA_PLATFORM=xcb`` and ``DISPLAY`` set, because the main test process
already has an offscreen QApplication and Qt picks its platform once per process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from gui_support import wait_for
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import connect

from codette_desktop.ui.desktop import DesktopUI

pytestmark = pytest.mark.x11

if os.environ.get("QT_QPA_PLATFORM") != "xcb" or not os.environ.get("DISPLAY"):
    pytest.skip("run by test_gui_x11.py with an X display", allow_module_level=True)

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


@pytest.fixture
def ui(qtbot: QtBot, codette_app: Any) -> Any:
    stops: list[bool] = []
    desktop = DesktopUI(service=codette_app.service, hub=codette_app.hub,
                        request_stop=lambda: stops.append(True))
    desktop.stops = stops  # type: ignore[attr-defined]
    qtbot.addWidget(desktop.dashboard)
    yield desktop
    desktop.shutdown()


def test_tray_is_available_and_the_icon_is_shown(qtbot: QtBot, ui: DesktopUI) -> None:
    assert QSystemTrayIcon.isSystemTrayAvailable()
    assert ui.tray is not None, "a tray host exists, so the app uses it"
    assert ui.tray.tray.isVisible()
    # Embedded by the tray host: the icon gets a real on-screen geometry.
    qtbot.waitUntil(lambda: ui.tray is not None and not ui.tray.tray.geometry().isEmpty(),
                    timeout=10000)
    assert ui.dashboard.hide_on_close


def test_menu_opens_programmatically(qtbot: QtBot, ui: DesktopUI) -> None:
    assert ui.tray is not None
    menu = ui.tray.menu
    qtbot.waitUntil(lambda: not ui.tray.tray.geometry().isEmpty(), timeout=10000)  # type: ignore[union-attr]
    menu.popup(ui.tray.tray.geometry().bottomLeft())
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    menu.hide()
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=5000)


def click_until(qtbot: QtBot, tray: QSystemTrayIcon, button: str,
                condition: Callable[[], bool]) -> None:
    """Click the icon through the X server and the tray host, as a user would, until
    ``condition`` holds: a click that lands while the tray host is still embedding the
    icon is lost, so it is repeated. xdotool runs detached so the Qt loop keeps turning."""
    qtbot.waitUntil(lambda: not tray.geometry().isEmpty(), timeout=10000)
    for _attempt in range(5):
        center = tray.geometry().center()
        subprocess.run(["xdotool", "mousemove", str(center.x()), str(center.y())], timeout=10)
        clicker = subprocess.Popen(["xdotool", "click", button])
        try:
            qtbot.waitUntil(condition, timeout=2000)
            return
        except qtbot.TimeoutError:
            continue
        finally:
            clicker.wait(timeout=10)
    raise AssertionError(f"clicking button {button} on the tray icon did nothing")


def test_menu_opens_on_a_right_click_on_the_icon(qtbot: QtBot, ui: DesktopUI) -> None:
    assert ui.tray is not None
    click_until(qtbot, ui.tray.tray, "3", ui.tray.menu.isVisible)
    ui.tray.menu.hide()


def test_left_click_opens_the_dashboard(qtbot: QtBot, ui: DesktopUI) -> None:
    assert ui.tray is not None
    ui.dashboard.hide()
    click_until(qtbot, ui.tray.tray, "1", ui.dashboard.isVisible)


def test_quit_from_the_menu_requests_stop(qtbot: QtBot, ui: DesktopUI) -> None:
    assert ui.tray is not None
    ui.tray.action_quit.trigger()
    assert ui.stops == [True]  # type: ignore[attr-defined]


def test_a_client_makes_a_row_appear(qtbot: QtBot, codette_app: Any, ui: DesktopUI,
                                     qasync_loop: asyncio.AbstractEventLoop) -> None:
    model = ui.dashboard.connections_model

    async def scenario() -> None:
        await codette_app.service.start()
        async with connect(ui.bridge.url) as ws:
            client_id = json.loads(await ws.recv())["client_id"]
            await wait_for(lambda: model.client_ids() == [client_id], what="the row")
            assert ui.tray is not None and "1 client connected" in ui.tray.tray.toolTip()
        await wait_for(lambda: model.rowCount() == 0, what="the row to go")

    ui.show_dashboard()
    qasync_loop.run_until_complete(scenario())
