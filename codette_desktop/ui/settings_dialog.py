"""Settings dialog: edits a copy of the settings and hands back a validated one.

Validation is :func:`config.settings_from_mapping` itself, so the dialog refuses exactly
what the settings file would refuse, with the same ``ConfigError`` text, shown inline
(no nested modal loop).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from codette_desktop.config import Settings, settings_from_mapping
from codette_desktop.errors import ConfigError
from codette_desktop.qt.bridge import needs_restart


class SettingsDialog(QDialog):
    """Signals:
        settings_accepted(Settings): OK with valid values (not yet saved or applied).
    """

    settings_accepted = Signal(object)

    def __init__(self, settings: Settings, *, start_at_login: bool,
                 start_at_login_supported: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")  # Qt appends " — Codette Desktop"
        self.setObjectName("codette-settings")
        self._base = settings
        self.result_settings: Settings | None = None

        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(settings.port)
        self.port.setToolTip("0 picks a free port at every start")
        self.host = QLineEdit(settings.host)
        self.allow_network = QCheckBox("Allow connections from other computers")
        self.allow_network.setChecked(settings.allow_non_loopback)
        self.origins = QPlainTextEdit("\n".join(settings.allowed_origins))
        self.origins.setPlaceholderText("http://localhost:5173")
        self.origins.setToolTip("One origin per line; browsers from other origins are refused")
        self.allow_null_origin = QCheckBox("Allow pages with no origin (file:// pages, an "
                                           "Electron build)")
        self.allow_null_origin.setChecked(settings.allow_null_origin)
        self.allow_null_origin.setToolTip(
            "Browsers send 'Origin: null' for local files, but also for sandboxed frames of "
            "any web site: allow it only if your DAW needs it.")
        self.status_interval = QDoubleSpinBox()
        self.status_interval.setRange(0.1, 3600.0)
        self.status_interval.setDecimals(1)
        self.status_interval.setSuffix(" s")
        self.status_interval.setValue(settings.status_interval_s)
        self.allow_capture = QCheckBox("Allow clients to start audio capture")
        self.allow_capture.setChecked(settings.allow_client_capture)
        self.allow_capture.setToolTip(
            "Off: a client's capture_start is refused (not_authorized); the dashboard can "
            "still capture. Takes effect at once, without a restart.")
        self.capture_allowed = QPlainTextEdit("\n".join(settings.capture_allowed_origins))
        self.capture_allowed.setObjectName("capture-allowed-origins")
        self.capture_allowed.setToolTip("Pages allowed to use the microphone without asking "
                                        "(your \"Always\" answers); delete a line to revoke")
        self.capture_denied = QPlainTextEdit("\n".join(settings.capture_denied_origins))
        self.capture_denied.setObjectName("capture-denied-origins")
        self.capture_denied.setToolTip("Pages never allowed to use the microphone (your "
                                       "\"Deny\" answers); delete a line to be asked again")
        for box in (self.capture_allowed, self.capture_denied):
            box.setMaximumHeight(70)
        self.start_at_login = QCheckBox("Start Codette Desktop when I log in")
        self.start_at_login.setChecked(start_at_login)
        self.start_at_login.setEnabled(start_at_login_supported)
        self.start_minimised = QCheckBox("Start minimised to the tray")
        self.start_minimised.setChecked(settings.start_minimised)
        self.error = QLabel()
        self.error.setObjectName("settings-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828")
        self.error.hide()
        note = QLabel("Changing the address, port or status interval restarts the server; "
                      "connected clients reconnect. Origins apply at once.")
        note.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Port:", self.port)
        form.addRow("Bind address:", self.host)
        form.addRow("", self.allow_network)
        form.addRow("Allowed origins:", self.origins)
        form.addRow("", self.allow_null_origin)
        form.addRow("Status interval:", self.status_interval)
        form.addRow("", self.allow_capture)
        form.addRow("Microphone always:", self.capture_allowed)
        form.addRow("Microphone denied:", self.capture_denied)
        form.addRow("", self.start_at_login)
        form.addRow("", self.start_minimised)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def values(self) -> dict[str, Any]:
        """The form as a settings mapping (strings as typed; validation coerces them)."""
        def lines(box: QPlainTextEdit) -> list[str]:
            return [line.strip() for line in box.toPlainText().splitlines() if line.strip()]

        return {
            "port": self.port.value(),
            "host": self.host.text().strip(),
            "allow_non_loopback": self.allow_network.isChecked(),
            "allowed_origins": lines(self.origins),
            "capture_allowed_origins": lines(self.capture_allowed),
            "capture_denied_origins": lines(self.capture_denied),
            "allow_null_origin": self.allow_null_origin.isChecked(),
            "status_interval_s": round(self.status_interval.value(), 1),
            "allow_client_capture": self.allow_capture.isChecked(),
            "start_at_login": self.start_at_login.isChecked(),
            "start_minimised": self.start_minimised.isChecked(),
        }

    def validated(self) -> Settings:
        """The new settings, or ConfigError naming what is wrong."""
        return settings_from_mapping(self.values(), self._base)

    @property
    def restarts_server(self) -> bool:
        try:
            return needs_restart(self._base, self.validated())
        except ConfigError:
            return False

    def accept(self) -> None:
        try:
            settings = self.validated()
        except ConfigError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.error.hide()
        self.result_settings = settings
        super().accept()
        self.settings_accepted.emit(settings)
