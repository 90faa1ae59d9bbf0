"""POST /api/v1/calls against a fake Twilio REST API: idempotency, TwiML, AMD, limits, errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.services import agent_publish
from calls.models import Call, CallStatus, Direction
from calls.outbound.models import IdempotencyRecord, OutboundCall
from calls.outbound.services import outbound_call_variables
from calls.outbound.tasks import outbound_purge_idempotency
from calls.twilio.tokens import read_call_token
from tests.api.conftest import Keys, api, make_call
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.fakes.background import BackgroundLoop
from tests.fakes.twilio import FakeTwilioRest, sign_webhook

CALLS = "/api/v1/calls"
CALLEE = "+15557654321"


@pytest.fixture
def twilio(settings: Any, telephony: Telephony) -> Iterator[FakeTwilioRest]:
    agent_publish(tenant=telephony.cast.tenant_a, agent=telephony.cast.agent_a)
    with BackgroundLoop() as loop:
        fake = FakeTwilioRest(ACCOUNT_A, TOKEN_A)
        settings.TWILIO_API_BASE_URL = loop.run(fake.start())
        yield fake
        loop.run(fake.stop())


def dials(fake: FakeTwilioRest) -> list[dict[str, str]]:
    return [r.form for r in fake.requests if r.path.endswith("/Calls.json")]


def body(telephony: Telephony, **extra: Any) -> dict[str, Any]:
    return {"to": CALLEE, "from": telephony.number_a.number, "variables": {"first_name": "Ada"}, **extra}


def test_same_key_and_body_dials_once(telephony: Telephony, keys: Keys, twilio: FakeTwilioRest) -> None:
    client = api(keys.write_a)
    first = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    second = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == second.status_code == 201, first.content
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert len(dials(twilio)) == 1
    call = Call.objects.get()
    assert first.json()["id"] == str(call.public_id)
    assert first["Location"].endswith(f"{CALLS}/{call.public_id}")
    assert (call.direction, call.tenant, call.agent) == (
        Direction.OUTBOUND,
        telephony.cast.tenant_a,
        telephony.cast.agent_a,
    )
    assert call.twilio_call_sid and call.twilio_call_sid in twilio.calls
    assert call.status == CallStatus.QUEUED
    assert OutboundCall.objects.get(call=call).variables == {"first_name": "Ada"}

    form = dials(twilio)[0]
    assert (form["To"], form["From"]) == (CALLEE, telephony.number_a.number)
    assert form["StatusCallback"] == "https://voice.example.test/twilio/status"
    doc = ET.fromstring(form["Twiml"])  # noqa: S314 - our own TwiML
    stream = doc.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://voice.example.test/twilio/media-stream"
    token = stream.find("./Parameter[@name='token']")
    assert token is not None
    bound = read_call_token(token.get("value", ""))
    assert (bound.call_public_id, bound.tenant_id) == (str(call.public_id), telephony.cast.tenant_a.pk)
    assert "MachineDetection" not in form


def test_same_key_with_another_body_is_422(telephony: Telephony, keys: Keys, twilio: FakeTwilioRest) -> None:
    client = api(keys.write_a)
    assert client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    reused = client.post(CALLS, body(telephony, to="+15550009999"), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert reused.status_code == 422
    assert reused["Content-Type"] == "application/problem+json"
    assert reused.json()["code"] == "idempotency_key_reused"
    assert len(dials(twilio)) == 1
    # Keys are per tenant: tenant B may use the same key for its own request.
    assert Call.objects.count() == 1


def test_without_a_key_every_request_dials(telephony: Telephony, keys: Keys, twilio: FakeTwilioRest) -> None:
    client = api(keys.write_a)
    assert client.post(CALLS, body(telephony), format="json").status_code == 201
    assert client.post(CALLS, body(telephony), format="json").status_code == 201
    assert len(dials(twilio)) == 2


def test_answering_machine_detection_is_requested_and_stored(
    telephony: Telephony, keys: Keys, twilio: FakeTwilioRest, client: Client
) -> None:
    response = api(keys.write_a).post(CALLS, body(telephony, machine_detection="detect"), format="json")
    assert response.status_code == 201
    form = dials(twilio)[0]
    assert form["MachineDetection"] == "Enable" and form["AsyncAmd"] == "true"
    assert form["AsyncAmdStatusCallback"] == "https://voice.example.test/twilio/amd"
    call = Call.objects.get()
    params = {
        "AccountSid": ACCOUNT_A,
        "CallSid": call.twilio_call_sid,
        "AnsweredBy": "machine_end_beep",
        "MachineDetectionDuration": "2400",
    }
    forged = client.post("/twilio/amd", params, HTTP_X_TWILIO_SIGNATURE="bogus")
    assert forged.status_code == 403
    assert OutboundCall.objects.get(call=call).answered_by == ""
    signature = sign_webhook(TOKEN_A, "https://voice.example.test/twilio/amd", params)
    assert client.post("/twilio/amd", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204
    outbound = OutboundCall.objects.get(call=call)
    assert (outbound.answered_by, outbound.machine_detection_ms) == ("machine_end_beep", 2400)
    assert api(keys.read_a).get(f"{CALLS}/{call.public_id}").json()["answered_by"] == "machine_end_beep"


def test_concurrent_call_limit(telephony: Telephony, keys: Keys, twilio: FakeTwilioRest) -> None:
    cast = telephony.cast
    cast.tenant_a.max_concurrent_calls = 1
    cast.tenant_a.save()
    live = make_call(
        cast.tenant_a, agent=cast.agent_a, number=telephony.number_a, status=CallStatus.IN_PROGRESS
    )
    client = api(keys.write_a)
    refused = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert refused.status_code == 429 and refused.json()["code"] == "concurrent_call_limit"
    assert dials(twilio) == []
    live.status = CallStatus.COMPLETED
    live.save()
    # Nothing happened the first time, so the same key may be retried as it is.
    assert (
        client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 201
    )
    assert len(dials(twilio)) == 1


def test_refusals_before_dialling(telephony: Telephony, keys: Keys, twilio: FakeTwilioRest) -> None:
    client = api(keys.write_a)
    foreign_number = client.post(CALLS, body(telephony, **{"from": telephony.number_b.number}), format="json")
    assert foreign_number.status_code == 400
    assert [e["pointer"] for e in foreign_number.json()["errors"]] == ["#/from"]
    foreign_agent = client.post(
        CALLS, body(telephony, agent=str(telephony.cast.agent_b.public_id)), format="json"
    )
    assert [e["pointer"] for e in foreign_agent.json()["errors"]] == ["#/agent"]
    unpublished = telephony.cast.agent_a.__class__.objects.create(
        tenant=telephony.cast.tenant_a, name="Draft", main_prompt="x"
    )
    draft = client.post(CALLS, body(telephony, agent=str(unpublished.public_id)), format="json")
    assert draft.status_code == 400 and "Publish" in draft.json()["errors"][0]["detail"]
    bad_to = client.post(CALLS, body(telephony, to="12345"), format="json")
    assert [e["pointer"] for e in bad_to.json()["errors"]] == ["#/to"]
    assert api(keys.read_a).post(CALLS, body(telephony), format="json").status_code == 403
    assert dials(twilio) == [] and not Call.objects.exists()


def test_twilio_refusal_is_stored_and_never_redialled(
    telephony: Telephony, keys: Keys, twilio: FakeTwilioRest
) -> None:
    telephony.account_a.auth_token = "a-wrong-token"
    telephony.account_a.save()
    client = api(keys.write_a)
    first = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="k-fail")
    assert first.status_code == 422
    problem = first.json()
    assert (problem["code"], problem["twilio_status"], problem["twilio_code"]) == (
        "twilio_rejected",
        401,
        20003,
    )
    call = Call.objects.get(public_id=problem["call_id"])
    assert (call.status, call.end_reason) == (CallStatus.FAILED, "dial_failed")
    again = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="k-fail")
    assert again.status_code == 422 and again.json() == problem
    assert len(dials(twilio)) == 1


def test_a_key_expires_after_24_hours(telephony: Telephony, keys: Keys, twilio: FakeTwilioRest) -> None:
    client = api(keys.write_a)
    first = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="daily")
    assert first.status_code == 201
    call = Call.objects.get()
    assert outbound_call_variables(tenant_id=call.tenant_id, call_pk=call.pk) == {"first_name": "Ada"}
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = client.post(CALLS, body(telephony), format="json", HTTP_IDEMPOTENCY_KEY="daily")
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
    assert len(dials(twilio)) == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert outbound_purge_idempotency() == 1
    assert not IdempotencyRecord.objects.exists()
