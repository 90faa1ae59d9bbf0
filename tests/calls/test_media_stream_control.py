"""An operator's hang-up reaches a media stream that is busy streaming, through the real server.

``MediaStreamConsumer`` reads its client and the channel layer with ``ReceiveLoopsMixin`` (no task
per audio message): the ``call.control`` message from the live page must still be dispatched while
audio frames keep arriving 50 times a second, and end the call like before (REST hang-up, the
``operator_hangup`` event, ``agent_hangup``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from django.urls import reverse

from calls.models import Call, CallEvent
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import configure_agent, connect_caller, place_inbound_call, wait_db  # noqa: F401
from tests.e2e.server import live_server
from tests.fakes.twilio import FakeTwilioRest, new_sid

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> AsyncIterator[None]:
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def _session(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


async def test_the_hangup_button_ends_a_streaming_call(
    telephony: Telephony,
    configure_agent: Callable[..., Any],  # noqa: F811
) -> None:
    await sync_to_async(configure_agent)(engine="echo")
    session = await sync_to_async(_session)(telephony.cast.owner_a)
    csrf = secrets.token_hex(16)
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        # The echo engine plays every caller frame back: a stream busy in both directions.
        await caller.wait_for(lambda: len(caller.mark_echoes) >= 25, timeout_s=15)
        call = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
        async with httpx.AsyncClient(
            base_url=server.http_url,
            cookies={settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf},
            headers={"X-CSRFToken": csrf, "Origin": server.http_url},
            trust_env=False,
        ) as browser:
            response = await browser.post(reverse("live:hangup", args=["acme", str(call.public_id)]))
        assert response.status_code == 302
        await caller.wait_for(lambda: caller.closed.is_set(), timeout_s=10)
        await wait_db(lambda: Call.objects.filter(pk=call.pk, ended_at__isnull=False).exists())
        await caller.aclose()

    assert rest.calls[answer.call_sid].history == ["status:completed"]  # hung up through Twilio's REST API
    call = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert call.end_reason == "agent_hangup"
    requested = await sync_to_async(
        lambda: list(
            CallEvent.objects.filter(call=call, type="operator_hangup").values_list("payload", flat=True)
        )
    )()
    assert requested == [{"requested_by": "owner_a"}]
