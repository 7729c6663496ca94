"""The protocol core without sockets: decoding, validation and reply building."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codette_desktop.errors import ProtocolError
from codette_desktop.protocol import messages, replies
from codette_desktop.protocol.messages import decode


def error_of(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid_json"),
        ("{\"type\": \"ping\"", "invalid_json"),
        ("NaN", "invalid_json"),
        ("{\"type\": \"chat\", \"message\": Infinity}", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ("\"ping\"", "invalid_message"),
        ("{}", "invalid_message"),
        ("{\"type\": 5}", "invalid_message"),
        ("{\"type\": \"launch_rockets\"}", "unknown_type"),
        ("{\"type\": \"chat\"}", "invalid_field"),
        ("{\"type\": \"chat\", \"message\": \"   \"}", "invalid_field"),
        ("{\"type\": \"chat\", \"message\": 3}", "invalid_field"),
    ],
)
def test_bad_messages_get_the_contract_error_code(text: str, code: str) -> None:
    assert error_of(text).code == code


def test_messages_for_bad_json_and_unknown_type_match_the_contract() -> None:
    assert error_of("{oops").message == "Invalid JSON format"
    assert error_of('{"type": "dance"}').message == "Unknown message type: dance"


def test_error_carries_the_request_id_for_correlation() -> None:
    exc = error_of('{"type": "dance", "id": 42}')
    assert exc.request_id == 42
    reply = replies.error(exc.code, exc.message, exc.request_id)
    assert reply["id"] == 42
    assert reply["data"] == {"code": "unknown_type", "message": "Unknown message type: dance"}


def test_data_envelope_is_accepted_and_top_level_fields_win() -> None:
    request = decode(json.dumps({
        "type": "chat", "data": {"message": "from data", "perspective": "psychological"},
        "perspective": "philosophical",
    }))
    assert isinstance(request, messages.Chat)
    assert request.message == "from data"
    assert request.perspective == "philosophical"


def test_get_status_is_an_alias_of_status() -> None:
    assert isinstance(decode('{"type": "get_status"}'), messages.Status)
    assert isinstance(decode('{"type": "status"}'), messages.Status)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"audio_data": {"peak_level": "loud"}}, "audio_data.peak_level"),
        ({"audio_data": {"rms_level": True}}, "audio_data.rms_level"),
        ({"audio_data": {"sample_rate": 44100.5}}, "audio_data.sample_rate"),
        ({"track_data": {"track_name": 7}}, "track_data.track_name"),
        ({"track_data": "vocals"}, "track_data"),
        ({"analysis_type": "everything"}, "analysis_type"),
        ({"audio": {"format": "mp3", "data": ""}}, "audio.format"),
        ({"audio": {"format": "wav"}}, "audio.data"),
        ({"source": "microphone"}, "source"),
        ({"source": "capture", "seconds": 600}, "seconds"),
        ({"source": "capture", "audio": {"format": "wav", "data": ""}}, "source"),
    ],
)
def test_analyze_field_errors_name_the_field(payload: dict[str, Any], field: str) -> None:
    exc = error_of(json.dumps({"type": "analyze", **payload}))
    assert (exc.code, exc.field) == ("invalid_field", field)


def test_chat_context_is_validated_deeply() -> None:
    exc = error_of(json.dumps({
        "type": "chat", "message": "hi",
        "daw_context": {"tracks": [{"name": "Kick"}, {"name": "Bass", "peak_level": "hot"}]},
    }))
    assert exc.field == "daw_context.tracks[1].peak_level"
    request = decode(json.dumps({
        "type": "chat", "message": "hi", "stream": True, "session_id": "s1",
        "daw_context": {
            "tracks": [{"id": 1, "name": "Kick", "type": "drums", "peak_level": -3,
                        "plugins": ["EQ"], "unknown": "dropped"}],
            "selected_track": {"name": "Lead Vox", "type": "vocal", "peak_level": -0.5},
            "bpm": 120,
        },
    }))
    assert isinstance(request, messages.Chat)
    assert request.stream and request.session_id == "s1"
    assert request.daw_context is not None
    kick = request.daw_context.tracks[0]
    assert (kick.id, kick.name, kick.type, kick.peak_dbfs, kick.plugins) == (
        "1", "Kick", "drums", -3.0, ("EQ",))
    assert request.daw_context.selected_track is not None
    assert request.daw_context.selected_track.peak_dbfs == -0.5
    assert request.daw_context.bpm == 120.0


def test_daw_context_as_corelogic_studio_sends_it() -> None:
    """FRONTEND_CONTRACT.md §2: fader dB, counts for inserts/sends, track_counts, transport."""
    request = decode(json.dumps({
        "type": "chat", "message": "how is my vocal?", "perspective": "mix_engineering",
        "daw_context": {
            "selected_track": {"id": "t1", "name": "Lead Vox", "type": "audio", "volume": -60,
                               "pan": -0.25, "muted": False, "soloed": False, "armed": True,
                               "inserts": 3, "sends": 1},
            "tracks": [{"id": "t1", "name": "Lead Vox", "type": "audio", "muted": False,
                        "soloed": False}],
            "track_counts": {"total": 1, "audio": 1, "instrument": 0, "midi": 0, "aux": 0,
                             "vca": 0, "master": 0},
            "is_playing": True, "current_time": 12.5, "bpm": 120, "time_signature": "4/4",
        },
    }))
    assert isinstance(request, messages.Chat)
    context = request.daw_context
    assert context is not None
    selected = context.selected_track
    assert selected is not None
    # The fader is a fader: it is not read as a measured level.
    assert (selected.volume_db, selected.peak_dbfs, selected.rms_dbfs) == (-60.0, None, None)
    assert (selected.insert_count, selected.send_count, selected.armed) == (3, 1, True)
    assert context.track_counts["audio"] == 1 and context.is_playing is True
    assert (context.current_time_s, context.time_signature) == (12.5, "4/4")


def test_full_track_objects_give_their_plugin_names() -> None:
    request = decode(json.dumps({"type": "detect_genre", "tracks": [
        {"id": "a", "name": "808", "type": "instrument", "volume": 0, "inputGain": 0,
         "inserts": [{"id": "p1", "name": "Saturator", "type": "saturation"}],
         "sends": [{"id": "s1", "destination": "bus", "level": -6}]}]}))
    assert isinstance(request, messages.DetectGenre)
    track = request.tracks[0]
    assert track.plugins == ("Saturator",) and track.insert_count == 1 and track.send_count == 1


def test_unknown_perspective_names_the_field_and_the_valid_ones() -> None:
    exc = error_of('{"type": "chat", "message": "hi", "perspective": "astrology"}')
    assert exc.field == "perspective" and "mix_engineering" in exc.message
    request = decode('{"type": "chat", "message": "hi", "perspective": "Mix Engineering"}')
    assert isinstance(request, messages.Chat) and request.perspective == "mix_engineering"


def test_requests_are_valid_once_constructed() -> None:
    with pytest.raises(ProtocolError) as info:
        messages.Chat(id=1, message="   ")
    assert info.value.field == "message"
    with pytest.raises(ProtocolError):
        messages.Chat(id=1, message="hi", perspective="astrology")
    with pytest.raises(ProtocolError):
        messages.Analyze(id=1, analysis_type="everything")


def test_huge_numbers_are_rejected_not_turned_into_infinity() -> None:
    exc = error_of('{"type": "analyze", "audio_data": {"peak_level": 1e999}}')
    assert exc.field == "audio_data.peak_level"


@pytest.mark.parametrize("bad_id", [True, [1], {"a": 1}, "x" * 129, 2**60])
def test_id_must_be_a_finite_number_or_a_short_string(bad_id: Any) -> None:
    exc = error_of(json.dumps({"type": "ping", "id": bad_id}))
    assert (exc.code, exc.field) == ("invalid_field", "id")
    assert "finite number" in exc.message


def test_an_infinite_id_is_refused_not_echoed_as_infinity() -> None:
    # 1e400 parses as float('inf'); echoing it would put "Infinity" (not JSON) on the wire.
    exc = error_of('{"type": "ping", "id": 1e400}')
    assert (exc.code, exc.field, exc.request_id) == ("invalid_field", "id", None)


def test_unknown_type_is_escaped_and_cut_in_the_error() -> None:
    exc = error_of(json.dumps({"type": "\u001b[31mred" + "x" * 500}))
    assert "\u001b" not in exc.message  # no raw escape character reaches a reply or log
    assert "\\x1b[31mred" in exc.message  # shown escaped instead
    assert len(exc.message) < 120


def test_subscribe_validates_events_and_clamps_rate() -> None:
    request = decode('{"type": "subscribe", "events": ["audio_levels", "server_status",'
                     ' "audio_levels"], "rate_hz": 240}')
    assert isinstance(request, messages.Subscribe)
    assert request.events == ("audio_levels", "server_status")
    assert request.rate_hz == messages.MAX_LEVELS_RATE_HZ
    exc = error_of('{"type": "subscribe", "events": ["weather"]}')
    assert exc.field == "events" and "server_status" in exc.message


def test_capture_start_fields() -> None:
    request = decode('{"type": "capture_start", "device": 2, "sample_rate": 48000}')
    assert isinstance(request, messages.CaptureStart)
    assert (request.device, request.sample_rate, request.channels) == (2, 48000, None)
    assert error_of('{"type": "capture_start", "channels": 64}').field == "channels"
    assert error_of('{"type": "capture_start", "device": -1}').field == "device"


def test_history_limit_bounds() -> None:
    assert decode('{"type": "history"}').limit == 50  # type: ignore[attr-defined]
    assert error_of('{"type": "history", "limit": 0}').field == "limit"


def test_every_reply_has_type_and_utc_timestamp() -> None:
    for message in (
        replies.reply("pong", 1),
        replies.error("invalid_json", "Invalid JSON format"),
        replies.welcome(client_id="c1", server_version="1", protocol_version="1",
                        capabilities=[]),
        replies.server_status(connections=2, uptime_s=1.23456),
        replies.connection_event(event="opened", active_connections=1),
    ):
        assert isinstance(message["type"], str)
        assert message["timestamp"].endswith("+00:00")
        json.dumps(message, allow_nan=False)


def test_welcome_matches_the_contract() -> None:
    welcome = replies.welcome(client_id="c9", server_version="0.1.0", protocol_version="1",
                              capabilities=["chat"])
    assert welcome["type"] == "connection"
    assert welcome["status"] == "connected"
    assert welcome["message"] == "Connected to Codette AI Unified Server"
    assert welcome["codette_available"] is True
    assert welcome["client_id"] == "c9"


def test_server_status_is_the_compat_shape() -> None:
    message = replies.server_status(connections=3, uptime_s=10)
    assert message["data"]["health"]["status"] == "healthy"
    assert message["data"]["connections"] == 3


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"type": "analyze", "analysis_type": "loudness", "audio": {"data": "AAAA"}}',
         ("analyze", "loudness")),
        ('{"type": "analyze", "audio": {"data": "' + "A" * 200_000 + '"}, '
         '"analysis_type": "spectrum"}', ("analyze", "spectrum")),
        ('{"type": "analyze", "audio": {"data": "' + "A" * 200_000 + '"}}', ("analyze", "full")),
        ('{"audio": {"data": "' + "A" * 200_000 + '"}, "type": "analyze"}', ("analyze", "full")),
        ('{"type": "chat", "message": "' + "A" * 200_000 + '"}', ("chat", "full")),
        ('[' + "1," * 100_000 + '1]', (None, "full")),
    ],
)
def test_oversized_frames_are_routed_by_one_peek_at_their_ends(
        frame: str, expected: tuple[str | None, str]) -> None:
    # As text, and as the still-encoded bytes or bytearray the server hands over.
    for form in (frame, frame.encode(), bytearray(frame.encode())):
        peek = messages.peek_large(form)
        assert (peek.type, peek.analysis_type) == expected
        assert peek.may_be_analyze == (expected[0] == "analyze")


def test_lone_surrogates_become_replacement_characters() -> None:
    request = decode('{"type": "chat", "message": "bass \\ud800 boom \\ud83d\\ude00"}')
    assert isinstance(request, messages.Chat)
    assert request.message == "bass \ufffd boom \U0001F600"
    request.message.encode("utf-8")  # storable: no lone surrogate is left


def test_error_messages_carry_no_heap_addresses() -> None:
    reply = replies.error(
        "analysis_failed",
        "analysis failed unexpectedly (TypeError: <numpy.ndarray object at 0x7f3a9c0d2e10>)")
    assert "0x7f3a" not in reply["message"] and "0x7f3a" not in json.dumps(reply)
    assert "TypeError" in reply["message"]
