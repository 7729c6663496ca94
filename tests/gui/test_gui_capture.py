"""The capture part of the GUI: device picker, tray privacy notices, the settings switch.

Offscreen, on the real bridge and a real CodetteService. The tests that capture need a
real device: PulseAudio's null sink (``tests/audio_env.py``), seen by PortAudio as the
ALSA ``pulse`` device; they skip when PulseAudio is not installed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_support import wait_for
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import ClientConnection, connect

from codette_desktop.protocol import events
from codette_desktop.qt import bridge as bridge_module
from codette_desktop.qt.bridge import ServiceBridge
from codette_desktop.ui.dashboard import DashboardWindow
from codette_desktop.ui.desktop import DesktopUI
from codette_desktop.ui.settings_dialog import SettingsDialog
from codette_desktop.ui.tray import TrayController

from audio_env import PulseAudioEnv, pulse_fixture, sine, write_wav

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host

DEVICE = "pulse"


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseAudioEnv]:
    yield from pulse_fixture()


@pytest.fixture
def notices(ui: DesktopUI, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """What the tray pops up (offscreen has no notification server to ask)."""
    shown: list[tuple[str, str]] = []
    assert ui.tray is not None
    monkeypatch.setattr(ui.tray.tray, "showMessage",
                        lambda title, text, *_: shown.append((title, text)))
    return shown


async def open_client(url: str) -> ClientConnection:
    ws = await connect(url, open_timeout=10)
    assert json.loads(await ws.recv())["type"] == "connection"
    return ws


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send and return the reply with the same id (pushed capture_status may come first)."""
    await ws.send(json.dumps(message))
    while True:
        reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if reply.get("id") == message["id"]:
            return reply


def open_capture_tab(dashboard: DashboardWindow, qtbot: QtBot) -> None:
    dashboard.show()
    qtbot.waitExposed(dashboard)
    dashboard.tabs.setCurrentWidget(dashboard.capture_panel)


# -- without a device ----------------------------------------------------------------------


def test_without_portaudio_the_panel_says_why_and_disables_its_buttons(
        qtbot: QtBot, codette_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_module, "portaudio_status",
                        lambda: (False, "PortAudio library not found"))
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    dashboard = DashboardWindow(bridge)
    qtbot.addWidget(dashboard)
    panel = dashboard.capture_panel
    open_capture_tab(dashboard, qtbot)
    assert panel.state.text() == "Capture: unavailable"
    assert panel.error.isVisibleTo(panel)
    assert "PortAudio library not found" in panel.error.text()
    for widget in (panel.devices, panel.refresh_button, panel.start_button,
                   panel.stop_button):
        assert not widget.isEnabled()
    bridge.close()


def test_with_no_capture_service_the_panel_is_disabled(
        qtbot: QtBot, codette_app: Any, qasync_loop: asyncio.AbstractEventLoop) -> None:
    capture = codette_app.service.capture
    codette_app.service.capture = None
    try:
        bridge = ServiceBridge(codette_app.service, codette_app.hub)
        dashboard = DashboardWindow(bridge)
        qtbot.addWidget(dashboard)
        panel = dashboard.capture_panel
        assert panel.unavailable_reason
        assert not panel.start_button.isEnabled() and not panel.refresh_button.isEnabled()
        # A request that slips through anyway is answered with the reason, not a crash.
        with qtbot.waitSignal(bridge.capture_failed) as failed:
            bridge.start_capture(None)
            qasync_loop.run_until_complete(asyncio.sleep(0.05))
        assert failed.args == [panel.unavailable_reason]
        bridge.close()
    finally:
        codette_app.service.capture = capture


def test_a_device_that_cannot_be_opened_shows_the_error_in_the_panel(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    panel = ui.dashboard.capture_panel
    if panel.unavailable_reason:
        pytest.skip(f"PortAudio is not available: {panel.unavailable_reason}")

    async def scenario() -> None:
        ui.bridge.start_capture(9999)  # no such PortAudio index
        await wait_for(lambda: panel.error.isVisibleTo(panel), what="the error")
        assert "9999" in panel.error.text()
        assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
        assert ui.bridge.capture_state == "error"

    qasync_loop.run_until_complete(scenario())


# -- tray: privacy -------------------------------------------------------------------------


def test_tray_names_the_capturing_client_and_notifies(qtbot: QtBot, codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    tray = TrayController(bridge)
    shown: list[tuple[str, str]] = []
    tray.notify = lambda title, text: shown.append((title, text))  # type: ignore[method-assign]
    details = {"state": "running", "device_index": 3, "device_name": "Scarlett 2i2",
               "sample_rate": 48000, "channels": 2, "overflows": 0}
    codette_app.hub(events.CaptureStateChanged(state="running", device="Scarlett 2i2",
                                               started_by=None, details=details))
    assert "Capturing from Scarlett 2i2 (started by the dashboard)" in tray.tray.toolTip()
    assert shown == [], "a capture the user started here needs no notice"
    codette_app.hub(events.CaptureStateChanged(state="stopped", device="Scarlett 2i2",
                                               started_by=None, message="stopped"))
    assert "Capturing" not in tray.tray.toolTip()
    codette_app.hub(events.CaptureStateChanged(state="running", device="Scarlett 2i2",
                                               started_by="c3-9f2e", details=details))
    assert "Capturing from Scarlett 2i2 (started by client c3-9f2e)" in tray.tray.toolTip()
    assert shown == [("Audio capture started",
                      "Client c3-9f2e is capturing audio from Scarlett 2i2.")]
    codette_app.hub(events.CaptureStateChanged(state="error", device="Scarlett 2i2",
                                               started_by="c3-9f2e",
                                               message="no audio for 1.0 s"))
    assert shown[-1] == ("Audio capture stopped",
                         "Capture from Scarlett 2i2 stopped: no audio for 1.0 s")
    # A start that fails was never running: the panel says why, the tray stays quiet.
    codette_app.hub(events.CaptureStateChanged(state="error", device=None, started_by=None,
                                               message="could not open device 7"))
    assert len(shown) == 2
    bridge.close()


# -- settings ------------------------------------------------------------------------------


def test_allow_client_capture_is_saved_and_applied_without_a_restart(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url)
        ui.open_settings()
        dialog = ui.settings_dialog
        assert isinstance(dialog, SettingsDialog)
        assert dialog.allow_capture.text() == "Allow clients to start audio capture"
        assert dialog.allow_capture.isChecked()  # the default
        dialog.allow_capture.setChecked(False)
        assert not dialog.restarts_server
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        assert not codette_app.service.settings.allow_client_capture
        saved = json.loads(ui.bridge.settings.settings_path.read_text())
        assert saved["allow_client_capture"] is False
        # The same connection (no restart) is refused now.
        token = codette_app.settings.capture_token_path.read_text().strip()
        reply = await request(ws, {"type": "capture_start", "id": "c1", "device": 9999,
                                   "capture_token": token})
        assert reply["type"] == "error" and reply["code"] == "not_authorized"
        ui.open_settings()
        dialog = ui.settings_dialog
        assert dialog is not None and not dialog.allow_capture.isChecked()
        dialog.allow_capture.setChecked(True)
        dialog.accept()
        # Allowed again: it gets as far as the device (9999 does not exist).
        reply = await request(ws, {"type": "capture_start", "id": "c2", "device": 9999,
                                   "capture_token": token})
        assert reply.get("code") != "not_authorized", reply
        assert json.loads(ui.bridge.settings.settings_path.read_text())[
            "allow_client_capture"] is True
        await ws.close()

    qasync_loop.run_until_complete(scenario())


# -- on a real device: the PulseAudio null sink ----------------------------------------------


@pytest.mark.audio
def test_pick_start_and_stop_the_pulse_device_from_the_dashboard(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI, notices: list[tuple[str, str]],
        pulse: PulseAudioEnv, qasync_loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    dashboard = ui.dashboard
    panel = dashboard.capture_panel
    wav = write_wav(tmp_path / "sine.wav", sine(frequency=1000, dbfs=-6.0, seconds=20),
                    48000)

    async def scenario() -> None:
        open_capture_tab(dashboard, qtbot)  # the first look lists the devices
        await wait_for(lambda: panel.devices.findText(DEVICE, flags_starting()) >= 0,
                       what="the pulse device in the picker")
        row = panel.devices.findText(DEVICE, flags_starting())
        panel.devices.setCurrentIndex(row)
        index = panel.devices.currentData()
        assert isinstance(index, int)
        assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        await wait_for(lambda: ui.bridge.capture_state == "running", what="running")
        state = codette_app.service.capture.state
        assert state.device_index == index and state.started_by is None
        text = panel.status.text()
        assert text.startswith(f"Running · {DEVICE} · {state.sample_rate} Hz · "
                               f"{state.channels} ch · started by the dashboard · "), text
        assert "overflow" in text
        assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
        assert ui.tray is not None
        assert f"Capturing from {DEVICE} (started by the dashboard)" in ui.tray.tray.toolTip()
        player = pulse.play(wav)
        try:
            await wait_for(lambda: panel.meter.channels > 0
                           and (panel.meter.short_term_lufs or -100.0) > -30.0,
                           timeout=15, what="the sine on the meter")
        finally:
            player.kill()
            player.wait()
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
        await wait_for(lambda: ui.bridge.capture_state == "stopped", what="stopped")
        assert "stopped from the dashboard" in panel.state.text()
        assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
        assert notices == [], "the dashboard's own capture pops up nothing"

    qasync_loop.run_until_complete(scenario())


@pytest.mark.audio
def test_a_client_capture_is_announced_and_a_lost_device_reported(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI, notices: list[tuple[str, str]],
        pulse: PulseAudioEnv, qasync_loop: asyncio.AbstractEventLoop) -> None:
    panel = ui.dashboard.capture_panel
    assert ui.tray is not None
    tray = ui.tray.tray

    async def scenario() -> None:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url)
        token = codette_app.settings.capture_token_path.read_text().strip()
        reply = await request(ws, {"type": "capture_start", "id": "c1", "device": DEVICE,
                                   "capture_token": token})
        assert reply["type"] == "capture_status" and reply["state"] == "running", reply
        assert reply["started_by"] == "you"
        client_id = next(c.client_id for c in codette_app.service.server.clients())
        await wait_for(lambda: ui.bridge.capture_state == "running", what="running")
        assert notices == [("Audio capture started",
                            f"Client {client_id} is capturing audio from {DEVICE}.")]
        assert f"Capturing from {DEVICE} (started by client {client_id})" in tray.toolTip()
        assert f"started by client {client_id}" in panel.status.text()
        # The user can stop a client's capture from the dashboard.
        assert panel.stop_button.isEnabled()
        # Losing the sound server is losing the device.
        pulse.kill()
        try:
            await wait_for(lambda: ui.bridge.capture_state == "error", timeout=10,
                           what="the error")
            assert len(notices) == 2
            title, text = notices[1]
            assert title == "Audio capture stopped"
            assert text.startswith(f"Capture from {DEVICE} stopped: ")
            assert panel.error.isVisibleTo(panel) and panel.error.text()
            assert "Capturing" not in tray.toolTip()
        finally:
            pulse.start()
        await ws.close()

    qasync_loop.run_until_complete(scenario())


def flags_starting() -> Qt.MatchFlag:
    return Qt.MatchFlag.MatchStartsWith
