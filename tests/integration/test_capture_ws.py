"""Capture over the protocol, end to end: the real app, a real WebSocket client, and a
PulseAudio null sink whose monitor records what ``paplay`` plays."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_process import running_app
from audio_env import PulseAudioEnv, pulse_fixture, sine, write_wav
from conftest import Client

pytestmark = pytest.mark.audio


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseAudioEnv]:
    yield from pulse_fixture()


def pulse_device(devices: list[dict]) -> dict:
    named = [d for d in devices if d["name"] in ("pulse", "default")]
    assert named, devices
    return named[0]


def test_capture_levels_and_analysis_over_websocket(pulse: PulseAudioEnv,
                                                     tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tone.wav", sine(frequency=1000.0, dbfs=-12.0, seconds=20.0), 48000)
    with running_app(tmp_path / "data", env=pulse.env) as app:
        c = Client(app.ws_url)
        devices = c.request({"type": "devices"})
        assert devices["type"] == "devices_response"
        device = pulse_device(devices["devices"])
        assert {"index", "name", "max_input_channels", "default_samplerate",
                "is_default"} <= device.keys()
        player = pulse.play(wav)
        try:
            status = c.request({"type": "capture_start", "device": device["index"],
                                "sample_rate": 48000, "channels": 2,
                                "capture_token": app.capture_token})
            assert status["type"] == "capture_status" and status["state"] == "running"
            assert status["started_by"] == "you"
            assert status["started_at"].endswith("+00:00")
            reply = c.request({"type": "subscribe", "events": ["audio_levels"], "rate_hz": 10})
            assert reply["events"] == ["audio_levels"] and reply["rate_hz"] == 10
            frames, stamps = [], []
            deadline = time.monotonic() + 15
            while len(frames) < 25 and time.monotonic() < deadline:
                message = c.recv(timeout=10)
                if message["type"] == "audio_levels":
                    frames.append(message)
                    stamps.append(time.monotonic())
            assert len(frames) == 25
            loud = [f for f in frames if f["peak_dbfs"][0] is not None
                    and f["peak_dbfs"][0] > -20]
            assert loud, frames[-1]
            assert loud[-1]["peak_dbfs"][0] == pytest.approx(-12.0, abs=0.5)
            assert loud[-1]["momentary_lufs"] is not None
            assert loud[-1]["overflows"] == 0
            rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            assert rate <= 11, f"{rate:.1f} Hz for a 10 Hz subscription"
            analysis = c.request({"type": "analyze", "source": "capture", "seconds": 1.0,
                                  "analysis_type": "loudness"}, timeout=60)
            assert analysis["status"] == "success", analysis
            m = analysis["analysis"]["measurements"]
            assert m["sample_peak_dbfs"] == pytest.approx(-12.0, abs=0.5)
            stopped = c.request({"type": "capture_stop"})
            assert stopped["type"] == "capture_status" and stopped["state"] == "stopped"
            status = c.request({"type": "status"})
            assert status["capture"]["state"] == "stopped"
        finally:
            player.kill()
            player.wait()
        c.close()


def test_user_can_forbid_clients_to_start_capture(pulse: PulseAudioEnv, tmp_path: Path) -> None:
    env = {**pulse.env, "CODETTE_ALLOW_CLIENT_CAPTURE": "false"}
    with running_app(tmp_path, env=env) as app:
        c = Client(app.ws_url)
        reply = c.request({"type": "capture_start", "capture_token": app.capture_token})
        assert reply["type"] == "error" and reply["code"] == "not_authorized"
        assert "Settings" in reply["message"]
        c.close()
