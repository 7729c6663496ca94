"""The tray icon: state at a glance, tooltip with URL and clients, and the app menu.

Privacy: while audio is captured the icon carries a badge and the tooltip names the
device and who started it; a capture started by a client, and a capture lost to an
error, also pop up a notification, so capture never starts or dies unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from codette_desktop import __version__
from codette_desktop.config import is_loopback
from codette_desktop.protocol.events import CaptureStateChanged
from codette_desktop.qt.bridge import ServiceBridge
from codette_desktop.services import autostart
from codette_desktop.ui import icons
from codette_desktop.ui.icons import TrayState

APP_TITLE = "Codette Desktop"


def describe_starter(started_by: str | None) -> str:
    """Who started a capture, as the UI says it: a client id, or the dashboard (None)."""
    return f"client {started_by}" if started_by else "the dashboard"


def local_page_url(host: str, port: int) -> str:
    """The server's test page, always through a loopback address the browser can reach."""
    name = host if is_loopback(host) and host != "localhost" else "127.0.0.1"
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"http://{name}:{port}/"


class TrayController(QObject):
    """Owns the QSystemTrayIcon and its menu; acts on the service only through the bridge.

    Signals:
        dashboard_requested(): left click or "Open dashboard".
        settings_requested(): "Settings…".
        start_at_login_toggled(bool): the user switched "Start at login".
        quit_requested(): "Quit".
    """

    dashboard_requested = Signal()
    settings_requested = Signal()
    start_at_login_toggled = Signal(bool)
    quit_requested = Signal()

    def __init__(self, bridge: ServiceBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._icon_key: tuple[TrayState, bool] | None = None
        self._capture_state = bridge.capture_state
        self.tray = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.setObjectName("codette-tray-menu")
        self.action_dashboard = self._add("Open dashboard", self.dashboard_requested.emit)
        self.menu.setDefaultAction(self.action_dashboard)
        self.menu.addSeparator()
        self.action_copy_url = self._add("Copy WebSocket URL", self._on_copy_url_triggered)
        self.action_test_page = self._add("Open test page in browser",
                                          self._on_test_page_triggered)
        self.action_server = self._add("Stop server", self._on_server_action_triggered)
        self.menu.addSeparator()
        self.action_settings = self._add("Settings…", self.settings_requested.emit)
        self.action_logs = self._add("Open log folder", self._on_logs_triggered)
        self.action_login = self._add("Start at login", None)
        self.action_login.setCheckable(True)
        self.action_login.setEnabled(autostart.supported())
        self.action_login.toggled.connect(lambda on: self.start_at_login_toggled.emit(bool(on)))
        self.menu.addSeparator()
        self.action_quit = self._add("Quit", self.quit_requested.emit)
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_tray_activated)
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        bridge.state_changed.connect(self._on_bridge_state_changed)
        bridge.capture_state_changed.connect(self._on_bridge_capture_state_changed)
        self._on_bridge_state_changed()

    def _add(self, text: str, slot: Callable[[], object] | None) -> QAction:
        action = QAction(text, self.menu)
        if slot is not None:
            # A lambda, so the slot never receives triggered()'s "checked" argument.
            action.triggered.connect(lambda *_: slot())
        self.menu.addAction(action)
        return action

    def show(self) -> None:
        self.tray.show()

    def hide(self) -> None:
        self.tray.hide()

    def set_start_at_login(self, enabled: bool) -> None:
        """Reflect the state without emitting start_at_login_toggled."""
        blocked = self.action_login.blockSignals(True)
        self.action_login.setChecked(enabled)
        self.action_login.blockSignals(blocked)

    def notify(self, title: str, message: str) -> None:
        self.tray.showMessage(title, message, self.tray.icon(), 6000)

    # -- state -----------------------------------------------------------------------------

    def state(self) -> TrayState:
        if not self._bridge.running:
            return TrayState.ERROR if self._bridge.last_error else TrayState.STOPPED
        if self._bridge.active_connections:
            return TrayState.CONNECTED
        return TrayState.RUNNING

    def tooltip(self) -> str:
        lines = [f"{APP_TITLE} {__version__}"]
        if self._bridge.running:
            count = self._bridge.active_connections
            lines.append(self._bridge.url)
            lines.append(f"{count} client{'s' if count != 1 else ''} connected")
        elif self._bridge.last_error:
            lines.append(f"Error: {self._bridge.last_error}")
        else:
            lines.append("Server stopped")
        capture = self._bridge.capture_event
        if self._bridge.capture_state == "running":
            where = f"Capturing from {capture.device}" if capture and capture.device \
                else "Capturing audio"
            starter = capture.started_by if capture else None
            lines.append(f"{where} (started by {describe_starter(starter)})")
        return "\n".join(lines)

    def _on_bridge_state_changed(self) -> None:
        key = (self.state(), self._bridge.capture_state == "running")
        if key != self._icon_key:
            self._icon_key = key
            self.tray.setIcon(icons.tray_icon(key[0], capturing=key[1]))
        self.tray.setToolTip(self.tooltip())
        running = self._bridge.running
        self.action_server.setText("Stop server" if running else "Start server")
        self.action_copy_url.setEnabled(running)
        self.action_test_page.setEnabled(running)

    def _on_bridge_capture_state_changed(self, event: CaptureStateChanged) -> None:
        previous, self._capture_state = self._capture_state, event.state
        device = event.device or "the default input"
        if event.state == "running" and event.started_by:
            # A client switched the microphone on: the user must hear of it even with the
            # dashboard closed. Captures started from the dashboard need no notice.
            self.notify("Audio capture started",
                        f"Client {event.started_by} is capturing audio from {device}.")
        elif event.state == "error" and previous == "running":
            self.notify("Audio capture stopped",
                        f"Capture from {device} stopped: {event.message or 'device error'}")

    # -- actions ---------------------------------------------------------------------------

    def _on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.dashboard_requested.emit()

    def _on_menu_about_to_show(self) -> None:
        self.set_start_at_login(autostart.supported() and autostart.is_enabled())
        self._on_bridge_state_changed()

    def _on_copy_url_triggered(self) -> None:
        QGuiApplication.clipboard().setText(self._bridge.url)

    def _on_test_page_triggered(self) -> None:
        QDesktopServices.openUrl(QUrl(local_page_url(self._bridge.settings.host,
                                                    self._bridge.port)))

    def _on_server_action_triggered(self) -> None:
        if self._bridge.running:
            self._bridge.stop_server()
        else:
            self._bridge.start_server()

    def _on_logs_triggered(self) -> None:
        folder = self._bridge.settings.log_dir
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
