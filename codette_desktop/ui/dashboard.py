"""The dashboard window: server state, connections, live message log, chat, analysis.

It only renders what the bridge reports. Messages arrive in batches (≤ ~30 a second),
so the log model changes at most that often and Qt coalesces the repaints; the only
timer of its own (uptime, 1 Hz) runs while the window is visible.
"""

from __future__ import annotations

import html
import time
from collections import deque
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QGuiApplication,
    QHideEvent,
    QMouseEvent,
    QPainter,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from codette_desktop import __version__
from codette_desktop.protocol.events import (
    AnalysisCompleted,
    AnalysisWorkerFailed,
    CaptureStateChanged,
    ChatExchanged,
    ClientConnected,
    ClientDisconnected,
    LevelsMeasured,
    LLMStatusChanged,
    MessageLogged,
)
from codette_desktop.qt.bridge import ServiceBridge
from codette_desktop.ui.analysis_panel import AnalysisPanel
from codette_desktop.ui.level_meter import LevelMeterWidget
from codette_desktop.ui.models import (
    LOG_CAPACITY,
    ConnectionsModel,
    MessageFilterModel,
    MessageLogModel,
)
from codette_desktop.ui.tray import describe_starter, local_page_url

ALL = "All"
CHAT_MAX_BLOCKS = 1000  # exchanges kept in the transcript (one block each)


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class DisconnectButtonDelegate(QStyledItemDelegate):
    """Paints a push button in a cell; releasing the mouse on it emits ``clicked(row)``.

    Signals:
        clicked(int row)
    """

    clicked = Signal(int)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        button = QStyleOptionButton()
        button.rect = QRect(option.rect).adjusted(3, 2, -3, -2)
        button.text = str(index.data())
        button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, widget)

    def editorEvent(self, event: QEvent, model: QAbstractItemModel,
                    option: QStyleOptionViewItem,
                    index: QModelIndex | QPersistentModelIndex) -> bool:
        if (event.type() == QEvent.Type.MouseButtonRelease
                and isinstance(event, QMouseEvent)
                and event.button() == Qt.MouseButton.LeftButton
                and option.rect.contains(event.position().toPoint())):
            self.clicked.emit(index.row())
            return True
        return super().editorEvent(event, model, option, index)


class ServerPanel(QGroupBox):
    """URL, state, uptime and totals, with the server's buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Server", parent)
        self.state = QLabel()
        self.url = QLabel()
        self.url.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.uptime = QLabel("—")
        self.clients = QLabel("0")
        self.messages = QLabel("0 in / 0 out")
        self.errors = QLabel("0")
        self.analysis = QLabel("warming up…")
        self.answers = QLabel()
        self.answers.setObjectName("answers-engine")
        # Plain text: a model server's error message is shown as it came.
        self.answers.setTextFormat(Qt.TextFormat.PlainText)
        self.answers.setWordWrap(True)
        self.copy_button = QPushButton("Copy URL")
        self.test_page_button = QPushButton("Test page")
        self.server_button = QPushButton("Stop server")
        self.settings_button = QPushButton("Settings…")
        grid = QGridLayout(self)
        rows = ((("State", self.state), ("WebSocket", self.url), ("Uptime", self.uptime)),
                (("Clients", self.clients), ("Messages", self.messages),
                 ("Errors", self.errors), ("Analysis", self.analysis)))
        for row, fields in enumerate(rows):
            for column, (name, label) in enumerate(fields):
                caption = QLabel(f"{name}:")
                caption.setStyleSheet("color: gray")
                grid.addWidget(caption, row, column * 2)
                grid.addWidget(label, row, column * 2 + 1)
        for column in (1, 3, 5, 7):
            grid.setColumnStretch(column, 1)
        caption = QLabel("Answers:")
        caption.setStyleSheet("color: gray")
        grid.addWidget(caption, 2, 0)
        grid.addWidget(self.answers, 2, 1, 1, 7)
        buttons = QHBoxLayout()
        for button in (self.copy_button, self.test_page_button, self.server_button,
                       self.settings_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        grid.addLayout(buttons, 3, 0, 1, 8)


def answers_text(status: LLMStatusChanged) -> str:
    """The server panel's "Answers" line: the built-in engine, or the model, where it
    runs and how it is doing (its last error, while the built-in engine stands in)."""
    if status.engine != "llm":
        return "built-in"
    text = f"{status.model or 'the server’s first model'} via {status.url}"
    if status.reachable is None:
        return f"{text} — not asked yet"
    state = ["reachable" if status.reachable else "unreachable"]
    if status.tokens_per_s is not None:
        state.append(f"{status.tokens_per_s:.0f} tok/s")
    if status.first_token_s is not None:
        state.append(f"first token {status.first_token_s:.1f} s")
    text = f"{text} — {', '.join(state)}"
    if status.last_error:
        text += f"; built-in answers: {status.last_error}"
    return text


class ChatTranscriptWidget(QPlainTextEdit):
    """Every ChatExchanged, newest last; bounded to CHAT_MAX_BLOCKS exchanges."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(CHAT_MAX_BLOCKS)
        self.setPlaceholderText("Chat questions and Codette's answers appear here.")
        self.exchanges = 0

    def add_exchange(self, event: ChatExchanged) -> None:
        self.exchanges += 1
        stamp = time.strftime("%H:%M:%S")
        question = html.escape(event.question).replace("\n", "<br>")
        answer = html.escape(event.answer).replace("\n", "<br>")
        self.appendHtml(
            f"<p><span style='color:gray'>{stamp} · {html.escape(event.client_id)} · "
            f"{html.escape(event.perspective)} · confidence {event.confidence:.2f} · "
            f"{html.escape(event.engine)}</span><br>"
            f"<b>Q:</b> {question}<br><b>Codette:</b> {answer}</p>"
        )


def device_label(device: dict[str, Any]) -> str:
    text = (f"{device['name']} — {device['max_input_channels']} ch, "
            f"{float(device['default_samplerate']):g} Hz")
    return f"{text} (default)" if device.get("is_default") else text


class CapturePanel(QWidget):
    """Capture state, levels, and the device picker with Start / Stop.

    It renders and asks; the dashboard turns its requests into bridge calls.

    Signals:
        refresh_requested(): list the input devices again.
        start_requested(object device): start capturing from a PortAudio index (None =
            the default input).
        stop_requested()
    """

    refresh_requested = Signal()
    start_requested = Signal(object)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = QLabel("Capture: stopped")
        self.meter = LevelMeterWidget()
        self.devices = QComboBox()
        self.devices.setObjectName("capture-devices")
        self.devices.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.devices.setMinimumContentsLength(24)
        self.devices.setPlaceholderText("no devices listed yet")
        self.refresh_button = QPushButton("Refresh")
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.status = QLabel("Stopped")
        self.status.setObjectName("capture-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel()
        self.error.setObjectName("capture-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828")
        self.error.hide()
        self.extra = QVBoxLayout()
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Device:"))
        picker.addWidget(self.devices, 1)
        picker.addWidget(self.refresh_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        self.placeholder = QLabel("Clients can start capture with <code>capture_start</code> "
                                  "when Settings allow it; levels show here while it runs.")
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: gray")
        self.extra.addLayout(picker)
        self.extra.addLayout(buttons)
        self.extra.addWidget(self.status)
        self.extra.addWidget(self.error)
        self.extra.addWidget(self.placeholder)
        self.extra.addStretch(1)
        meters = QHBoxLayout()
        meters.addWidget(self.meter)
        meters.addLayout(self.extra, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.state)
        layout.addLayout(meters, 1)

        self.unavailable_reason: str | None = None
        self._running = False
        self._busy = False  # a start is on its way: no second click meanwhile
        self._listed_once = False
        self._details: dict[str, Any] = {}
        self._started_by: str | None = None
        self._device: str | None = None
        self._overflows = 0
        self.refresh_button.clicked.connect(lambda *_: self._on_refresh_clicked())
        self.start_button.clicked.connect(lambda *_: self._on_start_clicked())
        self.stop_button.clicked.connect(lambda *_: self.stop_requested.emit())
        self._update_buttons()

    # -- what the dashboard tells it -------------------------------------------------------

    def set_unavailable(self, reason: str | None) -> None:
        """Capture cannot work here (no PortAudio, capture disabled): say why, disable."""
        self.unavailable_reason = reason
        if reason:
            self.state.setText("Capture: unavailable")
            self.show_error(f"Audio capture is not available: {reason}")
        self._update_buttons()

    def show_devices(self, devices: list[dict[str, Any]]) -> None:
        """Fill the picker; keeps the chosen device when it is still there, else the
        running one, else the system default."""
        self._listed_once = True
        wanted = self.devices.currentData()
        if self._running and self._details.get("device_index") is not None:
            wanted = self._details["device_index"]
        blocked = self.devices.blockSignals(True)
        self.devices.clear()
        for device in devices:
            self.devices.addItem(device_label(device), int(device["index"]))
        index = self.devices.findData(wanted) if wanted is not None else -1
        if index < 0:
            index = next((i for i, d in enumerate(devices) if d.get("is_default")), 0)
        self.devices.setCurrentIndex(index if devices else -1)
        self.devices.blockSignals(blocked)
        if not devices and not self.unavailable_reason:
            self.show_error("No audio input devices found.")
        self._update_buttons()

    def show_error(self, message: str) -> None:
        self._busy = False
        self.error.setText(message)
        self.error.show()
        self._update_buttons()

    def select_device(self, index: int) -> bool:
        """Select the device with PortAudio index ``index``; False if it is not listed."""
        row = self.devices.findData(index)
        if row >= 0:
            self.devices.setCurrentIndex(row)
        return row >= 0

    def show_state(self, event: CaptureStateChanged) -> None:
        text = f"Capture: {event.state}"
        if event.device:
            text += f" — {event.device}"
        if event.started_by:
            text += f" (started by {event.started_by})"
        if event.message:
            text += f": {event.message}"
        self.state.setText(text)
        self._busy = False
        self._running = event.state == "running"
        self._details = dict(event.details)
        self._started_by = event.started_by
        self._device = event.device
        self._overflows = int(self._details.get("overflows") or 0)
        if event.state == "error":
            self.show_error(event.message or "audio capture failed")
        elif event.state == "running":
            self.error.hide()
            index = self._details.get("device_index")
            if index is not None:
                blocked = self.devices.blockSignals(True)
                self.select_device(int(index))
                self.devices.blockSignals(blocked)
        if event.state != "running":
            self.meter.clear()
        self._update_status()
        self._update_buttons()

    def show_levels(self, event: LevelsMeasured) -> None:
        self.meter.set_levels(event.peak_dbfs, event.rms_dbfs,
                              momentary_lufs=event.momentary_lufs,
                              short_term_lufs=event.short_term_lufs)
        if event.overflows != self._overflows:  # relabel only when the count moves
            self._overflows = event.overflows
            self._update_status()

    # -- internals -------------------------------------------------------------------------

    def _update_status(self) -> None:
        details = self._details
        if not self._running and not self._device:
            self.status.setText("Stopped" if not details.get("message")
                                else f"Stopped: {details['message']}")
            return
        parts = ["Running" if self._running else str(details.get("state", "stopped")).title(),
                 self._device or "default input"]
        if details.get("sample_rate"):
            parts.append(f"{details['sample_rate']} Hz")
        if details.get("channels"):
            parts.append(f"{details['channels']} ch")
        parts.append(f"started by {describe_starter(self._started_by)}")
        parts.append(f"{self._overflows} overflow{'s' if self._overflows != 1 else ''}")
        self.status.setText(" · ".join(parts))

    def _update_buttons(self) -> None:
        available = not self.unavailable_reason
        self.devices.setEnabled(available)
        self.refresh_button.setEnabled(available)
        self.start_button.setEnabled(available and not self._busy and not self._running)
        self.stop_button.setEnabled(available and self._running)

    def _on_refresh_clicked(self) -> None:
        self.refresh_requested.emit()

    def _on_start_clicked(self) -> None:
        self._busy = True
        self.error.hide()
        self.status.setText("Starting…")
        self._update_buttons()
        self.start_requested.emit(self.devices.currentData())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # The device list is asked for the first time the tab is seen: scanning PortAudio
        # costs up to a second and most sessions never open this tab.
        if not self._listed_once and not self.unavailable_reason:
            self._listed_once = True
            self.refresh_requested.emit()


class DashboardWindow(QMainWindow):
    """Signals:
        hidden_to_tray(): the user closed the window and a tray icon keeps the app.
        quit_requested(): the user closed the window and there is no tray: quit.
        settings_requested(): the Settings… button.
    """

    hidden_to_tray = Signal()
    quit_requested = Signal()
    settings_requested = Signal()

    def __init__(self, bridge: ServiceBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.hide_on_close = True
        self._force_close = False
        self._paused = False
        self._held: deque[MessageLogged] = deque(maxlen=LOG_CAPACITY)
        self.setWindowTitle(f"Dashboard {__version__}")  # Qt appends " — Codette Desktop"
        self.setObjectName("codette-dashboard")
        self.resize(1280, 800)

        self.server_panel = ServerPanel()
        self.connections_model = ConnectionsModel(self)
        self.connections_view = self._table(self.connections_model)
        self.connections_view.setObjectName("connections-table")
        self.disconnect_delegate = DisconnectButtonDelegate(self.connections_view)
        self.connections_view.setItemDelegateForColumn(ConnectionsModel.DISCONNECT_COLUMN,
                                                       self.disconnect_delegate)
        header = self.connections_view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # origin
        for column, width in enumerate((105, 115, 0, 100, 45, 45, 105, 95)):
            if width:
                header.resizeSection(column, width)

        self.log_model = MessageLogModel(LOG_CAPACITY, self)
        self.log_proxy = MessageFilterModel(self)
        self.log_proxy.setSourceModel(self.log_model)
        self.log_view = self._table(self.log_proxy)
        self.log_view.setObjectName("message-log")
        log_header = self.log_view.horizontalHeader()
        for column, width in enumerate((100, 110, 40, 140, 80)):
            log_header.resizeSection(column, width)
        self.type_filter = QComboBox()
        self.type_filter.addItem(ALL)
        self.client_filter = QComboBox()
        self.client_filter.addItem(ALL)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.clear_button = QPushButton("Clear")
        self.log_status = QLabel()

        self.analysis_panel = AnalysisPanel()
        self.chat_view = ChatTranscriptWidget()
        self.capture_panel = CapturePanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.analysis_panel, "Analysis")
        self.tabs.addTab(self.chat_view, "Chat")
        self.tabs.addTab(self.capture_panel, "Capture")
        self._build_layout()

        self._uptime_timer = QTimer(self)
        self._uptime_timer.setInterval(1000)
        self._uptime_timer.timeout.connect(self._on_uptime_timer_timeout)
        self._connect()
        self._refresh_server_panel()
        self._update_log_status()

    # -- construction ----------------------------------------------------------------------

    @staticmethod
    def _table(model: QAbstractItemModel) -> QTableView:
        view = QTableView()
        view.setModel(model)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setWordWrap(False)
        view.setAlternatingRowColors(True)
        view.verticalHeader().setVisible(False)
        # Fixed row heights: the view never measures 5,000 rows' contents.
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
        view.horizontalHeader().setStretchLastSection(True)
        return view

    def _build_layout(self) -> None:
        connections = QGroupBox("Connections")
        QVBoxLayout(connections).addWidget(self.connections_view)
        log_box = QGroupBox("Messages")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Type:"))
        bar.addWidget(self.type_filter)
        bar.addWidget(QLabel("Client:"))
        bar.addWidget(self.client_filter)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.clear_button)
        bar.addStretch(1)
        bar.addWidget(self.log_status)
        log_layout = QVBoxLayout(log_box)
        log_layout.addLayout(bar)
        log_layout.addWidget(self.log_view)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(connections)
        left.addWidget(log_box)
        left.setSizes([220, 480])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(self.tabs)
        main.setSizes([760, 520])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.server_panel)
        layout.addWidget(main, 1)
        self.setCentralWidget(central)

    def _connect(self) -> None:
        bridge = self._bridge
        bridge.server_started.connect(lambda *_: self._on_bridge_server_changed())
        bridge.server_stopped.connect(lambda *_: self._on_bridge_server_changed())
        bridge.server_failed.connect(self._on_bridge_server_failed)
        bridge.client_connected.connect(self._on_bridge_client_connected)
        bridge.client_disconnected.connect(self._on_bridge_client_disconnected)
        bridge.messages_logged.connect(self._on_bridge_messages_logged)
        bridge.chat_exchanged.connect(self.chat_view.add_exchange)
        bridge.analysis_completed.connect(self._on_bridge_analysis_completed)
        bridge.analysis_progress.connect(self.analysis_panel.show_progress)
        bridge.analysis_warmed_up.connect(self._on_bridge_analysis_warmed_up)
        bridge.analysis_worker_failed.connect(self._on_bridge_analysis_worker_failed)
        bridge.capture_state_changed.connect(self.capture_panel.show_state)
        bridge.levels_measured.connect(self.capture_panel.show_levels)
        bridge.devices_listed.connect(self.capture_panel.show_devices)
        bridge.capture_failed.connect(self.capture_panel.show_error)
        capture = self.capture_panel
        capture.set_unavailable(bridge.capture_unavailable_reason())
        capture.refresh_requested.connect(bridge.list_capture_devices)
        capture.start_requested.connect(bridge.start_capture)
        capture.stop_requested.connect(bridge.stop_capture)
        if bridge.capture_event is not None:
            capture.show_state(bridge.capture_event)
        bridge.action_failed.connect(self._on_bridge_action_failed)
        bridge.llm_status_changed.connect(self._on_bridge_llm_status_changed)
        self._on_bridge_llm_status_changed(bridge.llm_status)
        self.disconnect_delegate.clicked.connect(self._on_delegate_clicked)
        panel = self.server_panel
        panel.copy_button.clicked.connect(lambda *_: self._on_copy_clicked())
        panel.test_page_button.clicked.connect(lambda *_: self._on_test_page_clicked())
        panel.server_button.clicked.connect(lambda *_: self._on_server_button_clicked())
        panel.settings_button.clicked.connect(lambda *_: self.settings_requested.emit())
        self.type_filter.currentIndexChanged.connect(lambda *_: self._on_filter_changed())
        self.client_filter.currentIndexChanged.connect(lambda *_: self._on_filter_changed())
        self.pause_button.toggled.connect(lambda on: self.set_paused(bool(on)))
        self.clear_button.clicked.connect(lambda *_: self.clear_log())

    # -- window behaviour ------------------------------------------------------------------

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def force_close(self) -> None:
        """Close for good (the app is quitting): no hide-to-tray, no quit request."""
        self._force_close = True
        self.close()

    @property
    def uptime_timer_active(self) -> bool:
        return self._uptime_timer.isActive()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._uptime_timer.isActive():
            self._uptime_timer.start()
        self._sync_connections()
        self._refresh_server_panel()
        self._update_log_status()
        self.log_view.scrollToBottom()

    def hideEvent(self, event: QHideEvent) -> None:
        # Hidden (to the tray or minimised): nothing on screen to update, no timer.
        self._uptime_timer.stop()
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._force_close:
            event.accept()
        elif self.hide_on_close:
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
        else:
            event.accept()
            self.quit_requested.emit()

    # -- message log -----------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """While paused the log holds still; new messages wait (bounded) until resumed."""
        self._paused = paused
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        if not paused and self._held:
            held = list(self._held)
            self._held.clear()
            self._append_messages(held)
        self._update_log_status()

    def clear_log(self) -> None:
        self._held.clear()
        self.log_model.clear()
        self._update_filters()
        self._update_log_status()

    def set_filters(self, *, type_: str | None = None, client_id: str | None = None) -> None:
        """Select a type and a client in the combo boxes (None = all)."""
        for combo, value in ((self.type_filter, type_), (self.client_filter, client_id)):
            if value is not None and combo.findText(value) < 0:
                combo.addItem(value)
            combo.setCurrentIndex(combo.findText(value) if value is not None else 0)

    def _on_bridge_messages_logged(self, batch: list[MessageLogged]) -> None:
        if self._paused:
            self._held.extend(batch)
            self._update_log_status()
            return
        self._append_messages(batch)

    def _append_messages(self, batch: list[MessageLogged]) -> None:
        bar = self.log_view.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2
        known = (len(self.log_model.types), len(self.log_model.clients))
        self.log_model.append_batch(batch)
        if (len(self.log_model.types), len(self.log_model.clients)) != known:
            self._update_filters()
        if self.isVisible():
            if follow:
                self.log_view.scrollToBottom()
            self._sync_connections()
            self._refresh_server_panel()
            self._update_log_status()

    def _update_filters(self) -> None:
        for combo, values in ((self.type_filter, self.log_model.types),
                              (self.client_filter, self.log_model.clients)):
            current = combo.currentText()
            wanted = [ALL, *sorted(values | ({current} - {ALL}))]
            if [combo.itemText(i) for i in range(combo.count())] != wanted:
                blocked = combo.blockSignals(True)
                combo.clear()
                combo.addItems(wanted)
                combo.setCurrentIndex(wanted.index(current))
                combo.blockSignals(blocked)

    def _on_filter_changed(self) -> None:
        type_ = self.type_filter.currentText()
        client = self.client_filter.currentText()
        self.log_proxy.set_type_filter(None if type_ == ALL else type_)
        self.log_proxy.set_client_filter(None if client == ALL else client)
        self._update_log_status()

    def _update_log_status(self) -> None:
        text = (f"{self.log_proxy.rowCount()} shown · {self.log_model.rowCount()} kept · "
                f"{self.log_model.total} total")
        if self._held:
            text += f" · {len(self._held)} waiting"
        self.log_status.setText(text)

    # -- connections -----------------------------------------------------------------------

    def _on_bridge_client_connected(self, event: ClientConnected) -> None:
        self.connections_model.add(event)
        self._refresh_server_panel()

    def _on_bridge_client_disconnected(self, event: ClientDisconnected) -> None:
        self.connections_model.remove(event.client_id)
        self._refresh_server_panel()

    def _on_delegate_clicked(self, row: int) -> None:
        ids = self.connections_model.client_ids()
        if 0 <= row < len(ids):
            self.statusBar().showMessage(f"Disconnecting {ids[row]}…", 3000)
            self._bridge.disconnect_client(ids[row])

    def _sync_connections(self) -> None:
        self.connections_model.sync(self._bridge.clients())

    # -- server ----------------------------------------------------------------------------

    def _on_uptime_timer_timeout(self) -> None:
        self._refresh_server_panel()

    def _on_bridge_server_changed(self) -> None:
        if not self._bridge.running:
            self._sync_connections()
        self._refresh_server_panel()

    def _on_bridge_server_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Server error: {message}")
        self._refresh_server_panel()

    def _on_bridge_action_failed(self, message: str) -> None:
        self.statusBar().showMessage(message, 10000)

    def _on_bridge_analysis_completed(self, event: AnalysisCompleted) -> None:
        self.analysis_panel.show_analysis(event)

    def _on_bridge_llm_status_changed(self, status: LLMStatusChanged) -> None:
        self.server_panel.answers.setText(answers_text(status))

    def _on_bridge_analysis_warmed_up(self, seconds: float) -> None:
        self.server_panel.analysis.setText(f"ready (warm-up {seconds:.1f} s)")

    def _on_bridge_analysis_worker_failed(self, event: AnalysisWorkerFailed) -> None:
        what = "restarted" if event.restarted else "unavailable until Codette Desktop restarts"
        self.server_panel.analysis.setText(
            f"<span style='color:#c62828'>{event.worker} worker {what}</span>")
        self.server_panel.analysis.setToolTip(event.reason)
        self.statusBar().showMessage(f"Analysis worker failed: {event.reason}", 15000)

    def _refresh_server_panel(self) -> None:
        snap: dict[str, Any] = self._bridge.snapshot()
        panel = self.server_panel
        running = bool(snap.get("running"))
        if running:
            panel.state.setText("<b style='color:#2e7d32'>● Running</b>")
            panel.uptime.setText(format_duration(float(snap.get("uptime_s", 0))))
        elif self._bridge.last_error:
            panel.state.setText(
                f"<b style='color:#c62828'>● Error:</b> {html.escape(self._bridge.last_error)}")
            panel.uptime.setText("—")
        else:
            panel.state.setText("<b style='color:gray'>● Stopped</b>")
            panel.uptime.setText("—")
        panel.url.setText(str(snap.get("url", "")))
        panel.clients.setText(f"{snap.get('active_connections', 0)} now · "
                              f"{snap.get('connections', 0)} since start")
        panel.messages.setText(f"{snap.get('messages_in', 0):,} in / "
                               f"{snap.get('messages_out', 0):,} out")
        panel.errors.setText(str(snap.get("errors", 0)))
        panel.server_button.setText("Stop server" if running else "Start server")
        panel.copy_button.setEnabled(running)
        panel.test_page_button.setEnabled(running)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._bridge.url)
        self.statusBar().showMessage(f"Copied {self._bridge.url}", 3000)

    def _on_test_page_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl(local_page_url(self._bridge.settings.host,
                                                    self._bridge.port)))

    def _on_server_button_clicked(self) -> None:
        if self._bridge.running:
            self._bridge.stop_server()
        else:
            self._bridge.start_server()
