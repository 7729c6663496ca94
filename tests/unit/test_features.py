"""Known-answer tests for features.py: tempo from click tracks, key from chord progressions.

The first test to call librosa pays its numba compilation (~30 s without a cache, a few
seconds with one); the rest reuse it.
"""

from __future__ import annotations

import numpy as np
import pytest

from codette_desktop.analysis import features

RATE = 44100


def click_track(
    bpm: float, *, seconds: float = 20.0, rate: int = RATE, offset: float = 0.13
) -> np.ndarray:
    """Short decaying 1.5 kHz blips every beat, shape (frames, 2)."""
    n = round(seconds * rate)
    x = np.zeros(n)
    k = np.arange(round(0.01 * rate))
    blip = np.sin(2 * np.pi * 1500 * k / rate) * np.exp(-k / (0.002 * rate))
    for t in np.arange(offset, seconds - 0.02, 60.0 / bpm):
        i = round(t * rate)
        x[i : i + len(blip)] += blip[: n - i]
    return np.column_stack([0.5 * x, 0.5 * x])


def tone(midi: int, seconds: float, rate: int = RATE) -> np.ndarray:
    """A plucked harmonic tone: six partials with falling amplitude, fast attack, decay."""
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(round(seconds * rate)) / rate
    x = sum(0.6 ** (h - 1) * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 7))
    return np.asarray(x) * np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)


def progression(
    chords: list[list[int]], *, transpose: int = 0, seconds: float = 1.0, repeats: int = 3
) -> np.ndarray:
    """Chords (MIDI notes) played in turn, shape (frames, 1)."""
    parts = [sum(tone(m + transpose, seconds) for m in chord) for chord in chords] * repeats
    x = np.concatenate([np.asarray(p) for p in parts])
    return (0.5 * x / np.abs(x).max())[:, np.newaxis]


# Bass note + triad voicings.
A_MINOR = [[45, 57, 60, 64], [38, 57, 62, 65], [40, 56, 59, 64], [45, 57, 60, 64]]  # Am Dm E Am
C_MAJOR = [[48, 60, 64, 67], [41, 57, 60, 65], [43, 55, 59, 62], [48, 60, 64, 67]]  # C F G C
C_SCALE = [[m] for m in (48, 50, 52, 53, 55, 57, 59, 60, 55, 48)]


def tempo_of(x: np.ndarray, rate: int = RATE) -> features.TempoEstimate:
    y, r = features.analysis_signal(samples=x, sample_rate=rate)
    return features.estimate_tempo(y=y, sample_rate=r)


def key_of(x: np.ndarray, rate: int = RATE) -> features.KeyEstimate:
    y, r = features.analysis_signal(samples=x, sample_rate=rate)
    return features.estimate_key(y=y, sample_rate=r)


@pytest.mark.parametrize(("bpm", "tolerance"), [(120.0, 0.1), (90.0, 0.2), (140.0, 0.2)])
def test_click_track_tempo(bpm: float, tolerance: float) -> None:
    estimate = tempo_of(click_track(bpm))
    assert estimate.bpm == pytest.approx(bpm, abs=tolerance)
    assert estimate.confidence > 0.7
    assert estimate.note is None


@pytest.mark.parametrize(("bpm", "rate"), [(128.5, 48000), (100.3, 44100), (174.0, 44100)])
def test_long_click_track_off_grid_tempo(bpm: float, rate: int) -> None:
    # 60 s: up to 170 beats, where numbering beats from a rough period would slip by one.
    estimate = tempo_of(click_track(bpm, seconds=60.0, rate=rate), rate=rate)
    assert estimate.bpm == pytest.approx(bpm, abs=0.1)


@pytest.mark.parametrize("kind", ["noise", "tone"])
def test_non_rhythmic_audio_has_low_tempo_confidence(kind: str) -> None:
    n = 10 * RATE
    if kind == "noise":
        x = np.random.default_rng(0).standard_normal((n, 1)) * 0.1
    else:
        x = 0.3 * np.sin(2 * np.pi * 220.0 * np.arange(n) / RATE)[:, np.newaxis]
    estimate = tempo_of(x)
    assert estimate.confidence < 0.2


def test_tempo_needs_four_seconds() -> None:
    estimate = tempo_of(click_track(120.0, seconds=2.0))
    assert estimate.bpm is None
    assert estimate.note and "too short" in estimate.note


def test_tempo_of_silence() -> None:
    estimate = tempo_of(np.zeros((5 * RATE, 2)))
    assert estimate.bpm is None
    assert estimate.note == "silent"


@pytest.mark.parametrize(
    ("chords", "transpose", "expected"),
    [
        (A_MINOR, 0, "A minor"),
        (A_MINOR, -5, "E minor"),
        (A_MINOR, 3, "C minor"),
        (C_MAJOR, 0, "C major"),
        (C_MAJOR, 5, "F major"),
        (C_MAJOR, -3, "A major"),
        (C_SCALE, 0, "C major"),
    ],
)
def test_key_of_progression(chords: list[list[int]], transpose: int, expected: str) -> None:
    estimate = key_of(progression(chords, transpose=transpose))
    assert estimate.key == expected
    assert estimate.confidence > 0.4


def test_key_of_noise_has_low_confidence() -> None:
    x = np.random.default_rng(1).standard_normal((8 * RATE, 1)) * 0.1
    assert key_of(x).confidence < 0.3


def test_key_of_silence() -> None:
    estimate = key_of(np.zeros((RATE, 1)))
    assert estimate.key is None
    assert estimate.note == "silent"


@pytest.mark.parametrize("tonic", range(12))
@pytest.mark.parametrize("mode", ["major", "minor"])
def test_key_from_ideal_chroma(tonic: int, mode: str) -> None:
    profile = features._MAJOR_PROFILE if mode == "major" else features._MINOR_PROFILE
    estimate = features.key_from_chroma(chroma=np.roll(profile, tonic))
    assert estimate.key == f"{features.PITCH_CLASSES[tonic]} {mode}"
    assert estimate.confidence > 0.5


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_analysis_signal_rate(rate: int) -> None:
    y, r = features.analysis_signal(samples=np.zeros((rate, 2)), sample_rate=rate)
    assert features.ANALYSIS_RATE <= r < 2 * features.ANALYSIS_RATE or r == rate
    assert y.dtype == np.float32
    assert len(y) == pytest.approx(r, abs=2)


def test_tempo_and_key_measurements() -> None:
    x = progression(A_MINOR) + click_track(120.0, seconds=12.0)[:, :1]
    values, notes = features.tempo_and_key(samples=x, sample_rate=RATE)
    assert values["tempo_bpm"] == pytest.approx(120.0, abs=0.2)
    assert values["key"] == "A minor"
    assert notes == {}
