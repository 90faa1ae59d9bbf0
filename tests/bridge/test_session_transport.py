"""Transports: QueueTransport (for the Channels consumer) and a real WebSocket call with the fake
Twilio caller and the echo engine."""

from __future__ import annotations

import asyncio
import json
import statistics
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve

from calls.bridge.engines.echo import EchoEngine
from calls.bridge.frames import (
    AgentAudio,
    CallerAudio,
    EngineHangUp,
    MarkPlayed,
    PlaceMark,
    PlayAudio,
    StreamStarted,
)
from calls.bridge.ports import ProtocolViolation, TransportClosed
from calls.bridge.session import CallSession, SessionOutcome
from calls.bridge.transport import QueueTransport, WebsocketsTransport, read_stream_start
from tests.audio import AUDIO_DIR
from tests.bridge.conftest import MemoryControl, MemoryRecorder, MemoryTools, make_config
from tests.fakes.twilio import FakeTwilioCaller, read_mulaw_wav, sign_webhook

SID = "MZ" + "1" * 32
START = json.dumps(
    {
        "event": "start",
        "sequenceNumber": "1",
        "start": {"accountSid": "AC" + "0" * 32, "streamSid": SID, "callSid": "CA" + "2" * 32},
        "streamSid": SID,
    }
)


def media_text(n: int) -> str:
    body = {"track": "inbound", "chunk": str(n), "timestamp": str(20 * n), "payload": "/w=="}
    return json.dumps({"event": "media", "streamSid": SID, "media": body})


class Sink:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: list[int] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int) -> None:
        self.closed.append(code)


async def test_queue_transport_feeds_parses_sends_and_closes() -> None:
    sink = Sink()
    transport = QueueTransport(send_text=sink.send_text, close=sink.close)
    transport.feed('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    transport.feed(START)
    started = await read_stream_start(transport, timeout_s=1.0)
    assert isinstance(started, StreamStarted) and started.stream_id == SID
    transport.feed(media_text(1))
    transport.feed("garbage")
    assert await transport.receive() == CallerAudio(b"\xff", 20, 1)
    with pytest.raises(ProtocolViolation):
        await transport.receive()  # errors surface in order, as frames would
    await transport.send(PlayAudio(b"\xff" * 160))
    await transport.send(PlaceMark("m1"))
    assert json.loads(sink.sent[1]) == {"event": "mark", "streamSid": SID, "mark": {"name": "m1"}}
    await transport.close(1008)
    await transport.close(1000)  # idempotent
    assert sink.closed == [1008]
    with pytest.raises(TransportClosed):
        await transport.receive()
    with pytest.raises(TransportClosed):
        await transport.send(PlayAudio(b"\xff"))


async def test_queue_transport_wakes_a_waiting_receive_on_disconnect() -> None:
    sink = Sink()
    transport = QueueTransport(send_text=sink.send_text, close=sink.close)
    waiting = asyncio.ensure_future(transport.receive())
    await asyncio.sleep(0)  # let it block
    transport.feed_closed()
    with pytest.raises(TransportClosed):
        await asyncio.wait_for(waiting, 1.0)
    await transport.close()
    assert sink.closed == []  # the socket was already gone: nothing to close


async def test_queue_transport_drops_oldest_audio_not_control_frames_when_backlogged() -> None:
    sink = Sink()
    transport = QueueTransport(send_text=sink.send_text, close=sink.close, max_pending=3)
    transport.feed(START)
    await transport.receive()
    transport.feed(media_text(1))
    transport.feed(json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": "keep"}}))
    transport.feed(media_text(2))
    transport.feed(media_text(3))  # over the bound: media 1 goes
    assert transport.dropped_frames == 1
    frames = [await transport.receive() for _ in range(3)]
    assert frames == [MarkPlayed("keep"), CallerAudio(b"\xff", 40, 2), CallerAudio(b"\xff", 60, 3)]


async def test_queue_transport_send_failure_is_transport_closed() -> None:
    async def broken(text: str) -> None:
        raise ConnectionResetError("gone")

    transport = QueueTransport(send_text=broken, close=Sink().close)
    transport.feed(START)
    await transport.receive()
    with pytest.raises(TransportClosed):
        await transport.send(PlayAudio(b"\xff"))
    with pytest.raises(TransportClosed):
        await transport.receive()


AUTH_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_URL = "wss://voice.example.com/twilio/media-stream"


class ServerCalls:
    """What the test server saw: signature checks and session outcomes."""

    def __init__(self) -> None:
        self.signatures: list[bool] = []
        self.outcomes: list[SessionOutcome] = []
        self.done = asyncio.Event()

    async def handler(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        signature = connection.request.headers.get("X-Twilio-Signature", "")
        self.signatures.append(RequestValidator(AUTH_TOKEN).validate(PUBLIC_URL, {}, signature))
        transport = WebsocketsTransport(connection)
        try:
            started = await read_stream_start(transport, timeout_s=2.0)
            session = CallSession(
                make_config(),
                transport,
                EchoEngine(),
                MemoryRecorder(),
                MemoryControl(),
                MemoryTools(),
                started,
            )
            self.outcomes.append(await session.run())
        finally:
            self.done.set()

    def serve(self) -> Any:
        return serve(self.handler, "127.0.0.1", 0, compression=None, max_size=128 * 1024)


async def test_real_websocket_call_flows_in_real_time_with_twilio_mark_semantics() -> None:
    calls = ServerCalls()
    speech = read_mulaw_wav(AUDIO_DIR / "greeting_reply_yes.wav")
    async with calls.serve() as server:
        port = server.sockets[0].getsockname()[1]
        async with FakeTwilioCaller(custom_parameters={"call_token": "t"}) as caller:
            await caller.connect(
                f"ws://127.0.0.1:{port}/twilio/media-stream", auth_token=AUTH_TOKEN, signature_url=PUBLIC_URL
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            await caller.say(speech)
            await caller.wait_for(lambda: caller.frames_sent >= 90, 5.0)
            elapsed_ms = (loop.time() - started) * 1000
            await caller.wait_for(lambda: len(caller.media_sizes) >= caller.frames_sent - 2, 2.0)
            await caller.hang_up()
        await asyncio.wait_for(calls.done.wait(), 2.0)

    assert calls.signatures == [True]
    assert caller.errors == []
    # real time: about one 20 ms frame per 20 ms, in both directions
    assert abs(caller.frames_sent - (elapsed_ms / 20 + 1)) <= 6, (caller.frames_sent, elapsed_ms)
    assert set(caller.media_sizes) == {160}
    # the echoed caller speech came back byte for byte and was played
    whole = len(speech) - len(speech) % 160
    assert speech[:whole] in bytes(caller.played)
    # round trip per frame: sent at timestamp 20*i, echoed frame i received at media_times_ms[i]
    round_trips = sorted(at - 20 * i for i, at in enumerate(caller.media_times_ms))
    p95 = round_trips[int(len(round_trips) * 0.95)]
    # loopback and an echo engine: a few ms; bounds leave room for a loaded CI machine
    assert statistics.median(round_trips) < 50 and p95 < 200, (statistics.median(round_trips), p95)
    # Twilio mark semantics: every mark echoed once playback reached it, none cleared
    received = {mark.name: mark.at_ms for mark in caller.marks_received}
    echoed = [echo for echo in caller.mark_echoes if not echo.cleared]
    assert len(echoed) >= len(received) - 3
    assert all(echo.at_ms >= received[echo.name] for echo in echoed)
    assert [echo.name for echo in echoed] == [mark.name for mark in caller.marks_received][: len(echoed)]
    outcome = calls.outcomes[0]
    assert outcome.end_reason == "caller_hangup"
    assert outcome.counters.frames_in >= caller.frames_sent - 2
    assert outcome.counters.marks_echoed >= outcome.counters.marks_sent - 3


async def test_real_websocket_hostile_binary_frame_closes_with_1008() -> None:
    calls = ServerCalls()
    async with calls.serve() as server:
        port = server.sockets[0].getsockname()[1]
        async with FakeTwilioCaller() as caller:
            await caller.connect(f"ws://127.0.0.1:{port}/twilio/media-stream")
            await caller.wait_for(lambda: caller.frames_sent >= 3, 2.0)
            assert caller._ws is not None
            await caller._ws.send(b"\x00\x01binary")
            await caller.wait_for(lambda: caller.closed.is_set(), 2.0)
        await asyncio.wait_for(calls.done.wait(), 2.0)
    assert caller.closed_by_server and caller.close_code == 1008
    assert calls.outcomes[0].end_reason == "protocol_error"


def test_sign_webhook_matches_twilios_validator() -> None:
    params = {"CallSid": "CA1", "From": "+15552223333", "To": "+15550001111"}
    signature = sign_webhook(AUTH_TOKEN, "https://voice.example.com/twilio/voice", params)
    assert RequestValidator(AUTH_TOKEN).validate("https://voice.example.com/twilio/voice", params, signature)
    assert not RequestValidator("other").validate("https://voice.example.com/twilio/voice", params, signature)


async def test_echo_engine_echoes_at_once_and_ends_cleanly() -> None:
    engine = EchoEngine()
    await engine.connect(make_config().stages["main"])
    events = engine.events()
    await engine.send_audio(b"\x01" * 160)
    first = await asyncio.wait_for(anext(events), 1.0)
    assert first == AgentAudio(b"\x01" * 160, "echo")
    await engine.send_caller_text("The caller pressed 4.")
    await engine.playback_interrupted("echo", 120)
    assert engine.caller_texts == ["The caller pressed 4."] and engine.interruptions == [("echo", 120)]
    await engine.hang_up()
    assert await asyncio.wait_for(anext(events), 1.0) == EngineHangUp("agent_hangup")
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(events), 1.0)
    await engine.close()
    await engine.close()  # idempotent
