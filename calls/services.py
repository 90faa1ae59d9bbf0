"""Writes for calls. Keyword-only, atomic, tenant passed explicitly."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls.bridge.config import CallConfig
from calls.bridge.ports import EventEntry, TranscriptEntry
from calls.config_snapshot import build_call_config
from calls.models import (
    ACTIVE_STATUSES,
    STATUS_RANK,
    TERMINAL_STATUSES,
    Call,
    CallEvent,
    CallStatus,
    Direction,
    TranscriptSegment,
)
from tenants.models import PhoneNumber, Tenant

# Reasons a call is refused at the door (stored on the Call row as end_reason).
REJECT_NUMBER_INACTIVE = "number_inactive"
REJECT_TENANT_INACTIVE = "tenant_inactive"
REJECT_NO_AGENT = "no_agent"
REJECT_OVER_CAPACITY = "over_capacity"
TRANSFERRED = "transferred"
# The worker bridging the call stopped proving it is alive (killed, crashed, cut off).
WORKER_LOST = "worker_lost"


def heartbeat_cutoff(timeout_s: int | None = None) -> datetime:
    """A bridged call whose last heartbeat is older than this has lost its worker."""
    timeout = settings.CALL_HEARTBEAT_TIMEOUT_S if timeout_s is None else timeout_s
    return timezone.now() - timedelta(seconds=timeout)


def _lost_call() -> Q:
    """Calls whose media stream is bound but whose worker stopped beating (not yet reaped)."""
    return Q(status=CallStatus.IN_PROGRESS, heartbeat_at__lt=heartbeat_cutoff()) & ~Q(stream_sid="")


def tenant_active_call_count(*, tenant: Tenant) -> int:
    """Phone calls of ``tenant`` that hold a line now (web test calls don't). A call whose worker
    died stops counting as soon as its heartbeat is stale, before the reaper gets to it, so a
    crashed worker never blocks a tenant. Lock the tenant row first when admitting on it."""
    return (
        Call.objects.filter(tenant=tenant, status__in=ACTIVE_STATUSES)
        .exclude(direction=Direction.WEB)
        .exclude(_lost_call())
        .count()
    )


@dataclass(frozen=True)
class Admission:
    call: Call
    rejected_reason: str = ""


@transaction.atomic
def call_admit_inbound(
    *, tenant: Tenant, number: PhoneNumber, call_sid: str, account_sid: str, from_number: str, to_number: str
) -> Admission:
    """Create the Call for an inbound webhook, or refuse it with a reason.

    Twilio retries a webhook that timed out; the same CallSid returns the same Call. The tenant
    row is locked while counting active calls, so two simultaneous calls can't both take the
    last slot.
    """
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    existing = Call.objects.filter(tenant=locked, twilio_call_sid=call_sid).first()
    if existing is not None:
        return Admission(existing, existing.end_reason if existing.status == CallStatus.REJECTED else "")

    reason = ""
    if not locked.is_active:
        reason = REJECT_TENANT_INACTIVE
    elif not number.is_active:
        reason = REJECT_NUMBER_INACTIVE
    elif number.agent_id is None or number.agent is None or number.agent.published_revision_id is None:
        reason = REJECT_NO_AGENT
    elif tenant_active_call_count(tenant=locked) >= locked.max_concurrent_calls:
        reason = REJECT_OVER_CAPACITY

    now = timezone.now()
    call = Call.objects.create(
        tenant=locked,
        phone_number=number,
        agent_id=number.agent_id,
        direction=Direction.INBOUND,
        from_number=from_number[:64],
        to_number=to_number[:64],
        twilio_call_sid=call_sid,
        twilio_account_sid=account_sid,
        status=CallStatus.REJECTED if reason else CallStatus.RINGING,
        status_rank=STATUS_RANK[CallStatus.REJECTED if reason else CallStatus.RINGING],
        end_reason=reason,
        ended_at=now if reason else None,
    )
    return Admission(call, reason)


class StreamBindingError(Exception):
    """The stream cannot be bound to the call (wrong call, already bound, already ended)."""


@dataclass(frozen=True)
class BoundCall:
    call_pk: int
    tenant_id: int
    config: CallConfig
    revision_config: dict[str, Any]
    caller_number: str
    called_number: str
    twilio_account_sid: str
    twilio_auth_token: str
    call_sid: str


@transaction.atomic
def call_bind_stream(
    *,
    tenant_id: int,
    call_public_id: str,
    call_sid: str,
    stream_sid: str,
    signature_check: Callable[[str], bool],
    extra_variables: dict[str, str] | None = None,
    worker_id: str = "",
) -> BoundCall:
    """Bind a media stream to its Call and snapshot everything the call runs with, in one hop.

    ``signature_check(auth_token)`` validates the WebSocket upgrade's Twilio signature with the
    call's tenant's token; it runs before anything is written. ``worker_id`` names the process
    that bridges the call; its first heartbeat is written here."""
    call = (
        Call.objects.select_for_update(of=("self",))
        .select_related(
            "tenant", "agent__published_revision", "agent_revision", "phone_number__telephony_account"
        )
        .filter(tenant_id=tenant_id, public_id=call_public_id)
        .first()
    )
    if call is None:
        raise StreamBindingError("no such call for this tenant")
    if call.twilio_call_sid != call_sid:
        raise StreamBindingError("stream callSid does not match the call")
    if call.status in TERMINAL_STATUSES or call.stream_sid or call.ended_at is not None:
        raise StreamBindingError(f"call is {call.status} and cannot take a stream")
    # A call keeps the revision it started with (a returning transfer re-binds with it).
    revision = call.agent_revision or (call.agent.published_revision if call.agent else None)
    if revision is None or call.phone_number is None:
        raise StreamBindingError("call has no published agent or no number")
    account = call.phone_number.telephony_account
    if not signature_check(account.auth_token):
        raise StreamBindingError("bad X-Twilio-Signature on the stream upgrade")

    # A stream after the first (a caller back from a failed transfer) must not greet them again
    # nor re-verify a caller who already passed.
    returning = call.answered_at is not None
    if call.direction == Direction.OUTBOUND:
        from calls.outbound.services import outbound_call_variables

        extra_variables = {
            **outbound_call_variables(tenant_id=call.tenant_id, call_pk=call.pk),
            **(extra_variables or {}),
        }
    config = build_call_config(
        call=call,
        revision=revision,
        extra_variables=extra_variables,
        returning=returning,
        verified=call.contact_public_id is not None,
    )
    now = timezone.now()
    call.stream_sid = stream_sid
    call.status = CallStatus.IN_PROGRESS
    call.status_rank = STATUS_RANK[CallStatus.IN_PROGRESS]
    call.answered_at = call.answered_at or now
    call.engine = str(revision.config.get("engine", ""))
    call.agent_revision = revision
    call.worker_id = worker_id[:64]
    call.heartbeat_at = now
    call.save(
        update_fields=[
            "stream_sid",
            "status",
            "status_rank",
            "answered_at",
            "engine",
            "agent_revision",
            "worker_id",
            "heartbeat_at",
        ]
    )
    return BoundCall(
        call_pk=call.pk,
        tenant_id=call.tenant_id,
        config=config,
        revision_config=revision.config,
        caller_number=call.from_number,
        called_number=call.to_number,
        twilio_account_sid=account.account_sid,
        twilio_auth_token=account.auth_token,
        call_sid=call_sid,
    )


def call_heartbeat(*, tenant_id: int, call_pk: int) -> bool:
    """The call's worker is alive. ``False`` when the call has already ended (the reaper or a
    status callback ended it): the conditional UPDATE never revives an ended call."""
    return bool(
        Call.objects.filter(tenant_id=tenant_id, pk=call_pk, ended_at__isnull=True).update(
            heartbeat_at=timezone.now()
        )
    )


def call_record_batch(
    *,
    tenant_id: int,
    call_pk: int,
    segments: list[TranscriptEntry],
    events: list[EventEntry],
    heartbeat: bool = False,
) -> None:
    """Store a flush of transcript segments and events. Safe to retry: segments are unique per
    (call, speaker, ordinal), events per (call, seq), and what is already stored is skipped.
    ``heartbeat``: also prove the worker is alive, in the same transaction (no extra hop)."""
    call = Call.objects.only("pk", "tenant_id", "answered_at", "created_at").get(
        tenant_id=tenant_id, pk=call_pk
    )
    base = call.answered_at or call.created_at
    with transaction.atomic():
        if heartbeat:
            call_heartbeat(tenant_id=tenant_id, call_pk=call_pk)
        TranscriptSegment.objects.bulk_create(
            [
                TranscriptSegment(
                    tenant_id=tenant_id,
                    call_id=call_pk,
                    speaker=s.speaker,
                    text=s.text,
                    ordinal=s.ordinal,
                    start_ms=max(0, s.start_ms),
                    end_ms=max(0, s.end_ms),
                )
                for s in segments
            ],
            ignore_conflicts=True,
        )
        CallEvent.objects.bulk_create(
            [
                CallEvent(
                    tenant_id=tenant_id,
                    call_id=call_pk,
                    type=e.type[:40],
                    payload=e.payload,
                    at_ms=max(0, e.at_ms),
                    at=base + timedelta(milliseconds=max(0, e.at_ms)),
                    seq=e.seq or None,
                )
                for e in events
            ],
            ignore_conflicts=True,  # a retried flush re-sends events already stored
        )
        tool_events = [e for e in events if e.type == "tool_call" and e.seq]
        if tool_events:
            from calls.webhooks.events import call_scoped_emit

            for event in tool_events:  # deduplicated per (call, seq) by the webhook layer too
                call_scoped_emit(
                    tenant_id=tenant_id,
                    call_pk=call_pk,
                    event_type="tool.invoked",
                    key=str(event.seq),
                    data={"tool": event.payload},
                )


@dataclass(frozen=True)
class CallEnding:
    end_reason: str
    duration_ms: int
    turn_latencies_ms: list[int]
    usage: dict[str, float]
    recording_wav: bytes | None = None


@transaction.atomic
def call_end(*, tenant_id: int, call_pk: int, ending: CallEnding) -> Call:
    """Mark the call ended (idempotent: the first ending wins) with its figures."""
    call = Call.objects.select_for_update().get(tenant_id=tenant_id, pk=call_pk)
    if call.ended_at is not None:
        return call
    if ending.end_reason == TRANSFERRED:
        # The phone call goes on with a human: Twilio's status callback ends it. The stream is
        # released so a failed transfer can return the caller to the agent on a new stream.
        call.stream_sid = ""
        call.end_reason = TRANSFERRED
        call.save(update_fields=["stream_sid", "end_reason"])
        return call
    call.ended_at = timezone.now()
    call.end_reason = ending.end_reason[:40]
    if call.status not in TERMINAL_STATUSES:
        call.status = CallStatus.COMPLETED
        call.status_rank = STATUS_RANK[CallStatus.COMPLETED]
    call.duration_s = max(0, round(ending.duration_ms / 1000))
    latencies = [ms for ms in ending.turn_latencies_ms if ms >= 0]
    call.turn_count = len(latencies)
    if latencies:
        call.latency_avg_ms = round(statistics.fmean(latencies))
        call.latency_p50_ms = round(statistics.median(latencies))
        call.latency_max_ms = max(latencies)
    call.usage = {**call.usage, **ending.usage}
    if ending.recording_wav:
        call.recording.save(f"{call.public_id}.wav", ContentFile(ending.recording_wav), save=False)
    call.save()
    # Summary, usage and webhooks run after the commit (imported here: calls.tasks imports the
    # post-call and webhook apps, which must not be loaded by every importer of this module).
    from calls.tasks import postcall_enqueue

    postcall_enqueue(tenant_id=call.tenant_id, call_pk=call.pk)
    return call


def lost_calls(*, stale_before: datetime, limit: int = 500) -> list[tuple[int, int]]:
    """(tenant id, call pk) of bridged calls whose heartbeat is older than ``stale_before``."""
    return list(
        Call.objects.filter(
            status=CallStatus.IN_PROGRESS, ended_at__isnull=True, heartbeat_at__lt=stale_before
        )
        .exclude(stream_sid="")
        .order_by("heartbeat_at")
        .values_list("tenant_id", "pk")[:limit]
    )


@transaction.atomic
def call_reap_lost(*, tenant_id: int, call_pk: int, stale_before: datetime) -> Call | None:
    """End a call whose worker is gone: reason ``worker_lost``, duration up to its last
    heartbeat, post-call work (summary, usage, ``call.ended``) queued by ``call_end`` exactly as
    for any other ending. Returns the call, or None when it is not lost (any more).

    The staleness is checked again under the row lock: a live session whose heartbeat landed
    meanwhile keeps its call, and a heartbeat that waits for this lock finds the call ended and
    changes nothing. What the session flushed before it died stays stored."""
    call = (
        Call.objects.select_for_update()
        .filter(
            tenant_id=tenant_id,
            pk=call_pk,
            status=CallStatus.IN_PROGRESS,
            ended_at__isnull=True,
            heartbeat_at__lt=stale_before,
        )
        .exclude(stream_sid="")
        .first()
    )
    if call is None or call.heartbeat_at is None:
        return None
    started = call.answered_at or call.created_at
    duration_ms = max(0, int((call.heartbeat_at - started).total_seconds() * 1000))
    CallEvent.objects.create(
        tenant_id=tenant_id,
        call=call,
        type="worker_lost",
        payload={"worker": call.worker_id, "last_heartbeat": call.heartbeat_at.isoformat()},
        at_ms=duration_ms,
        at=call.heartbeat_at,
    )
    return call_end(
        tenant_id=tenant_id,
        call_pk=call_pk,
        ending=CallEnding(end_reason=WORKER_LOST, duration_ms=duration_ms, turn_latencies_ms=[], usage={}),
    )


def call_apply_status_callback(*, call: Call, status: str, duration_s: str | None) -> bool:
    """Apply a Twilio status callback. Callbacks arrive out of order: a status never replaces
    one of equal or higher rank, so a finished call never moves backwards."""
    rank = STATUS_RANK.get(status)
    if rank is None:
        return False
    with transaction.atomic():
        fields: dict[str, Any] = {"status": status, "status_rank": rank}
        if status in TERMINAL_STATUSES and duration_s and duration_s.isdigit():
            fields["duration_s"] = int(duration_s)
        # Conditional UPDATE: the rank check happens in the database, so two concurrent
        # callbacks can't both win.
        updated = Call.objects.filter(tenant_id=call.tenant_id, pk=call.pk, status_rank__lt=rank).update(
            **fields
        )
        if updated and status in TERMINAL_STATUSES:
            # The bridge's own ending (reason, time) wins if it came first.
            ended_here = Call.objects.filter(pk=call.pk, ended_at__isnull=True).update(
                ended_at=timezone.now()
            )
            Call.objects.filter(pk=call.pk, end_reason="").update(end_reason=f"twilio_{status}")
            current = Call.objects.only("stream_sid", "end_reason").get(pk=call.pk)
            # A call that ends with no live stream (never answered, or finished with a human
            # after a transfer) gets its post-call work here; a streamed call gets it from
            # call_end, after its last transcript flush.
            if ended_here and (not current.stream_sid or current.end_reason == TRANSFERRED):
                from calls.tasks import postcall_enqueue

                postcall_enqueue(tenant_id=call.tenant_id, call_pk=call.pk)
    return bool(updated)


def call_record_transfer_outcome(*, call: Call, outcome: str, dial_duration_s: str | None) -> bool:
    """Store how a transfer ended; returns True when the caller goes back to the agent."""
    answered = outcome in {"completed", "answered"}
    config = call.agent_revision.config if call.agent_revision else {}
    returning = not answered and config.get("transfer_failure_action", "return") == "return"
    with transaction.atomic():
        CallEvent.objects.create(
            tenant_id=call.tenant_id,
            call=call,
            type="transfer_completed",
            payload={
                "outcome": outcome[:20],
                "dial_duration_s": int(dial_duration_s)
                if dial_duration_s and dial_duration_s.isdigit()
                else None,
                "returned_to_agent": returning,
            },
        )
        if returning:
            # The caller is back with the agent: the call is no longer "transferred".
            Call.objects.filter(pk=call.pk, end_reason=TRANSFERRED).update(end_reason="")
        from calls.webhooks.events import call_scoped_emit

        transfers = CallEvent.objects.filter(call=call, type="transfer_completed").count()
        call_scoped_emit(
            tenant_id=call.tenant_id,
            call_pk=call.pk,
            event_type="transfer.completed",
            key=f"transfer-{transfers}",
            data={"outcome": outcome[:20], "returned_to_agent": returning},
        )
    return returning
