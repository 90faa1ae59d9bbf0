"""Twilio webhooks: the inbound voice webhook and call status callbacks.

Both validate ``X-Twilio-Signature`` with the auth token of the tenant the request is about,
over the public URL (``PUBLIC_BASE_URL`` + path), before writing anything: a bad or missing
signature is a 403 and nothing is stored.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import selectors, services
from calls.twilio import twiml
from calls.twilio.signature import is_valid_signature
from calls.twilio.tokens import InvalidCallToken, make_call_token, read_dial_token

log = logging.getLogger(__name__)

MEDIA_STREAM_PATH = "/twilio/media-stream"


def public_url(request: HttpRequest) -> str:
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def stream_url() -> str:
    base = settings.PUBLIC_BASE_URL
    scheme, rest = base.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + MEDIA_STREAM_PATH


def _xml(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml", status=status)


def _signed(request: HttpRequest, auth_token: str) -> bool:
    return is_valid_signature(
        auth_token, public_url(request), request.POST, request.headers.get("X-Twilio-Signature")
    )


@csrf_exempt
@require_POST
def voice_webhook(request: HttpRequest) -> HttpResponse:
    to_number = request.POST.get("To", "")
    call_sid = request.POST.get("CallSid", "")
    number = selectors.phone_number_for_inbound(to_number=to_number)
    if number is None:
        # No tenant is known, so there is nothing to validate against and nothing to store.
        log.info("voice webhook for an unknown number")
        return _xml(twiml.polite_hangup(twiml.SORRY_UNAVAILABLE))
    account = number.telephony_account
    if not _signed(request, account.auth_token) or request.POST.get("AccountSid") != account.account_sid:
        log.warning("voice webhook with a bad signature for tenant %s", number.tenant_id)
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    if not call_sid:
        return HttpResponse("CallSid is required", status=400, content_type="text/plain")

    admission = services.call_admit_inbound(
        tenant=number.tenant,
        number=number,
        call_sid=call_sid,
        account_sid=account.account_sid,
        from_number=request.POST.get("From", ""),
        to_number=to_number,
    )
    if admission.rejected_reason:
        message = (
            twiml.SORRY_BUSY
            if admission.rejected_reason == services.REJECT_OVER_CAPACITY
            else twiml.SORRY_UNAVAILABLE
        )
        return _xml(twiml.polite_hangup(message))
    token = make_call_token(
        call_public_id=str(admission.call.public_id), tenant_id=number.tenant_id, call_sid=call_sid
    )
    return _xml(twiml.connect_stream(stream_url=stream_url(), token=token))


@csrf_exempt
@require_POST
def status_webhook(request: HttpRequest) -> HttpResponse:
    call = selectors.call_for_status_callback(call_sid=request.POST.get("CallSid", ""))
    if call is None or call.phone_number is None:
        return HttpResponse(status=404)
    if not _signed(request, call.phone_number.telephony_account.auth_token):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    services.call_apply_status_callback(
        call=call, status=request.POST.get("CallStatus", ""), duration_s=request.POST.get("CallDuration")
    )
    return HttpResponse(status=204)


TRANSFER_ANSWERED = frozenset({"completed", "answered"})


@csrf_exempt
@require_POST
def dial_action_webhook(request: HttpRequest) -> HttpResponse:
    """Twilio reports how a transfer's <Dial> ended. Answered: the call is over when the human
    hangs up. Busy, no answer or failed: back to the agent, or a polite goodbye, as the agent is
    configured."""
    try:
        call_public_id, tenant_id = read_dial_token(request.GET.get("t", ""))
    except InvalidCallToken:
        return HttpResponse(status=404)
    call = selectors.call_for_dial_action(tenant_id=tenant_id, call_public_id=call_public_id)
    if call is None or call.phone_number is None:
        return HttpResponse(status=404)
    if not _signed(request, call.phone_number.telephony_account.auth_token):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    outcome = request.POST.get("DialCallStatus", "failed")
    returning = services.call_record_transfer_outcome(
        call=call, outcome=outcome, dial_duration_s=request.POST.get("DialCallDuration")
    )
    if outcome in TRANSFER_ANSWERED:
        return _xml(twiml.hangup())
    if returning:
        token = make_call_token(
            call_public_id=str(call.public_id), tenant_id=call.tenant_id, call_sid=call.twilio_call_sid
        )
        return _xml(twiml.connect_stream(stream_url=stream_url(), token=token))
    return _xml(twiml.polite_hangup(twiml.SORRY_NOBODY_AVAILABLE))
