"""The PulseAudio test environment, test signals and waiting helpers for capture tests.

``scripts/pulse-test-env.sh`` runs a private PulseAudio with a null sink whose monitor is
the default source; whatever :meth:`PulseAudioEnv.play` plays comes back from
PortAudio's ALSA ``pulse`` device. Used by ``tests/integration/test_capture_pulse.py``
and ``bench/capture_bench.py``.

Fixture to use (defined in the test module, so the lead's conftest needs nothing)::

    @pytest.fixture(scope="module")
    def pulse() -> Iterator[PulseAudioEnv]:
        yield from pulse_fixture()
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pulse-test-env.sh"


class PulseAudioEnv:
    """Start/stop/kill the daemon of ``scripts/pulse-test-env.sh`` and play files into it."""

    def __init__(self, script: Path = SCRIPT) -> None:
        self.script = script
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        """Start (or reuse) the daemon; put its variables in ``os.environ``; return them."""
        done = subprocess.run(
            ["bash", str(self.script), "start"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.script.name} start failed: {done.stderr.strip()}")
        env: dict[str, str] = {}
        for line in done.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                name, value = line[len("export ") :].split("=", 1)
                env[name] = value
        if "PULSE_SERVER" not in env:
            raise RuntimeError(f"{self.script.name} printed no PULSE_SERVER: {done.stdout!r}")
        # libpulse (and so the ALSA pulse plugin inside PortAudio) reads PULSE_SERVER each
        # time it connects, so setting it in this process is enough.
        os.environ.update(env)
        self.env = env
        return env

    def stop(self) -> None:
        subprocess.run(["bash", str(self.script), "stop"], capture_output=True, check=False)

    def is_up(self) -> bool:
        done = subprocess.run(["bash", str(self.script), "status"], capture_output=True)
        return done.returncode == 0

    def pid(self) -> int:
        server = self.env.get("PULSE_SERVER") or os.environ["PULSE_SERVER"]
        pidfile = Path(server.removeprefix("unix:")).parent / "pulseaudio.pid"
        return int(pidfile.read_text().strip())

    def kill(self) -> None:
        """SIGKILL the daemon, as a crash or an unplugged device would end it."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            # A killed child of setsid is reaped by init; wait until it is gone.
            try:
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.01)

    def recording_streams(self) -> int:
        """How many streams record from the daemon now (``pactl``'s source outputs)."""
        done = subprocess.run(["pactl", "list", "short", "source-outputs"],
                              env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=10, check=True)
        return len(done.stdout.splitlines())

    def play(self, path: Path) -> subprocess.Popen[bytes]:
        """Play a file into the null sink (returns at once; wait or kill the process)."""
        return subprocess.Popen(
            ["paplay", str(path)],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def pulse_fixture() -> Iterator[PulseAudioEnv]:
    """Body of a ``pulse`` fixture: skip only if PulseAudio is not installed."""
    import pytest

    missing = [tool for tool in ("pulseaudio", "pactl", "paplay") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"PulseAudio is not installed ({', '.join(missing)} missing); "
            "scripts/install-system-deps.sh test installs it"
        )
    env = PulseAudioEnv()
    was_up = env.is_up()  # e.g. started by scripts/with-test-env.sh: leave it running
    saved = {name: os.environ.get(name) for name in ("PULSE_SERVER", "PULSE_RUNTIME_PATH")}
    env.start()
    try:
        yield env
    finally:
        if not was_up:
            env.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def sine(
    *,
    frequency: float,
    dbfs: float,
    seconds: float,
    sample_rate: int = 48000,
    channels: int = 2,
) -> np.ndarray:
    """A sine whose *peak* is ``dbfs``, float32 ``(frames, channels)``."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    x = (10 ** (dbfs / 20) * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.repeat(x[:, np.newaxis], channels, axis=1)


def music_wav(seconds: float, *, seed: int = 3, sample_rate: int = 44_100) -> bytes:
    """A stereo 16-bit WAV that analyses like music, not silence: a 440 Hz tone under noise
    (the uploads' test file and upload_bench's)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    music = (tone[:, None] + 0.05 * rng.standard_normal((t.size, 2))).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, music, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    import soundfile as sf

    sf.write(str(path), samples, sample_rate, subtype="FLOAT")
    return path


def peak_frequency(x: np.ndarray, sample_rate: int) -> float:
    """Frequency of the strongest spectral peak of a 1-D signal.

    Hann window and a parabola through the log magnitudes of the peak bin and its
    neighbours (error well below 0.1 % of a 1 kHz tone over a second at 48 kHz).
    """
    window = np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x * window))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-30)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return float((k + offset) * sample_rate / len(x))


async def wait_for(
    predicate: Callable[[], bool], timeout: float, *, interval: float = 0.01, what: str = ""
) -> None:
    """Poll ``predicate`` every ``interval`` s until true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(interval)
