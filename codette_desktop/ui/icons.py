"""Tray and window icons, drawn with QPainter so every state and size stays crisp.

``python -m codette_desktop.ui.icons resources/icons`` writes the same drawings as PNG
files for packaging (desktop entry, installer, bundle icon).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


class TrayState(Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    CONNECTED = "connected"  # at least one client
    ERROR = "error"


COLORS = {
    TrayState.STOPPED: "#757575",
    TrayState.RUNNING: "#00897b",
    TrayState.CONNECTED: "#1e88e5",
    TrayState.ERROR: "#e53935",
}
APP_COLOR = "#5e35b1"


def paint_glyph(painter: QPainter, size: int, color: str) -> None:
    """A rounded tile with a white "C" wrapped around three level bars."""
    s = float(size)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawRoundedRect(QRectF(0.5, 0.5, s - 1, s - 1), s * 0.22, s * 0.22)
    pen = QPen(QColor("white"), max(1.5, s * 0.11))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    arc = QRectF(s * 0.18, s * 0.18, s * 0.64, s * 0.64)
    path = QPainterPath()
    path.arcMoveTo(arc, 45)
    path.arcTo(arc, 45, 270)
    painter.drawPath(path)
    bar_pen = QPen(QColor("white"), max(1.0, s * 0.07))
    bar_pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(bar_pen)
    for offset, height in ((0.42, 0.10), (0.52, 0.18), (0.62, 0.08)):
        x = s * offset
        painter.drawLine(QPointF(x, s * (0.5 - height)), QPointF(x, s * (0.5 + height)))


def paint_capture_badge(painter: QPainter, size: int) -> None:
    s = float(size)
    radius = s * 0.2
    center = QPointF(s - radius - 0.5, s - radius - 0.5)
    painter.setPen(QPen(QColor("white"), max(1.0, s * 0.05)))
    painter.setBrush(QColor("#d50000"))
    painter.drawEllipse(center, radius, radius)


def pixmap(size: int, color: str, *, capturing: bool = False) -> QPixmap:
    image = QPixmap(size, size)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    paint_glyph(painter, size, color)
    if capturing:
        paint_capture_badge(painter, size)
    painter.end()
    return image


def tray_icon(state: TrayState, *, capturing: bool = False) -> QIcon:
    icon = QIcon()
    for size in SIZES[:6]:
        icon.addPixmap(pixmap(size, COLORS[state], capturing=capturing))
    return icon


def app_icon() -> QIcon:
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(pixmap(size, APP_COLOR))
    return icon


def write_pngs(folder: Path) -> list[Path]:
    """The app icon at every size plus one PNG per tray state (needs a QGuiApplication)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for size in SIZES:
        path = folder / f"codette-{size}.png"
        pixmap(size, APP_COLOR).save(str(path))
        written.append(path)
    main = folder / "codette.png"
    pixmap(256, APP_COLOR).save(str(main))
    written.append(main)
    for state in TrayState:
        for capturing in (False, True):
            suffix = "-capturing" if capturing else ""
            path = folder / f"tray-{state.value}{suffix}.png"
            pixmap(64, COLORS[state], capturing=capturing).save(str(path))
            written.append(path)
    return written


if __name__ == "__main__":
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication(sys.argv[:1])
    for written_path in write_pngs(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(written_path)
