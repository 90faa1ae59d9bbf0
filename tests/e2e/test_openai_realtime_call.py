"""A simulated caller talks to (fake) OpenAI Realtime through the real server: webhook -> TwiML ->
media stream -> consumer -> CallSession -> OpenAIRealtimeEngine -> FakeOpenAIRealtime, and back.

The fake paces nothing (``realtime_factor=None``): it generates a reply's audio at once, as the
real model does faster than real time, so what the caller *heard* is decided by the fake Twilio
caller's real-time playback, and the truncate must follow that, not what was generated.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from calls.bridge.audio import ulaw_to_pcm16
from tenants.models import ProviderCredential
from tests.audio import AUDIO_DIR
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import (
    SPEECH_TIMEOUT_S,
    add_knowledge_base,
    call_events,
    connect_caller,
    ended_call,
    fallback_follows_connect,
    place_inbound_call,
    transcript_rows,
    wait_db,
    wait_postcall_settled,
)
from tests.e2e.server import live_server
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.fakes.openai_realtime import FakeOpenAIRealtime, FakeToolCall, FakeTurn
from tests.fakes.twilio import FakeTwilioRest, new_sid, read_mulaw_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OPENAI_KEY = "sk-tenant-a-realtime"
GREETING = "Acme Plumbing, how can I help?"
KB_TEXT = (
    "Opening hours. Acme Plumbing is open from nine to five, Monday to Friday. "
    "We are closed on weekends and public holidays."
)
ANSWER = (
    "We are open from nine to five, Monday to Friday, and closed at weekends. "
    "Is there anything else I can help you with today?"
)
FRAME_MS = 20
# How far the truncate point may sit from what the caller really heard. The server estimates
# playback from its last mark echo plus elapsed stream time; the estimate trails reality by the
# echo's trip (caller -> daphne) and leads it by nothing (it is clamped to what was sent). Our
# caller keeps playing until the clear reaches it (daphne -> caller). On this loaded two-core
# machine those loopback trips take a few ms to a few frames; 5 frames bounds them with room.
HEARD_TOLERANCE_MS = 5 * FRAME_MS


def spoken_ms(text: str) -> int:
    """How long the fake speaks ``text`` (its pacing: 60 ms per character, 20 ms steps)."""
    return max(400, round(len(text) * 60 / 20) * 20)


@pytest.fixture
def openai_agent(telephony: Telephony, configure_agent: Callable[..., Any]) -> Telephony:
    ProviderCredential.objects.create(tenant=telephony.cast.tenant_a, provider="openai", api_key=OPENAI_KEY)
    configure_agent(engine="openai_realtime", model="gpt-realtime", greeting=GREETING)
    return telephony


def _function_outputs(fake: FakeOpenAIRealtime) -> list[dict[str, Any]]:
    return [
        e["item"]
        for e in fake.received
        if e.get("type") == "conversation.item.create" and e["item"].get("type") == "function_call_output"
    ]


async def test_greeting_tool_call_barge_in_and_caller_hang_up(
    openai_agent: Telephony, configure_agent: Callable[..., Any]
) -> None:
    await sync_to_async(add_knowledge_base)(openai_agent, title="Opening hours", text=KB_TEXT)
    await sync_to_async(configure_agent)()  # publish with the knowledge base and its tool
    turns = [
        FakeTurn(
            transcript="what are your opening hours",
            tool_call=FakeToolCall("query_knowledge_base", {"query": "opening hours"}, reply=ANSWER),
        ),
        FakeTurn(transcript="can I speak to a human", reply="Of course, one moment."),
    ]
    async with (
        FakeOpenAIRealtime(api_key=OPENAI_KEY, turns=turns) as fake,
        FakeOpenAIChat(api_key=OPENAI_KEY) as summary_llm,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(
            OPENAI_REALTIME_URL=fake.url,
            OPENAI_API_BASE_URL=summary_llm.base_url,
            TWILIO_API_BASE_URL=rest.base_url,
        ) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)

        # Greeting: all of it heard, as valid mu-law in 20 ms frames.
        greeting_bytes = spoken_ms(GREETING) * 8
        await caller.wait_for(
            lambda: len(caller.played) >= greeting_bytes and caller.buffered_bytes == 0, timeout_s=15
        )
        assert len(caller.played) == greeting_bytes
        assert max(caller.media_sizes) == 160
        assert max(abs(s) for s in memoryview(ulaw_to_pcm16(bytes(caller.played))).cast("h")) > 1000
        config = fake.connections[0].config
        assert (config.input_format, config.output_format) == ("audio/pcmu", "audio/pcmu")  # no transcoding

        # A question, answered after a knowledge-base lookup with validated arguments.
        answer_starts_at = len(caller.played)
        await asyncio.wait_for(caller.say_wav(AUDIO_DIR / "opening_hours.wav"), SPEECH_TIMEOUT_S)
        await fake.wait_for(
            "conversation.item.create",
            where=lambda e: e["item"].get("type") == "function_call_output",
            timeout_s=10,
        )
        (output,) = _function_outputs(fake)
        passages = json.loads(output["output"])["passages"]
        assert "nine to five" in passages[0]["text"]

        # Barge-in one second into the answer (whose audio was all generated at once).
        await caller.wait_for(lambda: len(caller.played) >= answer_starts_at + 8000, timeout_s=10)
        speech_started = asyncio.ensure_future(
            fake.wait_for("input_audio_buffer.speech_started", count=2, direction="sent", timeout_s=10)
        )
        barge = caller.queue_speech(read_mulaw_wav(AUDIO_DIR / "ask_human.wav"))
        await speech_started
        signal_at_ms = caller.now_ms()
        truncate = await fake.wait_for("conversation.item.truncate", timeout_s=5)
        await caller.wait_for(lambda: bool(caller.clears), timeout_s=5)
        clear = caller.clears[0]
        heard_ms = (clear.played_bytes - answer_starts_at) / 8
        assert clear.dropped_bytes > 0  # the rest of the answer was queued and is never played
        assert clear.at_ms - signal_at_ms <= FRAME_MS
        assert abs(truncate["audio_end_ms"] - heard_ms) <= HEARD_TOLERANCE_MS
        assert truncate["audio_end_ms"] < spoken_ms(ANSWER)
        truncated = await fake.wait_for("conversation.item.truncated", direction="sent", timeout_s=5)
        assert truncated["audio_end_ms"] == truncate["audio_end_ms"]  # accepted, not an error
        assert not [e for e in fake.sent if e["type"] == "error"]

        # The caller's interruption is answered; then the caller hangs up.
        await asyncio.wait_for(barge, SPEECH_TIMEOUT_S)
        await fake.wait_for(
            "conversation.item.input_audio_transcription.completed", count=2, direction="sent", timeout_s=10
        )
        cleared_at = len(caller.played)
        await caller.wait_for(lambda: len(caller.played) >= cleared_at + 1600, timeout_s=10)
        await caller.hang_up()
        await wait_db(lambda: ended_call() is not None)
        # The session closes the engine (closing handshake included) before it ends the call.
        assert fake.connections[0].ws.closed  # not left half-open
        await wait_postcall_settled()

    call = await sync_to_async(ended_call)()
    assert call.end_reason == "caller_hangup"
    rows = await sync_to_async(transcript_rows)(call)
    assert rows == [
        ("agent", GREETING),
        ("caller", "what are your opening hours"),
        ("agent", ANSWER),
        ("caller", "can I speak to a human"),
        ("agent", "Of course, one moment."),
    ]
    (tool_call,) = await sync_to_async(call_events)(call, "tool_call")
    assert tool_call["name"] == "query_knowledge_base" and tool_call["outcome"] == "ok"
    assert tool_call["arguments"] == {"query": "opening hours"}
    (interruption,) = await sync_to_async(call_events)(call, "interruption")
    assert interruption["heard_ms"] == truncate["audio_end_ms"]
    assert not [r for r in rest.requests if r.form.get("Status") == "completed"]  # no REST hang-up


async def test_invalid_tool_arguments_then_engine_drop_mid_reply_ends_with_engine_error(
    openai_agent: Telephony, configure_agent: Callable[..., Any]
) -> None:
    # The tool is offered but the agent has no knowledge base: had it run, it would have failed
    # with a tool_error. Validation must refuse the arguments before that.
    await sync_to_async(configure_agent)(builtins=("query_knowledge_base",))
    refusal = "Sorry, I could not look that up just now."
    turns = [
        FakeTurn(
            transcript="what are your opening hours",
            # The built-in's schema wants {"query": ...} and nothing else.
            tool_call=FakeToolCall("query_knowledge_base", {"question": "opening hours"}, reply=refusal),
        )
    ]
    async with (
        FakeOpenAIRealtime(api_key=OPENAI_KEY, turns=turns) as fake,
        FakeOpenAIChat(api_key=OPENAI_KEY) as summary_llm,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(
            OPENAI_REALTIME_URL=fake.url,
            OPENAI_API_BASE_URL=summary_llm.base_url,
            TWILIO_API_BASE_URL=rest.base_url,
        ) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        greeting_bytes = spoken_ms(GREETING) * 8
        await caller.wait_for(
            lambda: len(caller.played) >= greeting_bytes and caller.buffered_bytes == 0, timeout_s=15
        )
        # The model will go quiet mid-reply, right after its first words (and 100 ms of audio).
        fake.stall_after("response.output_audio_transcript.delta")
        reply_starts_at = len(caller.played)
        await asyncio.wait_for(caller.say_wav(AUDIO_DIR / "opening_hours.wav"), SPEECH_TIMEOUT_S)

        # Refused before anything ran; the model gets a structured error, not a crash.
        await fake.wait_for(
            "conversation.item.create",
            where=lambda e: e["item"].get("type") == "function_call_output",
            timeout_s=10,
        )
        (output,) = _function_outputs(fake)
        assert json.loads(output["output"])["error"]["type"] == "invalid_arguments"

        # The model's connection dies in the middle of its reply.
        await caller.wait_for(lambda: len(caller.played) >= reply_starts_at + 800, timeout_s=10)
        await fake.drop()
        async with asyncio.timeout(10):
            await caller.closed.wait()
        assert caller.closed_by_server  # the stream ends: Twilio goes on with the TwiML's <Say>
        await wait_db(lambda: ended_call() is not None)
        await wait_postcall_settled()

    assert fallback_follows_connect(answer.twiml)
    assert not [r for r in rest.requests if r.form.get("Status") == "completed"]  # no REST hang-up
    call = await sync_to_async(ended_call)()
    assert call.end_reason == "engine_error"
    rows = await sync_to_async(transcript_rows)(call)
    assert rows == [
        ("agent", GREETING),
        ("caller", "what are your opening hours"),
        ("agent", "Sorry,"),  # the words said before the connection died
    ]
    (tool_call,) = await sync_to_async(call_events)(call, "tool_call")
    assert tool_call["name"] == "query_knowledge_base" and tool_call["outcome"] == "invalid_arguments"
    errors = await sync_to_async(call_events)(call, "error")
    assert [e["source"] for e in errors] == ["engine"]
