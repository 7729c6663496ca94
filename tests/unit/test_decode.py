"""decode_audio: every wire format round-trips, every malformed request names its field."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from codette_desktop.analysis import AudioBuffer, decode, decode_audio
from codette_desktop.analysis.blocks import BLOCK_FRAMES
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
    assert buffer.samples.dtype == np.float32
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

    def test_mono_vector_and_float64_are_normalised(self) -> None:
        buffer = AudioBuffer(samples=np.full(10, 0.5), sample_rate=8000)
        assert buffer.samples.shape == (10, 1)
        assert buffer.samples.dtype == np.float32
        assert buffer.duration_s == pytest.approx(10 / 8000)

    def test_float32_is_kept_without_a_copy(self) -> None:
        samples = np.zeros((100, 2), dtype=np.float32)
        assert AudioBuffer(samples=samples, sample_rate=8000).samples is samples

    def test_a_buffer_over_the_limits_cannot_exist(self, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
        monkeypatch.setattr(decode, "MAX_DURATION_S", 60)
        with pytest.raises(AnalysisError, match="1-minute limit") as info:
            AudioBuffer(samples=np.zeros((8000 * 61, 1), dtype=np.float32), sample_rate=8000)
        assert info.value.code == "payload_too_large"


# ------------------------------------------------------------ bounded before decoding


def _flac_claiming(total_frames: int, *, channels: int = 2, rate: int = 44100,
                   frames: int = 4410) -> bytes:
    """A real FLAC whose STREAMINFO claims ``total_frames`` (0 = length unknown).

    STREAMINFO (FLAC format, METADATA_BLOCK_STREAMINFO) follows the 4-byte magic and a
    4-byte block header; its total-sample count is the low 36 bits of bytes 10..17.
    """
    raw = bytearray(_container(_test_signal(frames, channels), rate, "FLAC", "PCM_16"))
    field = int.from_bytes(raw[18:26], "big")
    field = (field & ~((1 << 36) - 1)) | total_frames
    raw[18:26] = field.to_bytes(8, "big")
    return bytes(raw)


def test_flac_header_claiming_an_hour_of_8_channels_is_refused_before_decoding() -> None:
    """The decompression bomb of issue 10: the header alone decides, nothing is decoded."""
    raw = _flac_claiming(3600 * 192_000, channels=8, rate=192_000)
    error = _expect({"format": "flac", "data": _b64(raw)}, code="payload_too_large",
                    field="audio.data")
    assert error.message.startswith("8 channels × 192000 Hz × 3600 s is over the 20-minute")


def test_flac_header_over_the_sample_limit_is_refused() -> None:
    # 15 minutes of 48 kHz stereo: under 20 minutes, over 2**26 samples.
    raw = _flac_claiming(15 * 60 * 48_000, rate=48_000)
    error = _expect({"format": "flac", "data": _b64(raw)}, code="payload_too_large",
                    field="audio.data")
    assert "86.4 million samples, over the limit of 67.1 million" in error.message


@pytest.mark.parametrize(
    ("frames", "channels", "rate"),
    [
        (10 * 60 * 48_000, 2, 48_000),  # a 10-minute 48 kHz stereo mix
        ((96 * 1024 * 1024 - 44) // 4, 2, 44_100),  # 128 MiB of base64 as 16-bit stereo WAV
        (20 * 60 * 44_100, 1, 44_100),  # 20 minutes of mono
    ],
    ids=["10-min-mix", "128-MiB-wav", "20-min-mono"],
)
def test_legitimate_sizes_pass_the_limits(frames: int, channels: int, rate: int) -> None:
    decode.check_size(frames=frames, channels=channels, sample_rate=rate, field="audio.data")


def test_raw_pcm_is_bounded_by_its_byte_count() -> None:
    too_long = np.zeros(8000 * (20 * 60 + 1), dtype="<i2").tobytes()
    error = _expect(
        {"format": "pcm_s16le", "data": _b64(too_long), "sample_rate": 8000, "channels": 1},
        code="payload_too_large", field="audio.data",
    )
    assert "1 channel × 8000 Hz × 1201 s is over the 20-minute limit" in error.message


def test_flac_without_a_length_is_refused_with_the_reason() -> None:
    raw = _flac_claiming(0)
    error = _expect({"format": "flac", "data": _b64(raw)}, code="analysis_failed",
                    field="audio.data")
    assert "does not say how long it is" in error.message


def test_flac_claiming_fewer_frames_gets_only_those() -> None:
    raw = _flac_claiming(1000, frames=44100)
    assert decode_audio({"format": "flac", "data": _b64(raw)}).frames == 1000


def test_long_file_is_decoded_exactly_across_blocks() -> None:
    samples = _test_signal(BLOCK_FRAMES * 3 + 5, 2)
    buffer = decode_audio({"format": "wav", "data": _b64(_container(samples, 8000, "WAV",
                                                                   "FLOAT"))})
    np.testing.assert_array_equal(buffer.samples, samples.astype(np.float32))


# ------------------------------------------------------------ the declared container


@pytest.mark.parametrize(
    ("declared", "actual", "name"),
    [("wav", "FLAC", "FLAC"), ("flac", "WAV", "WAV"), ("wav", "AIFF", "AIFF"),
     ("flac", "OGG", "Ogg")],
)
def test_container_that_is_not_the_declared_format_is_refused(
        declared: str, actual: str, name: str) -> None:
    subtype = "VORBIS" if actual == "OGG" else "PCM_16"
    raw = _container(_test_signal(4410, 2), 44100, actual, subtype)
    error = _expect({"format": declared, "data": _b64(raw)}, code="invalid_field",
                    field="audio.format")
    assert f"audio.format is {declared!r} but the data is a {name} file" in error.message


def test_flac_behind_an_id3_tag_is_flac() -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x05" + b"\x00" * 5  # ID3v2.4, 5 bytes of tag body
    raw = tag + _container(_test_signal(10, 1), 8000, "FLAC", "PCM_16")
    assert decode.container_kind(raw) == "flac"
    assert decode.container_kind(tag + b"\xff\xfb\x90\x00") == "mp3"


def test_decoder_errors_show_no_internal_reprs() -> None:
    raw = _container(_test_signal(4410, 2), 44100, "WAV", "PCM_16")[:20]
    error = _expect({"format": "wav", "data": _b64(raw)}, code="analysis_failed",
                    field="audio.data")
    assert "0x" not in error.message and "BytesIO" not in error.message
    assert error.message.startswith("could not decode the WAV data: ")


# ------------------------------------------------------------ a spooled binary upload


@pytest.mark.parametrize("fmt", ["wav", "flac", "pcm_f32le", "pcm_s16le"])
def test_spooled_upload_decodes_like_base64(fmt: str, tmp_path: Path) -> None:
    samples = _test_signal(BLOCK_FRAMES + 100, 2).astype(np.float32)
    if fmt in ("wav", "flac"):
        raw = _container(samples, 44100, fmt.upper(), "PCM_24")
        extra: dict = {}
    else:
        dtype = "<f4" if fmt == "pcm_f32le" else "<i2"
        scale = 1.0 if fmt == "pcm_f32le" else 32767.0
        raw = (samples * scale).astype(dtype).tobytes()
        extra = {"sample_rate": 44100, "channels": 2}
    path = tmp_path / f"upload.{fmt}"
    path.write_bytes(raw)
    from_file = decode_audio({"format": fmt, "path": str(path), **extra})
    from_base64 = decode_audio({"format": fmt, "data": _b64(raw), **extra})
    np.testing.assert_array_equal(from_file.samples, from_base64.samples)
    assert from_file.sample_rate == 44100
    path.unlink()  # nothing still maps the file
    assert float(np.abs(from_file.samples).max()) > 0.5


def test_spooled_bomb_is_refused_naming_the_upload(tmp_path: Path) -> None:
    path = tmp_path / "bomb.flac"
    path.write_bytes(_flac_claiming(3600 * 192_000, channels=8, rate=192_000))
    error = _expect({"format": "flac", "path": str(path)}, code="payload_too_large",
                    field="upload")
    assert error.message.startswith("8 channels × 192000 Hz × 3600 s is over the 20-minute")


def test_spooled_upload_in_another_container_names_upload_format(tmp_path: Path) -> None:
    path = tmp_path / "upload.wav"
    path.write_bytes(_container(_test_signal(4410, 2), 44100, "FLAC", "PCM_16"))
    error = _expect({"format": "wav", "path": str(path)}, code="invalid_field",
                    field="upload.format")
    assert error.message.startswith("upload.format is 'wav' but the data is a FLAC file")


def test_spooled_upload_that_is_gone_or_empty(tmp_path: Path) -> None:
    error = _expect({"format": "wav", "path": str(tmp_path / "gone.wav")},
                    code="analysis_failed", field="upload")
    assert error.message == "the uploaded file could not be read (No such file or directory)"
    (tmp_path / "empty.flac").write_bytes(b"")
    error = _expect({"format": "flac", "path": str(tmp_path / "empty.flac")},
                    code="analysis_failed", field="upload")
    assert "no audio frames" in error.message
    (tmp_path / "odd.pcm").write_bytes(b"\x00" * 7)
    _expect({"format": "pcm_s16le", "path": str(tmp_path / "odd.pcm"), "sample_rate": 8000,
             "channels": 2}, code="invalid_field", field="upload")


def test_a_buffer_at_the_limit_is_at_most_a_quarter_of_the_worker_memory_limit() -> None:
    from codette_desktop.services.analysis_pool import WORKER_MEMORY_LIMIT

    float32_bytes = 4
    assert decode.MAX_SAMPLES * float32_bytes * 4 <= WORKER_MEMORY_LIMIT
