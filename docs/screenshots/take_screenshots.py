"""Regenerate the GUI screenshots in this folder (needs Xvfb, trayer, xdotool, imagemagick).

    python docs/screenshots/take_screenshots.py

Starts the real app (minimised to the tray) under its own Xvfb + trayer with a temp data
folder, grabs the tray menu, opens the dashboard with a left click on the icon, connects
two real clients (one from a browser origin), chats, runs an analysis of a synthetic mix,
and grabs the dashboard, both with ``import -window root``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import wave
from pathlib import Path

import numpy as np
from websockets.sync.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
READY = re.compile(r"SERVER READY - (ws://\S+)")
SIZE = (1600, 1000)


def synthetic_mix(seconds: float = 6.0, rate: int = 44100) -> bytes:
    """Kick-like thumps, a bass line, a lead and some noise: every band gets energy."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * rate)) / rate
    beat = np.exp(-((t % 0.5) * 18.0)) * np.sin(2 * np.pi * 55 * t)
    bass = 0.35 * np.sin(2 * np.pi * 110 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    lead = 0.12 * np.sin(2 * np.pi * 880 * t + 2 * np.sin(2 * np.pi * 5 * t))
    hiss = 0.03 * rng.standard_normal(t.size)
    left = 0.6 * beat + bass + lead + hiss
    right = 0.6 * beat + bass + 0.8 * lead + 0.03 * rng.standard_normal(t.size)
    stereo = np.stack([left, right], axis=1)
    stereo /= np.max(np.abs(stereo)) * 1.12
    pcm = (stereo * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def request(ws: ClientConnection, message: dict[str, object], timeout: float = 120) -> dict:
    ws.send(json.dumps(message))
    while True:
        reply = json.loads(ws.recv(timeout=timeout))
        if reply.get("id") == message.get("id") and reply["type"] != "chat_chunk":
            return reply


def x(display: str, *args: str) -> str:
    return subprocess.run(list(args), env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True, check=False).stdout


def wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def main() -> int:
    # websockets' sync client without a context manager: fine for a short script.
    warnings.simplefilter("ignore", DeprecationWarning)
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                             f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = f":{pipe.readline().strip()}"
    trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype",
                               "request", "--height", "24", "--transparent", "false",
                               "--tint", "0x303030"], env={**os.environ, "DISPLAY": display},
                              stderr=subprocess.DEVNULL)
    wait(lambda: x(display, "xdotool", "search", "--onlyvisible", "--class", "trayer"), 10,
         "trayer")
    data = Path(tempfile.mkdtemp(prefix="codette-shots-"))
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
           "CODETTE_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(data / "xdg"),
           "CODETTE_START_MINIMISED": "true",
           "PYTHONUNBUFFERED": "1"}
    env.setdefault("CODETTE_CACHE_DIR", str(REPO / ".cache" / "codette"))
    app = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--port", "0"], cwd=REPO,
                           env=env, stderr=subprocess.PIPE, text=True)
    clients: list[ClientConnection] = []
    try:
        assert app.stderr is not None
        url = None
        for line in app.stderr:
            match = READY.search(line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise SystemExit("the app did not start")
        stderr = app.stderr
        threading.Thread(target=lambda: [None for _ in stderr], daemon=True).start()  # drain
        # The tray menu: right-click the icon inside trayer's panel.
        icon_pattern = re.compile(r'"Codette Desktop": \("main.py" "Codette Desktop"\)\s+'
                                  r"(\d+)x(\d+)\+0\+0\s+\+(\d+)\+(\d+)")
        wait(lambda: icon_pattern.search(x(display, "xwininfo", "-root", "-tree")), 10,
             "the tray icon")
        icon = icon_pattern.search(x(display, "xwininfo", "-root", "-tree"))
        assert icon is not None
        width, height, left, top = (int(v) for v in icon.groups())
        windows_before = x(display, "xdotool", "search", "--onlyvisible", "--class",
                           "Codette Desktop").split()
        x(display, "xdotool", "mousemove", str(left + width // 2), str(top + height // 2),
          "click", "3")
        wait(lambda: len(x(display, "xdotool", "search", "--onlyvisible", "--class",
                           "Codette Desktop").split()) > len(windows_before), 10, "the menu")
        time.sleep(0.3)  # let the popup paint before the grab
        x(display, "xdotool", "mousemove", str(left - 120), str(top + 100))  # hover an item
        time.sleep(0.5)
        menu = HERE / "tray-menu.png"
        x(display, "import", "-window", "root", "-crop", f"240x210+{SIZE[0] - 240}+0",
          "+repage", str(menu))
        x(display, "xdotool", "key", "Escape")
        wait(lambda: len(x(display, "xdotool", "search", "--onlyvisible", "--class",
                           "Codette Desktop").split()) == len(windows_before), 10,
             "the menu to close")
        # A left click on the icon opens the dashboard.
        x(display, "xdotool", "mousemove", str(left + width // 2), str(top + height // 2),
          "click", "1")
        wait(lambda: x(display, "xdotool", "search", "--onlyvisible", "--name", "Dashboard"),
             10, "the dashboard")
        daw = connect(url, origin="http://localhost:5173")  # type: ignore[arg-type]
        script = connect(url)
        clients += [daw, script]
        for ws in clients:
            json.loads(ws.recv(timeout=10))
        request(daw, {"type": "subscribe", "id": "s1", "events": ["server_status"]})
        request(daw, {"type": "chat", "id": "q1", "message": "How do I make the bass sit "
                      "under the kick?", "daw_context": {"bpm": 124, "genre": "house"}})
        request(script, {"type": "ping", "id": "p1"})
        request(script, {"type": "perspectives", "id": "p2"})
        audio = base64.b64encode(synthetic_mix()).decode()
        reply = request(daw, {
            "type": "analyze", "id": "a1", "analysis_type": "full",
            "track_data": {"track_id": "t1", "track_name": "Mix bus", "track_type": "master"},
            "audio": {"format": "wav", "data": audio},
        }, timeout=300)
        print("analysis:", reply.get("status"), file=sys.stderr)
        request(script, {"type": "status", "id": "p3"})
        time.sleep(1.5)  # one uptime tick and the last batch painted
        dashboard = HERE / "dashboard.png"
        x(display, "import", "-window", "root", "-crop", "1280x800+0+0", "+repage",
          str(dashboard))
        print(dashboard, menu, sep="\n")
    finally:
        for ws in clients:
            ws.close()
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=15)
        trayer.terminate()
        xvfb.terminate()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
