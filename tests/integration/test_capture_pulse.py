"""Capture from a real PortAudio device: PulseAudio's null-sink monitor via ALSA "pulse".

``scripts/pulse-test-env.sh`` runs a private PulseAudio whose default source is the
monitor of a null sink; ``paplay`` plays test signals into that sink and PortAudio's ALSA
``pulse`` device records them back, bit-exact apart from float rounding (float32 sink,
48 kHz, unity volume). Skipped only when PulseAudio is not installed; on this project's
machines and CI ``scripts/install-system-deps.sh test`` installs it.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codette_desktop.capture import CaptureService
from codette_desktop.capture.ring_buffer import RingBuffer
from codette_desktop.errors import AudioDeviceError
from codette_desktop.protocol.events import CaptureStateChanged, LevelsMeasured

from audio_env import PulseAudioEnv, peak_frequency, pulse_fixture, sine, wait_for, write_wav

pytestmark = pytest.mark.audio

DEVICE = "pulse"
RATE = 48000
FREQUENCY = 1000.0
DBFS = -12.0
AMPLITUDE = 10 ** (DBFS / 20)


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseAudioEnv]:
    yield from pulse_fixture()


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def levels(self) -> list[LevelsMeasured]:
        return [e for e in self.events if isinstance(e, LevelsMeasured)]

    def states(self) -> list[CaptureStateChanged]:
        return [e for e in self.events if isinstance(e, CaptureStateChanged)]


def loud(levels: LevelsMeasured | None) -> bool:
    return levels is not None and all(p is not None and p > DBFS - 1 for p in levels.peak_dbfs)


def test_the_pulse_device_is_listed(pulse: PulseAudioEnv) -> None:
    async def main() -> list[dict[str, object]]:
        service = CaptureService(observer=lambda event: None)
        try:
            return await service.list_devices()
        finally:
            await service.close()

    names = [d["name"] for d in asyncio.run(main())]
    assert DEVICE in names


def test_defaults_are_the_devices_rate_and_stereo(pulse: PulseAudioEnv) -> None:
    async def main() -> None:
        service = CaptureService(observer=lambda event: None)
        devices = {d["name"]: d for d in await service.list_devices()}
        state = await service.start(device=DEVICE)
        assert state.sample_rate == round(float(devices[DEVICE]["default_samplerate"]))
        assert state.channels == 2
        await wait_for(lambda: service.state.frames > 0, 5, what="the first block")
        await service.close()

    asyncio.run(main())


def test_a_played_sine_is_captured_within_one_percent(pulse: PulseAudioEnv, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "sine.wav", sine(frequency=FREQUENCY, dbfs=DBFS, seconds=8), RATE)
    rec = Recorder()

    async def main() -> None:
        service = CaptureService(observer=rec)
        state = await service.start(device=DEVICE, sample_rate=RATE, started_by="test")
        assert state.state == "running" and state.device_name == DEVICE
        player = pulse.play(wav)
        try:
            await wait_for(lambda: loud(service.latest_levels), 10, what="the sine to arrive")
            # Everything from here on is the steady sine: take a second of it.
            onset = service.state.frames
            await wait_for(lambda: service.state.frames >= onset + 1.2 * RATE, 5, what="1.2 s")
            data, rate = service.latest(1.0)
            levels = service.latest_levels
        finally:
            player.kill()
            player.wait()
        assert rate == RATE and data.shape == (RATE, 2)
        for channel in range(2):
            x = data[:, channel].astype(np.float64)
            rms = math.sqrt(float(np.mean(x**2)))
            assert rms == pytest.approx(AMPLITUDE / math.sqrt(2), rel=0.01)
            assert peak_frequency(x, rate) == pytest.approx(FREQUENCY, rel=0.01)
        assert levels is not None
        for peak, rms_db in zip(levels.peak_dbfs, levels.rms_dbfs, strict=True):
            assert peak == pytest.approx(DBFS, abs=0.1)
            assert rms_db == pytest.approx(DBFS - 3.01, abs=0.1)
        # A 1 kHz stereo sine reads its peak level in LUFS (EBU Tech 3341 test signal 1).
        assert levels.momentary_lufs == pytest.approx(DBFS, abs=0.2)
        assert levels.overflows == 0
        await service.close()

    asyncio.run(main())
    assert [e.state for e in rec.states()] == ["running", "stopped"]
    assert rec.states()[0].started_by == "test"


def test_levels_arrive_at_most_30_times_a_second(pulse: PulseAudioEnv) -> None:
    rec = Recorder()

    async def main() -> None:
        service = CaptureService(observer=rec, meter_rate_hz=30.0)
        await service.start(device=DEVICE, sample_rate=RATE)
        await wait_for(lambda: len(rec.levels()) >= 60, 10, what="60 level events")
        await service.close()

    asyncio.run(main())
    at = np.array([e.at for e in rec.levels()])
    assert np.all(np.diff(at) >= 1 / 30 - 1e-6)
    assert (len(at) - 1) / (at[-1] - at[0]) <= 30.0
    assert all(len(e.peak_dbfs) == 2 and len(e.rms_dbfs) == 2 for e in rec.levels())


def _analyse_for(seconds: float) -> int:
    """Codette's own full analysis (the worker entry point) of a 20 s stereo signal, back
    to back until ``seconds`` have passed; returns how many completed."""
    from codette_desktop.analysis.worker import run_job

    rng = np.random.default_rng(0)
    mix = (0.1 * rng.standard_normal((20 * 44100, 2))).astype(np.float32)
    job = {"kind": "audio", "audio": None, "samples": mix, "sample_rate": 44100,
           "track": {}, "analysis_type": "full"}
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert run_job(job)["ok"]
        done += 1
    return done


@pytest.mark.slow
def test_no_overflows_in_30_s_while_another_process_analyses(
    pulse: PulseAudioEnv, tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "long.wav", sine(frequency=FREQUENCY, dbfs=DBFS, seconds=36), RATE)
    rec = Recorder()
    workers = max(1, (os.cpu_count() or 2) - 1)  # leave one core to PulseAudio and us

    async def main() -> None:
        loop = asyncio.get_running_loop()
        service = CaptureService(observer=rec)
        # spawn: forking a test process that already runs Qt and audio threads is unsafe.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
            burners = [loop.run_in_executor(pool, _analyse_for, 33.0) for _ in range(workers)]
            await service.start(device=DEVICE, sample_rate=RATE)
            player = pulse.play(wav)
            try:
                await wait_for(lambda: service.state.frames > 0, 5, what="the first block")
                first_frames, first_at = service.state.frames, time.monotonic()
                await wait_for(
                    lambda: service.state.frames >= first_frames + 30 * RATE,
                    40,
                    interval=0.05,
                    what="30 s of capture",
                )
                frames = service.state.frames - first_frames
                elapsed = time.monotonic() - first_at
                state = service.state
                levels = service.latest_levels
            finally:
                player.kill()
                player.wait()
            await service.close()
            work = await asyncio.gather(*burners)
        assert all(n >= 1 for n in work), f"the analyses did not run: {work}"
        assert state.overflows == 0
        assert levels is not None and levels.overflows == 0
        # Independent of both counters: frames received match the time that passed.
        assert frames / elapsed == pytest.approx(RATE, rel=0.005)

    asyncio.run(main())
    assert [e.state for e in rec.states()] == ["running", "stopped"]


@pytest.mark.slow
def test_input_lost_without_a_portaudio_flag_is_counted(
    pulse: PulseAudioEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PulseAudio keeps at most 4 MiB (10.9 s here) for a client that does not read; a
    # callback stalled for 20 s loses ~9 s, and the ALSA plugin raises no input_overflow
    # flag for it. Only the
    # timestamp check can count it. The stall is injected into the callback's ring write
    # once, after the continuity tracker's 2 s warm-up.
    stalled = threading.Event()
    original_write = RingBuffer.write

    def stalling_write(self: RingBuffer, block: np.ndarray) -> None:
        if not stalled.is_set() and self.frames_total > 3 * RATE:
            stalled.set()
            time.sleep(20)
        original_write(self, block)

    monkeypatch.setattr(RingBuffer, "write", stalling_write)

    async def main() -> None:
        # The watchdog would rightly call a 20 s stall a lost device; not the point here.
        service = CaptureService(observer=lambda event: None, stall_timeout_s=60)
        await service.start(device=DEVICE, sample_rate=RATE)
        await wait_for(stalled.is_set, 10, what="the injected stall")
        await wait_for(
            lambda: service.state.overflows >= 1, 40, interval=0.05, what="the loss to be counted"
        )
        state = service.state
        session = service._session  # white-box: which of the two sources counted it
        assert session is not None
        assert session.flagged_overflows == 0
        assert session.continuity.lost_frames == pytest.approx(9 * RATE, rel=0.25)
        assert state.state == "running"
        await service.close()

    asyncio.run(main())


def test_losing_pulseaudio_is_an_error_and_capture_restarts(pulse: PulseAudioEnv) -> None:
    rec = Recorder()

    async def main() -> None:
        service = CaptureService(observer=rec)
        await service.start(device=DEVICE, sample_rate=RATE)
        await wait_for(lambda: service.state.frames > 0, 5, what="the first block")
        pulse.kill()
        killed_at = time.monotonic()
        await wait_for(lambda: service.state.state == "error", 2.5, what="the error state")
        assert time.monotonic() - killed_at < 2.0
        error = rec.states()[-1]
        assert error.state == "error" and error.device == DEVICE and error.message
        with pytest.raises(AudioDeviceError):
            service.latest(1.0)

        pulse.start()
        state = await service.start(device=DEVICE, sample_rate=RATE)
        assert state.state == "running"
        restarted = service.state.frames
        await wait_for(
            lambda: service.state.frames > restarted + RATE // 2, 5, what="audio after restart"
        )
        await service.close()

    asyncio.run(main())
    assert [e.state for e in rec.states()] == ["running", "error", "running", "stopped"]


def test_a_start_or_stop_given_up_on_leaves_no_stream_behind(pulse: PulseAudioEnv) -> None:
    """The caller of a start or stop may be cancelled while the PortAudio thread opens or
    closes the stream (a client sends ``capture_stop`` and hangs up: its request is
    cancelled). The open or close still finishes, and an opened stream is closed, before
    the cancellation goes on; left running, it raced the next PortAudio call or the
    process's exit (the GUI tests' process crashed)."""
    async def main() -> None:
        service = CaptureService(observer=lambda event: None)
        try:
            await service.start(device=DEVICE)
            session = service._session  # the stream itself: is it closed, and when
            assert session is not None and session.stream is not None
            stopping = asyncio.create_task(service.stop())
            await asyncio.sleep(0)  # the stop is now waiting for the PortAudio thread
            stopping.cancel()
            with pytest.raises(asyncio.CancelledError):
                await stopping
            assert session.stream.closed  # closed before the cancellation reached us
            assert service.state.state == "stopped"

            starting = asyncio.create_task(service.start(device=DEVICE))
            await asyncio.sleep(0)  # the open is under way on the PortAudio thread
            starting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await starting
            assert service.state.state != "running"
            # The stream that opened anyway was closed, not left recording.
            await wait_for(lambda: pulse.recording_streams() == 0, 5,
                           what="no stream recording from PulseAudio")
            assert (await service.start(device=DEVICE)).state == "running"  # still usable
        finally:
            await service.close()

    asyncio.run(main())
