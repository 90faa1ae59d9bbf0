"""UltravoxEngine against FakeUltravox: REST body, audio both ways, transcripts, tools, stages,
barge-in, how calls end, hostile input, and clean shutdown."""

from __future__ import annotations

import asyncio
import audioop
import json
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from calls.bridge.audio import ulaw_to_pcm16
from calls.bridge.config import EngineSettings, StageSpec, ToolSpec
from calls.bridge.engines.base import EngineError, ToolResult
from calls.bridge.engines.ultravox import UltravoxEngine, UltravoxOptions, wire
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineFailure,
    EngineHangUp,
    ToolCall,
    Transcript,
)
from tests.audio import AUDIO_DIR
from tests.fakes.ultravox import FakeUltravox, FakeUltravoxCall, Script, ToolStep, Turn
from tests.fakes.ultravox.voice import mulaw_frames, read_mulaw_wav

API_KEY = "uv-secret-test-key"
GREETING = "Hi, thanks for calling Acme."
SILENCE_FRAME = b"\xff" * 160  # 20 ms of mu-law silence
LOOKUP = ToolSpec(
    name="lookup_order",
    description="Look up an order by its id.",
    parameters={
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "description": "The order id"},
            "include_items": {"type": "boolean"},
        },
        "required": ["order_id"],
    },
    timeout_s=5.0,
)
VERIFY_STAGE = StageSpec(name="verification", system_prompt="Verify the caller.", tools=(LOOKUP,))
MAIN_STAGE = StageSpec(
    name="main",
    system_prompt="Help the verified caller.",
    tools=(ToolSpec("book_slot", "Book a slot.", {"type": "object", "properties": {}}, timeout_s=8.0),),
)


class Harness:
    """One engine joined to the fake, with a reader over its events."""

    def __init__(self, engine: UltravoxEngine) -> None:
        self.engine = engine
        self.stream = engine.events()
        self.seen: list[EngineEvent] = []

    async def next(self, within_s: float = 5.0) -> EngineEvent:
        async with asyncio.timeout(within_s):
            event = await anext(self.stream)
        self.seen.append(event)
        return event

    async def until(self, kind: type[Any], within_s: float = 5.0) -> Any:
        """Read events until one of ``kind``; the ones before it stay in ``seen``."""
        while True:
            event = await self.next(within_s)
            if isinstance(event, kind):
                return event

    async def ended(self, within_s: float = 5.0) -> bool:
        try:
            await self.next(within_s)
        except StopAsyncIteration:
            return True
        return False

    async def speak(self, wav: str, trailing_silence_ms: int = 600) -> None:
        """A caller utterance, streamed faster than real time (the fake counts samples)."""
        for frame in mulaw_frames(read_mulaw_wav(AUDIO_DIR / wav)):
            await self.engine.send_audio(frame)
        for _ in range(trailing_silence_ms // 20):
            await self.engine.send_audio(SILENCE_FRAME)


def make_settings(fake: FakeUltravox, **overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {
        "kind": "ultravox",
        "api_key": API_KEY,
        "base_url": fake.url,
        "model": "ultravox-v0.7",
        "voice": "Mark",
        "language": "en",
        "temperature": 0.3,
        "greeting": GREETING,
        "turn_endpoint_delay_ms": 384,
        "max_duration_s": 900,
        "extra": {"ping_interval_s": 0},
    }
    values.update(overrides)
    return EngineSettings(**values)


@pytest.fixture
async def fake() -> AsyncIterator[FakeUltravox]:
    async with FakeUltravox(api_key=API_KEY, script=Script(playback_speed=50)) as server:
        yield server


Connect = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def connect(fake: FakeUltravox) -> AsyncIterator[Connect]:
    harnesses: list[Harness] = []

    async def _connect(stage: StageSpec = VERIFY_STAGE, **overrides: Any) -> Harness:
        engine = UltravoxEngine(make_settings(fake, **overrides))
        await engine.connect(stage)
        harness = Harness(engine)
        harnesses.append(harness)
        return harness

    yield _connect
    for harness in harnesses:
        await harness.engine.close()
        await harness.stream.aclose()


async def joined_call(fake: FakeUltravox) -> FakeUltravoxCall:
    return await fake.wait_for_call()


# ------------------------------------------------------------------------------- create call


async def test_create_call_body_follows_the_protocol(fake: FakeUltravox, connect: Connect) -> None:
    await connect()
    call = await joined_call(fake)
    assert fake.create_requests[0].headers["X-API-Key"] == API_KEY
    assert call.join_query == {"apiVersion": "1"}
    assert call.body == {
        "systemPrompt": "Verify the caller.",
        "model": "ultravox-v0.7",
        "voice": "Mark",
        "temperature": 0.3,
        "languageHint": "en",
        "firstSpeakerSettings": {"agent": {"text": GREETING}},
        "vadSettings": {"turnEndpointDelay": "0.384s"},
        "maxDuration": "900s",
        "selectedTools": [
            {
                "temporaryTool": {
                    "modelToolName": "lookup_order",
                    "description": "Look up an order by its id.",
                    "client": {},
                    "timeout": "6s",  # the session's 5 s plus a margin, so its error wins
                    "dynamicParameters": [
                        {
                            "name": "order_id",
                            "location": "PARAMETER_LOCATION_BODY",
                            "schema": {"type": "string", "description": "The order id"},
                            "required": True,
                        },
                        {
                            "name": "include_items",
                            "location": "PARAMETER_LOCATION_BODY",
                            "schema": {"type": "boolean"},
                            "required": False,
                        },
                    ],
                }
            },
            {"toolName": "hangUp"},
            wire.stage_switch_tool(),
        ],
        "medium": {
            "serverWebSocket": {
                "inputSampleRate": 8000,
                "outputSampleRate": 8000,
                "clientBufferSizeMs": 30000,
            }
        },
    }
    assert call.protocol_errors == []


async def test_caller_speaks_first_without_a_greeting(fake: FakeUltravox, connect: Connect) -> None:
    extra = {"ping_interval_s": 0, "hang_up_tool": False, "stage_switch_tool": False}
    await connect(greeting="", turn_endpoint_delay_ms=512, max_duration_s=60, extra=extra)
    call = await joined_call(fake)
    assert call.body["firstSpeakerSettings"] == {"user": {}}
    assert call.body["vadSettings"] == {"turnEndpointDelay": "0.512s"}
    assert call.body["maxDuration"] == "60s"
    assert [t["temporaryTool"]["modelToolName"] for t in call.body["selectedTools"]] == ["lookup_order"]
    await call.wait_until(lambda c: c.state == "listening")


async def test_bad_api_key_is_an_engine_error_without_the_key(fake: FakeUltravox) -> None:
    engine = UltravoxEngine(make_settings(fake, api_key="wrong-key-4711"))
    with pytest.raises(EngineError) as raised:
        await engine.connect(VERIFY_STAGE)
    assert "401" in str(raised.value)
    assert "wrong-key-4711" not in str(raised.value)
    assert fake.calls == []
    await engine.close()


async def test_refused_create_call_reports_status_and_body(fake: FakeUltravox) -> None:
    fake.fail_next_create(503, '{"detail": "capacity exceeded, retry later"}')
    engine = UltravoxEngine(make_settings(fake))
    with pytest.raises(EngineError, match=r"HTTP 503: .*capacity exceeded"):
        await engine.connect(VERIFY_STAGE)
    await engine.close()


async def test_unreachable_ultravox_is_an_engine_error() -> None:
    async with FakeUltravox(api_key=API_KEY) as gone:
        settings = make_settings(gone)
    engine = UltravoxEngine(settings)  # the port is closed now
    with pytest.raises(EngineError, match="create-call request failed"):
        await engine.connect(VERIFY_STAGE)
    await engine.close()


async def test_invalid_tool_name_fails_before_any_request(fake: FakeUltravox) -> None:
    bad = StageSpec(name="main", system_prompt="x", tools=(ToolSpec("look up", "d", {"type": "object"}),))
    engine = UltravoxEngine(make_settings(fake))
    with pytest.raises(EngineError, match="look up"):
        await engine.connect(bad)
    assert fake.create_requests == []


def test_malformed_options_fail_at_start_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="ping_interval_s"):
        UltravoxOptions.from_extra({"ping_interval_s": "often"})
    with pytest.raises(ValueError, match="hang_up_tool"):
        UltravoxOptions.from_extra({"hang_up_tool": "yes"})


def test_wire_helpers() -> None:
    assert wire.format_duration(0.384) == "0.384s"
    assert wire.format_duration(900) == "900s"
    assert wire.format_duration(2.5) == "2.5s"
    assert wire.format_duration(0) == "0s"
    bare = wire.client_tool(ToolSpec("ping", "No arguments.", {"type": "object"}, timeout_s=45))
    assert bare == {
        "temporaryTool": {
            "modelToolName": "ping",
            "description": "No arguments.",
            "client": {},
            "timeout": "40s",
        }
    }
    url = wire.join_url_with_api_version("wss://voice.example/calls/1?token=a&apiVersion=7")
    assert url == "wss://voice.example/calls/1?token=a&apiVersion=1"
    big = wire.bounded_output(json.dumps({"text": "x" * 40_000}))
    assert len(big.encode()) <= wire.MAX_TOOL_RESULT_BYTES
    assert json.loads(big)["truncated"] is True


# ------------------------------------------------------------------------------------- audio


async def test_caller_audio_reaches_ultravox_as_pcm16(fake: FakeUltravox, connect: Connect) -> None:
    harness = await connect(greeting="")
    call = await joined_call(fake)
    wav = read_mulaw_wav(AUDIO_DIR / "opening_hours.wav")
    for frame in mulaw_frames(wav):
        await harness.engine.send_audio(frame)
    await call.wait_until(lambda c: c.received_audio_bytes == 2 * len(wav))
    assert bytes(call.received_pcm) == ulaw_to_pcm16(wav)
    assert call.protocol_errors == []


async def test_agent_audio_comes_back_as_the_same_mulaw(fake: FakeUltravox, connect: Connect) -> None:
    wav = read_mulaw_wav(AUDIO_DIR / "book_tomorrow_three.wav")
    fake.script = Script(greeting_pcm=ulaw_to_pcm16(wav), playback_speed=50)
    harness = await connect()
    done = await harness.until(AgentAudioDone)
    chunks = [e for e in harness.seen if isinstance(e, AgentAudio)]
    heard = b"".join(chunk.mulaw for chunk in chunks)
    assert len(heard) == len(wav)
    original, decoded = ulaw_to_pcm16(wav), ulaw_to_pcm16(heard)
    noise = audioop.rms(audioop.add(original, audioop.mul(decoded, 2, -1), 2), 2)
    assert noise <= audioop.rms(original, 2) / 100  # better than 40 dB SNR: the codec, nothing else
    assert {chunk.item_id for chunk in chunks} == {done.item_id} and done.item_id is not None


async def test_agent_audio_split_mid_sample_is_reassembled(fake: FakeUltravox, connect: Connect) -> None:
    harness = await connect(greeting="")
    call = await joined_call(fake)
    await call.send_raw(b"\x10\x27\xf0")  # 10000, then half of -10000
    await call.send_raw(b"\xd8")
    first, second = await harness.until(AgentAudio), await harness.until(AgentAudio)
    assert ulaw_to_pcm16(first.mulaw + second.mulaw) == audioop.ulaw2lin(audioop.lin2ulaw(
        struct.pack("<hh", 10000, -10000), 2), 2)  # fmt: skip
    assert first.item_id == second.item_id


# ------------------------------------------------------------------------- turns and transcripts


async def test_transcripts_and_turns(fake: FakeUltravox, connect: Connect) -> None:
    fake.script = Script(
        turns=[Turn("what are your opening hours", reply="We open at nine.")], playback_speed=50
    )
    harness = await connect()
    greeting = await harness.until(Transcript)
    assert greeting.speaker == "agent" and not greeting.final and GREETING.startswith(greeting.text)
    while not (isinstance(greeting, Transcript) and greeting.final):
        greeting = await harness.until(Transcript)
        assert GREETING.startswith(greeting.text)  # deltas accumulate in order
    assert greeting.text == GREETING
    await harness.until(AgentAudioDone)

    await harness.speak("opening_hours.wav")
    caller = await harness.until(Transcript)
    assert (caller.speaker, caller.text, caller.final) == ("caller", "what are your opening hours", True)
    assert isinstance(await harness.until(CallerTurnEnded), CallerTurnEnded)
    reply = await harness.until(Transcript)
    while not reply.final:
        reply = await harness.until(Transcript)
    assert (reply.speaker, reply.text) == ("agent", "We open at nine.")
    assert len({greeting.ordinal, caller.ordinal, reply.ordinal}) == 3
    # The greeting (agent speaks first) is not a caller turn: exactly one CallerTurnEnded.
    assert sum(isinstance(e, CallerTurnEnded) for e in harness.seen) == 1


async def test_caller_text_is_an_immediate_user_message(fake: FakeUltravox, connect: Connect) -> None:
    harness = await connect(greeting="")
    call = await joined_call(fake)
    await harness.engine.send_caller_text("The caller pressed 4")
    await harness.until(CallerTurnEnded)
    assert call.messages_of("user_text_message") == [
        {"type": "user_text_message", "text": "The caller pressed 4", "urgency": "immediate"}
    ]
    caller = next(e for e in harness.seen if isinstance(e, Transcript))
    assert (caller.speaker, caller.text) == ("caller", "The caller pressed 4")


# ------------------------------------------------------------------------------------- tools


async def tool_call_on_first_turn(
    fake: FakeUltravox, connect: Connect, **turn: Any
) -> tuple[Harness, ToolCall]:
    step = ToolStep("lookup_order", {"order_id": "A-17", "include_items": True})
    fake.script = Script(turns=[Turn("where is my order", tool=step, **turn)], playback_speed=50)
    harness = await connect(greeting="")
    await harness.speak("bill_problem.wav")
    return harness, await harness.until(ToolCall)


async def test_tool_invocation_round_trip(fake: FakeUltravox, connect: Connect) -> None:
    harness, tool_call = await tool_call_on_first_turn(fake, connect, reply="It ships tomorrow.")
    assert tool_call.name == "lookup_order"
    assert tool_call.arguments == {"order_id": "A-17", "include_items": True}
    await harness.engine.send_tool_result(tool_call.call_id, ToolResult('{"status": "shipped"}'))
    reply = await harness.until(Transcript)
    while not reply.final:
        reply = await harness.until(Transcript)
    assert reply.text == "It ships tomorrow."
    call = await joined_call(fake)
    assert call.tool_results[tool_call.call_id] == {
        "type": "client_tool_result",
        "invocationId": tool_call.call_id,
        "responseType": "tool-response",
        "result": '{"status": "shipped"}',
        "agentReaction": "speaks",
    }
    assert call.protocol_errors == [] and call.timed_out_invocations == []


async def test_tool_errors_reach_the_model_as_a_result(fake: FakeUltravox, connect: Connect) -> None:
    harness, tool_call = await tool_call_on_first_turn(fake, connect)
    await harness.engine.send_tool_result(tool_call.call_id, ToolResult("tool timed out", is_error=True))
    call = await joined_call(fake)
    await call.wait_until(lambda c: tool_call.call_id in c.tool_results)
    message = call.tool_results[tool_call.call_id]
    assert "errorType" not in message  # Ultravox hides errorMessage from the model
    assert json.loads(message["result"]) == {"error": "tool timed out"}
    # A second answer to the same invocation is dropped, not sent.
    await harness.engine.send_tool_result(tool_call.call_id, ToolResult("{}"))
    await harness.engine.send_caller_text("marker")
    await call.wait_until(lambda c: bool(c.messages_of("user_text_message")))
    assert len(call.messages_of("client_tool_result")) == 1


async def test_tool_result_can_open_a_new_stage(fake: FakeUltravox, connect: Connect) -> None:
    harness, tool_call = await tool_call_on_first_turn(fake, connect)
    result = ToolResult('{"verified": true}', new_stage=MAIN_STAGE, speak=False)
    await harness.engine.send_tool_result(tool_call.call_id, result)
    call = await joined_call(fake)
    await call.wait_until(lambda c: len(c.stages) == 1 and c.state == "listening")
    message = call.tool_results[tool_call.call_id]
    assert (message["responseType"], message["agentReaction"]) == ("new-stage", "listens")
    assert json.loads(message["result"]) == {
        "systemPrompt": "Help the verified caller.",
        "selectedTools": [
            {
                "temporaryTool": {
                    "modelToolName": "book_slot",
                    "description": "Book a slot.",
                    "client": {},
                    "timeout": "9s",
                }
            },
            {"toolName": "hangUp"},
            wire.stage_switch_tool(),
        ],
        "toolResultText": '{"verified": true}',
    }
    assert call.system_prompt == "Help the verified caller." and call.protocol_errors == []
    assert harness.engine.stage == MAIN_STAGE


async def test_switch_stage_outside_a_tool_answer(fake: FakeUltravox, connect: Connect) -> None:
    harness = await connect(greeting="")
    call = await joined_call(fake)
    await harness.engine.switch_stage(MAIN_STAGE)
    forced = call.messages_of("forced_agent_message")
    assert [c["name"] for c in forced[0]["toolCalls"]] == [wire.STAGE_SWITCH_TOOL]
    await call.wait_until(lambda c: len(c.stages) == 1)  # sent by the engine, now applied
    assert call.stages[-1]["systemPrompt"] == "Help the verified caller."
    assert call.tool_results[call.invocations[0]["invocationId"]]["agentReaction"] == "listens"
    assert harness.engine.stage == MAIN_STAGE and call.protocol_errors == []
    # The internal tool call never reaches the session as a ToolCall.
    await call.say("Anything else?")
    await harness.until(AgentAudioDone)
    assert not any(isinstance(e, ToolCall) for e in harness.seen)


async def test_switch_stage_times_out_when_ultravox_does_not_respond(
    fake: FakeUltravox, connect: Connect
) -> None:
    harness = await connect(greeting="", extra={"ping_interval_s": 0, "stage_switch_timeout_s": 0.2})
    (await joined_call(fake)).stall()
    with pytest.raises(EngineError, match="stage switch"):
        await harness.engine.switch_stage(MAIN_STAGE)


# ------------------------------------------------------------------------------- barge-in


async def test_barge_in_reports_caller_speech_and_ends_the_utterance(
    fake: FakeUltravox, connect: Connect
) -> None:
    long_greeting = " ".join(["Thanks for calling Acme, where every call matters to us."] * 6)
    fake.script = Script(turns=[Turn("can I speak to a human", reply="Sure.")], playback_speed=1)
    harness = await connect(greeting=long_greeting)
    first = await harness.until(AgentAudio)
    await harness.speak("ask_human.wav")
    assert isinstance(await harness.until(CallerSpeechStarted), CallerSpeechStarted)
    done = await harness.until(AgentAudioDone)
    assert done.item_id == first.item_id
    cut = await harness.until(Transcript)
    while cut.speaker != "agent" or not cut.final:
        cut = await harness.until(Transcript)
    assert len(cut.text) < len(long_greeting)  # Ultravox keeps only what the caller heard
    await harness.until(CallerTurnEnded)
    reply_audio = await harness.until(AgentAudio)
    assert reply_audio.item_id != first.item_id
    assert (await joined_call(fake)).interruptions == 1
    await harness.engine.playback_interrupted(first.item_id, 400)  # documented no-op: nothing sent


# --------------------------------------------------------------------------- how calls end


async def test_agent_hang_up_is_engine_hang_up(fake: FakeUltravox, connect: Connect) -> None:
    fake.script = Script(
        turns=[Turn("no thank you goodbye", reply="Goodbye!", hang_up=True)], playback_speed=50
    )
    harness = await connect(greeting="")
    await harness.speak("goodbye.wav")
    assert await harness.until(EngineHangUp) == EngineHangUp(reason="agent_hangup")
    assert await harness.ended()
    assert (await joined_call(fake)).end_reason == "agent_hangup"


async def test_dropped_socket_is_engine_failure(fake: FakeUltravox, connect: Connect) -> None:
    fake.script = Script(turns=[Turn("hello", action="drop")], playback_speed=50)
    harness = await connect(greeting="")
    await harness.speak("my_name.wav")
    failure = await harness.until(EngineFailure)
    assert "1006" in failure.message
    assert await harness.ended()
    await harness.engine.send_audio(SILENCE_FRAME)  # after the end: ignored, no exception


async def test_server_going_away_is_engine_failure(fake: FakeUltravox, connect: Connect) -> None:
    harness = await connect(greeting="")
    await joined_call(fake)
    await fake.stop()
    failure = await harness.until(EngineFailure)
    assert "1001" in failure.message


async def test_stalled_ultravox_is_detected_by_ping(fake: FakeUltravox, connect: Connect) -> None:
    fake.script = Script(turns=[Turn("hello", action="stall")], playback_speed=50)
    harness = await connect(greeting="", extra={"ping_interval_s": 0.05, "pong_timeout_s": 0.1})
    call = await joined_call(fake)
    await call.wait_until(lambda c: len(c.messages_of("ping")) >= 2)  # answered while healthy
    await harness.speak("my_name.wav")
    failure = await harness.until(EngineFailure)
    assert "stopped responding" in failure.message
    assert await harness.ended()
    await call.ended.wait()  # the engine closed the stalled call


async def test_ping_without_pong_support_does_not_fail_the_call(fake: FakeUltravox, connect: Connect) -> None:
    fake.script = Script(answer_pings=False, playback_speed=50)
    harness = await connect(greeting="", extra={"ping_interval_s": 0.02, "pong_timeout_s": 0.02})
    call = await joined_call(fake)
    await call.wait_until(lambda c: len(c.messages_of("ping")) >= 5)  # well past the deadline
    await call.say("Still here.")
    await harness.until(AgentAudioDone)
    assert not any(isinstance(e, EngineFailure) for e in harness.seen)


# ------------------------------------------------------------------------------ robustness


async def test_hostile_and_unknown_messages_do_not_crash(
    fake: FakeUltravox, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calls.bridge.engines.ultravox")
    harness = await connect(greeting="")
    call = await joined_call(fake)
    for raw in (
        "{not json",
        "[1, 2]",
        '{"type": 7}',
        '{"type": "user_started_speaking_v9", "data": {}}',
        '{"type": "transcript", "role": "agent"}',
        '{"type": "transcript", "role": "robot", "ordinal": 1, "final": true, "text": "x"}',
        '{"type": "transcript", "role": "agent", "ordinal": "1", "final": true, "text": "x"}',
        '{"type": "state", "state": 5}',
        '{"type": "client_tool_invocation", "toolName": "lookup_order"}',
        '{"type": "client_tool_invocation", "toolName": "lookup_order", "invocationId": "i1", '
        '"parameters": [1]}',
        '{"type": "pong"}',
        '{"type": "debug", "message": "hello"}',
        '{"type": "transcript", "role": "agent", "ordinal": 9, "final": true, "text": "still here"}',
    ):
        await call.send_raw(raw)
    tool_call = await harness.until(ToolCall)
    assert tool_call == ToolCall(call_id="i1", name="lookup_order", arguments={})
    last = await harness.until(Transcript)
    assert (last.text, last.final, last.ordinal) == ("still here", True, 9)
    assert not any(isinstance(e, EngineFailure | Transcript) for e in harness.seen[:-1])
    assert "malformed JSON" in caplog.text and "user_started_speaking_v9" in caplog.text


# ---------------------------------------------------------------------------------- shutdown


def engine_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("ultravox-")}


async def test_close_is_idempotent_and_leaves_no_task_or_socket(fake: FakeUltravox) -> None:
    before = engine_tasks()
    engine = UltravoxEngine(make_settings(fake, extra={"ping_interval_s": 1.0}))
    await engine.connect(VERIFY_STAGE)
    harness = Harness(engine)
    await harness.until(AgentAudio)
    assert len(engine_tasks() - before) == 2  # reader + heartbeat: the check can see them
    await engine.close()
    await engine.close()
    assert engine_tasks() == before
    assert await harness.ended()  # events() stops after close()
    call = await joined_call(fake)
    await call.ended.wait()
    assert call.end_reason == "hangup"  # closing the socket ended the Ultravox call
    with pytest.raises(EngineError):
        await engine.connect(VERIFY_STAGE)
    await harness.stream.aclose()
