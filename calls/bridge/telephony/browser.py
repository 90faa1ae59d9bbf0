"""The browser softphone's WebSocket <-> bridge frames.

A "Talk to this agent" call runs the same ``CallSession`` as a phone call; only the telephony
side differs. The browser plays Twilio's part with a smaller protocol:

Browser -> server
    text   ``{"event": "start", "encoding": "audio/x-mulaw", "sampleRate": 8000}`` first, once.
           ``encoding`` may also be ``"audio/l16"`` (signed 16-bit little-endian PCM) at one of
           ``PCM_SAMPLE_RATES``: it is resampled and encoded to mu-law 8 kHz here.
    binary caller audio in the announced format, ideally 20 ms per message.
    text   ``{"event": "mark", "name": "..."}``: playback reached a mark the server sent (or a
           ``clear`` dropped the audio before it: the browser then echoes every pending mark).
    text   ``{"event": "dtmf", "digit": "5"}``, ``{"event": "stop"}`` (the user hung up).
Server -> browser
    binary agent audio, mu-law 8 kHz.
    text   ``{"event": "mark", "name": "..."}`` and ``{"event": "clear"}``.

Caller audio carries no clock of its own, so the stream clock is the audio itself: each message
is stamped with the milliseconds of audio received before it (what Twilio's ``timestamp`` is).

``BrowserTransport`` is the ``TelephonyTransport`` a consumer feeds, like ``QueueTransport``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from calls.bridge.audio import Resampler, pcm16_to_ulaw
from calls.bridge.frames import (
    CallerAudio,
    CallerDtmf,
    ClearPlayback,
    MarkPlayed,
    PlaceMark,
    PlayAudio,
    StreamStarted,
    StreamStopped,
    TelephonyCommand,
    TelephonyEvent,
)
from calls.bridge.ports import ProtocolViolation
from calls.bridge.transport import DEFAULT_MAX_PENDING, QueueTransport

MULAW = "audio/x-mulaw"
PCM16 = "audio/l16"
PCM_SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000, 32000, 44100, 48000})
MAX_TEXT_CHARS = 1024
MAX_AUDIO_BYTES = 19_200  # 200 ms of 16-bit PCM at 48 kHz; a 20 ms frame is a tenth of it
MAX_MARK_NAME_CHARS = 256
DTMF_DIGITS = frozenset("0123456789*#")
CLEAR_MESSAGE = '{"event":"clear"}'


class WebTelephonySerializer:
    """Parses the browser's messages into ``TelephonyEvent`` frames and serializes commands
    (agent audio as binary, marks and clears as JSON text). One per WebSocket: it is stateful
    (the announced format, the resampler, the stream clock).

    ``parse`` raises ``ProtocolViolation`` for: audio before ``start``, a second ``start``, an
    unsupported format, text that is not a small JSON object with a known ``event``, oversized or
    odd-length audio, and malformed marks or digits.
    """

    def __init__(self, call_id: str, *, account_id: str = "web") -> None:
        self.call_id = call_id
        self.account_id = account_id
        self.started: StreamStarted | None = None
        self.stopped = False
        self.encoding = MULAW
        self.sample_rate = 8000
        self._resampler: Resampler | None = None
        self._received_ms = 0.0
        self._chunk = 0

    # ------------------------------------------------------------------------------- inbound

    def parse(self, message: str | bytes) -> TelephonyEvent:
        if isinstance(message, bytes | bytearray | memoryview):
            return self._parse_audio(bytes(message))
        if len(message) > MAX_TEXT_CHARS:
            raise ProtocolViolation(f"text message of {len(message)} characters exceeds {MAX_TEXT_CHARS}")
        try:
            msg = json.loads(message)
        except (json.JSONDecodeError, RecursionError):
            raise ProtocolViolation("text message is not JSON") from None
        if type(msg) is not dict:
            raise ProtocolViolation("text message is not a JSON object")
        event = msg.get("event")
        if event == "mark":
            self._require_started("mark")
            name = msg.get("name")
            if type(name) is not str or not name or len(name) > MAX_MARK_NAME_CHARS:
                raise ProtocolViolation("'mark' needs a short non-empty 'name'")
            return MarkPlayed(name=name)
        if event == "start":
            return self._parse_start(msg)
        if event == "dtmf":
            self._require_started("dtmf")
            digit = msg.get("digit")
            if type(digit) is not str or digit not in DTMF_DIGITS:
                raise ProtocolViolation("'dtmf' digit must be one of 0-9, *, #")
            return CallerDtmf(digit=digit)
        if event == "stop":
            self._require_started("stop")
            self.stopped = True
            return StreamStopped()
        raise ProtocolViolation(f"unknown event {str(event)[:40]!r}")

    def _require_started(self, event: str) -> None:
        if self.started is None:
            raise ProtocolViolation(f"'{event}' before 'start'")

    def _parse_start(self, msg: dict[str, Any]) -> StreamStarted:
        if self.started is not None:
            raise ProtocolViolation("second 'start' on one stream")
        encoding = msg.get("encoding", MULAW)
        rate = msg.get("sampleRate", 8000)
        if encoding == MULAW and rate == 8000:
            self._resampler = None
        elif encoding == PCM16 and type(rate) is int and rate in PCM_SAMPLE_RATES:
            self._resampler = Resampler(rate, 8000)
        else:
            raise ProtocolViolation("unsupported audio format (mu-law 8 kHz, or 16-bit PCM at a common rate)")
        self.encoding = str(encoding)
        self.sample_rate = int(rate)
        self.started = StreamStarted(
            stream_id="WB" + secrets.token_hex(16),
            call_id=self.call_id,
            account_id=self.account_id,
            custom_parameters={"encoding": self.encoding, "sampleRate": str(self.sample_rate)},
        )
        return self.started

    def _parse_audio(self, data: bytes) -> CallerAudio:
        if self.started is None:
            raise ProtocolViolation("audio before 'start'")
        if not data or len(data) > MAX_AUDIO_BYTES:
            raise ProtocolViolation(f"audio message of {len(data)} bytes (1 to {MAX_AUDIO_BYTES})")
        if self._resampler is None:
            mulaw = data
        else:
            if len(data) % 2:
                raise ProtocolViolation("16-bit PCM message with an odd number of bytes")
            mulaw = pcm16_to_ulaw(self._resampler.process(data))
        audio = CallerAudio(mulaw=mulaw, timestamp_ms=int(self._received_ms), chunk=self._chunk)
        self._chunk += 1
        # Measured in the announced format, so resampling rounding does not drift the clock.
        samples = len(data) if self._resampler is None else len(data) // 2
        self._received_ms += samples * 1000 / self.sample_rate
        return audio

    # ------------------------------------------------------------------------------ outbound

    def serialize(self, command: TelephonyCommand) -> str | bytes:
        if type(command) is PlayAudio:
            return command.mulaw
        if type(command) is PlaceMark:
            return '{"event":"mark","name":' + json.dumps(command.name) + "}"
        if type(command) is ClearPlayback:
            return CLEAR_MESSAGE
        raise TypeError(f"not a telephony command: {command!r}")


class BrowserTransport(QueueTransport):
    """The ``QueueTransport`` of a browser softphone: the browser's protocol, binary audio out."""

    def __init__(
        self,
        *,
        call_id: str,
        send_text: Callable[[str], Awaitable[None]],
        send_bytes: Callable[[bytes], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        super().__init__(
            send_text,
            close,
            serializer=WebTelephonySerializer(call_id),
            send_bytes=send_bytes,
            max_pending=max_pending,
            name="browser",
        )
