"""Barge-in on Ultravox through the real server: the caller talks over the agent, Twilio's queue
is cleared at once, and what the agent remembers saying matches what the caller heard.

Ultravox decides barge-in itself and tells the client with ``playback_clear_buffer``; it
truncates its own history from its playback clock (it streams only ``clientBufferSizeMs`` ahead
of real time), and the protocol has no truncate message. So the checks are: the clear reaches
the caller within a frame of Ultravox's signal, the session's own estimate of what was heard
(the ``interruption`` event) matches the caller's playback, and the agent's stored transcript
is cut to about the words the caller heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tenants.models import ProviderCredential
from tests.audio import AUDIO_DIR
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import (
    SPEECH_TIMEOUT_S,
    call_events,
    connect_caller,
    ended_call,
    place_inbound_call,
    transcript_rows,
    wait_db,
    wait_postcall_settled,
)
from tests.e2e.server import live_server
from tests.fakes.twilio import FakeTwilioRest, new_sid, read_mulaw_wav
from tests.fakes.ultravox import FakeUltravox, Script, Turn
from tests.fakes.ultravox.voice import duration_ms, synthesize

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

UV_KEY = "uv-tenant-a-key"
GREETING = "Acme Plumbing, how can I help?"
LONG_REPLY = (
    "Our plumbers cover the whole city and the suburbs, seven days a week, day and night, "
    "and every job comes with a written quote before we start."
)
MS_PER_CHAR = 55  # the fake voice's pace
FRAME_MS = 20
HEARD_TOLERANCE_MS = 5 * FRAME_MS  # see test_openai_realtime_call.HEARD_TOLERANCE_MS


@pytest.fixture
def ultravox_agent(telephony: Telephony, configure_agent: Callable[..., Any]) -> Telephony:
    ProviderCredential.objects.create(tenant=telephony.cast.tenant_a, provider="ultravox", api_key=UV_KEY)
    configure_agent(engine="ultravox", greeting=GREETING)
    return telephony


async def test_ultravox_barge_in_clears_at_once_and_keeps_only_what_was_heard(
    ultravox_agent: Telephony,
) -> None:
    script = Script(
        turns=[
            Turn(user_text="tell me about your service", reply=LONG_REPLY),
            Turn(user_text="can I speak to a human", reply="Of course."),
        ],
        ms_per_char=MS_PER_CHAR,
        playback_speed=1,  # the fake's playback clock runs in real time, like the caller's
    )
    async with (
        FakeUltravox(api_key=UV_KEY, script=script) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        uv_call = await ultravox.wait_for_call(0, within_s=10)
        await uv_call.wait_until(lambda c: c.turns_taken == 0 and c.state == "listening", within_s=15)
        await caller.wait_for(lambda: len(caller.played) > 0 and caller.buffered_bytes == 0, timeout_s=5)

        reply_starts_at = len(caller.played)
        await asyncio.wait_for(caller.say_wav(AUDIO_DIR / "service_cost.wav"), SPEECH_TIMEOUT_S)
        await caller.wait_for(lambda: len(caller.played) >= reply_starts_at + 8000, timeout_s=10)

        async def barge_in_signal() -> int:
            await uv_call.wait_until(lambda c: c.interruptions >= 1, within_s=10)
            return caller.now_ms()

        signal = asyncio.ensure_future(barge_in_signal())
        barge = caller.queue_speech(read_mulaw_wav(AUDIO_DIR / "ask_human.wav"))
        signal_at_ms = await signal
        await caller.wait_for(lambda: bool(caller.clears), timeout_s=5)
        clear = caller.clears[0]
        assert clear.at_ms - signal_at_ms <= FRAME_MS
        heard_ms = (clear.played_bytes - reply_starts_at) / 8

        await asyncio.wait_for(barge, SPEECH_TIMEOUT_S)
        await uv_call.wait_until(lambda c: c.turns_taken >= 2, within_s=10)
        cleared_at = len(caller.played)
        await caller.wait_for(lambda: len(caller.played) >= cleared_at + 1600, timeout_s=10)
        await caller.hang_up()
        await wait_db(lambda: ended_call() is not None)
        await wait_postcall_settled()

    call = await sync_to_async(ended_call)()
    assert call.end_reason == "caller_hangup"
    (interruption,) = await sync_to_async(call_events)(call, "interruption")
    assert abs(interruption["heard_ms"] - heard_ms) <= HEARD_TOLERANCE_MS
    rows = await sync_to_async(transcript_rows)(call)
    assert [speaker for speaker, _ in rows] == ["agent", "caller", "agent", "caller", "agent"]
    assert rows[:2] == [("agent", GREETING), ("caller", "tell me about your service")]
    assert rows[3] == ("caller", "can I speak to a human")
    # The caller hung up while the agent was saying "Of course.": its words so far are kept.
    assert rows[4][1] and "Of course.".startswith(rows[4][1])
    # The agent's reply is stored as Ultravox truncated it: the words of the heard share.
    words = LONG_REPLY.split()
    total_ms = duration_ms(synthesize(LONG_REPLY, 8000, MS_PER_CHAR), 8000)
    heard_words = len(words) * heard_ms / total_ms
    said = rows[2][1].split()
    assert said == words[: len(said)]
    assert abs(len(said) - heard_words) <= 1 + len(words) * HEARD_TOLERANCE_MS / total_ms
