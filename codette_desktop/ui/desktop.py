"""The desktop UI as one object: bridge, tray, dashboard and dialogs, wired together.

``app.py`` builds it after the services (``DesktopUI(...)``), awaits
:meth:`DesktopUI.recover_port_in_use` when the first start finds the port taken, and
calls :meth:`DesktopUI.shutdown` after the services stopped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from codette_desktop.config import Settings, save_settings
from codette_desktop.errors import AddressInUseError
from codette_desktop.protocol.events import CapturePermissionRequested
from codette_desktop.qt.bridge import ServiceBridge
from codette_desktop.qt.single_instance import SingleInstance
from codette_desktop.services import autostart
from codette_desktop.services.codette_service import CodetteService
from codette_desktop.services.observers import ObserverHub
from codette_desktop.ui import icons
from codette_desktop.ui.dashboard import DashboardWindow
from codette_desktop.ui.permission_prompt import ALLOW, MicrophonePrompt, OriginPrompt
from codette_desktop.ui.port_dialog import PortInUseBox, ask_for_port, next_free_port
from codette_desktop.ui.settings_dialog import SettingsDialog
from codette_desktop.ui.tray import APP_TITLE, TrayController

log = logging.getLogger("codette.ui")


def create_qt_application(argv: list[str]) -> QApplication:
    """The QApplication for GUI mode. Closing the last window never quits: the tray does."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName(APP_TITLE)
    app.setApplicationDisplayName(APP_TITLE)
    app.setDesktopFileName("codette-desktop")
    app.setWindowIcon(icons.app_icon())
    app.setQuitOnLastWindowClosed(False)
    return app


def claim_single_instance(settings: Settings) -> SingleInstance | None:
    """This copy's instance guard, or None after asking the running copy to show itself."""
    instance = SingleInstance(settings.data_dir)
    if instance.acquire():
        return instance
    pid = instance.owner_pid()
    if instance.notify_primary():
        print(f"codette-desktop: already running (pid {pid}); showing its dashboard",
              file=sys.stderr)
    else:
        print(f"codette-desktop: already running (pid {pid}) but it does not answer; "
              f"if it hangs, end it and start again", file=sys.stderr)
    return None


def _can_allow(origin: str) -> bool:
    """Only what the settings can hold: an http(s) origin, or the null origin."""
    return origin == "null" or (origin.startswith(("http://", "https://"))
                                and not origin.endswith("/") and len(origin) <= 200)


class DesktopUI(QObject):
    def __init__(
        self,
        *,
        service: CodetteService,
        hub: ObserverHub,
        request_stop: Callable[[], None],
        instance: SingleInstance | None = None,
        tray_available: bool | None = None,
    ) -> None:
        super().__init__()
        self._request_stop = request_stop
        self.instance = instance
        self.bridge = ServiceBridge(service, hub, self)
        self.dashboard = DashboardWindow(self.bridge)
        self.settings_dialog: SettingsDialog | None = None
        self._port_box: PortInUseBox | None = None
        self._recovering = False
        self._tasks: set[asyncio.Future[Any]] = set()
        self._close_notice_shown = False
        # Origins asked about this session: a page retrying in a loop is asked once.
        self._origins_asked: set[str] = set()
        self.origin_prompts: dict[str, OriginPrompt] = {}
        self.microphone_prompts: dict[str, MicrophonePrompt] = {}
        if tray_available is None:
            tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: TrayController | None = None
        if tray_available:
            self.tray = TrayController(self.bridge, self)
            self.tray.dashboard_requested.connect(self.show_dashboard)
            self.tray.settings_requested.connect(self.open_settings)
            self.tray.start_at_login_toggled.connect(self._on_tray_start_at_login_toggled)
            self.tray.quit_requested.connect(self.quit)
            self.tray.show()
        else:
            log.warning("no system tray found: the dashboard is the main window; "
                        "closing it quits")
        self.dashboard.hide_on_close = self.tray is not None
        self.dashboard.hidden_to_tray.connect(self._on_dashboard_hidden_to_tray)
        self.dashboard.quit_requested.connect(self.quit)
        self.dashboard.settings_requested.connect(self.open_settings)
        self.bridge.port_in_use.connect(self._on_bridge_port_in_use)
        self.bridge.origin_refused.connect(self._on_bridge_origin_refused)
        self.bridge.capture_permission_requested.connect(
            self._on_bridge_capture_permission_requested)
        self.bridge.set_can_ask_user(True)
        if instance is not None:
            instance.activation_requested.connect(self.show_dashboard)
        if self.tray is None or not service.settings.start_minimised:
            self.dashboard.show()
        log.info("GUI ready (tray: %s, dashboard: %s)", self.tray is not None,
                 "shown" if self.dashboard.isVisible() else "hidden")

    # -- user requests ---------------------------------------------------------------------

    def show_dashboard(self) -> None:
        self.dashboard.bring_to_front()

    def quit(self) -> None:
        """Close every client with 1001 and exit (the composition root does the work)."""
        if self._port_box is not None:
            self._port_box.reject()
        self._request_stop()

    def open_settings(self) -> None:
        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        dialog = SettingsDialog(
            self.bridge.settings,
            start_at_login=autostart.supported() and autostart.is_enabled(),
            start_at_login_supported=autostart.supported(),
            parent=self.dashboard if self.dashboard.isVisible() else None,
        )
        dialog.settings_accepted.connect(self.apply_settings)
        dialog.connection_test_requested.connect(self.bridge.test_llm_connection)
        bridge = self.bridge
        bridge.llm_models_listed.connect(dialog.show_models)
        bridge.llm_connection_failed.connect(dialog.show_connection_error)

        def disconnect_dialog(*_: object) -> None:
            bridge.llm_models_listed.disconnect(dialog.show_models)
            bridge.llm_connection_failed.disconnect(dialog.show_connection_error)

        dialog.finished.connect(disconnect_dialog)
        self.settings_dialog = dialog
        dialog.open()
        dialog.raise_()
        dialog.activateWindow()

    def apply_settings(self, settings: Settings) -> None:
        """Save, switch start-at-login, and hand the settings to the service."""
        try:
            save_settings(settings)
        except OSError as exc:
            self._warn(f"Could not save settings to {settings.settings_path}: {exc}")
        self._set_start_at_login(settings.start_at_login)
        self.bridge.apply_settings(settings)

    # -- pages from origins not on the allow-list ---------------------------------------

    def _on_bridge_origin_refused(self, origin: str) -> None:
        if origin in self._origins_asked or not _can_allow(origin):
            return
        self._origins_asked.add(origin)
        if self.tray is not None:
            self.tray.notify(APP_TITLE, f"Blocked a connection from {origin}. "
                                        "Allow it in the window that opened.")
        prompt = OriginPrompt(origin, self.dashboard if self.dashboard.isVisible() else None)
        prompt.answered.connect(self._on_origin_prompt_answered)
        self.origin_prompts[origin] = prompt
        prompt.show()
        prompt.raise_()

    def _on_origin_prompt_answered(self, origin: str, answer: str) -> None:
        self.origin_prompts.pop(origin, None)
        if answer != ALLOW:
            log.info("the user denied %s for this session", origin)
            return
        settings = self.bridge.settings
        if origin == "null":
            settings = settings.replace(allow_null_origin=True)
        elif origin not in settings.allowed_origins:
            settings = settings.replace(allowed_origins=(*settings.allowed_origins, origin))
        log.info("the user allowed %s; it is saved in allowed_origins", origin)
        self.apply_settings(settings)

    # -- a page asks for the microphone ----------------------------------------------------

    def _on_bridge_capture_permission_requested(self, event: CapturePermissionRequested
                                                ) -> None:
        if event.origin in self.microphone_prompts:
            self.microphone_prompts[event.origin].raise_()
            return
        if self.tray is not None:
            self.tray.notify(APP_TITLE, f"{event.origin} asks to use {event.device}.")
        prompt = MicrophonePrompt(event.origin, event.device,
                                  self.dashboard if self.dashboard.isVisible() else None)
        prompt.answered.connect(self._on_microphone_prompt_answered)
        self.microphone_prompts[event.origin] = prompt
        prompt.show()
        prompt.raise_()

    def _on_microphone_prompt_answered(self, origin: str, answer: str) -> None:
        self.microphone_prompts.pop(origin, None)
        log.info("the user answered %s for %s's microphone request", answer, origin)
        settings = self.bridge.answer_capture_permission(origin, answer)
        if settings is not None:
            self.apply_settings(settings)

    def _on_tray_start_at_login_toggled(self, enabled: bool) -> None:
        self._set_start_at_login(enabled)
        settings = self.bridge.settings.replace(start_at_login=enabled)
        try:
            save_settings(settings)
        except OSError as exc:
            self._warn(f"Could not save settings: {exc}")
        self.bridge.apply_settings(settings)

    def _set_start_at_login(self, enabled: bool) -> None:
        if not autostart.supported() or autostart.is_enabled() == enabled:
            return
        try:
            autostart.set_enabled(enabled)
        except OSError as exc:
            self._warn(f"Could not change start at login: {exc}")
        if self.tray is not None:
            self.tray.set_start_at_login(autostart.is_enabled())

    def _on_dashboard_hidden_to_tray(self) -> None:
        if self.tray is not None and not self._close_notice_shown:
            self._close_notice_shown = True
            self.tray.notify(APP_TITLE, "Still running in the tray. Right-click the icon "
                                        "for the menu; Quit stops the server.")

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self.dashboard.statusBar().showMessage(message, 15000)
        if self.tray is not None and not self.dashboard.isVisible():
            self.tray.notify(APP_TITLE, message)

    # -- port in use -----------------------------------------------------------------------

    def _on_bridge_port_in_use(self, host: str, port: int) -> None:
        # A restart from Start server / Settings hit a busy port; the first start's
        # recovery is awaited by app.py instead.
        if not self._recovering:
            task = asyncio.ensure_future(self.recover_port_in_use(AddressInUseError(host, port)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def recover_port_in_use(self, exc: AddressInUseError) -> bool:
        """Offer the next free port until the server listens or the user gives up."""
        self._recovering = True
        try:
            while True:
                suggestion = next_free_port(exc.host, exc.port)
                parent = self.dashboard if self.dashboard.isVisible() else None
                self._port_box = PortInUseBox(exc.host, exc.port, suggestion, parent)
                port = await ask_for_port(self._port_box)
                self._port_box = None
                if port is None:
                    return False
                settings = self.bridge.settings.replace(port=port)
                failure = await self.bridge.restart_server(settings)
                if failure is None:
                    try:
                        save_settings(settings)
                    except OSError as error:
                        self._warn(f"Could not save settings: {error}")
                    return True
                exc = failure
        finally:
            self._recovering = False
            self._port_box = None

    # -- teardown --------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Remove the tray icon and windows, let the next copy start (services stopped)."""
        self.bridge.close()
        self.bridge.set_can_ask_user(False)
        for prompt in [*self.origin_prompts.values(), *self.microphone_prompts.values()]:
            prompt.close()
        if self.tray is not None:
            self.tray.hide()
        if self.settings_dialog is not None:
            self.settings_dialog.close()
        self.dashboard.force_close()
        if self.instance is not None:
            self.instance.release()
