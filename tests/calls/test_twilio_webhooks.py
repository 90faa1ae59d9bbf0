"""The inbound voice webhook and status callbacks: signatures, admission, TwiML, ordering."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from calls.models import Call, CallStatus
from calls.twilio.tokens import read_call_token
from tests.calls.conftest import ACCOUNT_A, ACCOUNT_B, CALLER, NUMBER_A, NUMBER_B, TOKEN_A, TOKEN_B, Telephony

PUBLIC = "https://voice.example.test"


def voice_params(to: str = NUMBER_A, account: str = ACCOUNT_A, call_sid: str | None = None) -> dict[str, str]:
    return {
        "AccountSid": account,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or "CA" + uuid.uuid4().hex,
        "CallStatus": "ringing",
        "Called": to,
        "Caller": CALLER,
        "Direction": "inbound",
        "From": CALLER,
        "FromCountry": "US",
        "To": to,
        "ToCountry": "US",
    }


def post_signed(client: Client, path: str, params: dict[str, str], token: str, url: str | None = None) -> Any:
    signature = RequestValidator(token).compute_signature(url or PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)  # noqa: S314 - our own TwiML


def test_good_signature_creates_the_call_and_connects_the_stream(
    client: Client, telephony: Telephony
) -> None:
    params = voice_params()
    doc = twiml(post_signed(client, "/twilio/voice", params, TOKEN_A))
    stream = doc.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://voice.example.test/twilio/media-stream"
    token = stream.find("./Parameter[@name='token']")
    assert token is not None
    # A fallback line and hang-up follow the stream, so a dropped stream is never silence.
    assert [child.tag for child in doc] == ["Connect", "Say", "Hangup"]

    call = Call.objects.get()
    assert call.tenant == telephony.cast.tenant_a
    assert call.agent == telephony.cast.agent_a
    assert call.status == CallStatus.RINGING
    assert call.twilio_call_sid == params["CallSid"]
    assert call.from_number == CALLER
    bound = read_call_token(token.get("value", ""))
    assert (bound.call_public_id, bound.tenant_id, bound.call_sid) == (
        str(call.public_id),
        telephony.cast.tenant_a.pk,
        params["CallSid"],
    )


def test_signature_with_default_port_in_url_is_accepted(client: Client, telephony: Telephony) -> None:
    params = voice_params()
    response = post_signed(
        client, "/twilio/voice", params, TOKEN_A, url="https://voice.example.test:443/twilio/voice"
    )
    assert twiml(response).find("./Connect/Stream") is not None


@pytest.mark.parametrize(
    "signature",
    [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong"],
    ids=["missing", "empty", "garbage", "short"],
)
def test_bad_or_missing_signature_is_403_and_writes_nothing(
    client: Client, telephony: Telephony, signature: str | None
) -> None:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = client.post("/twilio/voice", voice_params(), headers=headers)
    assert response.status_code == 403
    assert Call.objects.count() == 0


def test_signature_for_another_url_is_refused(client: Client, telephony: Telephony) -> None:
    params = voice_params()
    response = post_signed(client, "/twilio/voice", params, TOKEN_A, url=PUBLIC + "/twilio/status")
    assert response.status_code == 403
    response = post_signed(
        client, "/twilio/voice", params, TOKEN_A, url="https://evil.example.com/twilio/voice"
    )
    assert response.status_code == 403
    assert Call.objects.count() == 0


def test_tampered_parameters_are_refused(client: Client, telephony: Telephony) -> None:
    params = voice_params()
    signature = RequestValidator(TOKEN_A).compute_signature(PUBLIC + "/twilio/voice", params)
    response = client.post(
        "/twilio/voice", {**params, "From": "+19998887777"}, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403
    assert Call.objects.count() == 0


def test_tenant_a_token_cannot_sign_a_call_to_tenant_b(client: Client, telephony: Telephony) -> None:
    params = voice_params(to=NUMBER_B, account=ACCOUNT_B)
    assert post_signed(client, "/twilio/voice", params, TOKEN_A).status_code == 403
    params_wrong_account = voice_params(to=NUMBER_B, account=ACCOUNT_A)
    assert post_signed(client, "/twilio/voice", params_wrong_account, TOKEN_A).status_code == 403
    assert Call.objects.count() == 0
    # Tenant B's own token works for its own number.
    assert twiml(post_signed(client, "/twilio/voice", params, TOKEN_B)).find("./Connect/Stream") is not None
    assert Call.objects.get().tenant == telephony.cast.tenant_b


def test_unknown_number_gets_a_polite_goodbye_and_nothing_is_stored(
    client: Client, telephony: Telephony
) -> None:
    doc = twiml(post_signed(client, "/twilio/voice", voice_params(to="+15559990000"), TOKEN_A))
    assert [child.tag for child in doc] == ["Say", "Hangup"]
    assert Call.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("number_inactive", "number_inactive"),
        ("no_agent", "no_agent"),
        ("tenant_inactive", "tenant_inactive"),
    ],
)
def test_refused_calls_say_goodbye_and_store_the_reason(
    client: Client, telephony: Telephony, change: str, reason: str
) -> None:
    if change == "number_inactive":
        telephony.number_a.is_active = False
        telephony.number_a.save()
    elif change == "no_agent":
        telephony.number_a.agent = None
        telephony.number_a.save()
    else:
        telephony.cast.tenant_a.is_active = False
        telephony.cast.tenant_a.save()
    doc = twiml(post_signed(client, "/twilio/voice", voice_params(), TOKEN_A))
    assert [child.tag for child in doc] == ["Say", "Hangup"]
    call = Call.objects.get()
    assert (call.status, call.end_reason) == (CallStatus.REJECTED, reason)
    assert call.ended_at is not None


def test_concurrent_call_limit(client: Client, telephony: Telephony) -> None:
    tenant = telephony.cast.tenant_a
    tenant.max_concurrent_calls = 2
    tenant.save()
    for _ in range(2):
        assert (
            twiml(post_signed(client, "/twilio/voice", voice_params(), TOKEN_A)).find("./Connect") is not None
        )
    doc = twiml(post_signed(client, "/twilio/voice", voice_params(), TOKEN_A))
    assert doc.find("./Connect") is None
    assert "busy" in (doc.findtext("./Say") or "")
    assert Call.objects.filter(end_reason="over_capacity").count() == 1
    # Another tenant's capacity is its own.
    params_b = voice_params(to=NUMBER_B, account=ACCOUNT_B)
    assert twiml(post_signed(client, "/twilio/voice", params_b, TOKEN_B)).find("./Connect") is not None


def test_webhook_retry_with_the_same_call_sid_reuses_the_call(client: Client, telephony: Telephony) -> None:
    params = voice_params()
    first = twiml(post_signed(client, "/twilio/voice", params, TOKEN_A))
    second = twiml(post_signed(client, "/twilio/voice", params, TOKEN_A))
    assert first.find("./Connect/Stream") is not None and second.find("./Connect/Stream") is not None
    assert Call.objects.count() == 1


def _status(client: Client, call_sid: str, status: str, token: str = TOKEN_A, **extra: str) -> int:
    params = {"AccountSid": ACCOUNT_A, "CallSid": call_sid, "CallStatus": status, "To": NUMBER_A, **extra}
    return post_signed(client, "/twilio/status", params, token).status_code


def test_status_callbacks_never_move_a_finished_call_backwards(client: Client, telephony: Telephony) -> None:
    params = voice_params()
    post_signed(client, "/twilio/voice", params, TOKEN_A)
    sid = params["CallSid"]
    assert _status(client, sid, "in-progress") == 204
    assert _status(client, sid, "completed", CallDuration="42") == 204
    assert _status(client, sid, "ringing") == 204  # late, out of order
    assert _status(client, sid, "in-progress") == 204
    call = Call.objects.get()
    assert call.status == CallStatus.COMPLETED
    assert call.duration_s == 42
    assert call.ended_at is not None
    assert call.end_reason == "twilio_completed"


def test_status_callback_signature_and_tenant_checks(client: Client, telephony: Telephony) -> None:
    params = voice_params()
    post_signed(client, "/twilio/voice", params, TOKEN_A)
    assert _status(client, params["CallSid"], "completed", token=TOKEN_B) == 403
    response = client.post("/twilio/status", {"CallSid": params["CallSid"], "CallStatus": "completed"})
    assert response.status_code == 403
    assert _status(client, "CA" + "0" * 32, "completed") == 404
    assert Call.objects.get().status == CallStatus.RINGING


def test_get_is_not_allowed(client: Client, telephony: Telephony) -> None:
    assert client.get("/twilio/voice").status_code == 405


def test_unanswered_call_gets_post_call_work_from_its_final_status(
    client: Client, telephony: Telephony, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueued: list[tuple[int, int]] = []
    monkeypatch.setattr(
        "calls.tasks.postcall_enqueue", lambda *, tenant_id, call_pk: enqueued.append((tenant_id, call_pk))
    )
    params = voice_params()
    post_signed(client, "/twilio/voice", params, TOKEN_A)
    assert _status(client, params["CallSid"], "no-answer") == 204
    assert _status(client, params["CallSid"], "no-answer") == 204  # repeated: nothing more
    call = Call.objects.get()
    assert enqueued == [(call.tenant_id, call.pk)]
