"""The tray on a real X server (Xvfb) with a real tray host (trayer).

The app runs as ``python main.py --port 0`` with DISPLAY set and a temp data folder; the
tests drive it from outside with xdotool and read the window tree with xwininfo. The
in-process checks (QSystemTrayIcon/QMenu state) run in a child pytest on the same display:
see x11_inprocess.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from gui_support import tray_icons, wait_until, x_env, x_run
from websockets.exceptions import ConnectionClosed

from app_process import REPO, AppProcess, app_env, start_app
from conftest import Client

pytestmark = pytest.mark.x11

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


def gui_env(display: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    # QT_QPA_PLATFORM: this test process uses offscreen; the app must use the X server.
    return {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **extra}


def window_info(display: str, window: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in x_run(display, "xwininfo", "-id", window).splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            info[key] = value.strip()
    return info


def popup_menus(display: str) -> list[dict[str, str]]:
    """Viewable top-level windows of the app taller than a tray icon: the open menu."""
    menus = []
    ids = x_run(display, "xdotool", "search", "--onlyvisible", "--class",
                "Codette Desktop").split()
    for window in ids:
        info = window_info(display, window)
        if info.get("Map State") == "IsViewable" and int(info.get("Height", "0")) > 60 \
                and "Dashboard" not in x_run(display, "xdotool", "getwindowname", window):
            menus.append(info)
    return menus


def wait_until_serving(app: AppProcess) -> None:
    """One client round trip: the loop has moved past start-up, so the app's SIGTERM
    handler (installed right after SERVER READY) is in place."""
    client = Client(app.ws_url)
    client.request({"type": "ping"})
    client.close()


def visible_dashboards(display: str) -> list[str]:
    return x_run(display, "xdotool", "search", "--onlyvisible", "--name", "Dashboard").split()


def test_tray_icon_menu_and_quit_end_to_end(tray_host: str, tmp_path: Path) -> None:
    app = start_app(tmp_path / "data", ("--port", "0"),
                    env=gui_env(tray_host, tmp_path, CODETTE_START_MINIMISED="true"))
    try:
        app.wait_for_line(r"GUI ready \(tray: True, dashboard: hidden\)")
        wait_until(lambda: tray_icons(tray_host), timeout=10, what="the icon in trayer")
        x, y, width, height = tray_icons(tray_host)[0]
        assert (width, height) > (0, 0)
        client = Client(app.ws_url)
        # Right-click the icon: the tray host forwards it, Qt opens the context menu. A
        # click that lands while trayer is still embedding the icon is lost: repeat it.
        for _attempt in range(5):
            x_run(tray_host, "xdotool", "mousemove", str(x + width // 2),
                  str(y + height // 2), "click", "3")
            try:
                wait_until(lambda: popup_menus(tray_host), timeout=2, what="the tray menu")
                break
            except AssertionError:
                continue
        assert popup_menus(tray_host), "the tray menu did not open"
        menu = popup_menus(tray_host)[0]
        left = int(menu["Absolute upper-left X"])
        top = int(menu["Absolute upper-left Y"])
        bottom = top + int(menu["Height"])
        # "Quit" is the last item.
        x_run(tray_host, "xdotool", "mousemove", str(left + 40), str(bottom - 10), "click", "1")
        with pytest.raises(ConnectionClosed) as info:
            client.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        assert app.process.wait(timeout=15) == 0
        assert not tray_icons(tray_host), "the icon is gone"
        assert not (tmp_path / "data" / "instance.lock").exists()
    finally:
        app.terminate()


def test_second_copy_shows_the_first_ones_dashboard(tray_host: str, tmp_path: Path) -> None:
    env = gui_env(tray_host, tmp_path, CODETTE_START_MINIMISED="true")
    app = start_app(tmp_path / "data", ("--port", "0"), env=env)
    try:
        app.wait_for_line(r"GUI ready \(tray: True, dashboard: hidden\)")
        assert not visible_dashboards(tray_host)
        second = subprocess.run(
            [sys.executable, str(REPO / "main.py"), "--port", "0"],
            env=app_env(tmp_path / "data", env), capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert "SERVER READY" not in second.stderr
        wait_until(lambda: visible_dashboards(tray_host), timeout=10,
                   what="the first copy's dashboard")
        wait_until_serving(app)
    finally:
        assert app.terminate() == 0


def test_without_a_tray_the_dashboard_is_a_window(x_display: str, tmp_path: Path) -> None:
    if subprocess.run(["pgrep", "-x", "trayer"], capture_output=True).returncode == 0:
        pytest.skip("another tray host runs on this machine")
    app = start_app(tmp_path / "data", ("--port", "0"),
                    env=gui_env(x_display, tmp_path, CODETTE_START_MINIMISED="true"))
    try:
        app.wait_for_line(r"GUI ready \(tray: False, dashboard: shown\)")
        wait_until(lambda: visible_dashboards(x_display), timeout=10, what="the dashboard")
        wait_until_serving(app)
    finally:
        assert app.terminate() == 0


def test_in_process_tray_checks_on_x11(tray_host: str, tmp_path: Path) -> None:
    env = {**x_env(tray_host), "QT_QPA_PLATFORM": "xcb",
           "CODETTE_CACHE_DIR": os.environ.get("CODETTE_CACHE_DIR",
                                               str(REPO / ".cache" / "codette"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "inner"), str(Path(__file__).with_name(
             "x11_inprocess.py"))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout
    summary = json.dumps(result.stdout.strip().splitlines()[-1])
    print(f"x11 in-process checks: {summary}")


def test_busy_port_at_start_offers_the_next_free_one(tray_host: str, tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), "--port", str(busy)], cwd=REPO,
            env=app_env(tmp_path / "data", gui_env(tray_host, tmp_path)),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        lines: list[str] = []
        assert process.stderr is not None
        threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True).start()
        try:
            wait_until(lambda: x_run(tray_host, "xdotool", "search", "--onlyvisible", "--name",
                                     "Port in use").split(), timeout=30, what="the dialog")
            dialog = x_run(tray_host, "xdotool", "search", "--onlyvisible", "--name",
                           "Port in use").split()[0]
            # The default button is "Use port N".
            x_run(tray_host, "xdotool", "windowfocus", "--sync", dialog)
            x_run(tray_host, "xdotool", "key", "Return")
            wait_until(lambda: any("SERVER READY" in line for line in lines), timeout=20,
                       what="the server on another port")
            ready = next(line for line in lines if "SERVER READY" in line)
            port = int(ready.rsplit(":", 1)[1].split("/")[0])
            assert port != busy
            settings_file = tmp_path / "data" / "settings.json"
            wait_until(settings_file.exists, timeout=10, what="settings.json")
            assert json.loads(settings_file.read_text())["port"] == port, "remembered"
            client = Client(f"ws://127.0.0.1:{port}/ws")
            assert client.request({"type": "ping"})["type"] == "pong"
            client.close()
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
