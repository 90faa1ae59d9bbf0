"""``POST /api/v1/calls``: place an outbound call, honouring ``Idempotency-Key``.

The same key and body within 24 hours return the first response (``Idempotent-Replayed: true``)
and never dial again; the same key with another body is a 422; a second request while the first
is still running is a 409. A request refused before anything happened (invalid, over the
concurrent-call limit) releases its key so it can be retried as it is. A Twilio failure is
stored like a success: Twilio may have dialled, so the key must not dial again.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from calls.api.serializers import CallSerializer, OutboundCallRequestSerializer
from calls.models import Call
from calls.outbound import services as outbound
from tenants.models import Tenant
from voxsaas.rest.problems import PROBLEM_CONTENT_TYPE, problem

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyKeyReusedError(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used with a different request."
    default_code = "idempotency_key_reused"


class IdempotencyInProgressError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The first request with this Idempotency-Key is still being processed; retry shortly."
    default_code = "idempotency_in_progress"


class ConcurrentCallLimitError(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "The tenant's concurrent-call limit is reached; retry when a call has ended."
    default_code = "concurrent_call_limit"


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise exceptions.ValidationError({IDEMPOTENCY_HEADER: f"1 to {MAX_KEY_LENGTH} characters."})
    return key


def _location(request: Request, call: Call) -> str:
    return request.build_absolute_uri(f"{request.path.rstrip('/')}/{call.public_id}")


def _place(request: Request, tenant: Tenant) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of the placing; raises API exceptions for refusals."""
    serializer = OutboundCallRequestSerializer(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    agent = data.get("agent")
    placement = outbound.OutboundRequest(
        to=data["to"],
        from_number=data["from"],
        agent_public_id=str(agent.public_id) if agent is not None else None,
        variables=dict(data.get("variables") or {}),
        machine_detection=data["machine_detection"],
    )
    try:
        call = outbound.outbound_call_create(tenant=tenant, request=placement)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        ) from None
    except outbound.CallCapacityExceeded as exc:
        raise ConcurrentCallLimitError(f"{ConcurrentCallLimitError.default_detail} ({exc})") from None
    try:
        call = outbound.outbound_call_dial(
            tenant=tenant, call=call, machine_detection=placement.machine_detection
        )
    except outbound.OutboundDialError as exc:
        unavailable = exc.status is None or exc.status >= 500
        body = problem(
            status_code=502 if unavailable else 422,
            detail=str(exc) if not unavailable else "Twilio could not place the call; it was not retried.",
            code="twilio_unavailable" if unavailable else "twilio_rejected",
            call_id=str(call.public_id),
            twilio_status=exc.status,
            twilio_code=exc.code,
        )
        return body["status"], body, {}
    call = Call.objects.select_related("phone_number", "agent", "outbound").get(tenant=tenant, pk=call.pk)
    return status.HTTP_201_CREATED, dict(CallSerializer(call).data), {"Location": _location(request, call)}


def _response(status_code: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    response = Response(body, status=status_code, headers=headers)
    if status_code >= 400:
        response.content_type = PROBLEM_CONTENT_TYPE
    return response


def outbound_call_response(request: Request, tenant: Tenant) -> Response:
    key = _idempotency_key(request)
    if key is None:
        return _response(*_place(request, tenant))
    fingerprint = outbound.request_fingerprint(
        method=request.method or "POST", path=request.path, data=request.data
    )
    try:
        stored = outbound.idempotency_claim(tenant=tenant, key=key, fingerprint=fingerprint)
    except outbound.IdempotencyKeyReused:
        raise IdempotencyKeyReusedError from None
    except outbound.IdempotencyInProgress:
        raise IdempotencyInProgressError from None
    if stored is not None:
        return _response(stored.status, stored.body, {"Idempotent-Replayed": "true"})
    try:
        status_code, body, headers = _place(request, tenant)
    except exceptions.APIException:
        # Refused before dialling: nothing happened, the key may be used again. (Any other
        # error leaves the key "in progress" until it expires: it may have dialled.)
        outbound.idempotency_release(tenant=tenant, key=key)
        raise
    outbound.idempotency_complete(tenant=tenant, key=key, status=status_code, body=body)
    return _response(status_code, body, headers)
