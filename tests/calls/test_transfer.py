"""Transfer outcomes come back through the <Dial action> callback and are stored."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from calls.models import Call, CallEvent, CallStatus
from calls.services import CallEnding, call_end
from calls.twilio.tokens import make_dial_token
from tests.calls.conftest import ACCOUNT_A, CALLER, NUMBER_A, TOKEN_A, TOKEN_B, Telephony

PUBLIC = "https://voice.example.test"


def _transferred_call(telephony: Telephony, failure_action: str = "return") -> Call:
    revision = telephony.cast.agent_a.published_revision
    assert revision is not None
    revision.config = {
        **revision.config,
        "transfer_failure_action": failure_action,
        "transfer_number": "+15557778888",
    }
    revision.save()
    call = Call.objects.create(
        tenant=telephony.cast.tenant_a,
        phone_number=telephony.number_a,
        agent=telephony.cast.agent_a,
        agent_revision=revision,
        from_number=CALLER,
        to_number=NUMBER_A,
        twilio_call_sid="CA" + uuid.uuid4().hex,
        status=CallStatus.IN_PROGRESS,
        stream_sid="MZ1",
    )
    call_end(tenant_id=call.tenant_id, call_pk=call.pk, ending=CallEnding("transferred", 5000, [], {}))
    call.refresh_from_db()
    return call


def _dial_action(client: Client, call: Call, status: str, token: str = TOKEN_A) -> Any:
    token_param = make_dial_token(call_public_id=str(call.public_id), tenant_id=call.tenant_id)
    url = f"{PUBLIC}/twilio/dial-action?t={token_param}"
    params = {"AccountSid": ACCOUNT_A, "CallSid": call.twilio_call_sid, "DialCallStatus": status}
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(url.removeprefix(PUBLIC), params, headers={"X-Twilio-Signature": signature})


def test_transfer_keeps_the_call_live_and_releases_the_stream(telephony: Telephony) -> None:
    call = _transferred_call(telephony)
    assert call.status == CallStatus.IN_PROGRESS
    assert call.ended_at is None
    assert (call.stream_sid, call.end_reason) == ("", "transferred")


def test_answered_transfer_hangs_up_when_done(client: Client, telephony: Telephony) -> None:
    call = _transferred_call(telephony)
    response = _dial_action(client, call, "completed")
    assert response.status_code == 200
    assert [child.tag for child in ET.fromstring(response.content)] == ["Hangup"]  # noqa: S314
    event = CallEvent.objects.get(call=call, type="transfer_completed")
    assert event.payload["outcome"] == "completed" and event.payload["returned_to_agent"] is False


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_failed_transfer_returns_to_the_agent(client: Client, telephony: Telephony, status: str) -> None:
    call = _transferred_call(telephony, failure_action="return")
    doc = ET.fromstring(_dial_action(client, call, status).content)  # noqa: S314
    assert doc.find("./Connect/Stream/Parameter[@name='token']") is not None
    call.refresh_from_db()
    assert call.end_reason == ""  # back with the agent
    assert CallEvent.objects.get(call=call, type="transfer_completed").payload["returned_to_agent"] is True


def test_failed_transfer_ends_politely_when_configured(client: Client, telephony: Telephony) -> None:
    call = _transferred_call(telephony, failure_action="end")
    doc = ET.fromstring(_dial_action(client, call, "no-answer").content)  # noqa: S314
    assert [child.tag for child in doc] == ["Say", "Hangup"]


def test_dial_action_needs_the_tenants_signature_and_a_valid_token(
    client: Client, telephony: Telephony
) -> None:
    call = _transferred_call(telephony)
    assert _dial_action(client, call, "busy", token=TOKEN_B).status_code == 403
    assert client.post("/twilio/dial-action?t=forged", {"DialCallStatus": "busy"}).status_code == 404
    assert not CallEvent.objects.filter(call=call).exists()
