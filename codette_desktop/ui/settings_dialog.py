"""Settings dialog: edits a copy of the settings and hands back a validated one.

Validation is :func:`config.settings_from_mapping` itself, so the dialog refuses exactly
what the settings file would refuse, with the same ``ConfigError`` text, shown inline
(no nested modal loop). "Test connection" asks for the local model server's models
through a signal (the bridge does the network call on the event loop) and shows the
answer, or exactly what failed, when it comes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
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
        connection_test_requested(Settings): "Test connection" with the form's values;
            answer with :meth:`show_models` or :meth:`show_connection_error`.
    """

    settings_accepted = Signal(object)
    connection_test_requested = Signal(object)

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
        self.llm_url = QLineEdit(settings.llm_url)
        self.llm_url.setObjectName("llm-url")
        self.llm_url.setPlaceholderText("empty: the built-in engine answers alone")
        self.llm_url.setToolTip("An OpenAI-compatible base URL: Ollama "
                                "http://127.0.0.1:11434/v1, LM Studio http://127.0.0.1:1234/v1, "
                                "llama.cpp http://127.0.0.1:8080/v1")
        self.llm_model = QComboBox()
        self.llm_model.setObjectName("llm-model")
        self.llm_model.setEditable(True)
        self.llm_model.setCurrentText(settings.llm_model)
        line_edit = self.llm_model.lineEdit()
        if line_edit is not None:
            line_edit.setPlaceholderText("the server's first model")
        self.llm_api_key = QLineEdit(settings.llm_api_key or "")
        self.llm_api_key.setObjectName("llm-api-key")
        self.llm_api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.llm_api_key.setPlaceholderText("only if the server asks for one")
        self.llm_timeout = QDoubleSpinBox()
        self.llm_timeout.setRange(1.0, 600.0)
        self.llm_timeout.setDecimals(0)
        self.llm_timeout.setSuffix(" s")
        self.llm_timeout.setValue(settings.llm_timeout_s)
        self.llm_timeout.setToolTip("How long the model may take to start answering before "
                                    "the built-in answer is sent instead")
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("llm-test")
        self.test_button.clicked.connect(lambda *_: self._on_test_button_clicked())
        self.test_result = QLabel()
        self.test_result.setObjectName("llm-test-result")
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_result.setWordWrap(True)
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
        form.addRow("Local model URL:", self.llm_url)
        form.addRow("Model:", self.llm_model)
        form.addRow("API key:", self.llm_api_key)
        form.addRow("Model timeout:", self.llm_timeout)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
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
            "llm_url": self.llm_url.text().strip(),
            "llm_model": self.llm_model.currentText().strip(),
            "llm_api_key": self.llm_api_key.text().strip() or None,
            "llm_timeout_s": self.llm_timeout.value(),
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

    # -- Test connection -------------------------------------------------------------------

    def _on_test_button_clicked(self) -> None:
        try:
            settings = self.validated()
        except ConfigError as exc:
            self.test_result.setText(str(exc))
            return
        if not settings.llm_url:
            self.test_result.setText("Enter the model server's URL first.")
            return
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Asking {settings.llm_url} for its models…")
        self.connection_test_requested.emit(settings)

    def show_models(self, models: list[str]) -> None:
        """The server answered: list its models in the Model box."""
        self.test_button.setEnabled(True)
        if not models:
            self.test_result.setText("Connected, but the server offers no model.")
            return
        self.test_result.setText(f"Connected: {len(models)} model(s): {', '.join(models)}")
        typed = self.llm_model.currentText()
        self.llm_model.clear()
        self.llm_model.addItems(models)
        self.llm_model.setCurrentText(typed)

    def show_connection_error(self, reason: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(f"Failed: {reason}")
