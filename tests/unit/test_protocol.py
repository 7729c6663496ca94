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
    assert request.daw_context["tracks"][0] == {
        "id": 1, "name": "Kick", "type": "drums", "peak_level": -3.0, "plugins": ["EQ"]}
    assert request.daw_context["selected_track"]["peak_level"] == -0.5
    assert request.daw_context["bpm"] == 120.0


def test_huge_numbers_are_rejected_not_turned_into_infinity() -> None:
    exc = error_of('{"type": "analyze", "audio_data": {"peak_level": 1e999}}')
    assert exc.field == "audio_data.peak_level"


@pytest.mark.parametrize("bad_id", [True, [1], {"a": 1}])
def test_id_must_be_a_string_or_number(bad_id: Any) -> None:
    exc = error_of(json.dumps({"type": "ping", "id": bad_id}))
    assert (exc.code, exc.field) == ("invalid_field", "id")


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
        replies.connection_event(event="opened", client_id="c1", active_connections=1),
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
         "loudness"),
        ('{"type": "analyze", "audio": {"data": "' + "A" * 200_000 + '"}, '
         '"analysis_type": "spectrum"}', "spectrum"),
        ('{"type": "analyze", "audio": {"data": "' + "A" * 200_000 + '"}}', "full"),
    ],
)
def test_oversized_frames_are_routed_by_a_peek_at_analysis_type(frame: str,
                                                                expected: str) -> None:
    from codette_desktop.services.analysis_pool import _peek_analysis_type

    assert _peek_analysis_type(frame) == expected
