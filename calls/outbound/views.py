"""Twilio's asynchronous answering-machine-detection callback for outbound calls."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import selectors
from calls.outbound.services import outbound_record_answered_by
from calls.twilio.signature import is_valid_signature
from calls.views import public_url


@csrf_exempt
@require_POST
def amd_callback(request: HttpRequest) -> HttpResponse:
    """Validated like every Twilio webhook: the call is found by CallSid, the signature checked
    with its tenant's auth token before anything is stored."""
    call = selectors.call_for_status_callback(call_sid=request.POST.get("CallSid", ""))
    if call is None or call.phone_number is None:
        return HttpResponse(status=404)
    account = call.phone_number.telephony_account
    signature = request.headers.get("X-Twilio-Signature")
    if not is_valid_signature(account.auth_token, public_url(request), request.POST, signature):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    outbound_record_answered_by(
        call=call,
        answered_by=request.POST.get("AnsweredBy", ""),
        detection_ms=request.POST.get("MachineDetectionDuration"),
    )
    return HttpResponse(status=204)
