"""A simulated caller calls a tenant's number and talks to (fake) Ultravox through the real
server: webhook -> TwiML -> media stream -> consumer -> CallSession -> Ultravox, and back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from calls.bridge.audio import ulaw_to_pcm16
from calls.models import Call, CallEvent, TranscriptSegment
from tenants.models import ProviderCredential
from tests.audio import AUDIO_DIR
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import place_inbound_call
from tests.e2e.server import PUBLIC_BASE_URL, live_server
from tests.fakes.twilio import FakeTwilioCaller, FakeTwilioRest, new_sid
from tests.fakes.ultravox import FakeUltravox, Script, ToolStep, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AUDIO = AUDIO_DIR
STREAM_SIGNATURE_URL = PUBLIC_BASE_URL.replace("https://", "wss://") + "/twilio/media-stream"
UV_KEY = "uv-tenant-a-key"


async def _wait_db(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait until the server process has written what the test expects (no cross-process event
    exists, so this polls the database)."""
    check = sync_to_async(predicate)
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - the server is another process: no event to await
            await asyncio.sleep(0.1)


@pytest.fixture
def ultravox_agent(telephony: Telephony, configure_agent: Callable[..., Any]) -> Telephony:
    ProviderCredential.objects.create(tenant=telephony.cast.tenant_a, provider="ultravox", api_key=UV_KEY)
    configure_agent(
        engine="ultravox",
        greeting="Thanks for calling Acme Plumbing. How can I help?",
        builtins=("current_time",),
    )
    return telephony


async def _connect(
    server_ws: str, answer_token: str, call_sid: str, rest: FakeTwilioRest
) -> FakeTwilioCaller:
    caller = FakeTwilioCaller(
        account_sid=ACCOUNT_A, call_sid=call_sid, custom_parameters={"token": answer_token}
    )
    rest.add_call(call_sid, caller=caller)
    await caller.connect(
        server_ws + "/twilio/media-stream", auth_token=TOKEN_A, signature_url=STREAM_SIGNATURE_URL
    )
    return caller


def _texts(call: Call) -> list[str]:
    return list(TranscriptSegment.objects.filter(call=call).values_list("text", flat=True))


async def _greeting_heard(caller: FakeTwilioCaller) -> None:
    """The greeting has arrived and played out (the caller's playback buffer is empty)."""
    await caller.wait_for(lambda: len(caller.played) > 8000 and caller.buffered_bytes == 0, timeout_s=15)


async def test_conversation_with_transcript_tool_call_and_caller_hang_up(ultravox_agent: Telephony) -> None:
    script = Script(
        turns=[
            Turn(user_text="what day is it today", tool=ToolStep("current_time"), reply="It is a fine day."),
        ],
        playback_speed=20,
    )
    async with (
        FakeUltravox(api_key=UV_KEY, script=script) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await _connect(server.ws_url, answer.token, answer.call_sid, rest)
        uv_call = await ultravox.wait_for_call(0, within_s=10)
        # The greeting plays to the caller as valid mu-law in 20 ms frames.
        await caller.wait_for(lambda: len(caller.played) >= 8000, timeout_s=10)
        # 20 ms frames; only an utterance's last frame may be shorter.
        assert max(caller.media_sizes) == 160
        assert caller.media_sizes.count(160) >= 0.9 * len(caller.media_sizes)
        assert max(abs(s) for s in memoryview(ulaw_to_pcm16(bytes(caller.played))).cast("h")) > 1000

        await caller.say_wav(AUDIO / "opening_hours.wav")
        await uv_call.wait_until(lambda _c: bool(uv_call.tool_results), within_s=10)
        (result,) = uv_call.tool_results.values()
        assert "weekday" in result["result"]
        await uv_call.wait_until(lambda _c: uv_call.turns_taken >= 1, within_s=10)
        played_before = len(caller.played)
        await caller.wait_for(lambda: len(caller.played) > played_before + 1600, timeout_s=10)

        await caller.hang_up()
        await uv_call.wait_until(lambda _c: uv_call.end_reason is not None, within_s=3)
        assert uv_call.end_reason == "hangup"  # we closed the engine socket

        await _wait_db(lambda: Call.objects.filter(ended_at__isnull=False).exists())
    call = await sync_to_async(Call.objects.get)()
    assert call.end_reason == "caller_hangup"
    assert call.agent_revision_id == ultravox_agent.cast.agent_a.published_revision_id
    segments = await sync_to_async(
        lambda: list(TranscriptSegment.objects.filter(call=call).order_by("ordinal"))
    )()
    assert [(s.speaker, s.text) for s in segments][:3] == [
        ("agent", "Thanks for calling Acme Plumbing. How can I help?"),
        ("caller", "what day is it today"),
        ("agent", "It is a fine day."),
    ]
    tool_event = await sync_to_async(CallEvent.objects.get)(call=call, type="tool_call")
    assert tool_event.payload["name"] == "current_time" and tool_event.payload["outcome"] == "ok"
    assert not [
        r for r in rest.requests if r.form.get("Status") == "completed"
    ]  # caller hung up: no REST hang-up


async def test_agent_hang_up_ends_the_stream_and_the_phone_call(ultravox_agent: Telephony) -> None:
    script = Script(
        turns=[Turn(user_text="that's all, bye", reply="Goodbye!", hang_up=True)], playback_speed=20
    )
    async with (
        FakeUltravox(api_key=UV_KEY, script=script) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await _connect(server.ws_url, answer.token, answer.call_sid, rest)
        await ultravox.wait_for_call(0, within_s=10)
        await caller.say_wav(AUDIO / "goodbye.wav")
        async with asyncio.timeout(15):
            await caller.closed.wait()
        await _wait_db(lambda: Call.objects.filter(ended_at__isnull=False).exists())
    assert [r.form for r in rest.requests if r.form.get("Status") == "completed"]  # hung up through REST
    call = await sync_to_async(Call.objects.get)()
    assert call.end_reason == "agent_hangup"


async def test_engine_drop_mid_call_keeps_the_transcript_and_ends_with_engine_error(
    ultravox_agent: Telephony,
) -> None:
    script = Script(turns=[Turn(user_text="what are your opening hours", action="drop")], playback_speed=20)
    async with (
        FakeUltravox(api_key=UV_KEY, script=script) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await _connect(server.ws_url, answer.token, answer.call_sid, rest)
        await ultravox.wait_for_call(0, within_s=10)
        await _greeting_heard(caller)
        await caller.say_wav(AUDIO / "opening_hours.wav")
        async with asyncio.timeout(15):
            await caller.closed.wait()  # the stream ends: Twilio then plays the fallback <Say>
        await _wait_db(lambda: Call.objects.filter(ended_at__isnull=False).exists())
    call = await sync_to_async(Call.objects.get)()
    assert call.end_reason == "engine_error"
    texts = await sync_to_async(_texts)(call)
    assert "Thanks for calling Acme Plumbing. How can I help?" in texts
