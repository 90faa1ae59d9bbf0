"""Emitters for each event type: build the payload and call ``webhooks_emit`` with a dedup key,
so every emitter may be called twice (a retried task, a reconnecting stream) without a second
message. Sync functions; from async code call each through ONE ``database_sync_to_async``."""

from __future__ import annotations

from typing import Any

from calls.models import Call
from calls.webhooks import payloads
from calls.webhooks.models import EventType, WebhookMessage
from calls.webhooks.services import webhooks_emit


def _call(tenant_id: int, call_pk: int) -> Call:
    return Call.objects.select_related("agent", "phone_number").get(tenant_id=tenant_id, pk=call_pk)


def call_started_emit(*, tenant_id: int, call_pk: int) -> WebhookMessage | None:
    """``call.started``: call it when the stream is bound to the call (the agent is on)."""
    call = _call(tenant_id, call_pk)
    return webhooks_emit(
        tenant_id=tenant_id,
        event_type=EventType.CALL_STARTED,
        payload=payloads.call_data(call),
        dedup_key=f"{EventType.CALL_STARTED}:{call.public_id}",
    )


def call_ended_emit(*, tenant_id: int, call_pk: int) -> WebhookMessage | None:
    call = _call(tenant_id, call_pk)
    return webhooks_emit(
        tenant_id=tenant_id,
        event_type=EventType.CALL_ENDED,
        payload=payloads.call_ended_data(call),
        dedup_key=f"{EventType.CALL_ENDED}:{call.public_id}",
    )


def call_summarized_emit(*, tenant_id: int, call_pk: int) -> WebhookMessage | None:
    call = _call(tenant_id, call_pk)
    return webhooks_emit(
        tenant_id=tenant_id,
        event_type=EventType.CALL_SUMMARIZED,
        payload=payloads.call_summarized_data(call),
        dedup_key=f"{EventType.CALL_SUMMARIZED}:{call.public_id}",
    )


def call_scoped_emit(
    *, tenant_id: int, call_pk: int, event_type: str, key: str, data: dict[str, Any]
) -> WebhookMessage | None:
    """``tool.invoked``, ``transfer.completed`` or ``booking.created`` for a call: ``data`` is
    the event's own part (the tool name, arguments and result; the transfer outcome; the
    booking), ``key`` makes it unique within the call (the tool call id, "transfer-1", the
    booking id). The call's id, customer number and agent are added."""
    call = _call(tenant_id, call_pk)
    base = payloads.call_data(call)
    payload = {
        **data,
        "call_id": base["id"],
        "customer_number": base["customer_number"],
        "agent": base["agent"],
        "phone_number": base["phone_number"],
    }
    return webhooks_emit(
        tenant_id=tenant_id,
        event_type=event_type,
        payload=payload,
        dedup_key=f"{event_type}:{call.public_id}:{key}",
    )
