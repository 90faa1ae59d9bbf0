"""The offline engine end to end: real caller audio in 20 ms frames -> VAD + PocketSphinx ->
DialoguePolicy -> tool call -> result -> eSpeak answer, through ``PipelineEngine``."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from calls.bridge.audio import ulaw_to_pcm16
from calls.bridge.config import EngineSettings, StageSpec, ToolSpec
from calls.bridge.engines.base import EngineError, ToolResult
from calls.bridge.engines.local import build_local_engine
from calls.bridge.engines.pipeline.engine import PipelineEngine
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineMetric,
    ToolCall,
    Transcript,
)
from tests.fakes.pipeline_parts import frames, speech_fixture

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

KB = ToolSpec(
    "query_knowledge_base",
    "Search the business's documents.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
MAIN = StageSpec("main", "You are the front desk of Acme.", (KB,))


E = TypeVar("E")


async def next_of(events: AsyncIterator[EngineEvent], kind: type[E], seen: list[EngineEvent]) -> E:
    async with asyncio.timeout(15):
        async for event in events:
            seen.append(event)
            if isinstance(event, kind):
                return event
    raise AssertionError(f"events ended before a {kind.__name__}")


async def test_a_caller_question_is_answered_from_the_knowledge_base() -> None:
    before = asyncio.all_tasks()
    engine = build_local_engine(EngineSettings(kind="local", greeting="Hello, Acme here."))
    assert isinstance(engine, PipelineEngine) and engine.name == "local"
    await engine.connect(MAIN)
    events = engine.events()
    seen: list[EngineEvent] = []
    greeting_done = await next_of(events, AgentAudioDone, seen)
    assert any(isinstance(e, AgentAudio) and e.item_id == greeting_done.item_id for e in seen)

    for frame in frames(speech_fixture("opening_hours.wav").mulaw + b"\xff" * 8000):
        await engine.send_audio(frame)  # as the session forwards Twilio's 20 ms frames
    call = await next_of(events, ToolCall, seen)
    caller = [e for e in seen if isinstance(e, Transcript) and e.speaker == "caller" and e.final]
    assert caller and "opening hours" in caller[0].text
    assert any(isinstance(e, CallerSpeechStarted) for e in seen)
    assert any(isinstance(e, CallerTurnEnded) for e in seen)
    assert isinstance(call, ToolCall) and call.name == "query_knowledge_base"
    assert isinstance(call.arguments, str)  # JSON text, as a model produces it
    assert "opening hours" in json.loads(call.arguments)["query"]

    passages = {
        "results": [{"text": "We are open from nine to five, Monday to Friday. Weekends are closed."}]
    }
    await engine.send_tool_result(call.call_id, ToolResult(json.dumps(passages)))
    done = await next_of(events, AgentAudioDone, seen)
    answer = b"".join(e.mulaw for e in seen if isinstance(e, AgentAudio) and e.item_id == done.item_id)
    assert len(answer) / 8000 > 3.0  # the passage (two sentences) and "anything else?"
    assert audioop.rms(ulaw_to_pcm16(answer), 2) > 1000
    agent = await next_of(events, Transcript, seen)
    assert isinstance(agent, Transcript) and agent.speaker == "agent"
    assert agent.text.startswith("We are open from nine to five, Monday to Friday.")
    names = [e.name for e in seen if isinstance(e, EngineMetric)]
    assert names == ["stt_final", "llm_first_token", "tts_first_audio"]

    await engine.close()
    leftovers = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()}
    assert leftovers == set()


async def test_caller_barging_in_on_the_greeting_is_heard() -> None:
    engine = build_local_engine(EngineSettings(kind="local", greeting="Thank you for calling Acme. " * 6))
    await engine.connect(MAIN)
    events = engine.events()
    seen: list[EngineEvent] = []
    first = await next_of(events, AgentAudio, seen)
    while sum(len(e.mulaw) for e in seen if isinstance(e, AgentAudio)) < 3 * 8000:
        await next_of(events, AgentAudio, seen)  # the caller has been hearing it for a while
    for frame in frames(speech_fixture("ask_human.wav").mulaw[:8000]):
        await engine.send_audio(frame)
    await next_of(events, CallerSpeechStarted, seen)
    await engine.playback_interrupted(first.item_id, 1500)
    greeting = [m for m in engine.history if m["role"] == "assistant"]
    assert greeting and greeting[0]["content"].startswith("Thank you for calling")
    assert len(greeting[0]["content"]) < 60  # cut to the ~1.5 s the caller heard
    await engine.close()


def test_malformed_local_settings_fail_before_the_call() -> None:
    with pytest.raises(EngineError, match="mode must be 0..3"):
        build_local_engine(EngineSettings(kind="local", extra={"vad_mode": 9}))
    with pytest.raises(EngineError, match="speech_rate_wpm"):
        build_local_engine(EngineSettings(kind="local", extra={"speech_rate_wpm": "x"}))
