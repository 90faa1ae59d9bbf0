"""Scheduling tools as the call's tool executor runs them (synchronous ORM code: call them through
``database_sync_to_async``).

The model only supplies what the ``*_SCHEMA`` dicts allow (property names equal the keyword
arguments). Everything about WHO is calling comes from the call, never from the model:
``tenant``, ``customer_phone`` (the verified caller's number), ``contact_public_id`` and
``source_call_id``. That way a caller cannot talk the agent into cancelling somebody else's
booking. Every answer is a JSON-ready dict with a ``status`` and a ``message`` telling the model
what to say or do next; times come with spoken labels ("Tuesday March 3 at 3:00 PM").
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from agents.scheduling.access import TenantObjectNotFound, access_resource_by_public_id
from agents.scheduling.clock import speak_datetime
from agents.scheduling.dates import ResolvedWhen, UnclearWhen, resolve_when
from agents.scheduling.models import Booking, Resource, zone_or_utc
from agents.scheduling.selectors import Slot, bookings_upcoming_for_caller, resource_list, slots_for_resources
from agents.scheduling.services import BookingLimitReached, SlotUnavailable, booking_cancel, booking_create
from tenants.models import Tenant

SLOTS_OFFERED = 3
DAYS_AROUND = 7  # alternatives are searched this many days past the requested ones
FALLBACK_DAYS = 30
MAX_BOOKINGS_PER_CALL = 3
_UUID = {"type": "string", "pattern": "^[0-9a-fA-F-]{32,36}$", "maxLength": 36}

CHECK_AVAILABILITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_id": {
            **_UUID,
            "description": "The calendar to search; leave out to search every calendar.",
        },
        "when_text": {
            "type": "string",
            "maxLength": 120,
            "description": "The caller's own words for the day and time, e.g. 'tomorrow at three', "
            "'next Tuesday morning', 'as soon as possible'.",
        },
        "date": {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}$",
            "maxLength": 10,
            "description": "A specific day as YYYY-MM-DD, when already known.",
        },
    },
    "additionalProperties": False,
}
SCHEDULE_MEETING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_id": {**_UUID, "description": "The resource_id of the chosen slot."},
        "start_iso": {
            "type": "string",
            "minLength": 10,
            "maxLength": 40,
            "description": "The 'start' of a slot returned by check_availability, unchanged.",
        },
        "customer_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "The caller's name.",
        },
        "notes": {"type": "string", "maxLength": 500, "description": "What the appointment is about."},
    },
    "required": ["start_iso", "customer_name"],
    "additionalProperties": False,
}
CANCEL_MEETING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "booking_id": {**_UUID, "description": "Which of the caller's bookings; leave out if they have one."},
    },
    "additionalProperties": False,
}
TOOL_DEFINITIONS: dict[str, dict[str, Any]] = {
    "check_availability": {
        "description": "Find free appointment times. Call it before offering or booking any time.",
        "parameters": CHECK_AVAILABILITY_SCHEMA,
    },
    "schedule_meeting": {
        "description": "Book a free time from check_availability for the caller, once they agreed to it.",
        "parameters": SCHEDULE_MEETING_SCHEMA,
    },
    "cancel_meeting": {
        "description": "Cancel one of the verified caller's upcoming appointments, after they confirmed.",
        "parameters": CANCEL_MEETING_SCHEMA,
    },
}


# ------------------------------------------------------------------------------------ helpers
def _resources(tenant: Tenant, resource_id: str | None) -> list[Resource] | dict[str, Any]:
    if resource_id:
        try:
            return [access_resource_by_public_id(tenant=tenant, public_id=resource_id, active_only=True)]
        except TenantObjectNotFound:
            return {
                "status": "error",
                "message": "Unknown resource_id. Use one returned by check_availability.",
            }
    resources = list(resource_list(tenant=tenant))
    if not resources:
        return {"status": "no_calendar", "message": "Booking is not set up. Offer to take a message instead."}
    return resources


def _slot(slot: Slot, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": slot.start.astimezone(zone).isoformat(timespec="seconds"),
        "label": speak_datetime(slot.start, zone),
        "resource_id": str(slot.resource.public_id),
        "resource_name": slot.resource.name,
    }


def _booking(booking: Booking, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "booking_id": str(booking.public_id),
        "start": booking.start.astimezone(zone).isoformat(timespec="seconds"),
        "label": speak_datetime(booking.start, zone),
        "resource_name": booking.resource.name,
    }


def _spread(slots: list[Slot], count: int = SLOTS_OFFERED) -> list[Slot]:
    """``count`` slots spread over the list (first, ..., last), so the caller gets a choice."""
    if len(slots) <= count:
        return slots
    return [slots[round(i * (len(slots) - 1) / (count - 1))] for i in range(count)]


def _nearest(slots: list[Slot], anchor: dt.datetime, count: int = SLOTS_OFFERED) -> list[Slot]:
    chosen = sorted(slots, key=lambda slot: (abs(slot.start - anchor), slot.start))[:count]
    return sorted(chosen, key=lambda slot: slot.start)


def _around(
    slots: list[Slot], start: dt.datetime, end: dt.datetime, count: int = SLOTS_OFFERED
) -> list[Slot]:
    """Alternatives to a wish that cannot be met: the last free slot before it and the first
    ones after it ("Friday at 4:30, or Monday at 9 or 9:30")."""
    before = [slot for slot in slots if slot.start < start][-1:]
    after = [slot for slot in slots if slot.start >= end]
    return before + after[: count - len(before)] if after else before


def _labels(slots: list[Slot], zone: ZoneInfo) -> str:
    labels = [speak_datetime(slot.start, zone) for slot in slots]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _wanted(when_text: str | None, date: str | None, now: dt.datetime, zone: ZoneInfo) -> ResolvedWhen:
    if not date:
        return resolve_when(when_text or "soonest", now=now, zone=zone)
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise UnclearWhen(f"{date!r} is not a date like 2026-03-14.") from None
    if when_text:
        try:
            return replace(
                resolve_when(when_text, now=now, zone=zone), date_from=day, date_to=day, soonest=False
            )
        except UnclearWhen:
            pass  # the date alone still says enough
    return ResolvedWhen(day, day)


def _answer(status: str, slots: list[Slot], zone: ZoneInfo, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        **extra,
        "time_zone": str(zone),
        "slots": [_slot(s, zone) for s in slots],
        "message": message,
    }


# -------------------------------------------------------------------------------------- tools
def check_availability(
    *,
    tenant: Tenant,
    resource_id: str | None = None,
    when_text: str | None = None,
    date: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A few real free slots at or near the requested time (soonest ones when none is named)."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    zone = zone_or_utc(tenant.time_zone)
    resources = _resources(tenant, resource_id)
    if isinstance(resources, dict):
        return resources
    try:
        wanted = _wanted(when_text, date, now, zone)
    except UnclearWhen as exc:
        return {"status": "unclear", "message": f"{exc} Ask the caller which day and time suits them."}
    today = now.astimezone(zone).date()
    requested = wanted.describe()

    def search(first: dt.date, last: dt.date) -> list[Slot]:
        return slots_for_resources(tenant=tenant, resources=resources, day_from=first, day_to=last, now=now)

    if wanted.soonest:
        first = max(today, wanted.date_from)  # "as soon as possible next week" starts next week
        slots = search(first, first + dt.timedelta(FALLBACK_DAYS))[:SLOTS_OFFERED]
        if not slots:
            return _answer("unavailable", [], zone, f"Nothing is free in the next {FALLBACK_DAYS} days.")
        return _answer("available", slots, zone, f"The earliest free times are {_labels(slots, zone)}.")

    windows = wanted.windows(zone)
    nearby = search(
        max(today, wanted.date_from - dt.timedelta(2)), wanted.date_to + dt.timedelta(DAYS_AROUND)
    )
    inside = [slot for slot in nearby if any(w.start <= slot.start < w.end for w in windows)]
    if wanted.exact and inside and inside[0].start == windows[0].start:
        offered = [inside[0], *_nearest([s for s in nearby if s is not inside[0]], windows[0].start, 2)]
        return _answer(
            "available",
            sorted(offered, key=lambda slot: slot.start),
            zone,
            f"{speak_datetime(inside[0].start, zone)} is free. Confirm it with the caller before booking.",
            requested=requested,
        )
    if inside and not wanted.exact:
        offered = _spread(inside)
        return _answer("available", offered, zone, f"Free: {_labels(offered, zone)}.", requested=requested)
    alternatives = _around(nearby, windows[0].start, windows[-1].end)
    if not alternatives:
        later = wanted.date_to + dt.timedelta(DAYS_AROUND + 1)
        alternatives = search(later, later + dt.timedelta(FALLBACK_DAYS))[:SLOTS_OFFERED]
    if not alternatives:
        return _answer("unavailable", [], zone, f"Nothing is free around {requested}.", requested=requested)
    return _answer(
        "unavailable",
        alternatives,
        zone,
        f"Nothing is free {requested}. The nearest free times are {_labels(alternatives, zone)}.",
        requested=requested,
    )


def _parse_start(start_iso: str, zone: ZoneInfo) -> dt.datetime | None:
    try:
        start = dt.datetime.fromisoformat(start_iso.strip())
    except ValueError:
        return None
    return start.replace(tzinfo=zone) if start.tzinfo is None else start


def _uuid_or_none(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def schedule_meeting(
    *,
    tenant: Tenant,
    start_iso: str,
    customer_name: str,
    resource_id: str | None = None,
    notes: str = "",
    customer_phone: str = "",
    contact_public_id: uuid.UUID | str | None = None,
    source_call_id: uuid.UUID | str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Book the slot starting at ``start_iso`` for the (verified) caller."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    zone = zone_or_utc(tenant.time_zone)
    start = _parse_start(start_iso, zone)
    if start is None:
        return {
            "status": "error",
            "message": "start_iso must be the 'start' of a slot from check_availability.",
        }
    if not customer_name.strip():
        return {"status": "error", "message": "Ask for the caller's name first."}
    resources = _resources(tenant, resource_id)
    if isinstance(resources, dict):
        return resources
    refusal: SlotUnavailable | None = None
    for resource in resources:
        try:
            booking = booking_create(
                tenant=tenant,
                resource=resource,
                start=start,
                customer_name=customer_name,
                customer_phone=customer_phone,
                contact_public_id=_uuid_or_none(contact_public_id),
                notes=notes,
                source_call_id=_uuid_or_none(source_call_id),
                now=now,
                max_bookings_per_call=MAX_BOOKINGS_PER_CALL,
            )
        except BookingLimitReached as exc:
            return {"status": "limit_reached", "message": f"{exc.message} Offer to take a message instead."}
        except SlotUnavailable as exc:
            refusal = refusal or exc
            continue
        return {
            "status": "booked",
            **_booking(booking, zone),
            "message": f"Booked {speak_datetime(booking.start, zone)} with {resource.name}. "
            "Read the day and time back to the caller.",
        }
    assert refusal is not None
    local_day = start.astimezone(zone).date()
    nearby = slots_for_resources(
        tenant=tenant,
        resources=resources,
        day_from=local_day - dt.timedelta(1),
        day_to=local_day + dt.timedelta(DAYS_AROUND),
        now=now,
    )
    alternatives = _around(nearby, start, start + dt.timedelta(minutes=1))
    return {
        "status": "unavailable",
        "reason": refusal.reason,
        "message": f"{refusal.message} Nothing was booked."
        + (f" Offer {_labels(alternatives, zone)} instead." if alternatives else ""),
        "alternatives": [_slot(slot, zone) for slot in alternatives],
    }


def cancel_meeting(
    *,
    tenant: Tenant,
    booking_id: str | None = None,
    customer_phone: str = "",
    contact_public_id: uuid.UUID | str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Cancel one of the verified caller's upcoming bookings (found by their number or contact)."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    zone = zone_or_utc(tenant.time_zone)
    contact = _uuid_or_none(contact_public_id)
    if not customer_phone and contact is None:
        return {
            "status": "not_verified",
            "message": "Only a verified caller can cancel. Verify the caller first.",
        }
    upcoming = list(
        bookings_upcoming_for_caller(
            tenant=tenant, now=now, customer_phone=customer_phone, contact_public_id=contact
        )[:10]
    )
    listed = [_booking(booking, zone) for booking in upcoming]
    if booking_id:
        chosen = next((b for b in upcoming if str(b.public_id) == str(_uuid_or_none(booking_id))), None)
        if chosen is None:
            return {
                "status": "not_found",
                "bookings": listed,
                "message": "That is not one of the caller's bookings.",
            }
    elif not upcoming:
        return {"status": "not_found", "bookings": [], "message": "The caller has no upcoming bookings."}
    elif len(upcoming) > 1:
        return {
            "status": "choose_booking",
            "bookings": listed,
            "message": "Ask which one to cancel, then call cancel_meeting with its booking_id.",
        }
    else:
        chosen = upcoming[0]
    cancelled = booking_cancel(tenant=tenant, booking=chosen, now=now)
    return {
        "status": "cancelled",
        **_booking(cancelled, zone),
        "message": f"Cancelled {speak_datetime(cancelled.start, zone)}. Confirm it to the caller.",
    }
