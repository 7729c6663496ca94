"""The PyInstaller bundle, built (or reused when newer than every source file) and run.

    pytest -m bundle

Builds ``dist/codette-desktop-<version>/`` with packaging/build.sh unless it is up to date,
then runs the executable as a user would: headless on a free port, checked with
``codette-ws-test``, asked for a ``loudness`` and a ``full`` analysis of a WAV, stopped
with SIGTERM; checks that librosa's numba code is cached under CODETTE_CACHE_DIR (and
loaded from there by the next start), that the bundled PortAudio is the one loaded, that
the version is pyproject's, that the Linux installer works with the real bundle, and
(with an X server and trayer) that the tray comes up.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codette_desktop.services.analysis_pool import numba_cache_dir

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "gui"))

import bundle_bench as bb  # noqa: E402

pytest_plugins = ["gui_fixtures"]  # x_display, tray_host (for the tray test)

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bundle is built on Linux"),
    pytest.mark.timeout(900),
]

# A cache that outlives the test run, so CI compiles librosa's kernels once per bundle build
# (numba keys frozen-app cache entries on the executable, so a rebuild starts fresh).
# Only one app at a time may use it: numba's cache index is not safe against two processes
# compiling the same functions into it at once. Other instances get a temp cache.
CACHE_DIR = REPO / ".cache" / "codette-bundle"
NUMBA_DIR = numba_cache_dir(CACHE_DIR)  # <CODETTE_CACHE_DIR>/numba/<versions>
NUMBA_LINE = re.compile(r"\[cache\] (?:index|data) (saved to|loaded from) '([^']+)'")


@pytest.fixture(scope="module")
def bundle_exe() -> Path:
    exe, _build_s = bb.ensure_bundle()
    assert exe.is_file() and os.access(exe, os.X_OK)
    return exe


@pytest.fixture(scope="module")
def audio() -> dict[str, str]:
    return bb.make_wav(seconds=5.0)


def bundle_snapshot(bundle: Path) -> dict[str, float]:
    return {str(p.relative_to(bundle)): p.lstat().st_mtime for p in bundle.rglob("*")}


@pytest.fixture(scope="module")
def snapshot_before(bundle_exe: Path) -> dict[str, float]:
    return bundle_snapshot(bundle_exe.parent)


@pytest.fixture(scope="module")
def served(bundle_exe: Path, snapshot_before: dict[str, float],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[bb.AppProcess]:
    """One headless bundle for the module; NUMBA_DEBUG_CACHE shows where numba caches."""
    run = bb.launch([str(bundle_exe)], data_dir=tmp_path_factory.mktemp("bundle-data"),
                    cache_dir=CACHE_DIR, env={"NUMBA_DEBUG_CACHE": "1"}, timeout=120)
    try:
        yield run
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(timeout=10)


def analyze_logged(run: bb.AppProcess, kind: str, audio: dict[str, str], request_id: Any,
                   timeout: float) -> dict[str, Any]:
    """bb.analyze, with the app's last log lines in the failure message."""
    try:
        return bb.analyze(run.ws_url, kind, audio, request_id=request_id, timeout=timeout)
    except Exception as exc:
        raise AssertionError(f"{kind} analysis failed ({exc!r}); the app's log ends:\n"
                             + "\n".join(list(run.lines)[-40:])) from exc


def numba_events(run: bb.AppProcess) -> list[tuple[str, Path]]:
    return [(m.group(1), Path(m.group(2))) for m in map(NUMBA_LINE.search, run.out) if m]


def measurement(reply: dict[str, Any], name: str) -> Any:
    analysis = reply["analysis"]
    return analysis.get("measurements", analysis).get(name)


def test_bundle_layout(bundle_exe: Path) -> None:
    bundle = bundle_exe.parent
    version = bb.project_version()
    assert bundle.name == f"codette-desktop-{version}"
    internal = bundle / "_internal"
    for needed in ("resources/icons/codette-256.png", "resources/web/index.html",
                   "libportaudio.so.2", "librosa/beat.py", "librosa/util/example_data",
                   "llvmlite/binding/libllvmlite.so"):
        assert (internal / needed).exists(), f"{needed} is missing from the bundle"
    assert list((internal / "resources" / "knowledge").glob("*.json")), "no knowledge base"
    # The package metadata (importlib.metadata.version), from the .dist-info or .egg-info.
    assert list(internal.glob("codette_desktop*-info")), "no package metadata"
    assert list((internal / "librosa" / "__pycache__").glob("*.pyc")), "librosa not compiled"
    for unwanted in ("tkinter", "matplotlib", "sklearn", "PySide6/QtQml.abi3.so",
                     "PySide6/QtQuick.abi3.so", "PySide6/Qt/lib/libQt6Qml.so.6",
                     "PySide6/Qt/lib/libQt6Pdf.so.6", "libgtk-3.so.0"):
        assert not (internal / unwanted).exists(), f"{unwanted} should not be bundled"
    for name in ("install-linux.sh", "uninstall-linux.sh", "linux/codette-desktop.desktop"):
        assert (bundle / name).is_file()


def test_version_flag(bundle_exe: Path) -> None:
    result = subprocess.run([str(bundle_exe), "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"codette-desktop {bb.project_version()}"


def test_ws_test_cli_passes(served: bb.AppProcess) -> None:
    cli = REPO / ".venv" / "bin" / "codette-ws-test"
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "codette_desktop.cli.ws_test"]
    result = subprocess.run([*command, "--url", served.ws_url, "--timeout", "30"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_version_in_status_and_health(served: bb.AppProcess) -> None:
    version = bb.project_version()
    status = bb.request(served.ws_url, {"type": "status", "id": "s1"})
    assert status["type"] == "status_response" and status["version"] == version
    url = f"http://127.0.0.1:{served.port}/health"
    with urllib.request.urlopen(url, timeout=10) as response:
        health = json.loads(response.read())
    assert health["version"] == version


def test_bundled_portaudio_is_loaded(served: bb.AppProcess) -> None:
    """sounddevice opens PortAudio by name; the runtime hook makes that the bundle's copy."""
    status = bb.request(served.ws_url, {"type": "status", "id": "s2"})
    assert status["capture"]["state"] != "unavailable", status["capture"]
    devices = bb.request(served.ws_url, {"type": "devices", "id": "d1"})  # imports sounddevice
    assert devices["type"] != "error" or devices.get("code") == "audio_device_error", devices
    maps = Path(f"/proc/{served.process.pid}/maps").read_text()
    loaded = {line.split()[-1] for line in maps.splitlines() if "libportaudio" in line}
    internal = bb.bundle_dir() / "_internal"
    assert loaded == {str(internal / "libportaudio.so.2")}, loaded


@pytest.mark.audio
def test_capture_through_pulseaudio(bundle_exe: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled PortAudio with the system's ALSA and its pulse plugin: a played sine
    comes back through the app's capture and analyses at its level."""
    from audio_env import pulse_fixture, sine, write_wav

    # A private daemon: capture tests elsewhere stop and kill the shared one on purpose.
    monkeypatch.setenv("CODETTE_PULSE_DIR", str(tmp_path / "pulse"))
    pulse_gen = pulse_fixture()
    pulse = next(pulse_gen)  # skips when PulseAudio is not installed
    try:
        wav = write_wav(tmp_path / "sine.wav", sine(frequency=1000.0, dbfs=-12.0, seconds=8),
                        48000)
        with bb.running([str(bundle_exe)], data_dir=tmp_path / "data",
                        cache_dir=tmp_path / "cache") as run:
            devices = bb.request(run.ws_url, {"type": "devices", "id": "d"})
            assert "pulse" in json.dumps(devices), devices
            token = (tmp_path / "data" / "capture-token").read_text().strip()
            started = bb.request(run.ws_url, {"type": "capture_start", "id": "c",
                                              "device": "pulse", "sample_rate": 48000,
                                              "capture_token": token})
            assert started.get("state") == "running", started
            player = pulse.play(wav)
            try:
                time.sleep(3.0)
                reply = bb.request(run.ws_url, {"type": "analyze", "id": "a",
                                                "analysis_type": "loudness",
                                                "source": "capture", "seconds": 1.0,
                                                "capture_token": token})
            finally:
                player.kill()
                player.wait()
            assert reply["status"] == "success", reply
            assert measurement(reply, "integrated_lufs") == pytest.approx(-12.0, abs=1.0)
            assert run.stop(timeout=30) == 0
    finally:
        pulse_gen.close()


def test_loudness_analysis(served: bb.AppProcess, audio: dict[str, str]) -> None:
    reply = analyze_logged(served, "loudness", audio, 1, timeout=120)
    assert reply["type"] == "analysis_response" and reply["status"] == "success", reply
    lufs = measurement(reply, "integrated_lufs")
    assert isinstance(lufs, float | int) and math.isfinite(lufs) and -40 < lufs < 0


def test_full_analysis_and_numba_cache(served: bb.AppProcess, audio: dict[str, str]) -> None:
    reply = analyze_logged(served, "full", audio, 2, timeout=400)
    assert reply["type"] == "analysis_response" and reply["status"] == "success", reply
    lufs = measurement(reply, "integrated_lufs")
    assert isinstance(lufs, float | int) and math.isfinite(lufs)
    assert "tempo_bpm" in reply["analysis"]["measurements"], "full has tempo and key"
    served.wait_for_line(bb.WARMED.pattern, timeout=60)
    events = numba_events(served)
    assert events, "numba reported no cache activity:\n" + "\n".join(list(served.out)[-20:])
    # The keyed folder: the bundle was built from this venv, so the versions match.
    outside = {path for _, path in events if NUMBA_DIR not in path.parents}
    assert not outside, f"numba cached outside {NUMBA_DIR}: {sorted(outside)[:5]}"
    assert list(NUMBA_DIR.glob("*/*.nbi")), "no numba index files were written"


def test_sigterm_exits_0(served: bb.AppProcess) -> None:
    assert served.stop(timeout=30) == 0
    assert any("shutting down" in line for line in served.lines)


def test_nothing_was_written_into_the_bundle(
        bundle_exe: Path, served: bb.AppProcess, snapshot_before: dict[str, float]) -> None:
    """Logs, data and caches go to the user's folders: the bundle can be read-only."""
    served.stop(timeout=30)
    after = bundle_snapshot(bundle_exe.parent)
    changed = sorted(k for k in after.keys() | snapshot_before.keys()
                     if after.get(k) != snapshot_before.get(k))
    assert not changed, f"the app wrote into its bundle: {changed[:10]}"


def test_second_start_loads_numba_code_from_the_cache(
        bundle_exe: Path, audio: dict[str, str], tmp_path: Path) -> None:
    """Runs after the first instance stopped: everything compiled is on disk by now."""
    if not list(NUMBA_DIR.glob("*/*.nbi")):
        pytest.skip("no cache from the first run (run the whole module)")
    with bb.running([str(bundle_exe)], data_dir=tmp_path / "data", cache_dir=CACHE_DIR,
                    env={"NUMBA_DEBUG_CACHE": "1"}) as run:
        reply = analyze_logged(run, "full", audio, 3, timeout=300)
        assert reply["status"] == "success", reply
        warm = run.wait_for_line(bb.WARMED.pattern, timeout=60)
        events = numba_events(run)
        saved = [path for kind, path in events if kind == "saved to"]
        loaded = [path for kind, path in events if kind == "loaded from"]
        assert loaded and not saved, f"recompiled instead of loading: {saved[:5]}"
        assert all(NUMBA_DIR in path.parents for path in loaded)
        print(f"warm librosa warm-up: {warm.group(1)} s")
        assert run.stop(timeout=30) == 0


def test_install_linux_with_the_real_bundle(bundle_exe: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(home)
    bundle = bundle_exe.parent
    subprocess.run(["bash", str(bundle / "install-linux.sh"), "--link"], env=env, check=True,
                   capture_output=True, timeout=120)
    command = home / ".local" / "bin" / "codette-desktop"
    result = subprocess.run([str(command), "--version"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.stdout.strip() == f"codette-desktop {bb.project_version()}", result.stderr
    subprocess.run(["bash", str(bundle / "uninstall-linux.sh")], env=env, check=True,
                   capture_output=True, timeout=120)
    assert not command.exists() and not command.is_symlink()
    assert bundle_exe.is_file()


@pytest.mark.llm
def test_chat_through_a_local_model(bundle_exe: Path, llm_server_paths: tuple[Path, Path],
                                    tmp_path: Path) -> None:
    """The frozen app's model client (httpx, httpcore, certifi, ...) streams a chat from
    llama.cpp's server with SmolLM2-135M; a tiny model, so only the plumbing is checked."""
    from conftest import Client
    from llm_server import APP_TEST_THREADS, MODEL_ALIAS, running_llm_server

    with running_llm_server(llm_server_paths, threads=APP_TEST_THREADS) as model:
        env = {"CODETTE_LLM_URL": model.base_url, "CODETTE_LLM_TIMEOUT_S": "120"}
        with bb.running([str(bundle_exe)], data_dir=tmp_path / "data",
                        cache_dir=tmp_path / "cache", env=env) as run, \
                Client(run.ws_url) as client:
            client.send({"type": "chat", "id": "m", "stream": True,
                         "message": "How do I compress a lead vocal?"})
            deltas = []
            while (reply := client.recv(300))["type"] == "chat_chunk":
                deltas.append(reply["delta"])
            assert run.stop(timeout=30) == 0
    assert reply["type"] == "chat_response", reply
    assert reply["engine"] == "llm" and reply["model"] == MODEL_ALIAS
    assert len(deltas) > 1 and "".join(deltas) == reply["response"]


@pytest.mark.x11
def test_tray_comes_up_under_x11(bundle_exe: Path, tray_host: str, tmp_path: Path) -> None:
    if not (REPO / "codette_desktop" / "ui" / "tray.py").exists():
        pytest.skip("no tray UI in this build")
    from gui_support import tray_icons, wait_until

    env = {"DISPLAY": tray_host, "QT_QPA_PLATFORM": "xcb",
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "CODETTE_START_MINIMISED": "true"}
    with bb.running([str(bundle_exe)], data_dir=tmp_path / "data",
                    cache_dir=tmp_path / "cache", args=("--port", "0"), env=env) as run:
        run.wait_for_line(r"GUI ready \(tray: True", timeout=60)
        wait_until(lambda: tray_icons(tray_host), timeout=15, what="the icon in trayer")
        assert not [line for line in run.lines if "qt.qpa" in line and "Could not" in line]
        # One round trip first: the SIGTERM handler is installed once start-up has finished.
        assert bb.request(run.ws_url, {"type": "ping", "id": "p"})["type"] == "pong"
        assert run.stop(timeout=30) == 0
