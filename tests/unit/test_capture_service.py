"""CaptureService against a fake ``sounddevice``: states, events, watchdog, meters, errors.

The fake stream calls the service's callback from its own thread at the real block rate
with a 1 kHz sine, like PortAudio would, and can be told to stall (a device that stops
delivering), to die (PortAudio's finished callback after a host error), to start late
(the first stream of a process on ALSA) or to drop frames. Runs on a plain asyncio loop:
the service must not need Qt. Real-device tests are in
``tests/integration/test_capture_pulse.py``.
"""

from __future__ import annotations

import asyncio
import math
import re
import sys
import threading
import time
import types
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from codette_desktop.capture import CaptureService, list_input_devices, portaudio_status
from codette_desktop.errors import AudioDeviceError
from codette_desktop.protocol.events import CaptureStateChanged, LevelsMeasured

from audio_env import wait_for

RATE = 48000
BLOCK = 480  # 10 ms


@dataclass
class Flags:
    input_overflow: bool = False


@dataclass
class TimeInfo:
    # PortAudio's field names.
    inputBufferAdcTime: float
    currentTime: float


@dataclass
class FakeAudio:
    """What the fake PortAudio does; tests change these fields while it runs."""

    devices: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"index": 0, "name": "Out Only", "max_input_channels": 0, "default_samplerate": 48e3},
            {"index": 1, "name": "USB Mic", "max_input_channels": 1, "default_samplerate": 44.1e3},
            {"index": 2, "name": "Studio In", "max_input_channels": 8, "default_samplerate": 48e3},
        ]
    )
    default_input: int | None = 2
    first_block_delay: float = 0.0
    stall: bool = False
    die: bool = False
    open_error: str | None = None
    overflow_next: bool = False  # set the flag on the next block
    drop_next: int = 0  # frames to skip (timestamps jump) before the next block
    streams: list[FakeStream] = field(default_factory=list)
    rescans: int = 0


class FakeStream:
    def __init__(
        self,
        audio: FakeAudio,
        *,
        device: int,
        samplerate: int,
        channels: int,
        dtype: str,
        callback: Callable[..., None],
        finished_callback: Callable[[], None],
    ) -> None:
        if audio.open_error:
            raise RuntimeError(audio.open_error)
        assert dtype == "float32"
        self.audio = audio
        self.device = device
        self.samplerate = samplerate
        self.channels = channels
        self.callback = callback
        self.finished_callback = finished_callback
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.closed_after_finish = False
        audio.streams.append(self)

    def start(self) -> None:
        self._thread.start()

    def close(self, ignore_errors: bool = True) -> None:
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join()
            self.finished_callback()  # PortAudio reports the end of a closed stream too

    def _run(self) -> None:
        audio = self.audio
        if self._closed.wait(audio.first_block_delay):
            return
        start = time.monotonic()
        captured = 0
        phase = 2 * np.pi * 1000 / self.samplerate
        amplitude = 10 ** (-12 / 20)
        while not self._closed.is_set():
            if audio.die:
                self.finished_callback()
                return
            if audio.stall:
                time.sleep(0.005)
                continue
            captured += audio.drop_next
            audio.drop_next = 0
            t = (captured + np.arange(BLOCK)) * phase
            block = np.repeat((amplitude * np.sin(t)).astype(np.float32)[:, None], self.channels, 1)
            adc = 1000.0 + captured / self.samplerate
            flags = Flags(input_overflow=audio.overflow_next)
            audio.overflow_next = False
            self.callback(block, BLOCK, TimeInfo(adc, adc + 0.01), flags)
            captured += BLOCK
            # Pace at the real rate against the start time, not per block (no drift).
            delay = start + captured / self.samplerate - time.monotonic()
            if delay > 0:
                self._closed.wait(delay)


def fake_sounddevice(audio: FakeAudio) -> types.ModuleType:
    sd = types.ModuleType("sounddevice")

    def query_devices(kind: str | None = None) -> Any:
        if kind == "input":
            if audio.default_input is None:
                raise ValueError("no default input device")
            return audio.devices[audio.default_input]
        return list(audio.devices)

    def rescan() -> None:
        audio.rescans += 1

    sd.query_devices = query_devices  # type: ignore[attr-defined]
    sd.InputStream = lambda **kw: FakeStream(audio, **kw)  # type: ignore[attr-defined]
    sd._terminate = rescan  # type: ignore[attr-defined]
    sd._initialize = lambda: None  # type: ignore[attr-defined]
    return sd


@pytest.fixture
def audio(monkeypatch: pytest.MonkeyPatch) -> FakeAudio:
    fake = FakeAudio()
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(fake))
    return fake


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def states(self) -> list[str]:
        return [e.state for e in self.events if isinstance(e, CaptureStateChanged)]

    def levels(self) -> list[LevelsMeasured]:
        return [e for e in self.events if isinstance(e, LevelsMeasured)]

    def last_state(self) -> CaptureStateChanged:
        return [e for e in self.events if isinstance(e, CaptureStateChanged)][-1]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def make(recorder: Recorder, **kwargs: Any) -> CaptureService:
    return CaptureService(observer=recorder, **kwargs)


def test_devices_are_inputs_only_with_the_default_marked(audio: FakeAudio) -> None:
    devices = list_input_devices()
    assert [d["name"] for d in devices] == ["USB Mic", "Studio In"]
    assert [d["is_default"] for d in devices] == [False, True]
    assert set(devices[0]) == {
        "index",
        "name",
        "max_input_channels",
        "default_samplerate",
        "is_default",
    }
    assert portaudio_status() == (True, None)


def test_start_meters_and_stop(audio: FakeAudio) -> None:
    rec = Recorder()

    async def main() -> None:
        service = make(rec)
        state = await service.start(started_by="client-1")
        # Defaults: the device's own rate and at most two channels.
        assert (state.state, state.device_name, state.device_index) == ("running", "Studio In", 2)
        assert (state.sample_rate, state.channels, state.started_by) == (48000, 2, "client-1")
        assert rec.last_state().state == "running"
        assert rec.last_state().device == "Studio In"
        assert rec.last_state().started_by == "client-1"
        assert rec.last_state().details["sample_rate"] == 48000
        await wait_for(lambda: len(rec.levels()) >= 20, 5, what="20 level events")
        levels = service.latest_levels
        assert levels is not None
        assert levels.peak_dbfs[0] == pytest.approx(-12.0, abs=0.05)
        assert levels.rms_dbfs[1] == pytest.approx(-15.01, abs=0.05)
        assert levels.overflows == 0
        await wait_for(lambda: service.state.frames >= RATE, 5, what="a second of audio")
        data, rate = service.latest(0.5)
        assert rate == RATE and data.shape == (RATE // 2, 2) and data.dtype == np.float32
        assert math.sqrt(float(np.mean(data[:, 0] ** 2))) == pytest.approx(0.17762, rel=0.01)
        stopped = await service.stop()
        assert stopped.state == "stopped" and stopped.message == "stopped by user"
        assert stopped.frames >= RATE and stopped.device_name == "Studio In"
        assert service.latest_levels is None
        with pytest.raises(AudioDeviceError, match="not running"):
            service.latest(1.0)
        assert (await service.stop()).state == "stopped"  # no-op, no event
        await service.close()

    run(main())
    assert rec.states() == ["running", "stopped"]


def test_levels_are_at_most_meter_rate_and_fresh(audio: FakeAudio) -> None:
    rec = Recorder()
    emitted_at: list[float] = []

    def observer(event: object) -> None:
        rec(event)
        if isinstance(event, LevelsMeasured):
            emitted_at.append(time.monotonic())

    async def main() -> None:
        service = CaptureService(observer=observer, meter_rate_hz=30.0)
        await service.start()
        await wait_for(lambda: len(rec.levels()) >= 40, 5, what="40 level events")
        await service.close()

    run(main())
    at = np.array([e.at for e in rec.levels()])
    assert np.all(np.diff(at) >= 1 / 30 - 1e-6)  # never more often than 30 Hz
    # 10 ms blocks: an event every 4th block (40 ms, 25 Hz) when the machine keeps up;
    # the bound leaves room for a loaded test machine.
    assert (len(at) - 1) / (at[-1] - at[0]) > 15
    # Emitted right when metered (on the hand-off of the block that completed an interval).
    assert float(np.median([e - a for e, a in zip(emitted_at, at, strict=True)])) < 0.001


def test_start_returns_before_the_first_block(audio: FakeAudio) -> None:
    audio.first_block_delay = 2.0
    rec = Recorder()

    async def main() -> None:
        service = make(rec, first_block_timeout_s=3.0, stall_timeout_s=0.3)
        begun = time.monotonic()
        state = await service.start()
        assert time.monotonic() - begun < 1.5  # the first block comes after 2 s
        assert state.state == "running" and state.frames == 0
        with pytest.raises(AudioDeviceError, match="no audio has arrived"):
            service.latest(1.0)
        # Slower than stall_timeout_s, within first_block_timeout_s: not lost.
        await wait_for(lambda: service.state.frames > 0, 4, what="the first block")
        assert service.state.state == "running"
        await service.close()

    run(main())
    assert "error" not in rec.states()


def test_no_first_block_is_an_error(audio: FakeAudio) -> None:
    audio.first_block_delay = 30.0
    rec = Recorder()

    async def main() -> None:
        service = make(rec, first_block_timeout_s=0.5)
        await service.start()
        await wait_for(lambda: service.state.state == "error", 2, what="the error state")
        assert "no audio arrived from 'Studio In' within 0.5 s" in (service.state.message or "")
        await service.close()

    run(main())


def test_a_stalled_device_is_lost_and_capture_restarts(audio: FakeAudio) -> None:
    rec = Recorder()

    async def main() -> None:
        service = make(rec, stall_timeout_s=0.3)
        await service.start()
        await wait_for(lambda: service.state.frames > 0, 2, what="audio")
        audio.stall = True
        stalled_at = time.monotonic()
        await wait_for(lambda: service.state.state == "error", 2, what="the error state")
        assert time.monotonic() - stalled_at < 0.3 + 0.5  # stall timeout + slack
        event = rec.last_state()
        assert event.state == "error" and event.device == "Studio In"
        assert "stopped delivering audio" in (event.message or "")
        assert service.latest_levels is None
        with pytest.raises(AudioDeviceError):
            service.latest(1.0)
        await wait_for(lambda: audio.streams[0]._closed.is_set(), 2, what="the dead stream closed")
        # The device is back: capture starts again.
        audio.stall = False
        state = await service.start()
        assert state.state == "running" and len(audio.streams) == 2
        await wait_for(lambda: service.state.frames > 0, 2, what="audio again")
        await service.close()

    run(main())
    assert rec.states() == ["running", "error", "running", "stopped"]


def test_a_stream_that_dies_is_an_error_at_once(audio: FakeAudio) -> None:
    rec = Recorder()

    async def main() -> None:
        service = make(rec, stall_timeout_s=5.0)
        await service.start()
        await wait_for(lambda: service.state.frames > 0, 2, what="audio")
        audio.die = True
        died_at = time.monotonic()
        await wait_for(lambda: service.state.state == "error", 1, what="the error state")
        assert time.monotonic() - died_at < 1.0  # the finished callback, not the 5 s watchdog
        assert "ended unexpectedly" in (service.state.message or "")
        # stop() from error: stopped, keeping what the stream was.
        state = await service.stop()
        assert state.state == "stopped" and state.device_name == "Studio In"
        await service.close()

    run(main())
    assert rec.states() == ["running", "error", "stopped"]


def test_starting_while_running_restarts_with_new_settings(audio: FakeAudio) -> None:
    rec = Recorder()

    async def main() -> None:
        service = make(rec)
        await service.start()
        state = await service.start(device="usb", started_by="client-2")
        assert (state.device_name, state.channels, state.sample_rate) == ("USB Mic", 1, 44100)
        assert state.started_by == "client-2"
        assert audio.streams[0]._closed.is_set()
        await service.close()

    run(main())
    assert rec.states() == ["running", "stopped", "running", "stopped"]
    assert [e.message for e in rec.events if isinstance(e, CaptureStateChanged)][1] == (
        "restarting with new settings"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": 7}, "no input device with index 7"),
        ({"device": 0}, "no input device with index 0"),  # output-only
        ({"device": "nope"}, "no input device named 'nope'"),
        ({"device": "in"}, "ambiguous"),  # "Studio In" and "Line In 2"
        ({"channels": 9}, "'Studio In' has 8 input channel(s); 9 requested"),
        ({"sample_rate": 0}, "invalid sample rate"),
    ],
)
def test_bad_requests_raise_and_report_error(
    audio: FakeAudio, kwargs: dict[str, Any], message: str
) -> None:
    rec = Recorder()

    async def main() -> None:
        service = make(rec)
        with pytest.raises(AudioDeviceError, match=re.escape(message)):
            await service.start(**kwargs)
        assert service.state.state == "error" and message in (service.state.message or "")
        await service.close()

    audio.devices.append(
        {"index": 3, "name": "Line In 2", "max_input_channels": 2, "default_samplerate": 48e3}
    )
    run(main())
    assert rec.states() == ["error"]


def test_devices_are_found_by_name_or_index(audio: FakeAudio) -> None:
    async def main() -> None:
        service = make(Recorder())
        assert (await service.start(device="usb mic")).device_index == 1
        assert (await service.start(device=2)).device_name == "Studio In"
        assert (await service.start(device="2")).device_name == "Studio In"
        assert (await service.start(device="Studio", channels=8)).channels == 8
        await service.close()

    run(main())


def test_open_failure_is_an_audio_device_error(audio: FakeAudio) -> None:
    audio.open_error = "Device unavailable [PaErrorCode -9985]"

    async def main() -> None:
        service = make(Recorder())
        with pytest.raises(AudioDeviceError, match=r"could not open 'Studio In' at 48000 Hz"):
            await service.start()
        audio.open_error = None
        assert (await service.start()).state == "running"  # and it recovers
        await service.close()

    run(main())


def test_no_default_device(audio: FakeAudio) -> None:
    audio.default_input = None

    async def main() -> None:
        service = make(Recorder())
        with pytest.raises(AudioDeviceError, match="no default audio input"):
            await service.start()
        await service.close()

    run(main())


def test_overflows_from_flags_and_gaps_count_once_each(audio: FakeAudio) -> None:
    rec = Recorder()

    async def main() -> None:
        service = make(rec)
        await service.start()
        # Past the continuity tracker's warm-up (2 s of audio).
        await wait_for(lambda: service.state.frames > 2.5 * RATE, 5, what="warm-up")
        audio.overflow_next = True  # PortAudio's flag, nothing lost in the timestamps
        await wait_for(lambda: service.state.overflows == 1, 2, what="the flagged overflow")
        await asyncio.sleep(0.5)
        audio.drop_next = 4800  # 100 ms lost without a flag: timestamps only
        await wait_for(lambda: service.state.overflows == 2, 2, what="the gap")
        await asyncio.sleep(0.5)
        audio.overflow_next = True  # both: one loss, counted once
        audio.drop_next = 4800
        await wait_for(lambda: service.state.overflows >= 3, 2, what="the flagged gap")
        await asyncio.sleep(0.5)
        assert service.state.overflows == 3
        await wait_for(
            lambda: (
                (service.latest_levels or LevelsMeasured((), (), None, None, 0, 0)).overflows == 3
            ),
            2,
            what="levels reporting the overflows",
        )
        await service.close()

    run(main())


def test_an_observer_that_raises_does_not_stop_capture(audio: FakeAudio) -> None:
    calls = []

    def observer(event: object) -> None:
        calls.append(event)
        raise RuntimeError("observer bug")

    async def main() -> None:
        service = CaptureService(observer=observer)
        await service.start()
        await wait_for(lambda: len(calls) > 10, 3, what="events despite the errors")
        assert service.state.state == "running"
        await service.close()

    run(main())


def test_rescans_devices_before_opening(audio: FakeAudio) -> None:
    async def main() -> None:
        service = make(Recorder())
        await service.start()
        assert audio.rescans == 1
        await service.list_devices()  # a stream is open: no rescan (it would close it)
        assert audio.rescans == 1
        await service.stop()
        devices = await service.list_devices()
        assert audio.rescans == 2 and len(devices) == 2
        await service.close()

    run(main())


def test_closed_service_refuses_to_start(audio: FakeAudio) -> None:
    async def main() -> None:
        service = make(Recorder())
        await service.close()
        with pytest.raises(AudioDeviceError, match="closed"):
            await service.start()

    run(main())


def test_without_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    # A missing shared library cannot be uninstalled from under the test run, so the import
    # is made to fail instead: sys.modules[name] = None makes `import name` raise ImportError
    # (a real missing libportaudio raises OSError "PortAudio library not found"; both are
    # handled the same way).
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    available, reason = portaudio_status()
    assert available is False
    assert reason is not None and reason.startswith("PortAudio is not available")
    with pytest.raises(AudioDeviceError, match="PortAudio is not available"):
        list_input_devices()
    rec = Recorder()

    async def main() -> None:
        service = make(rec)
        with pytest.raises(AudioDeviceError, match=r"^PortAudio is not available: "):
            await service.start()
        assert service.state.state == "error"
        await service.close()

    run(main())
    assert rec.states() == ["error"]


def test_missing_portaudio_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real_import = importlib.import_module

    def failing(name: str, package: str | None = None) -> types.ModuleType:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", failing)
    assert portaudio_status() == (False, "PortAudio is not available: PortAudio library not found")
