"""Helpers for the GUI tests (the fixtures are in gui_fixtures.py).

Importing this module makes Qt default to the offscreen platform, before pytest-qt
creates the QApplication; the X11 tests set ``QT_QPA_PLATFORM=xcb`` for their children.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from codette_desktop.config import Settings
from codette_desktop.protocol import events

REPO = Path(__file__).resolve().parents[2]

SAMPLE_ANALYSIS: dict[str, Any] = {
    "analysis_type": "full",
    "codette_insights": "Balanced low end; the presence band is a little hot.",
    "mixing_suggestions": ["Cut 2 dB around 5 kHz", "High-pass the guitars at 90 Hz"],
    "quality_score": 0.82,
    "measurements": {
        "duration_s": 12.5, "sample_rate": 48000, "channels": 2,
        "integrated_lufs": -14.2, "true_peak_dbtp": -1.1, "sample_peak_dbfs": -1.4,
        "loudness_range_lu": 6.3, "crest_factor_db": 11.8, "stereo_correlation": 0.71,
        "spectral_centroid_hz": 2150.4, "tempo_bpm": 120.0, "key": "A minor",
        "band_energy_db": {"sub": -32.0, "low": -18.5, "low_mid": -21.0, "mid": -19.2,
                           "high_mid": -24.8, "presence": -27.1, "air": -35.6},
    },
}


def message(n: int, *, client: str = "c1", type_: str = "ping",
            direction: str = "in") -> events.MessageLogged:
    return events.MessageLogged(client_id=client, direction=direction, type=type_,
                                size=20 + n, preview=f'{{"type":"{type_}","n":{n}}}',
                                at=time.time())


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(port=0, data_dir=tmp_path / "data",
                    cache_dir=REPO / ".cache" / "codette", **changes)


async def wait_for(condition: Callable[[], object], timeout: float = 10.0,
                   what: str = "condition") -> None:
    """Poll ``condition`` on the running loop (qtbot.waitUntil would nest Qt loops)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def wait_until(condition: Callable[[], object], timeout: float = 10.0,
               what: str = "condition") -> None:
    """The same for tests without an event loop of their own (X11 subprocess tests)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# -- a real X server with a tray host ---------------------------------------------------


def x_tools_missing() -> list[str]:
    return [tool for tool in ("trayer", "xdotool", "xwininfo") if shutil.which(tool) is None]


def x_env(display: str) -> dict[str, str]:
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    return env


def x_run(display: str, *args: str) -> str:
    result = subprocess.run(list(args), env=x_env(display), capture_output=True, text=True,
                            timeout=10)
    return result.stdout


def visible_windows(display: str, class_name: str) -> list[str]:
    return x_run(display, "xdotool", "search", "--onlyvisible", "--class", class_name).split()


_GEOMETRY = re.compile(r"(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)")


def tray_icons(display: str, title: str = "Codette Desktop") -> list[tuple[int, int, int, int]]:
    """Absolute (x, y, width, height) of windows named ``title`` embedded in trayer's panel."""
    tree = x_run(display, "xwininfo", "-root", "-tree")
    icons = []
    inside_panel = False
    panel_indent = 0
    for line in tree.splitlines():
        indent = len(line) - len(line.lstrip())
        if '"panel": ("panel" "trayer")' in line:
            inside_panel, panel_indent = True, indent
            continue
        if inside_panel and line.strip() and indent <= panel_indent:
            inside_panel = False
        if inside_panel and f'"{title}"' in line:
            match = _GEOMETRY.search(line)
            if match:
                width, height, x, y = (int(g) for g in match.groups())
                icons.append((x, y, width, height))
    return icons
