"""OpenAIRealtimeEngine against the fake Realtime server (tests/fakes/openai_realtime).

The fake is ours; the wire schema is not: ``test_every_client_event_matches_the_official_schema``
checks every message the engine sent against the official ``openai`` event models.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from openai import BaseModel as OpenAIBaseModel
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import TypeAdapter

from calls.bridge.config import EngineSettings, StageSpec, ToolSpec
from calls.bridge.engines.base import EngineError, ToolResult
from calls.bridge.engines.openai_realtime import OpenAIRealtimeEngine, RealtimeOptions
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineFailure,
    EngineMetric,
    EngineUsage,
    ToolCall,
    Transcript,
)
from tests.audio import AUDIO_DIR
from tests.fakes.openai_realtime import FakeOpenAIRealtime, FakeToolCall, FakeTurn
from tests.fakes.openai_realtime.harness import (
    MULAW_SILENCE_FRAME,
    EngineEventLog,
    feed_utterance,
    read_mulaw_wav,
)

SILENCE = MULAW_SILENCE_FRAME

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Look up an order by its id.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
BOOK = ToolSpec(
    name="book_slot",
    description="Book an appointment slot.",
    parameters={"type": "object", "properties": {"when": {"type": "string"}}, "required": ["when"]},
)
MAIN = StageSpec(
    name="main", system_prompt="You are the Acme Plumbing phone desk. Be brief.", tools=(LOOKUP,)
)
VERIFIED = StageSpec(name="main", system_prompt="The caller is verified. Help them book.", tools=(BOOK,))

# ------------------------------------------------------------------------------------ helpers


async def speak(engine: OpenAIRealtimeEngine, wav: str, silence_ms: int = 1000) -> bytes:
    return await feed_utterance(engine, read_mulaw_wav(AUDIO_DIR / wav), silence_ms)


def agent_final(text: str | None = None) -> Callable[[EngineEvent], bool]:
    return lambda e: (
        isinstance(e, Transcript) and e.speaker == "agent" and e.final and (text is None or text in e.text)
    )


def caller_final(e: EngineEvent) -> bool:
    return isinstance(e, Transcript) and e.speaker == "caller" and e.final


def settings_for(fake: FakeOpenAIRealtime, **overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {
        "kind": "openai_realtime",
        "api_key": fake.api_key,
        "base_url": fake.url,
        "model": "gpt-realtime",
        "voice": "marin",
        "language": "en-US",
        "turn_endpoint_delay_ms": 500,
    }
    values.update(overrides)
    return EngineSettings(**values)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIRealtime]:
    async with FakeOpenAIRealtime() as server:
        yield server


@pytest.fixture
async def call(fake: FakeOpenAIRealtime) -> AsyncIterator[Callable[..., Any]]:
    """``await call(**settings_overrides)`` -> (engine, log), connected; torn down after the test."""
    opened: list[tuple[OpenAIRealtimeEngine, EngineEventLog]] = []

    async def open_call(
        stage: StageSpec = MAIN, **overrides: Any
    ) -> tuple[OpenAIRealtimeEngine, EngineEventLog]:
        engine = OpenAIRealtimeEngine(settings_for(fake, **overrides))
        await engine.connect(stage)
        log = EngineEventLog(engine)
        opened.append((engine, log))
        return engine, log

    yield open_call
    for engine, log in opened:
        await engine.close()
        await log.aclose()


def errors_sent(fake: FakeOpenAIRealtime) -> list[dict[str, Any]]:
    return [event["error"] for event in fake.sent if event["type"] == "error"]


def received(fake: FakeOpenAIRealtime, kind: str) -> list[dict[str, Any]]:
    return [event for event in fake.received if event.get("type") == kind]


# ------------------------------------------------------------------------------ session set-up


async def test_session_update_is_ga_pcmu_both_ways_with_stage_prompt_and_tools(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    await call()

    connection = fake.connections[0]
    assert connection.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert "OpenAI-Beta" not in connection.headers  # GA protocol
    assert connection.model == "gpt-realtime"
    assert "Sec-WebSocket-Extensions" not in connection.headers  # no permessage-deflate: CPU
    update = fake.received[0]
    assert update["type"] == "session.update"
    session = update["session"]
    assert session["type"] == "realtime"
    assert session["instructions"] == MAIN.system_prompt
    assert session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "marin"}
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe", "language": "en"}
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }
    assert session["tools"] == [
        {
            "type": "function",
            "name": LOOKUP.name,
            "description": LOOKUP.description,
            "parameters": LOOKUP.parameters,
        }
    ]
    assert session["tool_choice"] == "auto"
    assert "temperature" not in session  # not a GA session field: the server would refuse it
    # The fake applied it: the effective session is mu-law both ways, and nothing was refused.
    assert connection.config.input_format == connection.config.output_format == "audio/pcmu"
    assert errors_sent(fake) == []


async def test_semantic_vad_and_transcription_model_come_from_extra(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    await call(
        extra={
            "turn_detection": "semantic_vad",
            "eagerness": "high",
            "transcription_model": "gpt-4o-transcribe",
        }
    )

    audio_in = received(fake, "session.update")[0]["session"]["audio"]["input"]
    assert audio_in["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    assert audio_in["transcription"]["model"] == "gpt-4o-transcribe"
    assert errors_sent(fake) == []


async def test_wrong_api_key_is_refused_without_leaking_the_key(fake: FakeOpenAIRealtime) -> None:
    engine = OpenAIRealtimeEngine(settings_for(fake, api_key="sk-wrong-secret-123"))
    with pytest.raises(EngineError) as info:
        await engine.connect(MAIN)
    assert "401" in str(info.value)
    assert "sk-wrong-secret-123" not in str(info.value)
    await engine.close()


async def test_a_server_that_never_opens_the_session_fails_connect(fake: FakeOpenAIRealtime) -> None:
    fake.stall()
    engine = OpenAIRealtimeEngine(settings_for(fake, extra={"connect_timeout_s": 0.3}))
    with pytest.raises(EngineError, match="in time"):
        await engine.connect(MAIN)
    await engine.close()
    assert fake.received == []  # it never got as far as configuring the session


def test_malformed_settings_fail_before_the_call() -> None:
    with pytest.raises(EngineError, match="vad_threshold"):
        OpenAIRealtimeEngine(
            EngineSettings(kind="openai_realtime", base_url="ws://127.0.0.1:1/x", extra={"vad_threshold": 3})
        )
    with pytest.raises(EngineError, match="base_url"):
        OpenAIRealtimeEngine(EngineSettings(kind="openai_realtime"))
    options = RealtimeOptions.from_settings(
        EngineSettings(
            kind="openai_realtime",
            base_url="wss://gw.example/v1/realtime?tenant=7",
            model="gpt-realtime-mini",
        )
    )
    assert options.url == "wss://gw.example/v1/realtime?tenant=7&model=gpt-realtime-mini"


# ------------------------------------------------------------------------------ conversation


async def test_greeting_is_spoken_verbatim_first(fake: FakeOpenAIRealtime, call: Callable[..., Any]) -> None:
    greeting = "Thanks for calling Acme Plumbing, how can I help?"
    engine, log = await call(greeting=greeting)

    spoken = await log.wait_for(agent_final())
    assert isinstance(spoken, Transcript)
    assert spoken.text == greeting and spoken.ordinal == 0
    assert sum(len(e.mulaw) for e in log.of(AgentAudio)) > 0
    create = received(fake, "response.create")[0]["response"]
    assert greeting in create["instructions"] and create["tool_choice"] == "none"
    assert received(fake, "conversation.item.create") == []  # nothing for the model to answer


async def test_caller_turn_from_real_audio_keeps_conversation_order(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(FakeTurn(transcript="what are your opening hours", reply="We are open from nine to five."))
    engine, log = await call()

    fed = await speak(engine, "opening_hours.wav")
    agent = await log.wait_for(agent_final())
    caller = await log.wait_for(caller_final)
    await log.wait_for(lambda e: isinstance(e, AgentAudioDone))

    assert isinstance(agent, Transcript) and isinstance(caller, Transcript)
    assert caller.text == "what are your opening hours"
    assert agent.text == "We are open from nine to five."
    started = log.index(lambda e: isinstance(e, CallerSpeechStarted))
    ended = log.index(lambda e: isinstance(e, CallerTurnEnded))
    first_audio = log.index(lambda e: isinstance(e, AgentAudio))
    assert started < ended < first_audio
    # The transcription arrived after the reply began, yet the caller's line comes first.
    assert log.index(caller_final) > first_audio
    assert caller.ordinal < agent.ordinal
    # Mu-law passthrough: the server got exactly the caller's bytes, and we play its bytes as is.
    appended = b"".join(base64.b64decode(e["audio"]) for e in received(fake, "input_audio_buffer.append"))
    assert appended == fed
    audio = log.of(AgentAudio)
    assert {a.item_id for a in audio} == {log.of(AgentAudioDone)[0].item_id}
    assert sum(len(a.mulaw) for a in audio) == fake.connections[0].item_audio_ms[audio[0].item_id] * 8
    assert [m.name for m in log.of(EngineMetric)] == ["tts_first_audio", "llm_first_token"]


async def test_tool_call_round_trip(fake: FakeOpenAIRealtime, call: Callable[..., Any]) -> None:
    fake.add_turns(
        FakeTurn(
            transcript="where is my order",
            tool_call=FakeToolCall("lookup_order", {"order_id": "A17"}, reply="Your order is {output}."),
        )
    )
    engine, log = await call()

    await speak(engine, "delivery_address.wav")
    tool_call = await log.wait_for(lambda e: isinstance(e, ToolCall))
    assert isinstance(tool_call, ToolCall)
    assert tool_call.name == "lookup_order"
    assert isinstance(tool_call.arguments, str) and json.loads(tool_call.arguments) == {"order_id": "A17"}

    await engine.send_tool_result(tool_call.call_id, ToolResult(output="shipped"))
    reply = await log.wait_for(agent_final("shipped"))
    assert isinstance(reply, Transcript) and reply.text == "Your order is shipped."
    output = received(fake, "conversation.item.create")[-1]["item"]
    assert output.pop("id")  # our own id: its conversation.item.added tells us the server has it
    assert output == {"type": "function_call_output", "call_id": tool_call.call_id, "output": "shipped"}
    kinds = fake.received_types()
    assert kinds.index("conversation.item.create") < kinds.index("response.create")
    assert errors_sent(fake) == []


async def test_tool_result_before_response_done_waits_for_it(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    """A fast tool answers while the tool-call response is still open; asking for the next
    response then would be refused and the caller would hear nothing."""
    fake.add_turns(
        FakeTurn(tool_call=FakeToolCall("lookup_order", {"order_id": "B2"}, reply="It is {output}."))
    )
    fake.stall_after("response.function_call_arguments.done")
    engine, log = await call()

    await speak(engine, "bill_problem.wav")
    tool_call = await log.wait_for(lambda e: isinstance(e, ToolCall))
    assert isinstance(tool_call, ToolCall)
    await engine.send_tool_result(tool_call.call_id, ToolResult(output="on its way"))
    await fake.wait_for("conversation.item.create")
    fake.resume()

    await log.wait_for(agent_final("on its way"))
    assert len(received(fake, "response.create")) == 1
    assert errors_sent(fake) == []


async def test_reply_requested_while_the_server_starts_one_is_not_lost(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    """Caller audio ends a turn (the server starts a response) while the session adds text and
    asks for a reply: the server refuses ours; the engine asks again when its response is over,
    because that response began before our item was in the conversation."""
    fake.add_turns(FakeTurn(transcript="hi", reply="Hello there."), FakeTurn(reply="You pressed one."))
    fake.stall_after("input_audio_buffer.committed")
    engine, log = await call()

    await speak(engine, "greeting_reply_yes.wav")
    await log.wait_for(lambda e: isinstance(e, CallerTurnEnded))
    await engine.send_caller_text("The caller pressed 1")
    await fake.wait_for("response.create")
    fake.resume()

    await log.wait_for(agent_final("You pressed one."))
    assert [e["code"] for e in errors_sent(fake)] == ["conversation_already_has_active_response"]
    assert len(received(fake, "response.create")) == 2


async def test_new_stage_updates_session_before_the_reply(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(
        FakeTurn(tool_call=FakeToolCall("lookup_order", {"order_id": "C3"}, reply="Verified: {output}"))
    )
    engine, log = await call()

    await speak(engine, "my_name.wav")
    tool_call = await log.wait_for(lambda e: isinstance(e, ToolCall))
    assert isinstance(tool_call, ToolCall)
    await engine.send_tool_result(
        tool_call.call_id, ToolResult(output='{"verified":true}', new_stage=VERIFIED)
    )
    await log.wait_for(agent_final("Verified"))

    kinds = fake.received_types()
    stage_update = max(i for i, kind in enumerate(kinds) if kind == "session.update")
    assert 0 < stage_update < kinds.index("conversation.item.create") < kinds.index("response.create")
    session = fake.received[stage_update]["session"]
    assert session["instructions"] == VERIFIED.system_prompt
    assert [tool["name"] for tool in session["tools"]] == ["book_slot"]
    assert [tool["name"] for tool in fake.connections[0].config.tools] == ["book_slot"]
    assert errors_sent(fake) == []


async def test_tool_result_with_speak_false_does_not_ask_for_a_reply(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(FakeTurn(tool_call=FakeToolCall("lookup_order", {"order_id": "D4"})))
    engine, log = await call()

    await speak(engine, "pin_digits.wav")
    tool_call = await log.wait_for(lambda e: isinstance(e, ToolCall))
    assert isinstance(tool_call, ToolCall)
    await engine.send_tool_result(tool_call.call_id, ToolResult(output="noted", speak=False))
    await engine.send_caller_text("The caller pressed 4")  # a later message still gets its reply
    await fake.wait_for("response.create")
    kinds = fake.received_types()
    assert kinds.count("response.create") == 1
    assert kinds.index("response.create") > kinds.index(
        "conversation.item.create", kinds.index("conversation.item.create") + 1
    )


async def test_switch_stage_waits_for_the_server_and_reports_refusal(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    engine, _ = await call()

    await engine.switch_stage(VERIFIED)
    assert fake.connections[0].config.instructions == VERIFIED.system_prompt

    bad = StageSpec(
        name="main", system_prompt="x", tools=(ToolSpec("has spaces!", "bad", {"type": "object"}),)
    )
    with pytest.raises(EngineError, match="refused"):
        await engine.switch_stage(bad)
    assert fake.connections[0].config.instructions == VERIFIED.system_prompt


# ------------------------------------------------------------------------------ barge-in


async def test_barge_in_cancels_only_an_active_response_and_truncates_to_received_audio(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    long_reply = "Our plumbers cover the whole city and the suburbs, seven days a week, day and night."
    fake.add_turns(FakeTurn(transcript="tell me about your service", reply=long_reply, hold_after_ms=600))
    engine, log = await call()

    await speak(engine, "service_cost.wav")
    await log.wait_for(lambda e: sum(len(a.mulaw) for a in log.of(AgentAudio)) >= 600 * 8)
    item_id = log.of(AgentAudio)[0].item_id

    # The caller "heard" more than was generated (clock skew): the truncation is clamped.
    await engine.playback_interrupted(item_id, heard_ms=5000)
    truncated = await fake.wait_for("conversation.item.truncated", direction="sent")
    cancel = received(fake, "response.cancel")
    assert len(cancel) == 1 and cancel[0]["response_id"].startswith("resp_")
    assert received(fake, "conversation.item.truncate")[0]["audio_end_ms"] == 600 == truncated["audio_end_ms"]
    done = await fake.wait_for(
        "response.done", direction="sent", where=lambda e: e["response"]["status"] != "completed"
    )
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    await log.wait_for(lambda e: isinstance(e, AgentAudioDone))

    # Audio of the interrupted item still in flight must never reach the caller.
    heard, turns_ended = len(log.of(AgentAudio)), len(log.of(CallerTurnEnded))
    stale = base64.b64encode(b"\x00" * 800).decode()
    late = {
        "response_id": cancel[0]["response_id"],
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
    }
    fake.inject({"type": "response.output_audio.delta", "event_id": "ev_late", **late, "delta": stale})
    fake.inject(
        {"type": "input_audio_buffer.speech_stopped", "event_id": "ev_m", "audio_end_ms": 1, "item_id": "x"}
    )
    await log.wait_for(lambda e: len(log.of(CallerTurnEnded)) > turns_ended)
    assert len(log.of(AgentAudio)) == heard

    # Nothing active any more: a second interruption truncates but sends no cancel.
    await engine.playback_interrupted(item_id, heard_ms=200)
    await fake.wait_for("conversation.item.truncated", direction="sent", count=2)
    assert len(received(fake, "response.cancel")) == 1
    assert received(fake, "conversation.item.truncate")[1]["audio_end_ms"] == 200
    assert errors_sent(fake) == []


async def test_caller_speech_interrupts_the_agent_server_side(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(
        FakeTurn(
            transcript="hi",
            reply="Let me tell you all about our many excellent offers today.",
            hold_after_ms=300,
        ),
        FakeTurn(transcript="goodbye", reply="Goodbye!"),
    )
    engine, log = await call()

    await speak(engine, "greeting_reply_yes.wav")
    await log.wait_for(lambda e: isinstance(e, AgentAudio))
    await speak(engine, "goodbye.wav")  # talks over the agent

    await log.wait_for(agent_final("Goodbye!"))
    assert len(log.of(CallerSpeechStarted)) == 2
    done = [e for e in fake.sent if e["type"] == "response.done"]
    assert done[0]["response"]["status_details"]["reason"] == "turn_detected"
    finals = sorted((t for t in log.of(Transcript) if t.final), key=lambda t: t.ordinal)
    assert [(t.speaker, t.text) for t in finals][::2] == [("caller", "hi"), ("caller", "goodbye")]
    assert [t.speaker for t in finals] == ["caller", "agent", "caller", "agent"]
    cut = finals[1].text  # what the agent had said when the caller talked over it
    assert cut and "Let me tell you all about our many excellent offers today.".startswith(cut)
    assert cut != "Let me tell you all about our many excellent offers today."


async def test_caller_text_cancels_the_active_response_first(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(
        FakeTurn(reply="Please hold while I read you the full list of options.", hold_after_ms=200),
        FakeTurn(reply="You pressed four."),
    )
    engine, log = await call()
    await speak(engine, "ask_human.wav")
    await log.wait_for(lambda e: isinstance(e, AgentAudio))

    await engine.send_caller_text("The caller pressed 4")
    await log.wait_for(agent_final("You pressed four."))
    kinds = fake.received_types()
    assert (
        kinds.index("response.cancel")
        < kinds.index("conversation.item.create")
        < kinds.index("response.create")
    )
    text_item = received(fake, "conversation.item.create")[0]["item"]
    assert text_item["content"] == [{"type": "input_text", "text": "The caller pressed 4"}]
    assert errors_sent(fake) == []


# ------------------------------------------------------------------------------ accounting


async def test_usage_is_reported_from_response_done_and_transcription(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(FakeTurn(transcript="how much does it cost", reply="Forty dollars an hour."))
    engine, log = await call()
    await speak(engine, "service_cost.wav")
    await log.wait_for(lambda e: isinstance(e, EngineUsage) and "output_tokens" in e.figures)
    await log.wait_for(lambda e: isinstance(e, EngineUsage) and "transcription_input_tokens" in e.figures)

    usage = next(e["response"]["usage"] for e in fake.sent if e["type"] == "response.done")
    figures = next(e.figures for e in log.of(EngineUsage) if "output_tokens" in e.figures)
    assert figures["input_tokens"] == usage["input_tokens"]
    assert figures["output_tokens"] == usage["output_tokens"]
    assert figures["input_audio_tokens"] == usage["input_token_details"]["audio_tokens"]
    assert figures["input_text_tokens"] == usage["input_token_details"]["text_tokens"]
    assert figures["output_audio_tokens"] == usage["output_token_details"]["audio_tokens"] > 0


# ------------------------------------------------------------------------------ failures


async def test_socket_drop_becomes_engine_failure(fake: FakeOpenAIRealtime, call: Callable[..., Any]) -> None:
    engine, log = await call()
    await fake.drop()

    failure = await log.wait_for(lambda e: isinstance(e, EngineFailure))
    assert isinstance(failure, EngineFailure) and "connection" in failure.message
    await log.wait_end()
    await engine.send_audio(SILENCE)  # the pumps may still push audio: no exception
    await engine.playback_interrupted(None, 100)


async def test_server_close_becomes_engine_failure(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    engine, log = await call()
    await fake.close_connections(code=1011, message="internal error")

    failure = await log.wait_for(lambda e: isinstance(e, EngineFailure))
    assert isinstance(failure, EngineFailure) and "1011" in failure.message
    await log.wait_end()


async def test_fatal_error_event_becomes_engine_failure(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    engine, log = await call()
    fake.inject(
        {
            "type": "error",
            "event_id": "e1",
            "error": {
                "type": "invalid_request_error",
                "code": "session_expired",
                "message": "Your session hit the maximum duration of 60 minutes.",
            },
        }
    )

    failure = await log.wait_for(lambda e: isinstance(e, EngineFailure))
    assert isinstance(failure, EngineFailure) and "session_expired" in failure.message


async def test_malformed_and_benign_messages_do_not_end_the_call(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(FakeTurn(transcript="hello", reply="Still here."))
    engine, log = await call()
    for junk in (
        "this is not json",
        "[1, 2, 3]",
        {"no": "type"},
        {"type": "response.output_audio.delta"},
        {"type": "response.output_audio.delta", "item_id": "item_x", "delta": "%%%not-base64%%%"},
        {"type": "response.done", "response": None},
        {"type": "response.created", "response": {}},
        {"type": "conversation.item.input_audio_transcription.completed"},
        {"type": "some.future_event", "payload": 1},
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": "response_cancel_not_active", "message": "x"},
        },
        {"type": "error", "error": None},
    ):
        fake.inject(junk)
    await engine.playback_interrupted("item_never_seen", 100)

    await speak(engine, "goodbye.wav")
    await log.wait_for(agent_final("Still here."))
    assert log.of(EngineFailure) == []


async def test_close_is_idempotent_and_leaves_no_task(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    engine, log = await call(greeting="Hello there.")
    await log.wait_for(agent_final())
    await engine.close()
    await engine.close()

    await log.wait_end()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("openai-realtime") and not t.done()]
    await engine.send_audio(SILENCE)
    await engine.send_tool_result("call_x", ToolResult(output="{}"))
    with pytest.raises(EngineError):
        await engine.connect(MAIN)


# ------------------------------------------------------------------------------ official schema


def _assert_no_unknown_fields(model: Any, path: str = "event") -> None:
    """The openai models accept unknown keys (extra='allow'); a typo would pass validation, so
    walk the parsed tree and refuse any field the official schema does not declare."""
    if isinstance(model, OpenAIBaseModel):
        assert not model.model_extra, (
            f"{path}: fields unknown to the official schema: {sorted(model.model_extra)}"
        )
        for name in type(model).model_fields:
            _assert_no_unknown_fields(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list | tuple):
        for index, value in enumerate(model):
            _assert_no_unknown_fields(value, f"{path}[{index}]")


async def test_every_client_event_matches_the_official_schema(
    fake: FakeOpenAIRealtime, call: Callable[..., Any]
) -> None:
    fake.add_turns(
        FakeTurn(
            transcript="check order",
            tool_call=FakeToolCall("lookup_order", {"order_id": "Z9"}, reply="{output}"),
        ),
        FakeTurn(
            transcript="and then",
            reply="A long answer that the caller will interrupt halfway.",
            hold_after_ms=300,
        ),
        FakeTurn(reply="Pressed."),
    )
    engine, log = await call(greeting="Welcome to Acme.")
    await log.wait_for(agent_final("Welcome"))
    await speak(engine, "account_digits.wav")
    tool_call = await log.wait_for(lambda e: isinstance(e, ToolCall))
    assert isinstance(tool_call, ToolCall)
    await engine.send_tool_result(
        tool_call.call_id, ToolResult(output='{"status":"late"}', new_stage=VERIFIED)
    )
    await log.wait_for(agent_final("late"))
    await speak(engine, "call_back.wav")
    await log.wait_for(
        lambda e: isinstance(e, AgentAudio) and e.item_id not in {t.item_id for t in log.of(AgentAudioDone)}
    )
    audio_item = log.of(AgentAudio)[-1].item_id
    await engine.playback_interrupted(audio_item, 120)
    await engine.send_caller_text("The caller pressed 9")
    await log.wait_for(agent_final("Pressed."))
    await engine.switch_stage(MAIN)

    adapter: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)
    kinds = set()
    for event in fake.received:
        parsed = adapter.validate_python(event)
        assert parsed.type == event["type"]
        _assert_no_unknown_fields(parsed)
        kinds.add(event["type"])
    assert kinds >= {
        "session.update",
        "input_audio_buffer.append",
        "conversation.item.create",
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
    }
    assert errors_sent(fake) == []

    # And the fake's side of the same call matches the official server-event models.
    server_adapter: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
    for event in fake.sent:
        assert server_adapter.validate_python(event).type == event["type"]


# ------------------------------------------------------------------------------ the fake itself


async def _raw_client(fake: FakeOpenAIRealtime, beta: bool) -> Any:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    return await websockets.connect(
        f"{fake.url}?model=gpt-realtime", additional_headers=headers, compression=None
    )


async def _until(ws: Any, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while not seen or seen[-1]["type"] != kind:
            seen.append(json.loads(await ws.recv()))
    return seen


async def test_fake_refuses_what_the_real_api_refuses(fake: FakeOpenAIRealtime) -> None:
    async with await _raw_client(fake, beta=False) as ws:
        await _until(ws, "session.created")
        bad = [
            {"type": "realtime", "temperature": 0.8},
            {"type": "realtime", "audio": {"input": {"format": {"type": "g711_ulaw"}}}},
            {"type": "realtime", "audio": {"output": {"voice": "nobody"}}},
            {"instructions": "no type"},
        ]
        for session in bad:
            await ws.send(json.dumps({"type": "session.update", "event_id": "c1", "session": session}))
            error = (await _until(ws, "error"))[-1]["error"]
            assert error["event_id"] == "c1" and error["code"] in {
                "unknown_parameter",
                "invalid_value",
                "missing_required_parameter",
            }
        await ws.send(json.dumps({"type": "response.cancel"}))
        assert (await _until(ws, "error"))[-1]["error"]["code"] == "response_cancel_not_active"
        await ws.send(
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "hi"}],
                    },
                }
            )
        )
        user_item = (await _until(ws, "conversation.item.added"))[-1]["item"]["id"]
        await ws.send(
            json.dumps(
                {
                    "type": "conversation.item.truncate",
                    "item_id": user_item,
                    "content_index": 0,
                    "audio_end_ms": 0,
                }
            )
        )
        assert (await _until(ws, "error"))[-1]["error"]["code"] == "invalid_value"


async def test_fake_uses_beta_names_for_beta_clients(fake: FakeOpenAIRealtime) -> None:
    fake.add_turns(FakeTurn(tool_call=FakeToolCall("lookup_order", {"order_id": "E5"})))
    async with await _raw_client(fake, beta=True) as ws:
        created = (await _until(ws, "session.created"))[-1]["session"]
        assert created["input_audio_format"] == "pcm16" and "audio" not in created
        update = {
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_ulaw",
            "instructions": 'Say exactly "Hi there."',
        }
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        assert (await _until(ws, "session.updated"))[-1]["session"]["output_audio_format"] == "g711_ulaw"
        await ws.send(json.dumps({"type": "response.create"}))
        kinds = [event["type"] for event in await _until(ws, "response.done")]
        assert "response.audio.delta" in kinds and "response.audio_transcript.done" in kinds
        assert "conversation.item.created" in kinds
        assert not [kind for kind in kinds if "output_audio" in kind or kind == "conversation.item.added"]

        await ws.send(
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "order?"}],
                    },
                }
            )
        )
        await ws.send(json.dumps({"type": "response.create"}))
        events = await _until(ws, "response.done")
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert "name" not in done  # beta: the name only comes with response.output_item.added
        added = next(e for e in events if e["type"] == "response.output_item.added")
        assert added["item"]["name"] == "lookup_order" and json.loads(done["arguments"]) == {"order_id": "E5"}


async def test_fake_can_run_without_recording_audio_for_benchmarks() -> None:
    async with FakeOpenAIRealtime(turns=[FakeTurn("hi", reply="Hello.")], record_audio=False) as fake:
        engine = OpenAIRealtimeEngine(settings_for(fake))
        await engine.connect(MAIN)
        log = EngineEventLog(engine)
        try:
            fed = await speak(engine, "greeting_reply_yes.wav")
            await log.wait_for(agent_final("Hello."))
            assert fake.connections[0].appended_bytes == len(fed)
            assert "input_audio_buffer.append" not in fake.received_types()
            assert not [e for e in fake.sent if e["type"].endswith("audio.delta")]
            assert log.of(AgentAudio)  # the audio itself still flows
        finally:
            await engine.close()
            await log.aclose()
