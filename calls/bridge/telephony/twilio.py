"""Twilio Media Streams <-> bridge frames (PROTOCOLS.md 1.3).

One ``TwilioMediaStreamSerializer`` per WebSocket: it is stateful. It remembers the ``streamSid``
from ``start`` (every outbound message must carry it) and enforces the stream's order: nothing but
``connected`` may come before ``start``, and ``start`` comes once. Keeping that state here rather
than in each transport means the Channels consumer, the ``websockets`` relay and the tests all get
the same checks.

The media path runs 50 times a second per call in each direction, so it is plain ``json`` and
``base64`` with hand-written checks (no schema library), and the outbound media prefix is
pre-encoded once per stream.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

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
    TelephonyCommand,
    TelephonyEvent,
)
from calls.bridge.ports import ProtocolViolation

MAX_MESSAGE_CHARS = 64 * 1024  # a 20 ms media message is ~300 chars; 64 KiB is generous
MAX_MARK_NAME_CHARS = 256
MAX_CUSTOM_PARAMETERS = 64
DTMF_DIGITS = frozenset("0123456789*#ABCD")
EXPECTED_MEDIA_FORMAT = ("audio/x-mulaw", 8000, 1)


class SerializerStateError(RuntimeError):
    """Our own bug: a command was serialized before the stream's ``start`` was seen."""


def _require_dict(msg: dict[str, Any], key: str, event: str) -> dict[str, Any]:
    value = msg.get(key)
    if type(value) is not dict:
        raise ProtocolViolation(f"'{event}' message without a '{key}' object")
    return value


def _require_str(obj: dict[str, Any], key: str, event: str) -> str:
    value = obj.get(key)
    if type(value) is not str or not value:
        raise ProtocolViolation(f"'{event}' message: '{key}' must be a non-empty string")
    return value


def _counter(obj: dict[str, Any], key: str, event: str) -> int:
    """Twilio sends counters as decimal strings ("5"); accept plain ints too."""
    value = obj.get(key)
    if type(value) is int:
        number = value
    elif type(value) is str and value.isdigit() and len(value) <= 18:
        number = int(value)
    else:
        raise ProtocolViolation(f"'{event}' message: '{key}' must be a non-negative integer string")
    if number < 0:
        raise ProtocolViolation(f"'{event}' message: '{key}' must not be negative")
    return number


class TwilioMediaStreamSerializer:
    """Parses Twilio's messages into ``TelephonyEvent`` frames and serializes commands.

    ``parse`` raises ``ProtocolViolation`` (the transport closes with 1008) for: binary frames,
    messages over 64 KiB, non-JSON, non-object JSON, unknown events, missing or mistyped fields,
    invalid base64, an unsupported media format, a second ``start``, any stream message before
    ``start``, and a ``streamSid`` that is not the stream's.
    """

    __slots__ = ("_clear_message", "_media_prefix", "_sid_json", "started", "stopped", "stream_sid")

    def __init__(self) -> None:
        self.stream_sid: str | None = None
        self.started: StreamStarted | None = None
        self.stopped = False
        self._sid_json = ""
        self._media_prefix = ""
        self._clear_message = ""

    # ------------------------------------------------------------------------------- inbound

    def parse(self, text: str | bytes) -> TelephonyEvent:
        if len(text) > MAX_MESSAGE_CHARS:  # before any decoding: hostile sizes cost nothing
            raise ProtocolViolation(f"message of {len(text)} characters exceeds {MAX_MESSAGE_CHARS}")
        if not isinstance(text, str):
            raise ProtocolViolation("binary frame: Twilio Media Streams only sends text JSON")
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtocolViolation(f"message is not JSON: {exc.msg} at {exc.pos}") from None
        except RecursionError:  # "[[[[..." within the size cap still nests past the C stack guard
            raise ProtocolViolation("message nests too deeply") from None
        if type(msg) is not dict:
            raise ProtocolViolation("message is not a JSON object")
        event = msg.get("event")
        if event == "media":  # the hot path first
            return self._parse_media(msg)
        if event == "mark":
            self._check_stream(msg, "mark")
            mark = _require_dict(msg, "mark", "mark")
            name = _require_str(mark, "name", "mark")
            if len(name) > MAX_MARK_NAME_CHARS:
                raise ProtocolViolation("'mark' name is too long")
            return MarkPlayed(name=name)
        if event == "dtmf":
            self._check_stream(msg, "dtmf")
            dtmf = _require_dict(msg, "dtmf", "dtmf")
            digit = dtmf.get("digit")
            if type(digit) is not str or digit not in DTMF_DIGITS:
                raise ProtocolViolation("'dtmf' message: 'digit' must be one of 0-9, *, #, A-D")
            return CallerDtmf(digit=digit)
        if event == "start":
            return self._parse_start(msg)
        if event == "connected":
            if self.started is not None:
                raise ProtocolViolation("'connected' after 'start'")
            protocol = msg.get("protocol", "Call")
            return StreamConnected(protocol=protocol if type(protocol) is str else "Call")
        if event == "stop":
            self._check_stream(msg, "stop")
            self.stopped = True
            return StreamStopped()
        if type(event) is not str:
            raise ProtocolViolation("message without a string 'event'")
        raise ProtocolViolation(f"unknown event {event[:40]!r}")

    def _check_stream(self, msg: dict[str, Any], event: str) -> None:
        if self.stream_sid is None:
            raise ProtocolViolation(f"'{event}' before 'start'")
        sid = msg.get("streamSid")
        if sid is not None and sid != self.stream_sid:
            raise ProtocolViolation(f"'{event}' for another streamSid")

    def _parse_media(self, msg: dict[str, Any]) -> CallerAudio:
        self._check_stream(msg, "media")
        media = msg.get("media")
        if type(media) is not dict:
            raise ProtocolViolation("'media' message without a 'media' object")
        track = media.get("track", "inbound")
        if track != "inbound":
            raise ProtocolViolation("'media' on a track other than 'inbound'")
        payload = media.get("payload")
        if type(payload) is not str:
            raise ProtocolViolation("'media' message: 'payload' must be a base64 string")
        try:
            mulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolViolation("'media' payload is not valid base64") from None
        return CallerAudio(
            mulaw=mulaw,
            timestamp_ms=_counter(media, "timestamp", "media"),
            chunk=_counter(media, "chunk", "media"),
        )

    def _parse_start(self, msg: dict[str, Any]) -> StreamStarted:
        if self.started is not None:
            raise ProtocolViolation("second 'start' on one stream")
        start = _require_dict(msg, "start", "start")
        stream_sid = _require_str(start, "streamSid", "start")
        outer_sid = msg.get("streamSid")
        if outer_sid is not None and outer_sid != stream_sid:
            raise ProtocolViolation("'start' carries two different streamSids")
        call_sid = _require_str(start, "callSid", "start")
        account_sid = _require_str(start, "accountSid", "start")
        fmt = start.get("mediaFormat", {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
        if type(fmt) is not dict:
            raise ProtocolViolation("'start' mediaFormat must be an object")
        encoding, rate, channels = fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels", 1)
        if (encoding, rate, channels) != EXPECTED_MEDIA_FORMAT:
            raise ProtocolViolation("unsupported media format (the bridge expects mu-law 8 kHz mono)")
        raw_params = start.get("customParameters", {})
        if raw_params is None:
            raw_params = {}
        if type(raw_params) is not dict or len(raw_params) > MAX_CUSTOM_PARAMETERS:
            raise ProtocolViolation("'start' customParameters must be a small object")
        params: dict[str, str] = {}
        for key, value in raw_params.items():
            if type(value) is not str:
                raise ProtocolViolation("'start' customParameters values must be strings")
            params[key] = value
        started = StreamStarted(
            stream_id=stream_sid,
            call_id=call_sid,
            account_id=account_sid,
            custom_parameters=params,
            encoding=EXPECTED_MEDIA_FORMAT[0],
            sample_rate=EXPECTED_MEDIA_FORMAT[1],
            channels=EXPECTED_MEDIA_FORMAT[2],
        )
        self._bind(stream_sid)
        self.started = started
        return started

    def _bind(self, stream_sid: str) -> None:
        self.stream_sid = stream_sid
        self._sid_json = json.dumps(stream_sid)
        # Pre-encoded once: the outbound media path is then one b64encode and two concatenations.
        self._media_prefix = '{"event":"media","streamSid":' + self._sid_json + ',"media":{"payload":"'
        self._clear_message = '{"event":"clear","streamSid":' + self._sid_json + "}"

    # ------------------------------------------------------------------------------ outbound

    def serialize(self, command: TelephonyCommand) -> str:
        if not self._media_prefix:
            raise SerializerStateError("cannot send to Twilio before the stream's 'start'")
        if type(command) is PlayAudio:
            return self._media_prefix + base64.b64encode(command.mulaw).decode("ascii") + '"}}'
        if type(command) is PlaceMark:
            name = json.dumps(command.name)
            return '{"event":"mark","streamSid":' + self._sid_json + ',"mark":{"name":' + name + "}}"
        if type(command) is ClearPlayback:
            return self._clear_message
        raise TypeError(f"not a telephony command: {command!r}")
