"""Issue 10, items 4, 5 (analysis) and 7, performed against the real app over WebSocket:
a decompression bomb, nine 100 MiB frames from one client next to another client's small
analysis, and a numba cache full of garbage."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import soundfile

from codette_desktop.analysis.loudness import integrated_loudness
from codette_desktop.services.analysis_pool import WORKER_MEMORY_LIMIT, numba_cache_dir

from app_process import REPO, AppProcess, running_app
from conftest import Client

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
WARMED = r"analysis warm-up finished"
# The bomb: 240 s of 8-channel 192 kHz silence, 380 KB as FLAC, 2.9 GB as float64.
BOMB_SECONDS, BOMB_RATE, BOMB_CHANNELS = 240, 192_000, 8
WORKER_RSS_LIMIT = 500 * 1024 * 1024
ATTACK_FRAMES = 9
ATTACK_FRAME_CHARS = 100 * MIB
VICTIM_BUDGET_S = 1.0
TOO_MANY_SAMPLES = ("8 channels × 192000 Hz × 240 s is 368.6 million samples, over the limit "
                    "of 67.1 million (11.7 minutes of 48 kHz stereo); send a shorter excerpt")


class PeakRss:
    """Polls the RSS of every process the app started (its analysis workers) in a thread,
    so a spike between two replies is not missed."""

    def __init__(self, app: AppProcess, interval: float = 0.02) -> None:
        self._app = psutil.Process(app.process.pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak: dict[int, int] = {}

    def _poll(self) -> None:
        while not self._stop.is_set():
            for child in self._app.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                except psutil.Error:  # it ended between the listing and the read
                    continue
                self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def highest(self) -> int:
        return max(self.peak.values(), default=0)


@pytest.fixture(scope="module")
def bomb() -> str:
    """The bomb's FLAC bytes as base64 (made once: ~2 s of encoding)."""
    out = io.BytesIO()
    block = np.zeros((1 << 18, BOMB_CHANNELS), dtype=np.int16)
    with soundfile.SoundFile(out, "w", BOMB_RATE, BOMB_CHANNELS, format="FLAC",
                             subtype="PCM_16") as f:
        left = BOMB_SECONDS * BOMB_RATE
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    raw = out.getvalue()
    assert len(raw) < 400_000, len(raw)
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture(scope="module")
def warm_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """An app of its own (a bomb must not outlive its test in a shared one), warmed up,
    so the full worker's one-off compile is not counted as the bomb's memory."""
    with running_app(tmp_path_factory.mktemp("bomb-data")) as app:
        app.wait_for_line(WARMED, timeout=240)
        yield app


@pytest.mark.parametrize(
    ("declared", "analysis_type", "code", "field", "message"),
    [
        ("wav", "loudness", "invalid_field", "audio.format",
         "audio.format is 'wav' but the data is a FLAC file; declare its real format or "
         "convert it"),
        ("wav", "full", "invalid_field", "audio.format",
         "audio.format is 'wav' but the data is a FLAC file; declare its real format or "
         "convert it"),
        ("flac", "loudness", "payload_too_large", "audio.data",
         TOO_MANY_SAMPLES),
        ("flac", "full", "payload_too_large", "audio.data",
         TOO_MANY_SAMPLES),
    ],
)
def test_decompression_bomb_is_refused_and_workers_stay_small(
        warm_app: AppProcess, bomb: str, declared: str, analysis_type: str, code: str,
        field: str, message: str) -> None:
    c = Client(warm_app.ws_url)
    try:
        with PeakRss(warm_app) as rss:
            reply = c.request({"type": "analyze", "analysis_type": analysis_type,
                               "audio": {"format": declared, "data": bomb}}, timeout=120)
        print(f"bomb declared {declared}, {analysis_type}: highest worker RSS "
              f"{rss.highest / MIB:.0f} MiB")
        assert rss.peak, "no analysis worker was seen"
        assert rss.highest < WORKER_RSS_LIMIT, \
            f"a worker reached {rss.highest / MIB:.0f} MiB: {rss.peak}"
        assert reply["type"] == "analysis_response" and reply["status"] == "error", reply
        assert (reply["code"], reply["field"], reply["message"]) == (code, field, message)
        assert c.request({"type": "ping"})["type"] == "pong"
    finally:
        c.close()


def upload(c: Client, raw: bytes, fmt: str, analysis_type: str = "loudness",
           timeout: float = 120) -> dict[str, Any]:
    """Analyse ``raw`` as a binary upload (1 MiB frames); the final reply."""
    request_id = f"up{id(raw)}"
    c.send({"type": "analyze", "id": request_id, "analysis_type": analysis_type,
            "upload": {"format": fmt, "size": len(raw)}})
    for start in range(0, len(raw), MIB):
        c.ws.send(raw[start:start + MIB])
    while True:
        reply = c.recv(timeout)
        if reply.get("id") == request_id and reply["type"] != "analysis_progress":
            return reply


@pytest.mark.parametrize(("declared", "code", "field", "message"), [
    ("wav", "invalid_field", "upload.format",
     "upload.format is 'wav' but the data is a FLAC file; declare its real format or "
     "convert it"),
    ("flac", "payload_too_large", "upload", TOO_MANY_SAMPLES),
])
def test_decompression_bomb_as_a_binary_upload(
        warm_app: AppProcess, bomb: str, declared: str, code: str, field: str,
        message: str) -> None:
    """The same bomb sent as binary frames: the worker reads the spooled file, checked
    the same way before a sample is decoded."""
    c = Client(warm_app.ws_url)
    try:
        with PeakRss(warm_app) as rss:
            reply = upload(c, base64.b64decode(bomb), declared)
        assert rss.highest < WORKER_RSS_LIMIT, \
            f"a worker reached {rss.highest / MIB:.0f} MiB: {rss.peak}"
        assert reply["type"] == "analysis_response" and reply["status"] == "error", reply
        assert (reply["code"], reply["field"], reply["message"]) == (code, field, message)
        # And an honest upload still works.
        out = io.BytesIO()
        t = np.arange(3 * 48_000) / 48_000
        soundfile.write(out, 0.25 * np.sin(2 * np.pi * 1000.0 * t), 48_000, format="FLAC")
        honest = upload(c, out.getvalue(), "flac")
        assert honest["status"] == "success", honest
        assert honest["analysis"]["measurements"]["duration_s"] == 3.0
    finally:
        c.close()


def test_every_analysis_worker_runs_under_the_memory_limit(warm_app: AppProcess) -> None:
    """RLIMIT_DATA is set in each worker (numba's compile ran under it: the app is warm)."""
    workers = [child for child in psutil.Process(warm_app.process.pid).children(recursive=True)
               if any("spawn_main" in part for part in child.cmdline())]
    assert len(workers) == 3, [w.cmdline() for w in workers]  # two fast, one full
    for worker in workers:
        assert worker.rlimit(psutil.RLIMIT_DATA)[0] == WORKER_MEMORY_LIMIT


# ---------------------------------------------------------------- fairness under attack


@pytest.fixture(scope="session")
def attack_frame_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~100 MiB analyze frame (7 minutes of 48 kHz stereo noise as 16-bit WAV), written
    once per session."""
    rate = 48_000
    frames = (ATTACK_FRAME_CHARS * 3 // 4 - 44) // 4
    noise = np.random.default_rng(10).integers(-3000, 3000, size=(frames, 2), dtype=np.int16)
    out = io.BytesIO()
    soundfile.write(out, noise, rate, format="WAV", subtype="PCM_16")
    del noise
    data = base64.b64encode(out.getvalue()).decode("ascii")
    frame = ('{"type": "analyze", "analysis_type": "loudness", "track_data": {"track_name": '
             '"attack"}, "audio": {"format": "wav", "data": "' + data + '"}}')
    path = tmp_path_factory.mktemp("attack") / "frame.json"
    path.write_text(frame)
    return path


def test_nine_100_mib_frames_do_not_delay_another_clients_small_analysis(
        tmp_path: Path, attack_frame_path: Path) -> None:
    """Item 5: one client sends nine ~100 MiB analyze frames back to back; another client's
    small loudness analyses are each answered within 1 s of sending, measured here."""
    frame = attack_frame_path.read_text()
    assert ATTACK_FRAME_CHARS - MIB < len(frame) < ATTACK_FRAME_CHARS + MIB
    out = io.BytesIO()
    t = np.arange(2 * 48_000) / 48_000
    tone = 0.25 * np.sin(2 * np.pi * 440.0 * t)
    soundfile.write(out, np.column_stack([tone, tone]), 48_000, format="WAV",
                    subtype="PCM_16")
    expected_lufs = integrated_loudness(np.column_stack([tone, tone]), 48_000)
    small = {"type": "analyze", "analysis_type": "loudness",
             "audio": {"format": "wav", "data": base64.b64encode(out.getvalue()).decode()}}
    assert len(json.dumps(small)) < MIB

    with running_app(tmp_path / "data") as app:
        attacker, victim = Client(app.ws_url), Client(app.ws_url)
        attack_replies: list[dict[str, Any]] = []

        def attack() -> None:
            for _ in range(ATTACK_FRAMES):
                attacker.send(frame)
            while len(attack_replies) < ATTACK_FRAMES:
                attack_replies.append(attacker.recv(timeout=300))

        thread = threading.Thread(target=attack, daemon=True)
        thread.start()
        try:
            # The attack is under way once a worker analyses its first frame.
            app.wait_for_line(r"analysing 409\.\d s of 2-channel audio", timeout=120)
            latencies = []
            while thread.is_alive():
                start = time.perf_counter()
                reply = victim.request(small, timeout=60)
                latencies.append(time.perf_counter() - start)
                assert reply["status"] == "success", reply
                assert reply["analysis"]["measurements"]["integrated_lufs"] == pytest.approx(
                    expected_lufs, abs=0.02)
                thread.join(timeout=0.2)  # pacing of the probe, not a wait for a condition
        finally:
            thread.join(timeout=300)
            attacker.close()
            victim.close()
    print(f"victim latency under attack: max {max(latencies) * 1000:.0f} ms, "
          f"median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms over "
          f"{len(latencies)} analyses; attacker replies: "
          f"{[r.get('code', r.get('status')) for r in attack_replies]}")
    assert len(latencies) >= 3
    assert max(latencies) < VICTIM_BUDGET_S, latencies
    assert len(attack_replies) == ATTACK_FRAMES
    outcomes = {r.get("code") or r.get("status") for r in attack_replies}
    assert outcomes <= {"success", "rate_limited"}, attack_replies
    assert "rate_limited" in outcomes, "no bound on one client's large analyses"


# ---------------------------------------------------------------- a corrupt numba cache


def test_garbage_in_the_numba_cache_costs_one_restart(tmp_path: Path) -> None:
    """Item 7: every file of the keyed numba cache overwritten with garbage; the warm-up
    fails, the worker is restarted once on a wiped cache, and a full analysis succeeds."""
    cache_dir = tmp_path / "cache"
    numba_dir = numba_cache_dir(cache_dir)
    seed = numba_cache_dir(REPO / ".cache" / "codette")
    if list(seed.glob("**/*.nbi")):
        shutil.copytree(seed, numba_dir)
    else:  # no cache in this checkout yet: let an app compile one
        with running_app(tmp_path / "first", cache_dir=cache_dir) as app:
            app.wait_for_line(WARMED, timeout=240)
    files = [p for p in numba_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".nbi" for p in files), "no numba cache to corrupt"
    for path in files:
        path.write_bytes(os.urandom(300))

    out = io.BytesIO()
    t = np.arange(6 * 44_100) / 44_100
    clicks = np.zeros_like(t)
    clicks[:: 44_100 // 2] = 0.8
    soundfile.write(out, clicks + 0.1 * np.sin(2 * np.pi * 220.0 * t), 44_100, format="WAV",
                    subtype="PCM_16")
    audio = {"format": "wav", "data": base64.b64encode(out.getvalue()).decode()}
    with running_app(tmp_path / "data", cache_dir=cache_dir) as app:
        c = Client(app.ws_url)
        try:
            reply = c.request({"type": "analyze", "analysis_type": "full", "audio": audio},
                              timeout=300)
        finally:
            c.close()
        assert reply["status"] == "success", reply
        assert reply["analysis"]["measurements"]["tempo_bpm"] == pytest.approx(120, abs=1)
        warmed = app.wait_for_line(r"analysis warm-up finished in .*", timeout=5)
        lines = list(app.lines)
    print(f"after a corrupted numba cache: {warmed.group(0)}")
    assert any("analysis warm-up failed" in line for line in lines)
    assert sum("wiping the numba cache" in line for line in lines) == 1
    assert list(numba_dir.glob("**/*.nbi")), "the fresh cache was not written"
