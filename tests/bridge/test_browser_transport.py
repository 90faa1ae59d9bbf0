"""The softphone's browser protocol: the serializer's frames and checks, and a whole
``CallSession`` over ``BrowserTransport`` (the same session as a phone call)."""

from __future__ import annotations

import asyncio
import json
import math
import struct
from typing import Any

import pytest

from calls.bridge.audio import ulaw_to_pcm16
from calls.bridge.frames import (
    CallerAudio,
    CallerDtmf,
    CallerSpeechStarted,
    ClearPlayback,
    MarkPlayed,
    PlaceMark,
    PlayAudio,
    StreamStarted,
    StreamStopped,
    Transcript,
)
from calls.bridge.ports import ProtocolViolation, TransportClosed
from calls.bridge.session import CallSession
from calls.bridge.telephony.browser import MAX_AUDIO_BYTES, BrowserTransport, WebTelephonySerializer
from calls.bridge.transport import read_stream_start
from tests.bridge.conftest import MemoryControl, MemoryRecorder, MemoryTools, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech

START_MULAW = json.dumps({"event": "start", "encoding": "audio/x-mulaw", "sampleRate": 8000})


def pcm_tone(ms: int, rate: int, freq: float = 440.0, amplitude: int = 8000) -> bytes:
    samples = rate * ms // 1000
    return struct.pack(
        f"<{samples}h", *(int(amplitude * math.sin(2 * math.pi * freq * n / rate)) for n in range(samples))
    )


def test_mulaw_frames_are_stamped_with_the_audio_clock() -> None:
    serializer = WebTelephonySerializer("call-1")
    started = serializer.parse(START_MULAW)
    assert isinstance(started, StreamStarted)
    assert started.call_id == "call-1" and started.account_id == "web" and started.stream_id.startswith("WB")
    frames = [serializer.parse(bytes([0x7F]) * 160) for _ in range(3)]
    assert all(isinstance(frame, CallerAudio) for frame in frames)
    assert [(f.timestamp_ms, f.chunk, len(f.mulaw)) for f in frames if isinstance(f, CallerAudio)] == [
        (0, 0, 160),
        (20, 1, 160),
        (40, 2, 160),
    ]


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_pcm_is_resampled_to_8_khz_mulaw(rate: int) -> None:
    serializer = WebTelephonySerializer("call-1")
    serializer.parse(json.dumps({"event": "start", "encoding": "audio/l16", "sampleRate": rate}))
    tone = pcm_tone(1000, rate)
    frame = len(tone) // 50 // 2 * 2  # 20 ms
    frames = [serializer.parse(tone[i : i + frame]) for i in range(0, frame * 50, frame)]
    audio = b"".join(f.mulaw for f in frames if isinstance(f, CallerAudio))
    assert abs(len(audio) - 8000) <= 50  # one second at 8 kHz
    assert [f.timestamp_ms for f in frames if isinstance(f, CallerAudio)][:3] == [0, 20, 40]
    # The tone survives: its loudness is about the original's (RMS of 8000 * sin is ~5657).
    samples = memoryview(ulaw_to_pcm16(audio[800:])).cast("h")
    rms = (sum(s * s for s in samples) / len(samples)) ** 0.5
    assert 4500 < rms < 6500


def test_marks_dtmf_and_stop() -> None:
    serializer = WebTelephonySerializer("call-1")
    serializer.parse(START_MULAW)
    assert serializer.parse('{"event": "mark", "name": "m-1"}') == MarkPlayed("m-1")
    assert serializer.parse('{"event": "dtmf", "digit": "#"}') == CallerDtmf("#")
    assert serializer.parse('{"event": "stop"}') == StreamStopped()
    assert serializer.stopped


@pytest.mark.parametrize(
    ("before_start", "message", "complaint"),
    [
        (True, b"\xff" * 160, "before 'start'"),
        (True, '{"event": "mark", "name": "m"}', "before 'start'"),
        (True, '{"event": "start", "encoding": "audio/opus", "sampleRate": 48000}', "unsupported"),
        (True, '{"event": "start", "encoding": "audio/l16", "sampleRate": 11111}', "unsupported"),
        (True, '{"event": "start", "encoding": "audio/x-mulaw", "sampleRate": 16000}', "unsupported"),
        (False, START_MULAW, "second 'start'"),
        (False, "not json", "not JSON"),
        (False, "[1, 2]", "not a JSON object"),
        (False, "[" * 900 + "]" * 90, "not JSON"),
        (False, '{"event": "media"}', "unknown event"),
        (False, '{"event": "mark", "name": ""}', "'mark'"),
        (False, '{"event": "mark", "name": 7}', "'mark'"),
        (False, json.dumps({"event": "mark", "name": "m" * 300}), "'mark'"),
        (False, '{"event": "dtmf", "digit": "x"}', "'dtmf'"),
        (False, b"", "0 bytes"),
        (False, b"\xff" * (MAX_AUDIO_BYTES + 1), "bytes"),
        (False, json.dumps({"event": "mark", "name": "a" * 2000}), "exceeds"),
    ],
)
def test_hostile_messages_are_protocol_violations(
    before_start: bool, message: str | bytes, complaint: str
) -> None:
    serializer = WebTelephonySerializer("call-1")
    if not before_start:
        serializer.parse(START_MULAW)
    with pytest.raises(ProtocolViolation, match=complaint):
        serializer.parse(message)


def test_odd_pcm_is_refused() -> None:
    serializer = WebTelephonySerializer("call-1")
    serializer.parse(json.dumps({"event": "start", "encoding": "audio/l16", "sampleRate": 16000}))
    with pytest.raises(ProtocolViolation, match="odd"):
        serializer.parse(b"\x00" * 641)


def test_commands_are_binary_audio_and_json_controls() -> None:
    serializer = WebTelephonySerializer("call-1")
    assert serializer.serialize(PlayAudio(b"\x01\x02")) == b"\x01\x02"
    assert json.loads(serializer.serialize(PlaceMark('m "1"'))) == {"event": "mark", "name": 'm "1"'}
    assert json.loads(serializer.serialize(ClearPlayback())) == {"event": "clear"}


class FakeBrowser:
    """The browser's side, in memory: echoes each mark once the audio before it "played" (at
    once while ``playing`` is set: there is no real-time playback here; otherwise the marks wait)
    and every pending mark on ``clear``, like softphone.js."""

    def __init__(self) -> None:
        self.audio = bytearray()
        self.texts: list[dict[str, Any]] = []
        self.playing = True
        self.pending_marks: list[str] = []
        self.closed_with: int | None = None
        self.transport = BrowserTransport(
            call_id="call-public-id", send_text=self._text, send_bytes=self._bytes, close=self._close
        )
        self.changed = asyncio.Event()

    async def _text(self, text: str) -> None:
        message = json.loads(text)
        self.texts.append(message)
        if message["event"] == "mark":
            self.pending_marks.append(message["name"])
        if self.playing or message["event"] == "clear":
            for name in self.pending_marks:
                self.transport.feed(json.dumps({"event": "mark", "name": name}))
            self.pending_marks.clear()
        self.changed.set()

    async def _bytes(self, data: bytes) -> None:
        self.audio.extend(data)
        self.changed.set()

    async def _close(self, code: int) -> None:
        self.closed_with = code
        self.transport.feed_closed()

    async def wait_for(self, predicate: Any, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def test_a_call_session_runs_over_the_browser_transport() -> None:
    browser = FakeBrowser()
    transport = browser.transport
    transport.feed(START_MULAW)
    started = await read_stream_start(transport, timeout_s=1)
    engine = ScriptedEngine(
        greeting=[*agent_speech(400, "greeting"), Transcript("agent", "Hello there.", True, 0)]
    )
    recorder = MemoryRecorder()
    session = CallSession(make_config(), transport, engine, recorder, MemoryControl(), MemoryTools(), started)
    task = asyncio.create_task(session.run())
    for _ in range(25):  # half a second of the user talking
        transport.feed(b"\xff" * 160)
    await browser.wait_for(lambda: len(browser.audio) >= 3200)
    await engine.wait_for(lambda: engine.audio_bytes >= 25 * 160)
    # Barge-in: the browser is told to clear what it has queued.
    browser.playing = False
    engine.emit(*agent_speech(2000, "long", done=False))
    await browser.wait_for(lambda: len(browser.audio) >= 3200 + 800)
    engine.emit(CallerSpeechStarted())
    await browser.wait_for(lambda: {"event": "clear"} in browser.texts)
    transport.feed('{"event": "stop"}')
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.end_reason == "caller_hangup"
    assert outcome.counters.frames_in == 25
    # The greeting's marks were echoed as played; the cleared utterance's echoes are known stale.
    assert outcome.counters.marks_echoed == 4
    assert outcome.counters.stale_mark_echoes == outcome.counters.marks_sent - 4 > 0
    assert outcome.counters.clears == 1
    assert [s.text for s in recorder.segments] == ["Hello there."]
    assert browser.closed_with == 1000


async def test_send_after_the_browser_left_is_transport_closed() -> None:
    browser = FakeBrowser()
    browser.transport.feed(START_MULAW)
    await read_stream_start(browser.transport, timeout_s=1)
    browser.transport.feed_closed()
    with pytest.raises(TransportClosed):
        await browser.transport.send(PlayAudio(b"\xff" * 160))
    with pytest.raises(TransportClosed):
        await browser.transport.receive()


async def test_a_slow_session_drops_the_oldest_audio_never_controls() -> None:
    browser = FakeBrowser()
    transport = BrowserTransport(
        call_id="c", send_text=browser._text, send_bytes=browser._bytes, close=browser._close, max_pending=4
    )
    transport.feed(START_MULAW)
    await read_stream_start(transport, timeout_s=1)
    transport.feed(b"\x01" * 160)
    transport.feed('{"event": "mark", "name": "m1"}')
    for byte in (2, 3, 4):
        transport.feed(bytes([byte]) * 160)
    assert transport.dropped_frames == 1
    received = [await transport.receive() for _ in range(4)]
    assert received[0] == MarkPlayed("m1")
    assert [r.mulaw[0] for r in received[1:] if isinstance(r, CallerAudio)] == [2, 3, 4]
