"""Per-channel peak/RMS meter with peak hold, fed by ``LevelsMeasured``.

New levels only store numbers; a ~30 Hz timer repaints, and only while levels keep
arriving or a held peak is still falling. Hidden, or silent for a while, it runs no timer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QHideEvent, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DBFS = -60.0
REPAINT_INTERVAL_MS = 33  # ~30 Hz
HOLD_S = 1.5  # a peak stays put this long...
FALL_DB_PER_S = 20.0  # ...then falls at this rate (IEC 60268-18 suggests 20 dB/1.7 s)
STALE_S = 1.0  # no levels for this long: the capture stopped, blank the meter
YELLOW_DBFS = -18.0
RED_DBFS = -6.0


def _clean(value: float | None) -> float:
    if value is None or not math.isfinite(value):
        return FLOOR_DBFS
    return max(FLOOR_DBFS, min(0.0, float(value)))


class LevelMeterWidget(QWidget):
    def __init__(self, parent: QWidget | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._clock = clock
        self._peak: list[float] = []
        self._rms: list[float] = []
        self._hold: list[tuple[float, float]] = []  # (dBFS, when it was set)
        self._last_update = -math.inf
        self.momentary_lufs: float | None = None
        self.short_term_lufs: float | None = None
        self.paint_count = 0
        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(60, 120)

    def sizeHint(self) -> QSize:
        return QSize(90, 200)

    @property
    def repaint_timer_active(self) -> bool:
        return self._timer.isActive()

    @property
    def channels(self) -> int:
        return len(self._peak)

    def held_peak(self, channel: int) -> float:
        """The peak-hold marker's level now (dBFS)."""
        value, since = self._hold[channel]
        age = self._clock() - since
        if age <= HOLD_S:
            return value
        return max(FLOOR_DBFS, value - (age - HOLD_S) * FALL_DB_PER_S)

    def set_levels(self, peak_dbfs: Sequence[float | None], rms_dbfs: Sequence[float | None],
                   *, momentary_lufs: float | None = None,
                   short_term_lufs: float | None = None) -> None:
        now = self._clock()
        peaks = [_clean(v) for v in peak_dbfs]
        if len(peaks) != len(self._hold):
            self._hold = [(FLOOR_DBFS, now)] * len(peaks)
        for channel, value in enumerate(peaks):
            if value >= self.held_peak(channel):
                self._hold[channel] = (value, now)
        self._peak = peaks
        self._rms = [_clean(v) for v in rms_dbfs][: len(peaks)]
        self._rms += [FLOOR_DBFS] * (len(peaks) - len(self._rms))
        self.momentary_lufs = momentary_lufs
        self.short_term_lufs = short_term_lufs
        self._last_update = now
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    def clear(self) -> None:
        self._peak, self._rms, self._hold = [], [], []
        self._timer.stop()
        self.update()

    def _on_timer_timeout(self) -> None:
        now = self._clock()
        if now - self._last_update > STALE_S:
            self._peak = [FLOOR_DBFS] * len(self._peak)
            self._rms = [FLOOR_DBFS] * len(self._rms)
            if all(self.held_peak(c) <= FLOOR_DBFS for c in range(len(self._hold))):
                self._timer.stop()  # nothing left to animate
        self.update()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._clock() - self._last_update <= STALE_S + HOLD_S:
            self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_count += 1
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        text_color = palette.text().color()
        metrics = painter.fontMetrics()
        label_h = metrics.height() + 2
        area = QRectF(4, 4, self.width() - 8, self.height() - 8 - label_h)
        channels = max(1, len(self._peak))
        gap = 4.0
        width = (area.width() - gap * (channels - 1)) / channels

        def y_of(db: float) -> float:
            return area.bottom() - (db - FLOOR_DBFS) / -FLOOR_DBFS * area.height()

        for channel in range(len(self._peak)):
            x = area.left() + channel * (width + gap)
            painter.fillRect(QRectF(x, area.top(), width, area.height()), QColor(40, 40, 40))
            for lo, hi, color in ((FLOOR_DBFS, YELLOW_DBFS, "#43a047"),
                                  (YELLOW_DBFS, RED_DBFS, "#fdd835"),
                                  (RED_DBFS, 0.0, "#e53935")):
                top = min(self._rms[channel], hi)
                if top > lo:
                    painter.fillRect(QRectF(x, y_of(top), width, y_of(lo) - y_of(top)),
                                     QColor(color))
            painter.fillRect(QRectF(x, y_of(self._peak[channel]) - 1, width, 2),
                             QColor("#ffffff"))
            held = self.held_peak(channel)
            if held > FLOOR_DBFS:
                painter.fillRect(QRectF(x, y_of(held) - 1, width, 2),
                                 QColor("#e53935") if held >= RED_DBFS else QColor("#90caf9"))
        painter.setPen(text_color)
        if self.short_term_lufs is not None:
            caption = f"{self.short_term_lufs:.1f} LUFS"
        elif self._peak:
            caption = f"{max(self._peak):.1f} dBFS"
        else:
            caption = "no input"
        painter.drawText(QRectF(0, self.height() - label_h, self.width(), label_h),
                         int(Qt.AlignmentFlag.AlignCenter), caption)
        painter.end()
