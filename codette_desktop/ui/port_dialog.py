"""The "port already in use" question, asked without a nested event loop."""

from __future__ import annotations

import asyncio
import errno
import socket

from PySide6.QtWidgets import QMessageBox, QWidget

SCAN_LIMIT = 50  # ports tried above the busy one before asking the OS for any free port


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Same option the server's listener uses, so TIME_WAIT leftovers do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def next_free_port(host: str, busy_port: int) -> int:
    """The first free port above ``busy_port`` (a stable, memorable choice), else any."""
    for port in range(busy_port + 1, min(busy_port + 1 + SCAN_LIMIT, 65536)):
        if port_is_free(host, port):
            return port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return int(probe.getsockname()[1])


class PortInUseBox(QMessageBox):
    """Names the busy port and offers ``suggestion``; "Use port N" accepts."""

    def __init__(self, host: str, port: int, suggestion: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("port-in-use")
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle("Port in use")  # Qt appends " — Codette Desktop"
        self.setText(f"Port {port} on {host} is already in use by another program.")
        self.setInformativeText(
            f"Codette Desktop can listen on port {suggestion} instead (and remember it). "
            f"Your DAW frontend then needs ws://{host}:{suggestion}/ws.")
        self.suggestion = suggestion
        self.use_button = self.addButton(f"Use port {suggestion}",
                                         QMessageBox.ButtonRole.AcceptRole)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.use_button)


async def ask_for_port(box: PortInUseBox) -> int | None:
    """Show ``box`` (window-modal, non-blocking) and wait for the answer."""
    future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def finished(*_: object) -> None:
        if not future.done():
            chosen = box.clickedButton() is box.use_button
            future.set_result(box.suggestion if chosen else None)

    box.finished.connect(finished)
    box.open()
    try:
        return await future
    finally:
        box.deleteLater()
