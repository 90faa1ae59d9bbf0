"""Example payloads for "send a test event": the same shape as the real ones (``payloads.py`` and
the ``call_scoped_emit`` callers), filled with obviously made-up values, so a receiver can be
built and checked before the first real call. No tenant data goes into a test event.

The call id of every sample is ``SAMPLE_CALL_ID`` (all zeros but the version digits), which a
receiver can use to recognise test events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calls.webhooks.models import EventType

SAMPLE_CALL_ID = "00000000-0000-4000-8000-000000000000"
_AGENT = {"id": "00000000-0000-4000-8000-000000000001", "name": "Example agent"}
_NUMBER = {"id": "00000000-0000-4000-8000-000000000002", "number": "+15555550100", "label": "Main line"}
_CUSTOMER = "+15555550123"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _call(now: datetime) -> dict[str, Any]:
    started = now - timedelta(minutes=3)
    return {
        "id": SAMPLE_CALL_ID,
        "direction": "inbound",
        "status": "completed",
        "from": _CUSTOMER,
        "to": _NUMBER["number"],
        "customer_number": _CUSTOMER,
        "phone_number": dict(_NUMBER),
        "agent": dict(_AGENT),
        "created_at": _iso(started),
        "answered_at": _iso(started + timedelta(seconds=2)),
        "ended_at": _iso(now),
        "duration_s": 178,
        "end_reason": "caller_hangup",
        "answered_by": None,
        "variables": {},
    }


def _summary() -> dict[str, Any]:
    return {
        "summary": "The caller asked when the shop opens on Saturday; the agent said 9 am.",
        "summary_source": "llm",
        "structured_fields": {"reason": "opening hours", "follow_up": False},
        "structured_fields_status": "valid",
        "structured_fields_errors": [],
    }


def _scoped(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "call_id": SAMPLE_CALL_ID,
        "customer_number": _CUSTOMER,
        "agent": dict(_AGENT),
        "phone_number": dict(_NUMBER),
    }


def sample_payload(event_type: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The ``data`` of a test event of ``event_type`` (one of ``EventType``)."""
    now = now or datetime.now(UTC)
    if event_type == EventType.CALL_STARTED:
        return {**_call(now), "status": "in-progress", "ended_at": None, "duration_s": None, "end_reason": ""}
    if event_type == EventType.CALL_ENDED:
        lines = [
            ("agent", "Thanks for calling. How can I help?", 0, 2100),
            ("caller", "When do you open on Saturday?", 2600, 4400),
            ("agent", "We open at 9 am on Saturdays.", 5000, 6900),
        ]
        return {
            **_call(now),
            "transcript": [
                {"speaker": speaker, "text": text, "start_ms": start, "end_ms": end}
                for speaker, text, start, end in lines
            ],
            "transcript_text": "\n".join(f"{speaker.capitalize()}: {text}" for speaker, text, _, _ in lines),
            **_summary(),
            "tool_calls": [],
            "usage": {"billable_seconds": 178, "billed_minutes": 3, "cost": "0.30", "currency": "USD"},
        }
    if event_type == EventType.CALL_SUMMARIZED:
        return {
            "call_id": SAMPLE_CALL_ID,
            "customer_number": _CUSTOMER,
            "agent": dict(_AGENT),
            **_summary(),
        }
    if event_type == EventType.TOOL_INVOKED:
        tool = {
            "name": "lookup_order",
            "call_id": "tool-call-1",
            "stage": "main",
            "arguments": {"order_number": "A-1234"},
            "duration_ms": 180,
            "outcome": "ok",
            "result": '{"status": "shipping tomorrow"}',
        }
        return _scoped({"tool": tool})
    if event_type == EventType.BOOKING_CREATED:
        start = (now + timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)
        booking = {
            "booking_id": "00000000-0000-4000-8000-000000000003",
            "start": start.isoformat(timespec="seconds"),
            "label": "the day after tomorrow at 3 pm",
            "resource_name": "Front desk",
        }
        return _scoped({"booking": booking})
    if event_type == EventType.TRANSFER_COMPLETED:
        return _scoped({"outcome": "completed", "returned_to_agent": False})
    raise ValueError(f"unknown webhook event type {event_type!r}")
