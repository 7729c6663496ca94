"""One Codette Desktop per data folder: a second copy shows the first one's dashboard.

Two parts, both keyed by the data folder so that copies with different
``CODETTE_DATA_DIR`` (tests, portable installs) never see each other:

* a :class:`QLockFile` ``<data_dir>/instance.lock`` decides who is first. QLockFile
  stores the owner's PID and host name; a lock whose process is gone (a crash, a kill -9)
  is stale and is taken over, so a crash never blocks the next start;
* a :class:`QLocalServer` (a Unix socket / named pipe) over which a later copy sends
  ``show``.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("codette.instance")

LOCK_NAME = "instance.lock"
SHOW_COMMAND = b"show\n"


def server_name(data_dir: Path) -> str:
    """Short (Unix socket paths are limited to ~100 bytes) and unique per user + folder."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "user"
    digest = hashlib.sha256(str(data_dir.expanduser().resolve()).encode()).hexdigest()[:16]
    return f"codette-desktop-{user}-{digest}"


class SingleInstance(QObject):
    """Owns the lock and the local server of the first copy.

    Signals:
        activation_requested(): a later copy asked this one to show its dashboard.
    """

    activation_requested = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.name = server_name(data_dir)
        self.lock_path = data_dir / LOCK_NAME
        self._lock = QLockFile(str(self.lock_path))
        # 0 = never treat a live owner's lock as stale because of its age; a lock whose
        # PID no longer runs is still detected as stale and removed by tryLock().
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytes] = {}

    @property
    def is_primary(self) -> bool:
        return self._server is not None

    def acquire(self) -> bool:
        """Become the first copy: take the lock and listen. False if another copy runs."""
        if not self._lock.tryLock(0):
            if self._lock.error() == QLockFile.LockError.LockFailedError:
                return False
            # PermissionError / UnknownError: the folder is unusable; do not block start.
            log.warning("cannot create %s (%s); single-instance check skipped",
                        self.lock_path, self._lock.error())
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        # We hold the lock, so a leftover socket belongs to a crashed copy.
        QLocalServer.removeServer(self.name)
        if not server.listen(self.name):
            log.warning("cannot listen on %s: %s", self.name, server.errorString())
        server.newConnection.connect(self._on_server_new_connection)
        self._server = server
        return True

    def owner_pid(self) -> int | None:
        pid, _host, _app = self._lock.getLockInfo()  # PySide returns pid 0 for "no info"
        return pid or None

    def notify_primary(self, *, timeout_ms: int = 3000) -> bool:
        """Ask the first copy to show its dashboard. Blocks up to ``timeout_ms``: it runs
        before this copy has an event loop or a window, so nothing can freeze."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            log.warning("the running copy does not answer on %s: %s", self.name,
                        socket.errorString())
            return False
        socket.write(SHOW_COMMAND)
        socket.flush()  # usually writes it all at once
        if socket.bytesToWrite():
            socket.waitForBytesWritten(timeout_ms)
        sent = socket.bytesToWrite() == 0
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        return sent

    def release(self) -> None:
        """Unlock and stop listening. Call it before dropping the object: a socket still
        open when the server is destroyed with its parent can crash Qt."""
        for socket in list(self._buffers):
            socket.abort()
        self._buffers.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            self._buffers[socket] = b""
            # Bound methods + sender(): lambdas capturing the socket crash PySide when the
            # socket is destroyed with the server.
            socket.readyRead.connect(self._on_socket_ready_read)
            socket.disconnected.connect(self._on_socket_disconnected)
            if socket.bytesAvailable():
                self._read(socket)

    def _on_socket_ready_read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        data = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            if line.strip() == SHOW_COMMAND.strip():
                self.activation_requested.emit()
        # A peer that never sends a newline cannot make us hold much.
        self._buffers[socket] = data[-64:]

    def _on_socket_disconnected(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._buffers.pop(socket, None)
            socket.deleteLater()
