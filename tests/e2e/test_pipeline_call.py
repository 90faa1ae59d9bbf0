"""A simulated caller talks to the chained engine through the real server: webhook -> TwiML ->
media stream -> consumer -> CallSession -> PipelineEngine -> (fake) AssemblyAI, an
OpenAI-compatible chat endpoint and ElevenLabs, and back.

The fakes generate faster than real time except the chat model, which streams a word every
``CHUNK_DELAY_S`` like a real one, so a reply can still be in flight when the caller talks over
the agent: barge-in must then abort it, not just clear Twilio's queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from tests.fakes import assemblyai as assemblyai_fake
from tests.fakes.assemblyai import FakeAssemblyAI
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.openai_chat import FakeOpenAIChat, ScriptedToolCall
from tests.fakes.twilio import FakeTwilioCaller, FakeTwilioRest, new_sid, read_mulaw_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AAI_KEY = "aai-tenant-a"
ELEVEN_KEY = "xi-tenant-a"
LLM_KEY = "sk-tenant-a-llm"
GREETING = "Acme Plumbing, how can I help?"
KB_TEXT = (
    "Opening hours. Acme Plumbing is open from nine to five, Monday to Friday. "
    "We are closed on weekends and public holidays."
)
# The first piece TTS gets is this clause (>= 24 characters, ends with a comma): long enough to be
# the one the caller interrupts one second in.
FIRST_PIECE = "We are open from nine in the morning until five in the evening,"
ANSWER = (
    f"{FIRST_PIECE} Monday to Friday. On Saturdays we open at ten and close at two, and on "
    "Sundays and public holidays we are closed. Is there anything else I can help you with?"
)
CHUNK_DELAY_S = 0.1  # the chat model's pace: one word per 100 ms
MS_PER_CHAR = 60  # the ElevenLabs fake's pace
FRAME_MS = 20
# See test_openai_realtime_call.HEARD_TOLERANCE_MS: loopback trips of the mark echo and the clear.
HEARD_TOLERANCE_MS = 5 * FRAME_MS


@pytest.fixture
def pipeline_agent(telephony: Telephony, configure_agent: Callable[..., Any]) -> Telephony:
    tenant = telephony.cast.tenant_a
    ProviderCredential.objects.create(tenant=tenant, provider="assemblyai", api_key=AAI_KEY)
    ProviderCredential.objects.create(tenant=tenant, provider="elevenlabs", api_key=ELEVEN_KEY)
    configure_agent(engine="pipeline", llm_model="gpt-4o-mini", greeting=GREETING)
    return telephony


def _set_llm_url(telephony: Telephony, base_url: str) -> None:
    """The tenant's OpenAI-compatible LLM credential: where the chained engine's chat goes."""
    ProviderCredential.objects.create(
        tenant=telephony.cast.tenant_a, provider="llm", api_key=LLM_KEY, base_url=base_url
    )


def _servers(aai: FakeAssemblyAI, eleven: FakeElevenLabs, rest: FakeTwilioRest) -> dict[str, str]:
    return {
        "ASSEMBLYAI_STREAMING_URL": aai.url,
        "ELEVENLABS_API_BASE_URL": eleven.base_url,
        "TWILIO_API_BASE_URL": rest.base_url,
    }


async def _greeting_heard(caller: FakeTwilioCaller) -> None:
    greeting_bytes = len(GREETING) * MS_PER_CHAR * 8
    await caller.wait_for(
        lambda: len(caller.played) >= greeting_bytes and caller.buffered_bytes == 0, timeout_s=15
    )
    assert len(caller.played) == greeting_bytes  # all of it, nothing else
    assert max(caller.media_sizes) == 160  # 20 ms frames
    assert max(abs(s) for s in memoryview(ulaw_to_pcm16(bytes(caller.played))).cast("h")) > 1000


@dataclass
class SttLog:
    """Every message the AssemblyAI fake sends, stamped with the caller's stream clock (once
    ``clock`` is set): the engine's barge-in signal is the first words of a caller turn."""

    clock: Callable[[], int] | None = None
    sent: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def first_words_of_turn(self, turn_order: int) -> int:
        return next(
            at for at, m in self.sent if m["type"] == "Turn" and m["turn_order"] == turn_order and m["words"]
        )


@pytest.fixture
def stt_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[SttLog]:
    log = SttLog()
    original = assemblyai_fake._send

    async def recording_send(ws: Any, session: Any, message: dict[str, Any]) -> None:
        log.sent.append((log.clock() if log.clock else -1, message))
        await original(ws, session, message)

    monkeypatch.setattr(assemblyai_fake, "_send", recording_send)
    yield log


async def test_greeting_tool_call_barge_in_and_caller_hang_up(
    pipeline_agent: Telephony,
    configure_agent: Callable[..., Any],
    stt_log: SttLog,
) -> None:
    await sync_to_async(add_knowledge_base)(pipeline_agent, title="Opening hours", text=KB_TEXT)
    await sync_to_async(configure_agent)()
    async with (
        FakeAssemblyAI(
            api_key=AAI_KEY, scripts=["what are your opening hours", "can I speak to a human"]
        ) as aai,
        FakeOpenAIChat(api_key=LLM_KEY, chunk_delay_s=CHUNK_DELAY_S) as llm,
        FakeElevenLabs(api_key=ELEVEN_KEY, ms_per_char=MS_PER_CHAR) as eleven,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
    ):
        await sync_to_async(_set_llm_url)(pipeline_agent, llm.base_url)
        llm.add_reply("", ScriptedToolCall("query_knowledge_base", {"query": "opening hours"}))
        llm.add_reply(ANSWER)
        llm.add_reply("Of course, one moment.")
        async with live_server(**_servers(aai, eleven, rest)) as server:
            answer = await place_inbound_call(server.http_url, new_sid("CA"))
            caller = await connect_caller(server.ws_url, answer, rest)
            stt_log.clock = caller.now_ms
            await _greeting_heard(caller)
            (session,) = aai.sessions
            assert session.query["encoding"] == "pcm_mulaw" and session.query["sample_rate"] == "8000"

            # The question; the model looks it up (arguments validated), then answers.
            answer_starts_at = len(caller.played)
            await asyncio.wait_for(caller.say_wav(AUDIO_DIR / "opening_hours.wav"), SPEECH_TIMEOUT_S)
            await caller.wait_for(lambda: len(caller.played) >= answer_starts_at + 8000, timeout_s=15)
            lookup, answering = llm.requests[0].body, llm.requests[1].body
            assert lookup["messages"][-1] == {"role": "user", "content": "What are your opening hours."}
            tool_message = answering["messages"][-1]
            assert tool_message["role"] == "tool"
            assert "nine to five" in json.loads(tool_message["content"])["passages"][0]["text"]
            assert llm.completed == 1 and not llm.disconnected.is_set()  # the answer is still streaming

            # One second into the answer, the caller talks over it.
            barge = caller.queue_speech(read_mulaw_wav(AUDIO_DIR / "ask_human.wav"))
            await caller.wait_for(lambda: bool(caller.clears), timeout_s=5)
            clear = caller.clears[0]
            heard_ms = (clear.played_bytes - answer_starts_at) / 8
            signal_at_ms = stt_log.first_words_of_turn(1)
            assert clear.dropped_bytes > 0
            assert clear.at_ms - signal_at_ms <= FRAME_MS
            # The chat request still streaming the answer is aborted at once.
            async with asyncio.timeout(5):
                await llm.disconnected.wait()

            # The caller is answered; the model saw only what the caller heard of the answer.
            await asyncio.wait_for(barge, SPEECH_TIMEOUT_S)
            await caller.wait_for(lambda: len(llm.requests) >= 3, timeout_s=10)
            history = llm.requests[2].body["messages"]
            assert history[-1] == {"role": "user", "content": "Can I speak to a human."}
            said = history[-2]
            assert said["role"] == "assistant" and FIRST_PIECE.startswith(said["content"])
            heard_chars = heard_ms / MS_PER_CHAR
            longest_word = max(len(word) for word in FIRST_PIECE.split())
            slack = HEARD_TOLERANCE_MS / MS_PER_CHAR
            assert heard_chars - longest_word - 1 - slack <= len(said["content"]) <= heard_chars + slack
            replied_at = len(caller.played)
            await caller.wait_for(lambda: len(caller.played) >= replied_at + 1600, timeout_s=10)
            await caller.hang_up()
            async with asyncio.timeout(5):
                await session.ended.wait()  # the engine's sockets are closed, not left half-open
            await wait_db(lambda: ended_call() is not None)
            await wait_postcall_settled()

    call = await sync_to_async(ended_call)()
    assert call.end_reason == "caller_hangup"
    rows = await sync_to_async(transcript_rows)(call)
    assert rows[:2] == [("agent", GREETING), ("caller", "What are your opening hours.")]
    # The transcript keeps what was synthesized before the cut (the history, what the model
    # remembers, is what was heard: checked above): pieces reach TTS as the model writes them.
    assert rows[2][0] == "agent" and rows[2][1].startswith(FIRST_PIECE) and ANSWER.startswith(rows[2][1])
    assert rows[3:] == [("caller", "Can I speak to a human."), ("agent", "Of course, one moment.")]
    (tool_call,) = await sync_to_async(call_events)(call, "tool_call")
    assert tool_call["name"] == "query_knowledge_base" and tool_call["outcome"] == "ok"
    assert tool_call["arguments"] == {"query": "opening hours"}
    (interruption,) = await sync_to_async(call_events)(call, "interruption")
    assert abs(interruption["heard_ms"] - heard_ms) <= HEARD_TOLERANCE_MS
    assert not [r for r in rest.requests if r.form.get("Status") == "completed"]  # no REST hang-up


async def test_language_model_failure_mid_call_ends_with_engine_error(pipeline_agent: Telephony) -> None:
    async with (
        FakeAssemblyAI(api_key=AAI_KEY, scripts=["what are your opening hours"]) as aai,
        FakeOpenAIChat(api_key=LLM_KEY) as llm,
        FakeElevenLabs(api_key=ELEVEN_KEY, ms_per_char=MS_PER_CHAR) as eleven,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
    ):
        await sync_to_async(_set_llm_url)(pipeline_agent, llm.base_url)
        llm.add_reply(status=500)
        async with live_server(**_servers(aai, eleven, rest)) as server:
            answer = await place_inbound_call(server.http_url, new_sid("CA"))
            caller = await connect_caller(server.ws_url, answer, rest)
            await _greeting_heard(caller)
            await asyncio.wait_for(caller.say_wav(AUDIO_DIR / "opening_hours.wav"), SPEECH_TIMEOUT_S)
            async with asyncio.timeout(15):
                await caller.closed.wait()
            assert caller.closed_by_server  # the stream ends: Twilio goes on with the TwiML's <Say>
            await wait_db(lambda: ended_call() is not None)
            await wait_postcall_settled()
            assert len(llm.requests) == 1

    assert fallback_follows_connect(answer.twiml)
    assert not [r for r in rest.requests if r.form.get("Status") == "completed"]  # no REST hang-up
    call = await sync_to_async(ended_call)()
    assert call.end_reason == "engine_error"
    rows = await sync_to_async(transcript_rows)(call)
    assert rows == [("agent", GREETING), ("caller", "What are your opening hours.")]
    (error,) = await sync_to_async(call_events)(call, "error")
    assert error["source"] == "engine" and "HTTP 500" in error["message"]
