"""Widgets and dialogs: spectrum, level meter, analysis panel, settings, port dialog."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from gui_support import SAMPLE_ANALYSIS, settings_for
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from codette_desktop.errors import ConfigError
from codette_desktop.protocol.events import AnalysisCompleted
from codette_desktop.ui.analysis_panel import AnalysisPanel, format_measurement
from codette_desktop.ui.level_meter import FLOOR_DBFS, HOLD_S, LevelMeterWidget
from codette_desktop.ui.port_dialog import (
    PortInUseBox,
    ask_for_port,
    next_free_port,
    port_is_free,
)
from codette_desktop.ui.settings_dialog import SettingsDialog
from codette_desktop.ui.spectrum_widget import SpectrumWidget

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- spectrum ---------------------------------------------------------------------------


def test_spectrum_keeps_known_finite_bands(qtbot: QtBot) -> None:
    widget = SpectrumWidget()
    qtbot.addWidget(widget)
    widget.set_bands({"sub": -30, "low": float("nan"), "mid": -12.5, "bogus": 3.0,
                      "air": None})
    assert widget.bands == {"sub": -30.0, "mid": -12.5}
    assert widget.db_range() == (-60.0, 0.0)
    widget.set_bands({"sub": -75.0, "air": 4.0})
    assert widget.db_range() == (-84.0, 12.0)
    widget.set_bands(None)
    assert widget.bands == {}


def test_spectrum_draws_bars(qtbot: QtBot) -> None:
    widget = SpectrumWidget()
    qtbot.addWidget(widget)
    widget.resize(420, 220)
    empty = widget.grab().toImage()
    widget.set_bands(SAMPLE_ANALYSIS["measurements"]["band_energy_db"])
    image = widget.grab().toImage()
    background = QColor(widget.palette().base().color())

    def colored(img: Any) -> int:
        return sum(1 for x in range(0, img.width(), 3) for y in range(0, img.height(), 3)
                   if img.pixelColor(x, y).saturation() > 100
                   and img.pixelColor(x, y) != background)

    assert colored(empty) == 0
    assert colored(image) > 200


# -- level meter ------------------------------------------------------------------------


def test_level_meter_timer_runs_only_while_visible_and_fed(qtbot: QtBot) -> None:
    clock = FakeClock()
    meter = LevelMeterWidget(clock=clock)
    qtbot.addWidget(meter)
    meter.set_levels([-6.0, -8.0], [-18.0, -20.0])
    assert not meter.repaint_timer_active, "hidden: no timer"
    meter.show()
    qtbot.waitExposed(meter)
    assert meter.repaint_timer_active
    meter.set_levels([-6.0, -8.0], [-18.0, -20.0])
    before = meter.paint_count
    qtbot.waitUntil(lambda: meter.paint_count > before, timeout=2000)
    meter.hide()
    assert not meter.repaint_timer_active
    meter.show()
    assert meter.repaint_timer_active
    clock.now += 60  # levels stopped long ago and the held peaks have fallen
    qtbot.waitUntil(lambda: not meter.repaint_timer_active, timeout=2000)


def test_level_meter_peak_hold_then_fall(qtbot: QtBot) -> None:
    clock = FakeClock()
    meter = LevelMeterWidget(clock=clock)
    qtbot.addWidget(meter)
    meter.set_levels([-3.0], [-12.0])
    clock.now += 0.1
    meter.set_levels([-20.0], [-30.0])
    assert meter.held_peak(0) == -3.0
    clock.now += HOLD_S
    assert meter.held_peak(0) == pytest.approx(-3.0 - 0.1 * 20.0)
    clock.now += 100
    assert meter.held_peak(0) == FLOOR_DBFS
    meter.set_levels([None, float("-inf")], [None, None])
    assert meter.channels == 2
    assert meter.held_peak(1) == FLOOR_DBFS


def test_level_meter_paints_channels(qtbot: QtBot) -> None:
    meter = LevelMeterWidget()
    qtbot.addWidget(meter)
    meter.resize(90, 200)
    meter.set_levels([-1.0, -30.0], [-4.0, -40.0], short_term_lufs=-9.5)
    image = meter.grab().toImage()
    red = sum(1 for y in range(image.height()) if image.pixelColor(20, y).red() > 200
              and image.pixelColor(20, y).green() < 100)
    assert red > 3, "the loud channel reaches the red zone"


# -- analysis panel ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("integrated_lufs", -14.234, "-14.23 LUFS"),
        ("true_peak_dbtp", -1.0, "-1.00 dBTP"),
        ("sample_peak_dbfs", -0.5, "-0.50 dBFS"),
        ("crest_factor_db", 12.0, "12.00 dB"),
        ("loudness_range_lu", 6.0, "6.00 LU"),
        ("spectral_centroid_hz", 2150.4, "2150 Hz"),
        ("tempo_bpm", 120.0, "120.00 BPM"),
        ("duration_s", 3.5, "3.50 s"),
        ("sample_rate", 48000, "48000 Hz"),
        ("clipped_samples", 12345, "12,345"),
        ("key", "A minor", "A minor"),
        ("integrated_lufs", None, "—"),
        ("integrated_lufs", float("-inf"), "−∞"),
        ("stereo_correlation", 0.5, "0.50"),
    ],
)
def test_format_measurement(name: str, value: Any, text: str) -> None:
    assert format_measurement(name, value) == text


def test_analysis_panel_shows_measurements_and_spectrum(qtbot: QtBot) -> None:
    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    panel.show_analysis(AnalysisCompleted(client_id="c9", track_name="Bass <DI>",
                                          analysis=SAMPLE_ANALYSIS))
    assert "Bass &lt;DI&gt;" in panel.headline.text()
    assert "0.82" in panel.headline.text()
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert "integrated_lufs" in names and "band_energy_db" not in names
    assert len(names) == len(SAMPLE_ANALYSIS["measurements"]) - 1
    assert panel.spectrum.bands["low"] == -18.5
    assert "Cut 2 dB around 5 kHz" in panel.insights.toPlainText()


# -- settings dialog --------------------------------------------------------------------


def test_settings_dialog_refuses_invalid_values_with_the_config_error(
        qtbot: QtBot, tmp_path: Path) -> None:
    base = settings_for(tmp_path)
    dialog = SettingsDialog(base, start_at_login=False)
    qtbot.addWidget(dialog)
    accepted: list[Any] = []
    dialog.settings_accepted.connect(accepted.append)
    dialog.show()
    dialog.origins.setPlainText("localhost:5173")
    dialog.accept()
    assert dialog.isVisible(), "the dialog stays open"
    assert not accepted
    with pytest.raises(ConfigError) as info:
        dialog.validated()
    assert dialog.error.text() == str(info.value)
    assert "must start with http://" in dialog.error.text()
    dialog.origins.setPlainText("http://localhost:5173")
    dialog.host.setText("192.0.2.10")
    dialog.accept()
    assert "not a loopback address" in dialog.error.text()
    assert dialog.isVisible()


def test_settings_dialog_accepts_and_reports_restart(qtbot: QtBot, tmp_path: Path) -> None:
    base = settings_for(tmp_path)
    dialog = SettingsDialog(base, start_at_login=False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.restarts_server
    dialog.start_minimised.setChecked(True)
    assert not dialog.restarts_server
    dialog.port.setValue(8765)
    dialog.origins.setPlainText("http://localhost:5173\n\n  http://127.0.0.1:3000  \n")
    dialog.status_interval.setValue(5.0)
    dialog.start_at_login.setChecked(True)
    assert dialog.restarts_server
    with qtbot.waitSignal(dialog.settings_accepted) as got:
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)
    new = got.args[0]
    assert new.port == 8765
    assert new.allowed_origins == ("http://localhost:5173", "http://127.0.0.1:3000")
    assert new.status_interval_s == 5.0
    assert new.start_at_login and new.start_minimised
    assert new.data_dir == base.data_dir
    assert not dialog.isVisible()


# -- port in use ------------------------------------------------------------------------


def test_next_free_port_skips_busy_ports() -> None:
    with socket.socket() as first:
        first.bind(("127.0.0.1", 0))
        first.listen()
        busy = first.getsockname()[1]
        assert not port_is_free("127.0.0.1", busy)
        suggestion = next_free_port("127.0.0.1", busy)
        assert suggestion != busy
        assert port_is_free("127.0.0.1", suggestion)


def test_next_free_port_at_the_top_asks_the_os() -> None:
    port = next_free_port("127.0.0.1", 65535)
    assert 0 < port <= 65535


def test_port_dialog_names_the_port_and_answers_without_a_nested_loop(
        qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def scenario(click_use: bool) -> int | None:
        box = PortInUseBox("127.0.0.1", 8000, 8001)
        assert "Port 8000" in box.text() and "8001" in box.informativeText()
        answer = asyncio.ensure_future(ask_for_port(box))
        await asyncio.sleep(0.05)
        assert box.isVisible()
        (box.use_button if click_use else box.cancel_button).click()
        return await asyncio.wait_for(answer, 5)

    assert qasync_loop.run_until_complete(scenario(True)) == 8001
    assert qasync_loop.run_until_complete(scenario(False)) is None
