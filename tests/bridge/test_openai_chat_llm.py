"""OpenAIChatLanguageModel against the faithful fake (and a few hand-made SSE bodies)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from calls.bridge.config import EngineSettings, StageSpec, ToolSpec
from calls.bridge.engines.base import EngineError
from calls.bridge.engines.pipeline.assemblyai import AssemblyAISpeechToText
from calls.bridge.engines.pipeline.cloud import (
    ComponentError,
    build_cloud_pipeline_engine,
    build_cloud_pipeline_parts,
)
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    LlmEvent,
    LlmUsage,
    TextDelta,
    ToolCallRequest,
)
from calls.bridge.engines.pipeline.openai_chat import ChatCompletionError, OpenAIChatLanguageModel
from calls.bridge.frames import AgentAudio, EngineEvent, Transcript
from tests.bridge.test_assemblyai_stt import SILENCE_FRAME, frames, speak, until_final
from tests.fakes.assemblyai import FakeAssemblyAI, caller_audio
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.openai_chat import FakeOpenAIChat, ScriptedToolCall

KEY = "test-openai-key"
MESSAGES = [
    {"role": "system", "content": "You are the Acme Plumbing phone agent."},
    {"role": "user", "content": "Can I book a visit tomorrow?"},
]
BOOK = ToolSpec(
    name="book_visit",
    description="Book a plumber visit.",
    parameters={
        "type": "object",
        "properties": {"day": {"type": "string"}, "time": {"type": "string"}},
        "required": ["day"],
    },
)
HANG_UP = ToolSpec(
    name="hang_up", description="End the call.", parameters={"type": "object", "properties": {}}
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIChat]:
    async with FakeOpenAIChat(api_key=KEY) as server:
        yield server


@pytest.fixture
async def llm(fake: FakeOpenAIChat) -> AsyncIterator[OpenAIChatLanguageModel]:
    model = OpenAIChatLanguageModel(api_key=KEY, base_url=fake.base_url, model="gpt-4o-mini")
    yield model
    await model.close()


async def collect(llm: OpenAIChatLanguageModel, tools: tuple[ToolSpec, ...] = ()) -> list[LlmEvent]:
    async with asyncio.timeout(5):
        return [event async for event in llm.stream(MESSAGES, tools)]


async def test_text_streams_as_deltas_then_usage(fake: FakeOpenAIChat, llm: OpenAIChatLanguageModel) -> None:
    fake.add_reply("Sure, I can book that for you.")
    events = await collect(llm)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 7  # streamed word by word, not in one piece
    assert "".join(d.text for d in deltas) == "Sure, I can book that for you."
    assert (
        isinstance(events[-1], LlmUsage)
        and events[-1].prompt_tokens == 42
        and events[-1].completion_tokens == 7
    )

    request = fake.requests[0]
    assert request.path == "/v1/chat/completions"
    body = request.body
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == MESSAGES and body["temperature"] == 0.3
    assert "tools" not in body and "tool_choice" not in body  # tool_choice without tools is a 400


async def test_fragmented_tool_calls_are_merged_by_index(
    fake: FakeOpenAIChat, llm: OpenAIChatLanguageModel
) -> None:
    fake.add_reply(
        "One moment.",
        ScriptedToolCall("book_visit", {"day": "tomorrow", "time": "15:00"}, call_id="call_book"),
        ScriptedToolCall("hang_up", "", call_id="call_bye"),
        arguments_chunk_chars=3,
    )
    events = await collect(llm, (BOOK, HANG_UP))
    assert [type(e).__name__ for e in events] == [
        "TextDelta",
        "TextDelta",
        "ToolCallRequest",
        "ToolCallRequest",
        "LlmUsage",
    ]
    book, bye = events[2], events[3]
    assert book == ToolCallRequest("call_book", "book_visit", '{"day": "tomorrow", "time": "15:00"}')
    assert bye == ToolCallRequest("call_bye", "hang_up", "{}")  # no arguments streamed: "{}" validates
    body = fake.requests[0].body
    assert body["tool_choice"] == "auto"
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "book_visit",
            "description": "Book a plumber visit.",
            "parameters": BOOK.parameters,
        },
    }


async def test_refused_key_raises_with_status_and_short_body(fake: FakeOpenAIChat) -> None:
    model = OpenAIChatLanguageModel(api_key="sk-wrong-secret", base_url=fake.base_url, model="gpt-4o-mini")
    with pytest.raises(ChatCompletionError) as failure:
        await collect(model)
    await model.close()
    assert failure.value.status == 401 and failure.value.code == 401
    assert "HTTP 401: Incorrect API key provided." in str(failure.value)
    assert "sk-wrong-secret" not in str(failure.value)
    assert isinstance(failure.value, ComponentError)


async def test_server_error_is_reported(fake: FakeOpenAIChat, llm: OpenAIChatLanguageModel) -> None:
    fake.add_reply(status=503, error_message="Slow down.")
    with pytest.raises(ChatCompletionError, match="HTTP 503: Slow down.") as failure:
        await collect(llm)
    assert failure.value.status == 503


async def test_cancelling_mid_stream_closes_the_connection(
    fake: FakeOpenAIChat, llm: OpenAIChatLanguageModel
) -> None:
    fake.add_reply("This is a long answer that the caller will interrupt.", stall_after_chunks=3)
    first_text = asyncio.Event()
    received: list[LlmEvent] = []

    async def consume() -> None:
        async for event in llm.stream(MESSAGES, ()):
            received.append(event)
            first_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_text.wait(), 5)
    await asyncio.wait_for(fake.stalled.wait(), 5)
    task.cancel()  # barge-in
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(fake.disconnected.wait(), 5)
    assert fake.disconnects == 1 and fake.completed == 0
    assert received[0] == TextDelta("This")


async def test_closing_the_iteration_early_closes_the_connection(
    fake: FakeOpenAIChat, llm: OpenAIChatLanguageModel
) -> None:
    fake.add_reply("Hello there, how can I help?", stall_after_chunks=4)
    async with contextlib.aclosing(llm.stream(MESSAGES, ())) as events:
        async for event in events:
            assert event == TextDelta("Hello")
            break
    await asyncio.wait_for(fake.disconnected.wait(), 5)
    # the client is still usable for the next turn
    fake.add_reply("Next turn.")
    assert "".join(e.text for e in await collect(llm) if isinstance(e, TextDelta)) == "Next turn."


async def test_a_stalled_stream_times_out(fake: FakeOpenAIChat) -> None:
    fake.add_reply("Never finishes.", stall_after_chunks=1)
    model = OpenAIChatLanguageModel(api_key=KEY, base_url=fake.base_url, model="m", read_timeout_s=0.2)
    with pytest.raises(ChatCompletionError, match="timed out"):
        await collect(model)
    await model.close()


async def test_usage_can_be_left_out(fake: FakeOpenAIChat) -> None:
    fake.add_reply("Fine.")
    model = OpenAIChatLanguageModel(
        api_key=KEY,
        base_url=fake.base_url,
        model="m",
        include_usage=False,
        temperature=None,
        extra_body={"max_tokens": 99},
    )
    events = await collect(model)
    await model.close()
    assert events == [TextDelta("Fine.")]
    body = fake.requests[0].body
    assert "stream_options" not in body and "temperature" not in body and body["max_tokens"] == 99


def mock_model(body: bytes, content_type: str = "text/event-stream") -> OpenAIChatLanguageModel:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers  # no key configured: no empty "Bearer "
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    return OpenAIChatLanguageModel(
        api_key="", base_url="http://127.0.0.1:1/v1", model="m", transport=httpx.MockTransport(handler)
    )


async def test_sse_variants_from_other_servers_are_understood() -> None:
    def data(payload: object) -> str:
        return "data:" + json.dumps(payload) + "\r\n\r\n"  # no space after the colon, CRLF

    body = (
        ": keep-alive comment\n\n"
        + data(
            {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "thinking..."}}]}
        )
        + data({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})
        + "data: not json\n\n"
        + data(["not", "an", "object"])
        # no index on tool-call fragments, the id repeated on each, the name repeated
        + data(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {"id": "c1", "function": {"name": "hang_up", "arguments": '{"rea'}}
                            ]
                        },
                    }
                ]
            }
        )
        + data(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {"id": "c1", "function": {"name": "hang_up", "arguments": 'son": "done"}'}}
                            ]
                        },
                    }
                ]
            }
        )
        + data(
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2},
            }
        )
        + data({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
        + "data: [DONE]\n\n"
    ).encode()
    model = mock_model(body)
    events = [e async for e in model.stream(MESSAGES, ())]
    await model.close()
    assert events == [
        TextDelta("Hi"),
        ToolCallRequest("c1", "hang_up", '{"reason": "done"}'),
        LlmUsage(prompt_tokens=9, completion_tokens=4),  # once, the last figures
    ]


async def test_an_error_inside_the_stream_raises() -> None:
    body = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
        b'data: {"error": {"message": "overloaded"}}\n\n'
    )
    model = mock_model(body)
    seen: list[LlmEvent] = []
    with pytest.raises(ChatCompletionError, match="error in stream: overloaded"):
        async for event in model.stream(MESSAGES, ()):
            seen.append(event)
    await model.close()
    assert seen == [TextDelta("Hel")]


async def test_a_truncated_tool_call_is_not_acted_on() -> None:
    fragment = {"index": 0, "id": "c", "function": {"name": "x", "arguments": '{"a'}}
    body = (
        b"data: "
        + json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}).encode()
        + b"\n\n"
    )
    model = mock_model(body)
    with pytest.raises(ChatCompletionError, match="before the tool calls were complete"):
        [e async for e in model.stream(MESSAGES, ())]
    await model.close()


async def test_a_server_that_ignores_stream_true_still_works() -> None:
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Whole reply."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    model = mock_model(json.dumps(completion).encode(), "application/json")
    events = [e async for e in model.stream(MESSAGES, ())]
    await model.close()
    assert events == [TextDelta("Whole reply."), LlmUsage(3, 2)]


# ------------------------------------------------------------------- the cloud parts together


def pipeline_settings(fake: FakeOpenAIChat, stt_url: str, tts_url: str, **overrides: Any) -> EngineSettings:
    """What the Django side builds for an agent on the cloud pipeline (calls/config_snapshot.py)."""
    extra = {
        "assemblyai_url": stt_url,
        "assemblyai_key": "test-assemblyai-key",
        "elevenlabs_url": tts_url,
        "elevenlabs_key": "test-elevenlabs-key",
        "llm_url": fake.base_url,
        "llm_key": KEY,
    }
    return EngineSettings(kind="pipeline", model="gpt-4o-mini", voice="voice-123", extra=extra, **overrides)


async def test_factory_parts_chain_stt_to_llm_to_tts(fake: FakeOpenAIChat) -> None:
    async with (
        FakeAssemblyAI(scripts=["what are your opening hours"]) as stt_fake,
        FakeElevenLabs() as tts_fake,
    ):
        settings = pipeline_settings(fake, stt_fake.url, tts_fake.base_url, turn_endpoint_delay_ms=320)
        parts = build_cloud_pipeline_parts(settings)
        fake.add_reply("We open at nine. See you soon.")
        stt = parts.stt
        assert isinstance(stt, AssemblyAISpeechToText)
        await stt.start()
        final_seen = asyncio.create_task(until_final(stt))
        await speak(stt, caller_audio("opening_hours.wav"))
        heard = (await final_seen)[-1]
        assert isinstance(heard, FinalTranscript) and heard.text == "What are your opening hours."

        async def sentences() -> AsyncIterator[str]:
            async for event in parts.llm.stream([{"role": "user", "content": heard.text}], ()):
                if isinstance(event, TextDelta):
                    yield event.text

        async with asyncio.timeout(5):
            audio = b"".join([chunk async for chunk in parts.tts.synthesize(sentences())])
        await parts.close()
    assert len(audio) > 8000  # over a second of mu-law for two short sentences
    assert stt_fake.sessions[0].query["min_turn_silence"] == "320"
    assert tts_fake.sessions[0].voice_id == "voice-123"
    assert " ".join(tts_fake.sessions[0].texts).split() == [
        "We",
        "open",
        "at",
        "nine.",
        "See",
        "you",
        "soon.",
    ]


async def test_the_cloud_engine_greets_then_answers_the_caller(fake: FakeOpenAIChat) -> None:
    async with (
        FakeAssemblyAI(scripts=["what are your opening hours"]) as stt_fake,
        FakeElevenLabs() as tts_fake,
    ):
        settings = pipeline_settings(
            fake, stt_fake.url, tts_fake.base_url, greeting="Thanks for calling Acme."
        )
        engine = build_cloud_pipeline_engine(settings)
        fake.add_reply("We open at nine.")
        events: list[EngineEvent] = []
        try:
            async with asyncio.timeout(10):
                await engine.connect(StageSpec(name="main", system_prompt="You answer the phone for Acme."))
                async for event in engine.events():
                    events.append(event)
                    if not (isinstance(event, Transcript) and event.speaker == "agent" and event.final):
                        continue
                    if event.text != "Thanks for calling Acme.":
                        break  # the answer
                    # the greeting is over: the caller asks a question
                    for frame in frames(caller_audio("opening_hours.wav")):
                        await engine.send_audio(frame)
                    for _ in range(30):
                        await engine.send_audio(SILENCE_FRAME)
        finally:
            await engine.close()
    agent_lines = [e.text for e in events if isinstance(e, Transcript) and e.speaker == "agent" and e.final]
    assert agent_lines == ["Thanks for calling Acme.", "We open at nine."]
    assert sum(len(e.mulaw) for e in events if isinstance(e, AgentAudio)) > 8000
    assert fake.requests[0].body["messages"][-1] == {
        "role": "user",
        "content": "What are your opening hours.",
    }
    # the chat connection and the first ElevenLabs socket were opened while AssemblyAI started
    assert len(fake.model_listings) == 1
    assert tts_fake.sessions[0].texts == ["Thanks for calling Acme. ", ""]


def test_factory_names_the_missing_setting(fake: FakeOpenAIChat) -> None:
    settings = pipeline_settings(fake, "ws://127.0.0.1:2", "http://127.0.0.1:3")
    settings.extra.pop("assemblyai_key")
    with pytest.raises(EngineError, match="extra.assemblyai_key is required"):
        build_cloud_pipeline_parts(settings)
    settings.extra.update(assemblyai_key="k", elevenlabs_url="")
    with pytest.raises(EngineError, match="ELEVENLABS_API_BASE_URL"):
        build_cloud_pipeline_parts(settings)


async def test_prewarm_opens_the_connection_the_first_reply_then_reuses(
    fake: FakeOpenAIChat, llm: OpenAIChatLanguageModel
) -> None:
    llm.prewarm()
    llm.prewarm()  # idempotent while in flight
    await asyncio.wait_for(fake.model_listed.wait(), 5)
    assert llm._prewarm is not None
    await asyncio.wait_for(llm._prewarm, 5)  # its response is back: the connection is idle in the pool
    fake.add_reply("Warm.")
    await collect(llm)
    assert len(fake.model_listings) == 1
    assert fake.requests[0].peer == fake.model_listings[0].peer  # one connection, reused
