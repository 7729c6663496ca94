"""Entry points for the analysis worker process (``ProcessPoolExecutor``, spawn context).

:func:`run_job` takes a picklable job dict and returns a picklable result dict; it never
raises for bad input, so the server only has to turn ``{"ok": False, ...}`` into an
``error``/``analysis_response`` reply (running out of the worker's memory limit included).
:func:`warm_up` is the full worker's first job: import librosa and compile its numba code
before the first real request.

Job shapes::

    {"kind": "audio", "audio": <wire audio dict, or one with "path" for an upload> | None,
     "samples": ndarray | None, "sample_rate": int | None, "track": dict,
     "analysis_type": str}
    {"kind": "metadata", "track": dict, "audio_data": dict, "analysis_type": str}

Results::

    {"ok": True, "analysis": {...}}
    {"ok": False, "code": str, "message": str, "field": str | None}
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from typing import Any

import numpy as np

from codette_desktop.errors import AnalysisError

from .decode import AudioBuffer, decode_audio
from .report import analyze_audio, analyze_metadata

log = logging.getLogger("codette.analysis.worker")

_WARM_UP_S = 6.0  # tempo needs at least 4 s
_WARM_UP_RATE = 44_100


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one analysis job; every failure becomes ``{"ok": False, ...}``."""
    try:
        return {"ok": True, "analysis": _run(job)}
    except AnalysisError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message, "field": exc.field}
    except MemoryError:
        # The worker's memory limit (see AnalysisPool) stopped an allocation; the worker
        # lives on, and the memory goes with this call's frames.
        return {
            "ok": False,
            "code": "analysis_failed",
            "message": f"the analysis ran out of memory{_memory_limit_note()}; "
            "send a shorter excerpt",
            "field": None,
        }
    except Exception as exc:  # a bug or a library failure must not kill the worker
        log.exception("analysis failed unexpectedly")
        return {
            "ok": False,
            "code": "analysis_failed",
            "message": f"analysis failed unexpectedly ({describe(exc)})",
            "field": None,
        }


# "<soundfile.SoundFile object at 0x7f...>" or a bare "0x7f3a5c2e1d90": internal reprs and
# heap addresses mean nothing to a client and tell an attacker about the process.
_INTERNALS = re.compile(r"<[^<>]*\bat 0x[0-9a-fA-F]+>|\b0x[0-9a-fA-F]{6,}\b")
_DESCRIBE_CHARS = 200


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, for a user: no reprs or heap addresses."""
    lines = str(exc).strip().splitlines()
    text = _INTERNALS.sub("…", lines[0])[:_DESCRIBE_CHARS] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _memory_limit_note() -> str:
    try:
        import resource
    except ImportError:  # Windows: no limit is set
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY:
        return ""
    return f" (the worker's limit is {soft // (1024 * 1024)} MiB)"


def warm_up() -> float:
    """Import librosa and run a full analysis of 6 s of synthetic audio; returns seconds.

    numba compiles librosa's kernels on first use and caches them under
    ``NUMBA_CACHE_DIR``, so only the very first worker on a machine pays the full cost
    (~30 s); later workers load the cache in a few seconds.
    """
    start = time.perf_counter()
    # The imports themselves compile (or load from the cache) most of the numba code.
    for module in ("librosa.beat", "librosa.feature"):
        importlib.import_module(module)
    buffer = AudioBuffer(samples=_warm_up_signal(), sample_rate=_WARM_UP_RATE)
    analyze_audio(buffer, track={}, analysis_type="full")
    return time.perf_counter() - start


def _run(job: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(job, dict):
        raise AnalysisError("job must be a dict")
    kind = job.get("kind")
    track = job.get("track") or {}
    if not isinstance(track, dict):
        raise AnalysisError(
            "track_data must be an object", code="invalid_field", field="track_data"
        )
    analysis_type = job.get("analysis_type", "full")
    if kind == "metadata":
        audio_data = job.get("audio_data") or {}
        if not isinstance(audio_data, dict):
            raise AnalysisError(
                "audio_data must be an object", code="invalid_field", field="audio_data"
            )
        return analyze_metadata(track=track, audio_data=audio_data, analysis_type=analysis_type)
    if kind != "audio":
        raise AnalysisError(f"unknown job kind {kind!r}")
    if job.get("audio") is not None:
        buffer = decode_audio(job["audio"])
    elif job.get("samples") is not None:
        rate = job.get("sample_rate")
        if not isinstance(rate, int | np.integer) or isinstance(rate, bool):
            raise AnalysisError(f"captured audio needs an integer sample_rate, got {rate!r}")
        buffer = AudioBuffer(samples=np.asarray(job["samples"]), sample_rate=int(rate))
    else:
        raise AnalysisError(
            "no audio: the job has neither 'audio' nor 'samples'",
            code="invalid_field",
            field="audio",
        )
    log.info("analysing %.1f s of %d-channel audio at %d Hz (%s)",
             buffer.samples.shape[0] / buffer.sample_rate, buffer.samples.shape[1],
             buffer.sample_rate, analysis_type)
    return analyze_audio(buffer, track=track, analysis_type=analysis_type)


def _warm_up_signal() -> np.ndarray:
    """A 120 BPM click over an A-minor triad: exercises onsets, beats and chroma."""
    t = np.arange(int(_WARM_UP_S * _WARM_UP_RATE)) / _WARM_UP_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) * 0.1
    clicks = np.zeros_like(t)
    clicks[:: _WARM_UP_RATE // 2] = 0.8
    return np.asarray(chord + clicks).reshape(-1, 1)
