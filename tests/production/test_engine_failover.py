"""Engine failure policy through the real server: with a transfer number, a caller whose engine
drops hears a fallback line and is put through to the human (a REST redirect to ``<Say>`` +
``<Dial>``); without one, the socket closes and Twilio's ``<Say>`` after ``<Connect>`` runs."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from calls.config_snapshot import build_call_config
from calls.consumers import FAILOVER_LINE, failover_twiml
from calls.models import Call, CallEvent, CallStatus
from calls.services import BoundCall
from calls.twilio.tokens import read_dial_token
from tenants.models import ProviderCredential
from tests.audio import AUDIO_DIR
from tests.calls.conftest import ACCOUNT_A, CALLER, NUMBER_A, TOKEN_A, Telephony
from tests.e2e.conftest import place_inbound_call
from tests.e2e.server import PUBLIC_BASE_URL, live_server
from tests.fakes.twilio import FakeTwilioRest, new_sid
from tests.fakes.ultravox import FakeUltravox, Script, Turn
from tests.production.conftest import connect_caller, wait_db

AUDIO = AUDIO_DIR
UV_KEY = "uv-tenant-a-key"
HUMAN = "+15557778888"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_engine_drop_transfers_the_caller_to_the_human_number(
    telephony: Telephony, configure_agent: Callable[..., Any]
) -> None:
    await sync_to_async(ProviderCredential.objects.create)(
        tenant=telephony.cast.tenant_a, provider="ultravox", api_key=UV_KEY
    )
    await sync_to_async(configure_agent)(
        engine="ultravox", greeting="Hello, Acme here.", transfer_number=HUMAN
    )
    script = Script(turns=[Turn(user_text="what are your opening hours", action="drop")], playback_speed=20)
    async with (
        FakeUltravox(api_key=UV_KEY, script=script) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        await ultravox.wait_for_call(0, within_s=10)
        await caller.wait_for(lambda: len(caller.played) > 4000 and caller.buffered_bytes == 0, timeout_s=15)
        await caller.say_wav(AUDIO / "opening_hours.wav")
        async with asyncio.timeout(15):
            await caller.closed.wait()  # Twilio ends the stream once it runs the redirect's TwiML
        await wait_db(lambda: CallEvent.objects.filter(type="call_ended").exists())
        await wait_db(lambda: Call.objects.filter(end_reason="transferred").exists())
        await caller.aclose()

    (redirect,) = [r.form for r in rest.requests if "Twiml" in r.form]
    assert not [r for r in rest.requests if r.form.get("Status") == "completed"]  # not hung up
    doc = ET.fromstring(redirect["Twiml"])  # noqa: S314 - our own server's TwiML
    assert [child.tag for child in doc][:2] == ["Say", "Dial"]
    assert doc.findtext("Say") == FAILOVER_LINE
    dial = doc.find("Dial")
    assert dial is not None and (dial.text or "").strip() == HUMAN
    assert dial.get("callerId") == NUMBER_A
    assert (dial.get("action") or "").startswith(PUBLIC_BASE_URL + "/twilio/dial-action?t=")

    call = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
    # Like any transfer: the phone call goes on with the human; Twilio's status callback ends it.
    assert (call.end_reason, call.stream_sid, call.ended_at) == ("transferred", "", None)
    assert call.status == CallStatus.IN_PROGRESS
    dial_call, dial_tenant = read_dial_token((dial.get("action") or "").split("t=", 1)[1])
    assert (dial_call, dial_tenant) == (str(call.public_id), call.tenant_id)
    failover = await sync_to_async(CallEvent.objects.get)(call=call, type="failover")
    assert failover.payload == {"from": "engine_error"}


def _bound(telephony: Telephony, *, returning: bool, transfer_number: str) -> BoundCall:
    revision = telephony.cast.agent_a.published_revision
    assert revision is not None
    call = Call.objects.create(
        tenant=telephony.cast.tenant_a,
        phone_number=telephony.number_a,
        agent=telephony.cast.agent_a,
        agent_revision=revision,
        from_number=CALLER,
        to_number=NUMBER_A,
        twilio_call_sid=new_sid("CA"),
    )
    config = build_call_config(call=call, revision=revision, returning=returning, verified=False)
    return BoundCall(
        call_pk=call.pk,
        tenant_id=call.tenant_id,
        config=config,
        revision_config={**revision.config, "transfer_number": transfer_number},
        caller_number=CALLER,
        called_number=NUMBER_A,
        twilio_account_sid=ACCOUNT_A,
        twilio_auth_token=TOKEN_A,
        call_sid=call.twilio_call_sid,
    )


@pytest.mark.django_db
def test_no_failover_without_a_human_number_or_for_a_caller_back_from_a_transfer(
    telephony: Telephony,
) -> None:
    assert failover_twiml(_bound(telephony, returning=False, transfer_number=HUMAN)) is not None
    # Nobody to call: closing the socket lets Twilio say sorry (<Say> + <Hangup> after <Connect>).
    assert failover_twiml(_bound(telephony, returning=False, transfer_number="")) is None
    # Back from a transfer nobody answered a moment ago: don't ring the same human again.
    assert failover_twiml(_bound(telephony, returning=True, transfer_number=HUMAN)) is None
