"""TwilioMediaStreamSerializer: every message of PROTOCOLS.md 1.3 and every hostile input."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from calls.bridge.frames import (
    CallerAudio,
    CallerDtmf,
    ClearPlayback,
    MarkPlayed,
    PlaceMark,
    PlayAudio,
    StreamConnected,
    StreamStarted,
    StreamStopped,
)
from calls.bridge.ports import ProtocolViolation
from calls.bridge.telephony.twilio import MAX_MESSAGE_CHARS, SerializerStateError, TwilioMediaStreamSerializer

SID = "MZ11111111111111111111111111111111"
START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC00000000000000000000000000000000",
        "streamSid": SID,
        "callSid": "CA22222222222222222222222222222222",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"agent_id": "42", "call_token": "tok"},
    },
    "streamSid": SID,
}


def media(payload: bytes = b"\x7f" * 160, chunk: str = "2", timestamp: str = "5", **extra: Any) -> str:
    body: dict[str, Any] = {
        "track": "inbound",
        "chunk": chunk,
        "timestamp": timestamp,
        "payload": base64.b64encode(payload).decode(),
    }
    body.update(extra)
    return json.dumps({"event": "media", "sequenceNumber": "4", "media": body, "streamSid": SID})


@pytest.fixture
def started() -> TwilioMediaStreamSerializer:
    serializer = TwilioMediaStreamSerializer()
    serializer.parse(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    serializer.parse(json.dumps(START))
    return serializer


def test_connected_and_start_map_to_frames() -> None:
    serializer = TwilioMediaStreamSerializer()
    assert serializer.parse(
        '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
    ) == StreamConnected("Call")
    frame = serializer.parse(json.dumps(START))
    assert frame == StreamStarted(
        stream_id=SID,
        call_id="CA22222222222222222222222222222222",
        account_id="AC00000000000000000000000000000000",
        custom_parameters={"agent_id": "42", "call_token": "tok"},
    )
    assert serializer.stream_sid == SID


def test_media_dtmf_mark_stop(started: TwilioMediaStreamSerializer) -> None:
    assert started.parse(media(b"\x01\x02" * 80, chunk="7", timestamp="120")) == CallerAudio(
        mulaw=b"\x01\x02" * 80, timestamp_ms=120, chunk=7
    )
    dtmf = {
        "event": "dtmf",
        "streamSid": SID,
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "#"},
    }
    assert started.parse(json.dumps(dtmf)) == CallerDtmf("#")
    mark = {"event": "mark", "sequenceNumber": "6", "streamSid": SID, "mark": {"name": "1:item:480"}}
    assert started.parse(json.dumps(mark)) == MarkPlayed("1:item:480")
    stop = {
        "event": "stop",
        "sequenceNumber": "7",
        "stop": {"accountSid": "AC0", "callSid": "CA2"},
        "streamSid": SID,
    }
    assert started.parse(json.dumps(stop)) == StreamStopped()
    assert started.stopped


def test_bytes_input_with_text_content_is_still_a_binary_frame(started: TwilioMediaStreamSerializer) -> None:
    with pytest.raises(ProtocolViolation, match="binary"):
        started.parse(media().encode())


def test_serialize_round_trip(started: TwilioMediaStreamSerializer) -> None:
    audio = bytes(range(256))[:160]
    out = json.loads(started.serialize(PlayAudio(audio)))
    assert out == {"event": "media", "streamSid": SID, "media": {"payload": base64.b64encode(audio).decode()}}
    assert base64.b64decode(out["media"]["payload"]) == audio
    assert json.loads(started.serialize(PlaceMark('3:it"em:160'))) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": '3:it"em:160'},
    }
    assert json.loads(started.serialize(ClearPlayback())) == {"event": "clear", "streamSid": SID}


def test_serialize_before_start_is_our_bug() -> None:
    with pytest.raises(SerializerStateError):
        TwilioMediaStreamSerializer().serialize(PlayAudio(b"\xff"))
    with pytest.raises(TypeError):
        started = TwilioMediaStreamSerializer()
        started.parse(json.dumps(START))
        started.serialize(StreamStopped())  # type: ignore[arg-type]


def test_start_without_custom_parameters_and_default_format() -> None:
    start = json.loads(json.dumps(START))
    del start["start"]["customParameters"]
    del start["start"]["mediaFormat"]
    frame = TwilioMediaStreamSerializer().parse(json.dumps(start))
    assert isinstance(frame, StreamStarted)
    assert frame.custom_parameters == {}


def _start_with(**changes: Any) -> str:
    start = json.loads(json.dumps(START))
    for key, value in changes.items():
        if value is None:
            del start["start"][key]
        else:
            start["start"][key] = value
    return json.dumps(start)


HOSTILE_BEFORE_START = [
    ("not json", "not JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    ('"media"', "not a JSON object"),
    ("{}", "without a string 'event'"),
    ('{"event": 5}', "without a string 'event'"),
    ('{"event": "bogus"}', "unknown event"),
    (media(), "'media' before 'start'"),
    ('{"event": "mark", "mark": {"name": "x"}}', "'mark' before 'start'"),
    ('{"event": "dtmf", "dtmf": {"digit": "1"}}', "'dtmf' before 'start'"),
    ('{"event": "stop"}', "'stop' before 'start'"),
    ('{"event": "start"}', "without a 'start' object"),
    (_start_with(streamSid=None), "'streamSid' must be a non-empty string"),
    (_start_with(callSid=7), "'callSid' must be a non-empty string"),
    (_start_with(accountSid=""), "'accountSid' must be a non-empty string"),
    (
        _start_with(mediaFormat={"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1}),
        "unsupported media",
    ),
    (
        _start_with(mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1}),
        "unsupported media",
    ),
    (_start_with(mediaFormat="mulaw"), "mediaFormat must be an object"),
    (_start_with(customParameters=["a"]), "customParameters must be a small object"),
    (_start_with(customParameters={"a": 1}), "values must be strings"),
    ("[" * 40000 + "]" * 40000, "exceeds"),
    ("[" * 30000 + "]" * 30000, "nests too deeply|not a JSON object"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE_BEFORE_START)
def test_hostile_input_before_start(text: str, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=message):
        TwilioMediaStreamSerializer().parse(text)


def _json(obj: Any) -> str:
    return json.dumps(obj)


HOSTILE_AFTER_START = [
    (_json(START), "second 'start'"),
    ('{"event": "connected"}', "'connected' after 'start'"),
    (_json({"event": "media", "streamSid": SID}), "without a 'media' object"),
    (_json({"event": "media", "streamSid": SID, "media": "x"}), "without a 'media' object"),
    (media().replace('"payload": "', '"payload": "!!!'), "not valid base64"),
    (media().replace(base64.b64encode(b"\x7f" * 160).decode(), "abc"), "not valid base64"),
    (
        _json({"event": "media", "streamSid": SID, "media": {"payload": 5, "timestamp": "1", "chunk": "1"}}),
        "payload",
    ),
    (media(timestamp="-5"), "'timestamp' must be a non-negative integer string"),
    (media(timestamp="1e3"), "'timestamp'"),
    (media(timestamp="9" * 5000), "'timestamp'"),
    (media(chunk=None), "'chunk'"),  # type: ignore[arg-type]
    (media(track="outbound"), "track other than 'inbound'"),
    (media().replace(SID, "MZ-other"), "another streamSid"),
    (_json({"event": "mark", "streamSid": SID}), "without a 'mark' object"),
    (_json({"event": "mark", "streamSid": SID, "mark": {}}), "'name' must be a non-empty string"),
    (_json({"event": "mark", "streamSid": SID, "mark": {"name": "x" * 300}}), "too long"),
    (_json({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "12"}}), "'digit' must be one of"),
    (_json({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": 1}}), "'digit' must be one of"),
    (_json({"event": "dtmf", "streamSid": SID}), "without a 'dtmf' object"),
    ('{"event": "media", "payload": "' + "A" * (MAX_MESSAGE_CHARS + 1) + '"}', "exceeds"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE_AFTER_START)
def test_hostile_input_after_start(started: TwilioMediaStreamSerializer, text: str, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=message):
        started.parse(text)


def test_binary_frames_are_violations(started: TwilioMediaStreamSerializer) -> None:
    with pytest.raises(ProtocolViolation, match="binary"):
        started.parse(b"\x00\x01")
    with pytest.raises(ProtocolViolation, match="exceeds"):
        started.parse(b"\x00" * (MAX_MESSAGE_CHARS + 1))  # size is checked first, before anything else


def test_integer_counters_are_accepted(started: TwilioMediaStreamSerializer) -> None:
    body = {"track": "inbound", "chunk": 3, "timestamp": 60, "payload": base64.b64encode(b"\xff").decode()}
    frame = started.parse(json.dumps({"event": "media", "streamSid": SID, "media": body}))
    assert frame == CallerAudio(mulaw=b"\xff", timestamp_ms=60, chunk=3)
