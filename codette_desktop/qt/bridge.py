"""The one QObject between the services and the widgets.

Services report plain events to an :class:`ObserverHub`; this bridge is one of its
observers and re-emits each event as a Qt signal. ``MessageLogged`` comes at up to
thousands per second, so it is queued and emitted in batches at most ~30 times a second
(a single-shot timer that only runs while something is pending: an idle app runs no
timer at all).

Widgets never touch the network: they call the request methods here
(:meth:`ServiceBridge.disconnect_client`, :meth:`start_server`, :meth:`start_capture`,
...), which schedule the service's coroutines on the running asyncio loop (qasync's) and
report results and failures back through signals.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from codette_desktop.capture import CaptureState, portaudio_status
from codette_desktop.config import Settings
from codette_desktop.errors import AddressInUseError, AudioDeviceError, CodetteError, LLMError
from codette_desktop.protocol import events
from codette_desktop.services.codette_service import CodetteService
from codette_desktop.services.observers import ObserverHub

log = logging.getLogger("codette.qt")

FLUSH_INTERVAL_MS = 33  # ~30 Hz: the fastest anything on screen needs to change
MAX_PENDING_MESSAGES = 5000  # the log keeps 5,000 rows; more in one batch would be dropped
# Settings the running server reads only when it starts.
# Origins, hosts and the token are read live by every request: no restart for those.
RESTART_FIELDS = ("host", "port", "allow_non_loopback", "status_interval_s", "max_connections")


def http_log_row(event: events.HttpRequestLogged) -> events.MessageLogged:
    """An HTTP request as a row of the dashboard's message log."""
    who = event.origin or f"native {event.peer}"
    return events.MessageLogged(
        client_id=f"HTTP {who}", direction="http", type=f"{event.method} {event.path}",
        size=event.size, at=event.at, status=event.status,
        preview=f"{event.status} in {event.duration_ms:.1f} ms",
    )


def needs_restart(old: Settings, new: Settings) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in RESTART_FIELDS)


class ServiceBridge(QObject):
    """Qt face of a :class:`CodetteService`.

    Signals:
        server_started(str url, int port): the server listens.
        server_stopped(str reason): the server stopped listening.
        server_failed(str message): the server could not start (also after port_in_use).
        port_in_use(str host, int port): a start or restart found the port taken.
        client_connected(ClientConnected)
        client_disconnected(ClientDisconnected)
        messages_logged(list[MessageLogged]): batched, oldest first, ≤ ~30 batches/s.
        chat_exchanged(ChatExchanged)
        analysis_completed(AnalysisCompleted)
        analysis_progress(AnalysisProgress): an upload arriving or an analysis under way.
        analysis_warmed_up(float seconds)
        analysis_worker_failed(AnalysisWorkerFailed): a worker crashed; the reason, and
            whether it was restarted.
        capture_state_changed(CaptureStateChanged)
        levels_measured(LevelsMeasured): as often as the capture meters (~30 Hz).
        state_changed(): running / connections / error / capture changed (tray icon).
        devices_listed(list[dict]): answer to :meth:`list_capture_devices` (index, name,
            max_input_channels, default_samplerate, is_default).
        capture_failed(str message): a capture request from the UI failed (the
            AudioDeviceError text, e.g. the device cannot be opened).
        action_failed(str message): a request made from the UI failed.
        origin_refused(str origin): a page from an origin not on the allow-list tried to
            connect (once per origin until the UI asks again).
        capture_permission_requested(CapturePermissionRequested): a page asked for the
            microphone and the user has not answered for its origin.
        llm_status_changed(LLMStatusChanged): which engine answers chat, the model's state.
        llm_models_listed(list[str]): answer to :meth:`test_llm_connection`.
        llm_connection_failed(str reason): :meth:`test_llm_connection` failed, and why.
    """

    server_started = Signal(str, int)
    server_stopped = Signal(str)
    server_failed = Signal(str)
    port_in_use = Signal(str, int)
    client_connected = Signal(object)
    client_disconnected = Signal(object)
    messages_logged = Signal(list)
    chat_exchanged = Signal(object)
    analysis_completed = Signal(object)
    analysis_progress = Signal(object)
    analysis_warmed_up = Signal(float)
    analysis_worker_failed = Signal(object)
    capture_state_changed = Signal(object)
    levels_measured = Signal(object)
    state_changed = Signal()
    devices_listed = Signal(list)
    capture_failed = Signal(str)
    action_failed = Signal(str)
    origin_refused = Signal(str)
    capture_permission_requested = Signal(object)
    llm_status_changed = Signal(object)
    llm_models_listed = Signal(list)
    llm_connection_failed = Signal(str)

    # Carries events reported from another thread to the GUI thread.
    _foreign_event = Signal(object)

    def __init__(self, service: CodetteService, hub: ObserverHub,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self._hub = hub
        self._thread_id = threading.get_ident()
        self._pending: deque[events.MessageLogged] = deque(maxlen=MAX_PENDING_MESSAGES)
        self.dropped_messages = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self.last_error: str | None = None
        self.capture_state = "stopped"
        # The last capture report, kept so the tray tooltip can name device and client.
        self.capture_event: events.CaptureStateChanged | None = None
        self._capture_unavailable: str | None = None
        self._capture_checked = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._on_flush_timer_timeout)
        self._foreign_event.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        hub.add(self._on_hub_event)

    def close(self) -> None:
        """Stop listening to the services (the app is quitting)."""
        self._hub.remove(self._on_hub_event)
        self._flush_timer.stop()
        self._pending.clear()

    # -- what widgets may read -----------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._service.settings

    @property
    def running(self) -> bool:
        return self._service.server.running

    @property
    def url(self) -> str:
        return self._service.server.url

    @property
    def port(self) -> int:
        return self._service.server.port

    @property
    def active_connections(self) -> int:
        return self._service.server.active_connections

    def snapshot(self) -> dict[str, Any]:
        return self._service.snapshot()

    @property
    def llm_status(self) -> events.LLMStatusChanged:
        """Which engine answers chat now (later changes come as ``llm_status_changed``)."""
        return self._service.llm_status()

    def clients(self) -> list[dict[str, Any]]:
        return [client.snapshot() for client in self._service.server.clients()]

    def capture_unavailable_reason(self) -> str | None:
        """Why capture cannot be used here (no capture service, no PortAudio), or None.

        PortAudio is loaded once to find out, on first call only: it does not appear
        while the app runs.
        """
        if self._service.capture is None:
            _available, reason = portaudio_status()
            return reason or "audio capture is disabled in this build"
        if not self._capture_checked:
            self._capture_checked = True
            _available, self._capture_unavailable = portaudio_status()
        return self._capture_unavailable

    def capture_status(self) -> CaptureState | None:
        """The capture service's live state (frames and overflows move while running)."""
        capture = self._service.capture
        return capture.state if capture is not None else None

    @property
    def flush_pending(self) -> bool:
        return self._flush_timer.isActive()

    # -- events in -------------------------------------------------------------------------

    def _on_hub_event(self, event: events.Event) -> None:
        if threading.get_ident() != self._thread_id:
            self._foreign_event.emit(event)
        else:
            self._dispatch(event)

    def _dispatch(self, event: events.Event) -> None:
        match event:
            case events.MessageLogged():
                self._queue_log_row(event)
            case events.HttpRequestLogged():
                self._queue_log_row(http_log_row(event))
            case events.OriginRefused():
                self.origin_refused.emit(event.origin)
            case events.CapturePermissionRequested():
                self.capture_permission_requested.emit(event)
            case events.LevelsMeasured():
                self.levels_measured.emit(event)
            case events.ServerStarted():
                self.last_error = None
                self.server_started.emit(event.url, event.port)
                self.state_changed.emit()
            case events.ServerStopped():
                self.server_stopped.emit(event.reason)
                self.state_changed.emit()
            case events.ServerFailed():
                self._fail(event.message)
            case events.ClientConnected():
                self.client_connected.emit(event)
                self.state_changed.emit()
            case events.ClientDisconnected():
                self.client_disconnected.emit(event)
                self.state_changed.emit()
            case events.ChatExchanged():
                self.chat_exchanged.emit(event)
            case events.LLMStatusChanged():
                self.llm_status_changed.emit(event)
            case events.AnalysisCompleted():
                self.analysis_completed.emit(event)
            case events.AnalysisProgress():
                self.analysis_progress.emit(event)
            case events.AnalysisWarmedUp():
                self.analysis_warmed_up.emit(event.seconds)
            case events.AnalysisWorkerFailed():
                self.analysis_worker_failed.emit(event)
            case events.CaptureStateChanged():
                self.capture_state = event.state
                self.capture_event = event
                self.capture_state_changed.emit(event)
                self.state_changed.emit()

    def _queue_log_row(self, row: events.MessageLogged) -> None:
        if len(self._pending) == MAX_PENDING_MESSAGES:
            self.dropped_messages += 1
        self._pending.append(row)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _on_flush_timer_timeout(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Emit what is pending now (tests and shutdown; normally the timer does it)."""
        self._flush_timer.stop()
        if self._pending:
            batch = list(self._pending)
            self._pending.clear()
            self.messages_logged.emit(batch)

    def _fail(self, message: str) -> None:
        self.last_error = message
        self.server_failed.emit(message)
        self.state_changed.emit()

    # -- requests from widgets -------------------------------------------------------------

    def disconnect_client(self, client_id: str) -> None:
        """Close one client's connection (1000, "disconnected by user")."""
        self._schedule(self._service.server.disconnect(client_id), f"disconnect {client_id}")

    def start_server(self) -> None:
        self._schedule(self.restart_server(self._service.settings), "start the server")

    def stop_server(self) -> None:
        self._schedule(self._service.server.stop(reason="stopped from the dashboard"),
                       "stop the server")

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings; restarts a running server when one it reads at start changed
        (a stopped server stays stopped and uses them at its next start)."""
        old = self._service.settings
        if self.running and needs_restart(old, settings):
            self._schedule(self.restart_server(settings), "restart the server")
        else:
            self._service.settings_changed(settings)

    def answer_capture_permission(self, origin: str, answer: str) -> Settings | None:
        """The user's answer to a page's microphone request (``once``/``always``/``deny``);
        returns settings to save for a lasting answer."""
        return self._service.answer_capture_permission(origin, answer)

    def set_can_ask_user(self, can_ask: bool) -> None:
        """A window is there to ask the user about a page's microphone request."""
        self._service.can_ask_user = can_ask

    def list_capture_devices(self) -> None:
        """Ask for the input devices; the answer comes as ``devices_listed``."""
        self._schedule(self._list_capture_devices(), "list the audio devices")

    def start_capture(self, device: int | None) -> None:
        """Capture from ``device`` (a PortAudio index; None = the default input).

        ``started_by`` stays None: that is how clients and the tray tell a capture the
        user started here from one a client started.
        """
        self._schedule(self._start_capture(device), "start audio capture")

    def stop_capture(self) -> None:
        self._schedule(self._stop_capture(), "stop audio capture")

    def test_llm_connection(self, settings: Settings) -> None:
        """List the models at ``settings.llm_url`` (the settings may be unsaved); the
        answer comes as ``llm_models_listed`` or ``llm_connection_failed``."""
        self._schedule(self._test_llm_connection(settings), "test the model server")

    async def _test_llm_connection(self, settings: Settings) -> None:
        try:
            models = await self._service.list_llm_models(settings)
        except LLMError as exc:
            self.llm_connection_failed.emit(exc.reason)
            return
        self.llm_models_listed.emit(models)

    async def _list_capture_devices(self) -> None:
        capture = self._service.capture
        try:
            if capture is None:
                raise AudioDeviceError(self.capture_unavailable_reason() or "no capture")
            devices = await capture.list_devices()
        except AudioDeviceError as exc:
            self.capture_failed.emit(str(exc))
            return
        self.devices_listed.emit(devices)

    async def _start_capture(self, device: int | None) -> None:
        capture = self._service.capture
        try:
            if capture is None:
                raise AudioDeviceError(self.capture_unavailable_reason() or "no capture")
            await capture.start(device=device, started_by=None)
        except AudioDeviceError as exc:
            # The service reported state "error" already; this says why, to the panel.
            self.capture_failed.emit(str(exc))

    async def _stop_capture(self) -> None:
        capture = self._service.capture
        if capture is not None:
            await capture.stop("stopped from the dashboard")

    async def restart_server(self, settings: Settings) -> AddressInUseError | None:
        """Stop (clients get 1001) and listen with ``settings``; returns the busy-port error.

        A busy port is reported through ``port_in_use`` so the UI can offer another one;
        other failures through ``server_failed``.
        """
        try:
            await self._service.restart_server(settings)
        except AddressInUseError as exc:
            self._fail(str(exc))
            self.port_in_use.emit(exc.host, exc.port)
            return exc
        except CodetteError as exc:
            self._fail(str(exc))
        return None

    def _schedule(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference until it is done

        def done(future: asyncio.Future[Any]) -> None:
            self._tasks.discard(future)
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                log.error("could not %s: %s", what, exc, exc_info=exc)
                self.action_failed.emit(f"Could not {what}: {exc}")

        task.add_done_callback(done)
