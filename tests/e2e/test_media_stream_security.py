"""Hostile and mismatched media streams through the real server: a clean 1008 close, nothing
bound, and never a half-open engine socket."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from calls.models import Call
from calls.twilio.tokens import make_call_token
from tenants.models import ProviderCredential
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, TOKEN_B, Telephony
from tests.e2e.conftest import place_inbound_call
from tests.e2e.server import PUBLIC_BASE_URL, LiveServer, live_server
from tests.fakes.twilio import FakeTwilioRest, new_sid, sign_webhook
from tests.fakes.ultravox import FakeUltravox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STREAM_URL = PUBLIC_BASE_URL.replace("https://", "wss://") + "/twilio/media-stream"
UV_KEY = "uv-tenant-a-key"


@pytest.fixture
async def stack(
    telephony: Telephony, configure_agent: Callable[..., Any]
) -> AsyncIterator[tuple[LiveServer, FakeUltravox]]:
    await sync_to_async(ProviderCredential.objects.create)(
        tenant=telephony.cast.tenant_a, provider="ultravox", api_key=UV_KEY
    )
    await sync_to_async(configure_agent)(engine="ultravox", greeting="Hello.")
    async with (
        FakeUltravox(api_key=UV_KEY) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        yield server, ultravox


async def _open(server: LiveServer, token: str = TOKEN_A) -> ClientConnection:
    return await connect(
        server.ws_url + "/twilio/media-stream",
        additional_headers={"X-Twilio-Signature": sign_webhook(token, STREAM_URL)},
        compression=None,
        proxy=None,
    )


def _start(call_sid: str, token: str, stream_sid: str = "MZ" + "1" * 32) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "accountSid": ACCOUNT_A, "streamSid": stream_sid, "callSid": call_sid, "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"token": token},
            },
        }
    )  # fmt: skip


async def _close_code(ws: ClientConnection) -> int | None:
    try:
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code


async def _assert_not_bound(call_sid: str) -> None:
    call = await sync_to_async(Call.objects.get)(twilio_call_sid=call_sid)
    assert call.stream_sid == "" and call.status == "ringing"


@pytest.mark.parametrize(
    "first_message",
    [
        "this is not json",
        json.dumps(["an", "array"]),
        json.dumps({"event": "subscribe"}),
        json.dumps({"event": "media", "media": {"payload": base64.b64encode(b"\xff" * 160).decode()}}),
        json.dumps({"event": "start"}),
        "x" * (70 * 1024),
    ],
    ids=["not-json", "not-object", "unknown-event", "media-before-start", "start-without-fields", "over-64k"],
)
async def test_hostile_first_messages_close_with_1008(
    stack: tuple[LiveServer, FakeUltravox], first_message: str
) -> None:
    server, ultravox = stack
    ws = await _open(server)
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(first_message)
    assert await _close_code(ws) == 1008
    assert ultravox.calls == []  # no engine was ever started


async def test_hostile_message_mid_call_closes_cleanly_and_ends_the_engine(
    stack: tuple[LiveServer, FakeUltravox],
) -> None:
    server, ultravox = stack
    answer = await place_inbound_call(server.http_url, new_sid("CA"))
    ws = await _open(server)
    await ws.send(_start(answer.call_sid, answer.token))
    uv_call = await ultravox.wait_for_call(0, within_s=10)
    await ws.send(
        json.dumps({"event": "media", "streamSid": "MZ" + "1" * 32, "media": {"payload": "%%%not-b64"}})
    )
    assert await _close_code(ws) == 1008
    await uv_call.wait_until(lambda _c: uv_call.end_reason is not None, within_s=3)  # not half-open
    await asyncio.wait_for(_ended(answer.call_sid), 15)
    call = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
    assert call.end_reason == "protocol_error"


async def _ended(call_sid: str) -> None:
    ended = Call.objects.filter(twilio_call_sid=call_sid, ended_at__isnull=False).exists
    while not await sync_to_async(ended)():  # noqa: ASYNC110 - the server is another process: no event to await
        await asyncio.sleep(0.1)


async def test_forged_or_mismatched_tokens_are_refused(stack: tuple[LiveServer, FakeUltravox]) -> None:
    server, ultravox = stack
    answer = await place_inbound_call(server.http_url, new_sid("CA"))
    cases = [
        _start(answer.call_sid, "forged-token"),
        _start(new_sid("CA"), answer.token),  # the token belongs to another CallSid
    ]
    for message in cases:
        ws = await _open(server)
        await ws.send(message)
        assert await _close_code(ws) == 1008
    await _assert_not_bound(answer.call_sid)
    assert ultravox.calls == []


async def test_bad_upgrade_signature_is_refused(stack: tuple[LiveServer, FakeUltravox]) -> None:
    server, ultravox = stack
    answer = await place_inbound_call(server.http_url, new_sid("CA"))
    ws = await _open(server, token=TOKEN_B)  # signed with another tenant's auth token
    await ws.send(_start(answer.call_sid, answer.token))
    assert await _close_code(ws) == 1008
    await _assert_not_bound(answer.call_sid)
    assert ultravox.calls == []


async def test_tenant_a_token_cannot_bind_a_call_of_tenant_b(
    stack: tuple[LiveServer, FakeUltravox], telephony: Telephony
) -> None:
    server, ultravox = stack
    call_b = await sync_to_async(Call.objects.create)(
        tenant=telephony.cast.tenant_b, phone_number=telephony.number_b, agent=telephony.cast.agent_b,
        twilio_call_sid=new_sid("CA"), status="ringing",
    )  # fmt: skip
    # A token naming tenant A but B's call id (what an attacker with A's secrets could mint).
    forged = make_call_token(
        call_public_id=str(call_b.public_id),
        tenant_id=telephony.cast.tenant_a.pk,
        call_sid=call_b.twilio_call_sid,
    )
    ws = await _open(server)
    await ws.send(_start(call_b.twilio_call_sid, forged))
    assert await _close_code(ws) == 1008
    await _assert_not_bound(call_b.twilio_call_sid)
    assert ultravox.calls == []
