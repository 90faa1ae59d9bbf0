"""An operator transfers a live phone call from the dashboard, through the real server: the POST
reaches the worker bridging the call over the channel layer (Redis on CI), the session redirects
the call through Twilio's REST API to the agent's handover line and a ``<Dial>`` to its transfer
number, and the call is recorded as transferred."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from calls.models import Call, CallEvent
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import configure_agent, connect_caller, place_inbound_call, wait_db  # noqa: F401
from tests.e2e.server import live_server
from tests.fakes.twilio import FakeTwilioRest, new_sid

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRANSFER_NUMBER = "+15559990000"
HANDOVER = "Connecting you to a colleague now."


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


async def test_the_transfer_button_redirects_the_live_call(
    telephony: Telephony,
    configure_agent: Callable[..., Any],  # noqa: F811
) -> None:
    await sync_to_async(configure_agent)(
        engine="echo", transfer_number=TRANSFER_NUMBER, handover_line=HANDOVER
    )
    session = await sync_to_async(_session)(telephony.cast.editor_a)
    csrf = secrets.token_hex(16)  # a CSRF secret of our own: cookie and header must match
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        await wait_db(
            lambda: Call.objects.filter(twilio_call_sid=answer.call_sid).exclude(stream_sid="").exists()
        )
        call = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
        async with httpx.AsyncClient(
            base_url=server.http_url,
            cookies={settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf},
            headers={"X-CSRFToken": csrf, "Origin": server.http_url},
            trust_env=False,
        ) as browser:
            response = await browser.post(f"/t/acme/live/{call.public_id}/transfer/")
        assert response.status_code == 302 and response.headers["Location"] == "/t/acme/live/"
        await caller.wait_for(lambda: caller.closed.is_set(), timeout_s=10)  # Twilio ended the stream
        await wait_db(lambda: Call.objects.filter(pk=call.pk, end_reason="transferred").exists())
        await caller.aclose()

    fake_call = rest.calls[answer.call_sid]
    assert fake_call.history == ["redirect"]
    twiml = ET.fromstring(fake_call.twiml or "")  # noqa: S314 - our own server's TwiML
    assert [child.tag for child in twiml] == ["Say", "Dial"]
    assert twiml.find("Say").text == HANDOVER  # type: ignore[union-attr]
    dial = twiml.find("Dial")
    assert dial is not None and (dial.text or "").strip() == TRANSFER_NUMBER
    assert dial.get("action", "").startswith("https://voice.example.test/twilio/dial-action?t=")
    call = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert call.stream_sid == "" and call.ended_at is None  # with a human now, until Twilio reports
    requested = await sync_to_async(
        lambda: list(
            CallEvent.objects.filter(call=call, type="operator_transfer").values_list("payload", flat=True)
        )
    )()
    assert requested == [{"requested_by": "editor_a"}]
