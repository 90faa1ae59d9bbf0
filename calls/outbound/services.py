"""Placing outbound calls, answering-machine outcomes and idempotency records.

Placing a call is three steps so that no transaction or lock is held while Twilio is called:
create the Call (tenant row locked for the concurrent-call count), dial through Twilio's REST
API, then store the CallSid (or the failure).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Agent
from calls.models import STATUS_RANK, Call, CallStatus, Direction
from calls.outbound.models import (
    TWILIO_MACHINE_DETECTION,
    AnsweredBy,
    IdempotencyRecord,
    IdempotencyState,
    MachineDetection,
    OutboundCall,
)
from calls.services import tenant_active_call_count
from calls.twilio import twiml
from calls.twilio.rest import TwilioRestClient, TwilioRestError
from calls.twilio.tokens import make_call_token
from calls.views import stream_url
from tenants.access import TenantObjectNotFound, access_agent_by_public_id
from tenants.models import PhoneNumber, Tenant

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL = timedelta(hours=24)
DIAL_FAILED = "dial_failed"
# How long Twilio lets the callee's phone ring. Kept well inside the call token's lifetime:
# the stream starts after the answer, and the token in the TwiML must still be valid then.
RING_TIMEOUT_S = 50
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class CallCapacityExceeded(Exception):
    """The tenant already has as many calls in progress as its plan allows."""


class OutboundDialError(Exception):
    """Twilio refused the call, or could not be reached (then it may or may not have dialled)."""

    def __init__(self, message: str, *, status: int | None, code: int | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class OutboundRequest:
    to: str
    from_number: str
    agent_public_id: str | None
    variables: dict[str, str]
    machine_detection: str = MachineDetection.OFF


# ------------------------------------------------------------------------------- placing


@transaction.atomic
def outbound_call_create(*, tenant: Tenant, request: OutboundRequest) -> Call:
    """Check the request against the tenant's numbers, agents and capacity; create the Call."""
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    number = (
        PhoneNumber.objects.select_related("telephony_account", "agent")
        .filter(tenant=locked, number=request.from_number)
        .first()
    )
    if number is None or not number.is_active:
        raise ValidationError({"from": "Not one of this tenant's active phone numbers."})
    agent: Agent | None = number.agent
    if request.agent_public_id:
        try:
            agent = access_agent_by_public_id(tenant=locked, public_id=request.agent_public_id)
        except TenantObjectNotFound:
            raise ValidationError({"agent": "Unknown agent."}) from None
    if agent is None:
        raise ValidationError({"agent": "Name an agent: the number has none."})
    if getattr(agent, "published_revision_id", 0) is None:
        raise ValidationError({"agent": "Publish the agent before it can take calls."})
    active = tenant_active_call_count(tenant=locked)  # calls of a crashed worker don't count
    if active >= locked.max_concurrent_calls:
        raise CallCapacityExceeded(f"{active} of {locked.max_concurrent_calls} concurrent calls in progress.")
    call = Call.objects.create(
        tenant=locked,
        phone_number=number,
        agent=agent,
        direction=Direction.OUTBOUND,
        from_number=number.number,
        to_number=request.to,
        status=CallStatus.QUEUED,
        status_rank=STATUS_RANK[CallStatus.QUEUED],
        twilio_account_sid=number.telephony_account.account_sid,
    )
    OutboundCall.objects.create(
        tenant=locked, call=call, variables=request.variables, machine_detection=request.machine_detection
    )
    return call


def _dial_parameters(machine_detection: str) -> dict[str, str | list[str]]:
    base = settings.PUBLIC_BASE_URL
    extra: dict[str, str | list[str]] = {
        "StatusCallback": f"{base}/twilio/status",
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": STATUS_EVENTS,
        "Timeout": str(RING_TIMEOUT_S),
    }
    if machine_detection in TWILIO_MACHINE_DETECTION:
        # Asynchronous AMD: the agent is connected at once (no dead air while Twilio listens);
        # the result arrives on its own callback and is stored with the call.
        extra.update(
            {
                "MachineDetection": TWILIO_MACHINE_DETECTION[MachineDetection(machine_detection)],
                "AsyncAmd": "true",
                "AsyncAmdStatusCallback": f"{base}/twilio/amd",
                "AsyncAmdStatusCallbackMethod": "POST",
            }
        )
    return extra


def outbound_call_dial(*, tenant: Tenant, call: Call, machine_detection: str) -> Call:
    """Ask Twilio to place the call with the stream TwiML. The CallSid is not known before
    Twilio answers, so the call token carries none; binding the stream checks the CallSid
    stored here against the stream's."""
    assert call.phone_number_id is not None  # outbound_call_create always sets it
    number = PhoneNumber.objects.select_related("telephony_account").get(
        tenant=tenant, pk=call.phone_number_id
    )
    account = number.telephony_account
    token = make_call_token(call_public_id=str(call.public_id), tenant_id=tenant.pk, call_sid="")
    client = TwilioRestClient(
        base_url=settings.TWILIO_API_BASE_URL, account_sid=account.account_sid, auth_token=account.auth_token
    )
    try:
        created = async_to_sync(client.create_call)(
            to=call.to_number,
            from_=call.from_number,
            twiml=twiml.connect_stream(stream_url=stream_url(), token=token),
            **_dial_parameters(machine_detection),
        )
    except TwilioRestError as exc:
        _mark_dial_failed(call)
        raise OutboundDialError(str(exc), status=exc.status, code=exc.code) from None
    except (httpx.HTTPError, ValueError) as exc:
        _mark_dial_failed(call)
        log.warning("outbound call %s: Twilio unreachable: %s", call.public_id, type(exc).__name__)
        raise OutboundDialError("Twilio could not be reached.", status=None, code=None) from None
    status = str(created.get("status") or CallStatus.QUEUED)
    rank = STATUS_RANK.get(status, STATUS_RANK[CallStatus.QUEUED])
    with transaction.atomic():
        Call.objects.filter(tenant=tenant, pk=call.pk).update(
            twilio_call_sid=str(created.get("sid", ""))[:64]
        )
        # A status callback may already have moved the call on: never move it backwards.
        Call.objects.filter(tenant=tenant, pk=call.pk, status_rank__lt=rank).update(
            status=status, status_rank=rank
        )
    call.refresh_from_db()
    return call


def _mark_dial_failed(call: Call) -> None:
    Call.objects.filter(tenant_id=call.tenant_id, pk=call.pk).update(
        status=CallStatus.FAILED,
        status_rank=STATUS_RANK[CallStatus.FAILED],
        end_reason=DIAL_FAILED,
        ended_at=timezone.now(),
    )


def outbound_record_answered_by(*, call: Call, answered_by: str, detection_ms: str | None) -> bool:
    """Store Twilio's answering-machine verdict (async AMD callback or a status callback)."""
    value = answered_by if answered_by in AnsweredBy.values else AnsweredBy.UNKNOWN
    updated = OutboundCall.objects.filter(tenant_id=call.tenant_id, call_id=call.pk).update(
        answered_by=value,
        machine_detection_ms=int(detection_ms) if detection_ms and detection_ms.isdigit() else None,
    )
    return bool(updated)


# --------------------------------------------------------------------------- idempotency


class IdempotencyKeyReused(Exception):
    """The key was used with a different request."""


class IdempotencyInProgress(Exception):
    """The first request with this key has not finished yet."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def request_fingerprint(*, method: str, path: str, data: Any) -> str:
    canonical = json.dumps([method.upper(), path, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def idempotency_claim(*, tenant: Tenant, key: str, fingerprint: str) -> StoredResponse | None:
    """None: this request now owns the key and must run. Otherwise the first response, to be
    returned again. Raises ``IdempotencyKeyReused`` or ``IdempotencyInProgress``."""
    with transaction.atomic():
        IdempotencyRecord.objects.filter(
            tenant=tenant, key=key, created_at__lt=timezone.now() - IDEMPOTENCY_TTL
        ).delete()
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(tenant=tenant, key=key, request_hash=fingerprint)
            return None
        except IntegrityError:
            record = IdempotencyRecord.objects.get(tenant=tenant, key=key)
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused
    if record.state != IdempotencyState.COMPLETED or record.response_status is None:
        raise IdempotencyInProgress
    return StoredResponse(record.response_status, record.response_body)


def idempotency_complete(*, tenant: Tenant, key: str, status: int, body: Any) -> None:
    IdempotencyRecord.objects.filter(tenant=tenant, key=key).update(
        state=IdempotencyState.COMPLETED, response_status=status, response_body=body
    )


def idempotency_release(*, tenant: Tenant, key: str) -> None:
    """Forget a key whose request was refused before anything happened (invalid, over
    capacity), so the client may retry it as it is."""
    IdempotencyRecord.objects.filter(tenant=tenant, key=key, state=IdempotencyState.IN_PROGRESS).delete()


def idempotency_purge(*, older_than: timedelta = IDEMPOTENCY_TTL) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def outbound_call_variables(*, tenant_id: int, call_pk: int) -> dict[str, str]:
    """The template variables an outbound call was placed with ({} for other calls): for the
    stream binding to merge into the call's variables."""
    row = (
        OutboundCall.objects.filter(tenant_id=tenant_id, call_id=call_pk)
        .values_list("variables", flat=True)
        .first()
    )
    return {str(k): str(v) for k, v in (row or {}).items()}
