"""Loudness / analysis speed against ffmpeg's ebur128 and pyloudnorm.

Run: ``.venv/bin/python bench/analysis_bench.py [--repeat N] [--seconds S]``

Synthesises a music-like 44.1 kHz stereo WAV (3 minutes by default) in a temporary
directory, then reports the best of N warm runs of:

- ``loudness_measurements`` (integrated, momentary and short-term max, LRA, true peak),
  and its pieces;
- ``ffmpeg -af ebur128=peak=true`` on the same file (subprocess wall time, so it includes
  ffmpeg's start-up and its WAV decoding; ``-af anull`` is timed too, to show that part);
- pyloudnorm's integrated loudness (no true peak, no LRA) on the same samples;
- the full analysis (``codette_desktop.analysis.analyze_audio``) and its ``"loudness"``
  type, when that module is available.

Every ratio is ours / ffmpeg, measured in the same run.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codette_desktop.analysis.loudness import (  # noqa: E402
    integrated_loudness,
    loudness_measurements,
    true_peak,
)


def synthesise(seconds: float, rate: int, seed: int = 1) -> np.ndarray:
    """Music-like stereo: chords with envelopes every bar, a kick on every beat, noise
    snares on the off-beats, a bass line, and a quieter bridge for some loudness range."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * rate)
    t = np.arange(frames) / rate
    out = np.zeros((frames, 2))
    beat = 0.5
    bar = 4 * beat
    for bar_index in range(math.ceil(seconds / bar)):
        start = round(bar_index * bar * rate)
        end = min(frames, start + round(bar * rate))
        if start >= frames:
            break
        local = t[start:end] - t[start]
        envelope = np.minimum(local / 0.02, 1.0) * np.exp(-local / 1.2)
        root = 110.0 * 2 ** (int(rng.integers(0, 12)) / 12)
        chord = np.zeros(end - start)
        for ratio in (1.0, 1.26, 1.5, 2.0):
            for harmonic in range(1, 6):
                phase = rng.uniform(0, 2 * np.pi)
                chord += np.sin(2 * np.pi * root * ratio * harmonic * local + phase) / harmonic
        bass = np.sin(2 * np.pi * root / 2 * local) * np.exp(-local / 0.6)
        out[start:end, 0] += 0.06 * envelope * chord + 0.2 * bass
        out[start:end, 1] += 0.05 * envelope * chord + 0.2 * bass
    for beat_index in range(int(seconds / beat)):
        start = round(beat_index * beat * rate)
        end = min(frames, start + round(0.15 * rate))
        local = t[start:end] - t[start]
        kick = np.sin(2 * np.pi * (50 * local + 3.6 * (1 - np.exp(-local / 0.03))))
        out[start:end] += (0.5 * kick * np.exp(-local / 0.08))[:, None]
        if beat_index % 2:
            burst = rng.standard_normal((end - start, 2)) * np.exp(-local / 0.04)[:, None]
            out[start:end] += 0.15 * np.diff(burst, axis=0, prepend=0.0)
    bridge = (t > seconds * 0.55) & (t < seconds * 0.7)
    out[bridge] *= 0.2
    return out / np.abs(out).max() * 0.95


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Timing:
    wall: float  # s, best of the runs
    cpu: float  # s, best of the runs


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[Timing, Any]:
    """Best wall and CPU time of ``repeat`` warm runs, and the last result.

    CPU time is reported too because wall time on a shared machine depends on what else
    runs; CPU time barely does.
    """
    run()  # warm: imports, caches, first-touch of memory
    best_wall = best_cpu = math.inf
    result: Any = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = run()
        best_cpu = min(best_cpu, cpu_seconds() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return Timing(best_wall, best_cpu), result


def ffmpeg_runner(ffmpeg: str, path: Path, audio_filter: str) -> Callable[[], str]:
    def run() -> str:
        done = subprocess.run(
            [
                ffmpeg,
                "-hide_banner",
                "-nostats",
                "-i",
                str(path),
                "-af",
                audio_filter,
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stderr

    return run


def load_full_analysis() -> tuple[Callable[..., Any], type] | None:
    try:
        analysis = importlib.import_module("codette_desktop.analysis")
        decode = importlib.import_module("codette_desktop.analysis.decode")
        return analysis.analyze_audio, decode.AudioBuffer
    except (ImportError, AttributeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (best of), >= 3")
    parser.add_argument("--seconds", type=float, default=180.0, help="signal length")
    args = parser.parse_args()
    repeat = max(3, args.repeat)
    rate = 44_100

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    rows: list[tuple[str, Timing]] = []

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.wav"
        soundfile.write(path, synthesise(args.seconds, rate), rate, subtype="PCM_24")
        # float32, as the app decodes (codette_desktop.analysis.decode).
        read_t, (samples, _) = best_of(repeat, lambda: soundfile.read(path, dtype="float32"))
        load = os.getloadavg()[0]
        print(
            f"signal: {args.seconds:.0f} s, {rate} Hz, stereo, 24-bit WAV "
            f"({path.stat().st_size / 1e6:.1f} MB); best of {repeat} warm runs; "
            f"{os.cpu_count()} CPUs, load average {load:.1f} at the start"
        )

        ours_t, ours = best_of(repeat, lambda: loudness_measurements(samples, rate))
        ff_t, ff_log = best_of(repeat, ffmpeg_runner(ffmpeg, path, "ebur128=peak=true"))
        ff_plain_t, _ = best_of(repeat, ffmpeg_runner(ffmpeg, path, "ebur128"))
        ff_null_t, _ = best_of(repeat, ffmpeg_runner(ffmpeg, path, "anull"))
        integrated_t, _ = best_of(repeat, lambda: integrated_loudness(samples, rate))
        peak_t, _ = best_of(repeat, lambda: true_peak(samples, rate))

        rows += [
            ("loudness_measurements (I, M, S, LRA, TP)", ours_t),
            ("  integrated_loudness only", integrated_t),
            ("  true_peak only", peak_t),
            ("ffmpeg ebur128=peak=true (incl. decode)", ff_t),
            ("ffmpeg ebur128, no true peak (incl. decode)", ff_plain_t),
            ("ffmpeg anull (start-up + decode only)", ff_null_t),
            ("soundfile.read of the WAV (our decode)", read_t),
        ]
        try:
            import pyloudnorm

            meter = pyloudnorm.Meter(rate)
            pyln_t, pyln = best_of(repeat, lambda: meter.integrated_loudness(samples))
            rows.append(("pyloudnorm integrated only", pyln_t))
        except ImportError:
            pyln = None
            rows.append(("pyloudnorm (not installed)", Timing(math.nan, math.nan)))

        full = load_full_analysis()
        if full is not None:
            analyze_audio, audio_buffer = full
            buffer = audio_buffer(samples, rate)
            for kind in ("full", "loudness"):
                run = functools.partial(analyze_audio, buffer, track={}, analysis_type=kind)
                analysis_t, _ = best_of(repeat, run)
                rows.append((f'analyze_audio(analysis_type="{kind}")', analysis_t))
        else:
            rows.append(("analyze_audio (not available)", Timing(math.nan, math.nan)))

    print()
    print(f"{'':48s} {'wall s':>8s} {'/ffmpeg':>8s} {'CPU s':>8s} {'/ffmpeg':>8s}")
    for name, t in rows:
        print(
            f"{name:48s} {t.wall:8.3f} {t.wall / ff_t.wall:7.2f}x "
            f"{t.cpu:8.3f} {t.cpu / ff_t.cpu:7.2f}x"
        )
    print()
    summary = ff_log[ff_log.rindex("Summary:") :].split("[out#")[0]
    print(
        f"ours:       I {ours['integrated_lufs']} LUFS, LRA {ours['loudness_range_lu']} LU, "
        f"true peak {ours['true_peak_dbtp']} dBTP, M max {ours['momentary_max_lufs']}, "
        f"S max {ours['short_term_max_lufs']}"
    )
    print(f"ffmpeg:     {' '.join(summary.split())}")
    if pyln is not None:
        print(f"pyloudnorm: I {pyln:.2f} LUFS")
    if full is None:
        # The other analysis modules may land while this ran: say so if they did.
        later = load_full_analysis()
        print(
            "full analysis: "
            + ("available now - rerun to time it" if later else "still not available")
        )


if __name__ == "__main__":
    main()
