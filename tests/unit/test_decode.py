"""decode_audio: every wire format round-trips, every malformed request names its field."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
import soundfile

from codette_desktop.analysis import AudioBuffer, decode_audio
from codette_desktop.errors import AnalysisError


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _test_signal(frames: int, channels: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.9, 0.9, size=(frames, channels))


def _container(samples: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def _expect(audio: dict, *, code: str, field: str | None) -> AnalysisError:
    with pytest.raises(AnalysisError) as info:
        decode_audio(audio)
    assert info.value.code == code
    assert info.value.field == field
    return info.value


@pytest.mark.parametrize(
    ("fmt", "subtype", "tolerance"),
    [
        ("WAV", "PCM_16", 1 / 32768),
        ("WAV", "PCM_24", 1 / 2**23),
        ("WAV", "FLOAT", 1e-7),
        ("FLAC", "PCM_16", 1 / 32768),
        ("FLAC", "PCM_24", 1 / 2**23),
    ],
)
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("rate", [8000, 44100, 96000])
def test_container_round_trip(
    fmt: str, subtype: str, tolerance: float, channels: int, rate: int
) -> None:
    samples = _test_signal(1234, channels)
    buffer = decode_audio(
        {"format": fmt.lower(), "data": _b64(_container(samples, rate, fmt, subtype))}
    )
    assert buffer.sample_rate == rate
    assert buffer.samples.shape == (1234, channels)
    assert buffer.samples.dtype == np.float64
    np.testing.assert_allclose(buffer.samples, samples, atol=tolerance)


@pytest.mark.parametrize("channels", range(1, 9))
def test_pcm_s16le(channels: int) -> None:
    ints = np.random.default_rng(channels).integers(
        -32768, 32767, size=(500, channels), dtype=np.int16
    )
    audio = {
        "format": "pcm_s16le",
        "data": _b64(ints.astype("<i2").tobytes()),
        "sample_rate": 48000,
        "channels": channels,
    }
    buffer = decode_audio(audio)
    assert buffer.sample_rate == 48000
    assert buffer.channels == channels
    np.testing.assert_array_equal(buffer.samples, ints / 32768.0)


@pytest.mark.parametrize("channels", range(1, 9))
def test_pcm_f32le(channels: int) -> None:
    samples = _test_signal(321, channels).astype("<f4")
    audio = {
        "format": "pcm_f32le",
        "data": _b64(samples.tobytes()),
        "sample_rate": 22050,
        "channels": channels,
    }
    buffer = decode_audio(audio)
    assert buffer.samples.shape == (321, channels)
    np.testing.assert_array_equal(buffer.samples, samples.astype(np.float64))


def test_s16_full_scale_is_exact() -> None:
    raw = np.array([-32768, 0, 16384], dtype="<i2").tobytes()
    buffer = decode_audio(
        {"format": "pcm_s16le", "data": _b64(raw), "sample_rate": 8000, "channels": 1}
    )
    assert buffer.samples[:, 0].tolist() == [-1.0, 0.0, 0.5]


_PCM = {
    "format": "pcm_f32le",
    "data": _b64(np.zeros(8, "<f4").tobytes()),
    "sample_rate": 44100,
    "channels": 2,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": "mp3"}, "audio.format"),
        ({"format": None}, "audio.format"),
        ({"format": "WAV"}, "audio.format"),
        ({"data": "not base64!!"}, "audio.data"),
        ({"data": "QUJD="}, "audio.data"),  # bad padding
        ({"data": None}, "audio.data"),
        ({"data": 1234}, "audio.data"),
        ({"sample_rate": None}, "audio.sample_rate"),
        ({"sample_rate": "44100"}, "audio.sample_rate"),
        ({"sample_rate": 44100.0}, "audio.sample_rate"),
        ({"sample_rate": 0}, "audio.sample_rate"),
        ({"sample_rate": -8000}, "audio.sample_rate"),
        ({"sample_rate": True}, "audio.sample_rate"),
        ({"channels": None}, "audio.channels"),
        ({"channels": 0}, "audio.channels"),
        ({"channels": 2.0}, "audio.channels"),
        ({"channels": True}, "audio.channels"),
        # 8 float32 values = 32 bytes: not a whole number of 3-channel (12-byte) frames.
        ({"channels": 3}, "audio.data"),
        ({"data": _b64(b"\x00" * 7)}, "audio.data"),
    ],
)
def test_malformed_request_is_invalid_field(change: dict, field: str) -> None:
    audio = {**_PCM, **change}
    error = _expect(audio, code="invalid_field", field=field)
    assert field.split(".")[1] in error.message or "base64" in error.message


def test_missing_keys_are_invalid_field() -> None:
    _expect({}, code="invalid_field", field="audio.format")
    _expect({"format": "wav"}, code="invalid_field", field="audio.data")
    _expect({"format": "pcm_s16le", "data": ""}, code="invalid_field", field="audio.sample_rate")
    _expect(
        {"format": "pcm_s16le", "data": "", "sample_rate": 8000},
        code="invalid_field",
        field="audio.channels",
    )


def test_not_an_object() -> None:
    _expect("wav", code="invalid_field", field="audio")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sample_rate": 4000}, "outside"),
        ({"sample_rate": 192001}, "outside"),
        ({"channels": 9}, "channels"),
        ({"data": ""}, "no audio frames"),
    ],
)
def test_unusable_pcm_is_analysis_failed(change: dict, message: str) -> None:
    error = _expect(
        {**_PCM, **change}, code="analysis_failed", field=next(iter(f"audio.{k}" for k in change))
    )
    assert message in error.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_rejected(bad: float) -> None:
    samples = np.zeros((16, 2), dtype="<f4")
    samples[5, 1] = bad
    with pytest.raises(AnalysisError, match="NaN or infinite") as info:
        decode_audio(
            {
                "format": "pcm_f32le",
                "data": _b64(samples.tobytes()),
                "sample_rate": 44100,
                "channels": 2,
            }
        )
    assert info.value.code == "analysis_failed"


def test_nan_in_float_wav_rejected() -> None:
    samples = np.zeros((100, 1))
    samples[50] = np.nan
    raw = _container(samples, 44100, "WAV", "FLOAT")
    with pytest.raises(AnalysisError, match="NaN") as info:
        decode_audio({"format": "wav", "data": _b64(raw)})
    assert info.value.code == "analysis_failed"


@pytest.mark.parametrize("fmt", ["wav", "flac"])
@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:20],  # header cut short
        lambda raw: b"RIFX" + raw[4:] if raw[:4] == b"RIFF" else b"fLaX" + raw[4:],
        lambda raw: bytes(len(raw)),  # all zero
        lambda raw: b"garbage" * 10,
    ],
    ids=["truncated-header", "bad-magic", "zeros", "garbage"],
)
def test_corrupt_container_is_analysis_failed(fmt: str, damage: Callable[[bytes], bytes]) -> None:
    raw = _container(_test_signal(4410, 2), 44100, fmt.upper(), "PCM_16")
    error = _expect(
        {"format": fmt, "data": _b64(damage(raw))}, code="analysis_failed", field="audio.data"
    )
    assert fmt.upper() in error.message


def test_empty_container_is_analysis_failed() -> None:
    error = _expect({"format": "wav", "data": ""}, code="analysis_failed", field="audio.data")
    assert "no audio frames" in error.message


def test_zero_frame_wav_is_analysis_failed() -> None:
    raw = _container(np.zeros((0, 2)), 44100, "WAV", "PCM_16")
    error = _expect(
        {"format": "wav", "data": _b64(raw)}, code="analysis_failed", field="audio.data"
    )
    assert "no audio frames" in error.message


def test_wav_rate_outside_range_is_analysis_failed() -> None:
    raw = _container(_test_signal(100, 1), 4000, "WAV", "PCM_16")
    error = _expect(
        {"format": "wav", "data": _b64(raw)}, code="analysis_failed", field="audio.data"
    )
    assert "4000" in error.message


def test_wav_with_too_many_channels_is_analysis_failed() -> None:
    raw = _container(_test_signal(100, 10), 44100, "WAV", "PCM_16")
    error = _expect(
        {"format": "wav", "data": _b64(raw)}, code="analysis_failed", field="audio.data"
    )
    assert "10 channels" in error.message


class TestAudioBuffer:
    def test_validates_like_decode(self) -> None:
        with pytest.raises(AnalysisError, match="NaN"):
            AudioBuffer(samples=np.array([[0.0], [np.nan]]), sample_rate=44100)
        with pytest.raises(AnalysisError, match="no audio frames"):
            AudioBuffer(samples=np.zeros((0, 2)), sample_rate=44100)
        with pytest.raises(AnalysisError, match="outside"):
            AudioBuffer(samples=np.zeros((10, 2)), sample_rate=7999)
        with pytest.raises(AnalysisError, match="channels"):
            AudioBuffer(samples=np.zeros((10, 9)), sample_rate=44100)

    def test_mono_vector_and_float32_are_normalised(self) -> None:
        buffer = AudioBuffer(samples=np.ones(10, dtype=np.float32), sample_rate=8000)
        assert buffer.samples.shape == (10, 1)
        assert buffer.samples.dtype == np.float64
        assert buffer.duration_s == pytest.approx(10 / 8000)
