"""A bar chart of the analysis' band energies (``measurements.band_energy_db``)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

# The seven bands of the protocol (PROTOCOL.md, "Measurements"), low to high.
BANDS: tuple[tuple[str, str], ...] = (
    ("sub", "Sub\n20–60"),
    ("low", "Low\n60–250"),
    ("low_mid", "Low-mid\n250–500"),
    ("mid", "Mid\n500–2k"),
    ("high_mid", "High-mid\n2k–4k"),
    ("presence", "Presence\n4k–6k"),
    ("air", "Air\n6k–20k"),
)
FLOOR_DB = -60.0  # the chart's bottom unless a band is lower
GRID_STEP_DB = 12.0


class SpectrumWidget(QWidget):
    """Paints only when given new bands (an analysis is rare); no timer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bands: dict[str, float] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(280, 160)
        self.setToolTip("Energy per band, dB relative to full scale")

    def sizeHint(self) -> QSize:
        return QSize(420, 220)

    @property
    def bands(self) -> dict[str, float]:
        return dict(self._bands)

    def set_bands(self, bands: Mapping[str, float | None] | None) -> None:
        clean: dict[str, float] = {}
        for name, _label in BANDS:
            value = (bands or {}).get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                clean[name] = float(value)
        if clean != self._bands:
            self._bands = clean
            self.update()

    def db_range(self) -> tuple[float, float]:
        values = list(self._bands.values())
        top = max([0.0, *values])
        bottom = min([FLOOR_DB, *values])
        # Snap to the grid so the labels are round numbers.
        top = math.ceil(top / GRID_STEP_DB) * GRID_STEP_DB
        bottom = math.floor(bottom / GRID_STEP_DB) * GRID_STEP_DB
        return bottom, top

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        text_color = palette.text().color()
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        painter.setFont(small)
        metrics = painter.fontMetrics()
        left = metrics.horizontalAdvance("-120 dB") + 8
        bottom_margin = metrics.height() * 2 + 6
        plot = QRectF(left, 8, max(10, self.width() - left - 8),
                      max(10, self.height() - bottom_margin - 8))
        low, high = self.db_range()

        def y_of(db: float) -> float:
            return plot.bottom() - (db - low) / (high - low) * plot.height()

        grid = QColor(text_color)
        grid.setAlpha(50)
        db = low
        while db <= high + 1e-9:
            y = y_of(db)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(int(plot.left()), int(y), int(plot.right()), int(y))
            painter.setPen(text_color)
            painter.drawText(QRectF(0, y - 8, left - 6, 16),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             f"{db:.0f} dB")
            db += GRID_STEP_DB

        slot = plot.width() / len(BANDS)
        for number, (name, label) in enumerate(BANDS):
            x = plot.left() + number * slot
            value = self._bands.get(name)
            if value is not None:
                bar = QRectF(x + slot * 0.15, y_of(value), slot * 0.7,
                             plot.bottom() - y_of(value))
                hue = int(210 - 180 * number / (len(BANDS) - 1))  # blue (low) to orange (air)
                painter.fillRect(bar, QColor.fromHsv(hue, 170, 220))
                painter.setPen(text_color)
                painter.drawText(QRectF(x, bar.top() - 16, slot, 14),
                                 int(Qt.AlignmentFlag.AlignCenter), f"{value:.1f}")
            painter.setPen(text_color)
            painter.drawText(QRectF(x, plot.bottom() + 3, slot, bottom_margin - 3),
                             int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                             label)
        if not self._bands:
            painter.drawText(plot, int(Qt.AlignmentFlag.AlignCenter),
                             "No band energies yet: analyse a track with audio")
        painter.end()
