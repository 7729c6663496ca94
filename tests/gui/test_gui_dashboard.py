"""Dashboard, tray controller and the desktop UI, fed with real events (offscreen)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gui_support import SAMPLE_ANALYSIS, message
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from codette_desktop import __version__
from codette_desktop.protocol import events
from codette_desktop.qt.bridge import ServiceBridge
from codette_desktop.services import autostart
from codette_desktop.ui.dashboard import DashboardWindow, format_duration
from codette_desktop.ui.desktop import DesktopUI
from codette_desktop.ui.icons import TrayState
from codette_desktop.ui.tray import TrayController, local_page_url

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


@pytest.fixture
def dashboard(qtbot: QtBot, codette_app: Any) -> Any:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    window = DashboardWindow(bridge)
    qtbot.addWidget(window)
    yield window
    bridge.close()


def feed(codette_app: Any, dashboard: DashboardWindow, batch: list[events.MessageLogged],
         qtbot: QtBot) -> None:
    total = dashboard.log_model.total + len(dashboard._held)
    for item in batch:
        codette_app.hub(item)
    qtbot.waitUntil(lambda: dashboard.log_model.total + len(dashboard._held)
                    == total + len(batch), timeout=3000)


def test_log_shows_batches_and_offers_filters(qtbot: QtBot, codette_app: Any,
                                              dashboard: DashboardWindow) -> None:
    dashboard.show()
    feed(codette_app, dashboard,
         [message(n, client=f"c{n % 2}", type_="chat" if n % 3 == 0 else "ping")
          for n in range(30)], qtbot)
    assert dashboard.log_model.rowCount() == 30
    assert [dashboard.type_filter.itemText(i) for i in range(dashboard.type_filter.count())] \
        == ["All", "chat", "ping"]
    assert dashboard.client_filter.findText("c1") > 0
    dashboard.set_filters(type_="chat", client_id="c0")
    assert dashboard.log_proxy.type_filter == "chat"
    assert dashboard.log_proxy.client_filter == "c0"
    assert dashboard.log_proxy.rowCount() == 5
    assert dashboard.log_status.text().startswith("5 shown · 30 kept")
    dashboard.set_filters()
    assert dashboard.log_proxy.rowCount() == 30


def test_pause_holds_messages_until_resumed(qtbot: QtBot, codette_app: Any,
                                           dashboard: DashboardWindow) -> None:
    dashboard.show()
    feed(codette_app, dashboard, [message(n) for n in range(5)], qtbot)
    dashboard.pause_button.click()
    assert dashboard.paused and dashboard.pause_button.text() == "Resume"
    feed(codette_app, dashboard, [message(n) for n in range(5, 12)], qtbot)
    assert dashboard.log_model.rowCount() == 5
    assert "7 waiting" in dashboard.log_status.text()
    dashboard.pause_button.click()
    assert not dashboard.paused
    assert dashboard.log_model.rowCount() == 12
    assert [m.size - 20 for m in dashboard.log_model.messages()] == list(range(12))


def test_clear_empties_the_log(qtbot: QtBot, codette_app: Any,
                               dashboard: DashboardWindow) -> None:
    dashboard.show()
    feed(codette_app, dashboard, [message(n) for n in range(8)], qtbot)
    dashboard.clear_button.click()
    assert dashboard.log_model.rowCount() == 0
    assert dashboard.type_filter.count() == 1


def test_chat_and_analysis_events_render(qtbot: QtBot, codette_app: Any,
                                         dashboard: DashboardWindow) -> None:
    codette_app.hub(events.ChatExchanged(
        client_id="c1", session_id="s1", perspective="mix_engineering",
        question="How do I EQ <bass>?", answer="Cut 250 Hz.", confidence=0.74))
    assert dashboard.chat_view.exchanges == 1
    text = dashboard.chat_view.toPlainText()
    assert "How do I EQ <bass>?" in text and "Cut 250 Hz." in text and "0.74" in text
    codette_app.hub(events.AnalysisCompleted(client_id="c1", track_name="Kick",
                                             analysis=SAMPLE_ANALYSIS))
    assert dashboard.analysis_panel.last_event is not None
    assert dashboard.analysis_panel.spectrum.bands["sub"] == -32.0
    codette_app.hub(events.AnalysisWarmedUp(seconds=3.25))
    assert dashboard.server_panel.analysis.text() == "ready (warm-up 3.2 s)"


def test_upload_and_analysis_progress_show_until_the_result(
        qtbot: QtBot, codette_app: Any, dashboard: DashboardWindow) -> None:
    bar = dashboard.analysis_panel.progress
    assert not bar.isVisibleTo(dashboard.analysis_panel)
    codette_app.hub(events.AnalysisProgress(client_id="c7-abc123", request_id="u1",
                                            stage="upload", fraction=0.42))
    assert bar.isVisibleTo(dashboard.analysis_panel)
    assert bar.value() == 420 and "c7-abc123" in bar.format()
    codette_app.hub(events.AnalysisProgress(client_id="c7-abc123", request_id="u1",
                                            stage="analysing", fraction=0.0))
    assert bar.maximum() == 0 and "Analysing" in bar.format()  # busy: no fraction known
    codette_app.hub(events.AnalysisCompleted(client_id="c7-abc123", track_name="Mix",
                                             analysis=SAMPLE_ANALYSIS))
    assert not bar.isVisibleTo(dashboard.analysis_panel)


def test_a_worker_failure_is_shown(qtbot: QtBot, codette_app: Any,
                                   dashboard: DashboardWindow) -> None:
    codette_app.hub(events.AnalysisWorkerFailed(worker="full", reason="killed by SIGSEGV",
                                                restarted=True))
    assert "full worker restarted" in dashboard.server_panel.analysis.text()
    assert dashboard.server_panel.analysis.toolTip() == "killed by SIGSEGV"


def test_capture_events_reach_the_meter(qtbot: QtBot, codette_app: Any,
                                        dashboard: DashboardWindow) -> None:
    codette_app.hub(events.CaptureStateChanged(state="running", device="Null sink",
                                               started_by="c1"))
    assert "running — Null sink (started by c1)" in dashboard.capture_panel.state.text()
    codette_app.hub(events.LevelsMeasured(peak_dbfs=(-3.0, -5.0), rms_dbfs=(-10.0, -12.0),
                                          momentary_lufs=-11.0, short_term_lufs=-12.0,
                                          overflows=0, at=0.0))
    assert dashboard.capture_panel.meter.channels == 2
    assert dashboard.capture_panel.meter.short_term_lufs == -12.0


def test_uptime_timer_runs_only_while_visible(qtbot: QtBot, dashboard: DashboardWindow) -> None:
    assert not dashboard.uptime_timer_active
    dashboard.show()
    qtbot.waitExposed(dashboard)
    assert dashboard.uptime_timer_active
    dashboard.hide()
    assert not dashboard.uptime_timer_active


def test_closing_hides_to_tray_or_quits(qtbot: QtBot, dashboard: DashboardWindow) -> None:
    dashboard.show()
    with qtbot.waitSignal(dashboard.hidden_to_tray):
        dashboard.close()
    assert not dashboard.isVisible()
    dashboard.hide_on_close = False
    dashboard.show()
    with qtbot.waitSignal(dashboard.quit_requested):
        dashboard.close()
    assert not dashboard.isVisible()


def test_server_panel_shows_state(qtbot: QtBot, codette_app: Any,
                                  dashboard: DashboardWindow) -> None:
    dashboard.show()
    assert "Stopped" in dashboard.server_panel.state.text()
    codette_app.hub(events.ServerFailed(message="port 8000 on 127.0.0.1 is already in use"))
    assert "Error" in dashboard.server_panel.state.text()
    assert "already in use" in dashboard.statusBar().currentMessage()
    assert format_duration(3725.9) == "1:02:05"


# -- tray -----------------------------------------------------------------------------------


def test_tray_state_icon_tooltip_and_menu(qtbot: QtBot, codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    tray = TrayController(bridge)
    assert tray.state() is TrayState.STOPPED
    assert f"Codette Desktop {__version__}" in tray.tooltip()
    assert tray.action_server.text() == "Start server"
    assert not tray.action_copy_url.isEnabled()
    codette_app.hub(events.ServerFailed(message="boom"))
    assert tray.state() is TrayState.ERROR
    assert "Error: boom" in tray.tray.toolTip()
    assert not tray.tray.icon().isNull()
    codette_app.hub(events.CaptureStateChanged(state="running", device=None, started_by=None))
    assert "Capturing audio" in tray.tray.toolTip()
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Open dashboard", "Copy WebSocket URL", "Open test page in browser",
                     "Start server", "Settings…", "Open log folder", "Start at login", "Quit"]
    with qtbot.waitSignal(tray.quit_requested):
        tray.action_quit.trigger()
    with qtbot.waitSignal(tray.dashboard_requested):
        tray.action_dashboard.trigger()
    with qtbot.waitSignal(tray.settings_requested):
        tray.action_settings.trigger()
    with qtbot.waitSignal(tray.start_at_login_toggled) as toggled:
        tray.action_login.trigger()
    assert toggled.args == [True]
    bridge.close()


def test_tray_follows_a_running_server(qtbot: QtBot, codette_app: Any,
                                       qasync_loop: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    tray = TrayController(bridge)
    qasync_loop.run_until_complete(codette_app.service.start())
    assert tray.state() is TrayState.RUNNING
    assert bridge.url in tray.tray.toolTip()
    assert "0 clients connected" in tray.tray.toolTip()
    assert tray.action_server.text() == "Stop server"
    tray.action_copy_url.trigger()
    assert QGuiApplication.clipboard().text() == bridge.url
    bridge.close()


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [("127.0.0.1", 8000, "http://127.0.0.1:8000/"),
     ("localhost", 9000, "http://127.0.0.1:9000/"),
     ("::1", 8000, "http://[::1]:8000/"),
     ("0.0.0.0", 8000, "http://127.0.0.1:8000/")],
)
def test_test_page_url(host: str, port: int, url: str) -> None:
    assert local_page_url(host, port) == url


# -- the desktop UI as a whole ----------------------------------------------------------


def test_without_a_tray_the_dashboard_is_the_main_window(qtbot: QtBot,
                                                         codette_app: Any) -> None:
    stops: list[bool] = []
    ui = DesktopUI(service=codette_app.service, hub=codette_app.hub,
                   request_stop=lambda: stops.append(True), tray_available=False)
    qtbot.addWidget(ui.dashboard)
    assert ui.tray is None
    assert ui.dashboard.isVisible()
    ui.dashboard.close()
    assert stops == [True]
    ui.shutdown()


def test_with_a_tray_start_minimised_and_hide_notice(qtbot: QtBot, codette_app: Any) -> None:
    codette_app.service.settings = codette_app.service.settings.replace(start_minimised=True)
    ui = DesktopUI(service=codette_app.service, hub=codette_app.hub,
                   request_stop=lambda: None, tray_available=True)
    qtbot.addWidget(ui.dashboard)
    assert ui.tray is not None
    assert not ui.dashboard.isVisible(), "start minimised"
    ui.tray.action_dashboard.trigger()
    assert ui.dashboard.isVisible()
    notices: list[str] = []
    ui.tray.notify = lambda title, text: notices.append(text)  # type: ignore[method-assign]
    ui.dashboard.close()
    ui.show_dashboard()
    ui.dashboard.close()
    assert not ui.dashboard.isVisible()
    assert len(notices) == 1, "the hide-to-tray notice is shown once"
    ui.shutdown()
    assert not ui.tray.tray.isVisible()


def test_apply_settings_saves_and_switches_start_at_login(
        qtbot: QtBot, codette_app: Any, qasync_loop: Any, tmp_path: Path) -> None:
    ui = DesktopUI(service=codette_app.service, hub=codette_app.hub,
                   request_stop=lambda: None, tray_available=True)
    qtbot.addWidget(ui.dashboard)
    entry = tmp_path / "xdg" / "autostart" / autostart.ENTRY_NAME
    settings = codette_app.service.settings.replace(start_at_login=True, start_minimised=True)
    ui.apply_settings(settings)
    saved = json.loads(settings.settings_path.read_text())
    assert saved["start_at_login"] is True and saved["start_minimised"] is True
    assert entry.is_file() and "Exec=" in entry.read_text()
    assert ui.tray is not None and ui.tray.action_login.isChecked()
    ui.tray.action_login.trigger()  # switch it off from the menu
    assert not entry.exists()
    assert json.loads(settings.settings_path.read_text())["start_at_login"] is False
    ui.shutdown()


def test_settings_dialog_from_the_dashboard(qtbot: QtBot, codette_app: Any,
                                            qasync_loop: Any) -> None:
    ui = DesktopUI(service=codette_app.service, hub=codette_app.hub,
                   request_stop=lambda: None, tray_available=True)
    qtbot.addWidget(ui.dashboard)
    ui.dashboard.server_panel.settings_button.click()
    dialog = ui.settings_dialog
    assert dialog is not None and dialog.isVisible()
    ui.open_settings()
    assert ui.settings_dialog is dialog, "one settings dialog at a time"
    dialog.start_minimised.setChecked(True)
    dialog.accept()
    assert not dialog.isVisible()
    assert codette_app.service.settings.start_minimised
    assert json.loads(codette_app.service.settings.settings_path.read_text())[
        "start_minimised"] is True
    ui.shutdown()
