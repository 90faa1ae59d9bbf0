"""Event payloads (the ``data`` of a webhook). ``call.ended`` is complete enough to drive an
n8n or Zapier workflow without another API call: who called which number, the agent, times,
duration, end reason, the transcript (as segments and as plain text), the summary, structured
fields, tool calls and billable usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calls.models import Call, CallEvent, Direction, TranscriptSegment
from calls.outbound.models import OutboundCall
from calls.postcall.models import CallSummary, CallUsage

TOOL_CALL_EVENT = "tool_call"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def customer_number(call: Call) -> str:
    """The other party: the caller of an inbound call, the callee of an outbound one."""
    return call.to_number if call.direction == Direction.OUTBOUND else call.from_number


def call_data(call: Call) -> dict[str, Any]:
    """The call itself (``call.started`` and the base of every call event)."""
    number = call.phone_number
    agent = call.agent
    outbound = OutboundCall.objects.filter(tenant_id=call.tenant_id, call_id=call.pk).first()
    return {
        "id": str(call.public_id),
        "direction": call.direction,
        "status": call.status,
        "from": call.from_number,
        "to": call.to_number,
        "customer_number": customer_number(call),
        "phone_number": {"id": str(number.public_id), "number": number.number, "label": number.label}
        if number
        else None,
        "agent": {"id": str(agent.public_id), "name": agent.name} if agent else None,
        "created_at": _iso(call.created_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration_s": call.duration_s,
        "end_reason": call.end_reason,
        "answered_by": (outbound.answered_by or None) if outbound else None,
        "variables": dict(outbound.variables) if outbound else {},
    }


def summary_data(summary: CallSummary | None) -> dict[str, Any]:
    if summary is None:
        return {
            "summary": None,
            "summary_source": None,
            "structured_fields": {},
            "structured_fields_status": None,
        }
    return {
        "summary": summary.text,
        "summary_source": summary.source,
        "structured_fields": summary.structured_fields,
        "structured_fields_status": summary.fields_status,
        "structured_fields_errors": summary.fields_errors,
    }


def tool_call_data(event: CallEvent) -> dict[str, Any]:
    payload = event.payload or {}
    return {
        "name": payload.get("name"),
        "arguments": payload.get("arguments"),
        "result": payload.get("result"),
        "outcome": payload.get("outcome"),
        "duration_ms": payload.get("duration_ms"),
        "stage": payload.get("stage"),
        "at": _iso(event.at),
    }


def call_ended_data(call: Call) -> dict[str, Any]:
    segments = list(
        TranscriptSegment.objects.filter(tenant_id=call.tenant_id, call_id=call.pk).order_by(
            "start_ms", "ordinal", "pk"
        )
    )
    tools = CallEvent.objects.filter(
        tenant_id=call.tenant_id, call_id=call.pk, type=TOOL_CALL_EVENT
    ).order_by("at_ms", "pk")
    usage = CallUsage.objects.filter(tenant_id=call.tenant_id, call_id=call.pk).first()
    summary = CallSummary.objects.filter(tenant_id=call.tenant_id, call_id=call.pk).first()
    return {
        **call_data(call),
        "transcript": [
            {"speaker": s.speaker, "text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms}
            for s in segments
        ],
        "transcript_text": "\n".join(f"{s.speaker.capitalize()}: {s.text}" for s in segments),
        **summary_data(summary),
        "tool_calls": [tool_call_data(event) for event in tools],
        "usage": {
            "billable_seconds": usage.billable_seconds,
            "billed_minutes": usage.billed_minutes,
            "cost": str(usage.cost),
            "currency": usage.currency,
        }
        if usage
        else None,
    }


def call_summarized_data(call: Call) -> dict[str, Any]:
    summary = CallSummary.objects.filter(tenant_id=call.tenant_id, call_id=call.pk).first()
    base = call_data(call)
    return {
        "call_id": base["id"],
        "customer_number": base["customer_number"],
        "agent": base["agent"],
        **summary_data(summary),
    }
