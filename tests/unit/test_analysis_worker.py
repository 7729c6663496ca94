"""worker.run_job never raises; results and errors are plain, picklable dicts."""

from __future__ import annotations

import base64
import io
import json
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import soundfile

from codette_desktop.analysis import worker

TRACK = {"track_id": "1", "track_name": "Drums", "track_type": "drums"}


def _wav(seconds: float = 1.0, rate: int = 44100) -> dict:
    t = np.arange(round(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    out = io.BytesIO()
    soundfile.write(out, np.column_stack([x, x]), rate, format="WAV", subtype="PCM_16")
    return {"format": "wav", "data": base64.b64encode(out.getvalue()).decode()}


def _audio_job(**changes: object) -> dict:
    job: dict[str, object] = {
        "kind": "audio",
        "audio": _wav(),
        "samples": None,
        "sample_rate": None,
        "track": TRACK,
        "analysis_type": "loudness",
    }
    job.update(changes)
    return job


def _ok(result: dict) -> dict:
    assert result["ok"] is True, result
    json.dumps(result["analysis"], allow_nan=False)
    return result["analysis"]


def _error(result: dict, code: str, field: str | None) -> str:
    assert result["ok"] is False
    assert (result["code"], result["field"]) == (code, field)
    assert isinstance(result["message"], str) and result["message"]
    pickle.dumps(result)
    return result["message"]


def test_wav_job() -> None:
    analysis = _ok(worker.run_job(_audio_job()))
    assert analysis["analysis_type"] == "loudness"
    assert analysis["measurements"]["duration_s"] == 1.0


def test_captured_samples_job() -> None:
    samples = np.random.default_rng(0).standard_normal((22050, 2)).astype(np.float32) * 0.1
    analysis = _ok(
        worker.run_job(
            _audio_job(
                audio=None, samples=samples, sample_rate=np.int64(22050), analysis_type="quality"
            )
        )
    )
    assert analysis["measurements"]["sample_rate"] == 22050


def test_metadata_job() -> None:
    job = {
        "kind": "metadata",
        "track": TRACK,
        "analysis_type": "full",
        "audio_data": {
            "peak_level": -1.0,
            "rms_level": -15.0,
            "duration": None,
            "sample_rate": None,
        },
    }
    assert _ok(worker.run_job(job))["measurements"]["headroom_db"] == 1.0


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"audio": {"format": "ogg", "data": ""}}, "invalid_field", "audio.format"),
        ({"audio": {"format": "wav", "data": "%%%"}}, "invalid_field", "audio.data"),
        (
            {"audio": {"format": "wav", "data": base64.b64encode(b"RIFF1234").decode()}},
            "analysis_failed",
            "audio.data",
        ),
        ({"audio": None}, "invalid_field", "audio"),
        (
            {"audio": None, "samples": np.full((100, 2), np.nan), "sample_rate": 44100},
            "analysis_failed",
            None,
        ),
        (
            {"audio": None, "samples": np.zeros((100, 2)), "sample_rate": None},
            "analysis_failed",
            None,
        ),
        ({"analysis_type": "everything"}, "invalid_field", "analysis_type"),
        ({"kind": "video"}, "analysis_failed", None),
        ({"track": "drums"}, "invalid_field", "track_data"),
    ],
)
def test_bad_jobs_become_error_results(changes: dict, code: str, field: str | None) -> None:
    _error(worker.run_job(_audio_job(**changes)), code, field)


def test_nan_samples_message() -> None:
    job = _audio_job(audio=None, samples=np.full((10, 1), np.inf), sample_rate=8000)
    assert "NaN or infinite" in _error(worker.run_job(job), "analysis_failed", None)


def test_unexpected_exception_becomes_analysis_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> dict:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(worker, "analyze_audio", broken)
    message = _error(worker.run_job(_audio_job()), "analysis_failed", None)
    assert "ZeroDivisionError" in message and "boom" in message


def test_not_a_dict() -> None:
    _error(worker.run_job("job"), "analysis_failed", None)  # type: ignore[arg-type]


def test_warm_up_returns_seconds() -> None:
    seconds = worker.warm_up()
    assert isinstance(seconds, float) and seconds > 0.0


def test_runs_in_a_spawned_process_pool() -> None:
    context = multiprocessing.get_context("spawn")
    job = {
        "kind": "metadata",
        "track": TRACK,
        "analysis_type": "dynamic",
        "audio_data": {
            "peak_level": -0.5,
            "rms_level": None,
            "duration": 3.0,
            "sample_rate": 44100,
        },
    }
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        metadata = pool.submit(worker.run_job, job).result(timeout=60)
        audio = pool.submit(worker.run_job, _audio_job()).result(timeout=60)
    assert _ok(metadata)["measurements"]["sample_peak_dbfs"] == -0.5
    assert _ok(audio)["analysis_type"] == "loudness"


def test_unexpected_errors_show_no_internal_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> dict:
        raise ValueError("cannot use <soundfile.SoundFile object at 0x7f961f8b94e0> at "
                         "0x7f961f8b94e0\nsecond line")

    monkeypatch.setattr(worker, "analyze_audio", broken)
    message = _error(worker.run_job(_audio_job()), "analysis_failed", None)
    assert message == "analysis failed unexpectedly (ValueError: cannot use … at …)"


def test_out_of_memory_becomes_analysis_failed_naming_the_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    resource = pytest.importorskip("resource")

    def exhausted(*_: object, **__: object) -> dict:
        raise MemoryError

    monkeypatch.setattr(worker, "analyze_audio", exhausted)
    monkeypatch.setattr(resource, "getrlimit", lambda _: (512 * 1024 * 1024, -1))
    message = _error(worker.run_job(_audio_job()), "analysis_failed", None)
    assert message == ("the analysis ran out of memory (the worker's limit is 512 MiB); "
                       "send a shorter excerpt")
