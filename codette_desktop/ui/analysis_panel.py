"""The latest analysis: headline, band spectrum, every measurement, insights."""

from __future__ import annotations

import html
import math
import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from codette_desktop.protocol.events import AnalysisCompleted, AnalysisProgress
from codette_desktop.ui.spectrum_widget import SpectrumWidget

# Units by measurement-name suffix (names from PROTOCOL.md, "Measurements").
_UNITS = (("_lufs", "LUFS"), ("_dbtp", "dBTP"), ("_dbfs", "dBFS"), ("_db", "dB"),
          ("_lu", "LU"), ("_hz", "Hz"), ("_bpm", "BPM"), ("_s", "s"))


def format_measurement(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if name != "sample_rate" else f"{value} Hz"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—" if math.isnan(value) else ("+∞" if value > 0 else "−∞")
        unit = next((u for suffix, u in _UNITS if name.endswith(suffix)), "")
        digits = 0 if unit == "Hz" and abs(value) >= 100 else (4 if name == "dc_offset" else 2)
        return f"{value:.{digits}f} {unit}".rstrip()
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_measurement(name, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(format_measurement(name, v) for v in value)
    return str(value)


class AnalysisPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.last_event: AnalysisCompleted | None = None
        self.headline = QLabel("No analysis yet. A client's <code>analyze</code> shows here.")
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.spectrum = SpectrumWidget()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Measurement", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        # Uploads arriving and analyses under way (AnalysisProgress); hidden when idle.
        self.progress = QProgressBar()
        self.progress.setObjectName("analysis-progress")
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.insights = QTextBrowser()
        self.insights.setOpenLinks(False)
        self.insights.setPlaceholderText("Codette's insights and suggestions")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.spectrum)
        splitter.addWidget(self.table)
        splitter.addWidget(self.insights)
        splitter.setSizes([230, 200, 150])
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.progress)
        layout.addWidget(splitter, 1)

    def show_progress(self, event: AnalysisProgress) -> None:
        """An upload's bytes, or an analysis that has started (no fraction known)."""
        if event.stage == "upload":
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(event.fraction * 1000))
            self.progress.setFormat(f"Receiving audio from {event.client_id}: %p%")
        else:
            self.progress.setRange(0, 0)  # busy: the worker reports no fraction
            self.progress.setFormat(f"Analysing audio from {event.client_id}…")
        self.progress.show()

    def show_analysis(self, event: AnalysisCompleted) -> None:
        self.last_event = event
        self.progress.hide()
        analysis = event.analysis
        measurements: dict[str, Any] = dict(analysis.get("measurements") or {})
        track = html.escape(event.track_name or "untitled track")
        parts = [f"<b>{track}</b>", f"from {html.escape(event.client_id)}",
                 time.strftime("at %H:%M:%S")]
        if analysis.get("analysis_type"):
            parts.append(f"type {html.escape(str(analysis['analysis_type']))}")
        score = analysis.get("quality_score")
        if isinstance(score, int | float):
            parts.append(f"quality <b>{score:.2f}</b>")
        self.headline.setText(" · ".join(parts))
        self.spectrum.set_bands(measurements.get("band_energy_db"))
        rows = [(name, value) for name, value in measurements.items()
                if name != "band_energy_db"]
        self.table.setRowCount(len(rows))
        for number, (name, value) in enumerate(rows):
            self.table.setItem(number, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(format_measurement(name, value))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(number, 1, item)
        text = []
        if analysis.get("codette_insights"):
            text.append(f"<p>{html.escape(str(analysis['codette_insights']))}</p>")
        suggestions = analysis.get("mixing_suggestions") or []
        if suggestions:
            items = "".join(f"<li>{html.escape(str(s))}</li>" for s in suggestions)
            text.append(f"<ul style='margin:0'>{items}</ul>")
        self.insights.setHtml("".join(text))
