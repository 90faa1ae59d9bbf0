"""Writes for scheduling. Every function is keyword-only, takes the tenant and is atomic.

Double booking is impossible in two layers:

1. ``booking_create`` locks the resource row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
   on SQLite, which has no row locks, a write to the row plus a process-wide gate serialise
   bookings) and checks the slot under that lock, buffer included;
2. on PostgreSQL an exclusion constraint refuses overlapping confirmed bookings of one resource
   whatever wrote them. Both surface as ``SlotUnavailable``, never as a server error.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from agents.scheduling.models import (
    BOOKING_OVERLAP_CONSTRAINT,
    MIDNIGHT,
    Booking,
    BookingStatus,
    BusinessHours,
    Resource,
    TimeOff,
)
from agents.scheduling.selectors import booking_problem
from tenants.access import TenantObjectNotFound
from tenants.models import Tenant

# SQLite has no row locks and its shared-cache test database answers "table is locked" at once
# instead of waiting, so bookings in one process also pass this gate there.
_SQLITE_BOOKING_GATE = threading.Lock()
_EXCLUSION_VIOLATION = "23P01"

REASON_MESSAGES = {
    "taken": "That time is already taken.",
    "closed": "The business is closed that day.",
    "outside_hours": "That time is outside business hours.",
    "too_soon": "That time is too soon to book.",
    "too_far": "That time is too far ahead to book.",
    "inactive": "That calendar is not taking bookings.",
}
RESOURCE_FIELDS = (
    "name",
    "description",
    "time_zone",
    "slot_minutes",
    "buffer_minutes",
    "min_notice_minutes",
    "horizon_days",
    "is_active",
)


class SchedulingError(Exception):
    """A booking request that cannot be honoured; ``reason`` is a stable code for tools and APIs."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class SlotUnavailable(SchedulingError):
    reason = "taken"


class BookingLimitReached(SchedulingError):
    reason = "limit_reached"


# ---------------------------------------------------------------------------------- resources
@transaction.atomic
def resource_create(*, tenant: Tenant, name: str, time_zone: str | None = None, **settings: Any) -> Resource:
    """A bookable resource; its time zone defaults to the tenant's."""
    unknown = set(settings) - set(RESOURCE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown resource fields: {sorted(unknown)}")
    resource = Resource(tenant=tenant, name=name, time_zone=time_zone or tenant.time_zone, **settings)
    resource.full_clean()
    resource.save()
    return resource


@transaction.atomic
def resource_update(*, tenant: Tenant, resource: Resource, **changes: Any) -> Resource:
    unknown = set(changes) - set(RESOURCE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown resource fields: {sorted(unknown)}")
    row = Resource.objects.select_for_update().filter(tenant=tenant, pk=resource.pk).first()
    if row is None:
        raise TenantObjectNotFound("No resource found.")
    for field, value in changes.items():
        setattr(row, field, value)
    row.full_clean()
    row.save(update_fields=[*changes])
    return row


@transaction.atomic
def resource_feed_rotate(*, tenant: Tenant, resource: Resource) -> Resource:
    """Revoke every calendar-feed URL of the resource handed out so far."""
    updated = Resource.objects.filter(tenant=tenant, pk=resource.pk).update(
        feed_generation=F("feed_generation") + 1
    )
    if not updated:
        raise TenantObjectNotFound("No resource found.")
    return Resource.objects.get(tenant=tenant, pk=resource.pk)


@transaction.atomic
def resource_delete(*, tenant: Tenant, resource: Resource) -> None:
    """Delete a resource with its hours and closures. Bookings keep their resource, so one that
    has any (even cancelled) cannot be deleted: make it inactive instead."""
    row = Resource.objects.select_for_update().filter(tenant=tenant, pk=resource.pk).first()
    if row is None:
        raise TenantObjectNotFound("No resource found.")
    if Booking.objects.filter(tenant=tenant, resource=row).exists():
        raise ValidationError(f"{row.name} has bookings, so it cannot be deleted; make it inactive instead.")
    row.delete()


def _validate_day(weekday: int, intervals: Sequence[tuple[time, time]]) -> list[tuple[time, time]]:
    if not 0 <= weekday <= 6:
        raise ValidationError(f"Weekday {weekday} is not 0 (Monday) to 6 (Sunday).")
    ordered = sorted(intervals)
    for opens, closes in ordered:
        if not (opens < closes or closes == MIDNIGHT):
            raise ValidationError(f"An interval must open before it closes ({opens:%H:%M}-{closes:%H:%M}).")
    for (_, first_closes), (second_opens, _) in zip(ordered, ordered[1:], strict=False):
        if first_closes == MIDNIGHT or second_opens < first_closes:
            raise ValidationError(f"Opening hours overlap on weekday {weekday} at {second_opens:%H:%M}.")
    return ordered


@transaction.atomic
def hours_set(
    *, tenant: Tenant, resource: Resource, week: Mapping[int, Sequence[tuple[time, time]]]
) -> list[BusinessHours]:
    """Replace the resource's whole week: weekday (0 = Monday) -> open intervals. A weekday that
    is missing or empty is closed. Intervals may not overlap; closes 00:00 means midnight."""
    if not Resource.objects.filter(tenant=tenant, pk=resource.pk).exists():
        raise TenantObjectNotFound("No resource found.")
    validated = {weekday: _validate_day(weekday, intervals) for weekday, intervals in week.items()}
    BusinessHours.objects.filter(tenant=tenant, resource=resource).delete()
    rows = [
        BusinessHours(tenant=tenant, resource=resource, weekday=weekday, opens=opens, closes=closes)
        for weekday, intervals in sorted(validated.items())
        for opens, closes in intervals
    ]
    return BusinessHours.objects.bulk_create(rows)


@transaction.atomic
def time_off_add(
    *, tenant: Tenant, resource: Resource | None, starts_on: date, ends_on: date, reason: str = ""
) -> TimeOff:
    """Close ``starts_on``..``ends_on`` (inclusive) for one resource, or for all when None."""
    if resource is not None and not Resource.objects.filter(tenant=tenant, pk=resource.pk).exists():
        raise TenantObjectNotFound("No resource found.")
    row = TimeOff(tenant=tenant, resource=resource, starts_on=starts_on, ends_on=ends_on, reason=reason)
    if ends_on < starts_on:
        raise ValidationError("Time off must end on or after the day it starts.")
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def time_off_remove(*, tenant: Tenant, time_off: TimeOff) -> None:
    TimeOff.objects.filter(tenant=tenant, pk=time_off.pk).delete()


# ----------------------------------------------------------------------------------- bookings
@contextmanager
def _booking_gate() -> Iterator[None]:
    with _SQLITE_BOOKING_GATE if connection.vendor == "sqlite" else nullcontext():
        yield


def _lock_resource(*, tenant: Tenant, resource: Resource) -> Resource:
    """Lock the resource row for the rest of the transaction; every booking write of this
    resource takes the same lock first, so their checks run one after the other."""
    rows = Resource.objects.filter(tenant=tenant, pk=resource.pk)
    if connection.vendor != "postgresql":
        # No FOR UPDATE here: writing the row first takes the database's write lock now, so a
        # second writer waits (busy timeout) before it has read anything stale.
        rows.update(feed_generation=F("feed_generation"))
    row = rows.select_for_update().first()
    if row is None:
        raise TenantObjectNotFound("No resource found.")
    return row


def _is_overlap_violation(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == _EXCLUSION_VIOLATION or BOOKING_OVERLAP_CONSTRAINT in str(exc)


def booking_create(
    *,
    tenant: Tenant,
    resource: Resource,
    start: datetime,
    end: datetime | None = None,
    customer_name: str,
    customer_phone: str = "",
    contact_public_id: uuid.UUID | None = None,
    notes: str = "",
    source_call_id: uuid.UUID | None = None,
    now: datetime | None = None,
    max_bookings_per_call: int | None = None,
) -> Booking:
    """Book [start, end) (end defaults to one slot) for a customer, or raise ``SlotUnavailable``.

    The same call asking again for the same start gets its existing booking back, so a model
    that repeats a tool call does not book twice.
    """
    if timezone.is_naive(start) or (end is not None and timezone.is_naive(end)):
        raise ValueError("start and end must be aware datetimes")
    # UTC throughout: adding minutes to a datetime in a local zone would add wall-clock time.
    now = (now or timezone.now()).astimezone(UTC)
    start = start.astimezone(UTC)
    end = end.astimezone(UTC) if end is not None else None
    with _booking_gate(), transaction.atomic():
        locked = _lock_resource(tenant=tenant, resource=resource)
        end = end or start + timedelta(minutes=locked.slot_minutes)
        if end <= start:
            raise ValueError("end must be after start")
        if source_call_id is not None:
            mine = Booking.objects.filter(
                tenant=tenant, resource=locked, source_call_id=source_call_id, status=BookingStatus.CONFIRMED
            )
            repeated = mine.filter(start=start, end=end).first()
            if repeated is not None:
                return repeated
            if max_bookings_per_call is not None and mine.count() >= max_bookings_per_call:
                raise BookingLimitReached("This call has already made the most bookings it may.")
        problem = booking_problem(tenant=tenant, resource=locked, start=start, end=end, now=now)
        if problem is not None:
            raise SlotUnavailable(REASON_MESSAGES[problem], reason=problem)
        booking = Booking(
            tenant=tenant,
            resource=locked,
            start=start,
            end=end,
            customer_name=customer_name.strip()[:200],
            customer_phone=customer_phone.strip()[:32],
            contact_public_id=contact_public_id,
            notes=notes.strip()[:2000],
            source_call_id=source_call_id,
        )
        try:
            with transaction.atomic():
                booking.save(force_insert=True)
        except IntegrityError as exc:
            if _is_overlap_violation(exc):
                raise SlotUnavailable(REASON_MESSAGES["taken"], reason="taken") from exc
            raise
    return booking


@transaction.atomic
def booking_cancel(*, tenant: Tenant, booking: Booking, now: datetime | None = None) -> Booking:
    """Cancel a booking of this tenant; cancelling twice changes nothing."""
    row = Booking.objects.select_for_update().filter(tenant=tenant, pk=booking.pk).first()
    if row is None:
        raise TenantObjectNotFound("No booking found.")
    if row.status != BookingStatus.CANCELLED:
        row.status = BookingStatus.CANCELLED
        row.cancelled_at = now or timezone.now()
        row.save(update_fields=["status", "cancelled_at"])
    return row
