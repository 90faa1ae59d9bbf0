"""Reads for scheduling, every one scoped by the tenant in the query.

``free_slots`` is the heart: the bookable slots of one resource over a range of local days,
honouring business hours, minimum notice, the booking horizon, closures, existing bookings and
the buffer kept around them. Slot starts step in real elapsed time from each opening, so a day
with a daylight-saving change has exactly the slots that fit in its real length.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, QuerySet

from agents.scheduling.clock import local_datetime
from agents.scheduling.models import MIDNIGHT, Booking, BookingStatus, BusinessHours, Resource, TimeOff
from tenants.models import Tenant

MAX_RANGE_DAYS = 400


@dataclass(frozen=True)
class Slot:
    resource: Resource
    start: datetime  # UTC
    end: datetime  # UTC


@dataclass(frozen=True)
class _Day:
    """Everything ``free_slots`` needs for one resource, fetched in three queries."""

    intervals: dict[int, list[tuple[time, time]]]
    closed: set[date]
    starts: list[datetime]
    ends_running_max: list[datetime]


def resource_list(*, tenant: Tenant, active_only: bool = True) -> QuerySet[Resource]:
    rows = Resource.objects.filter(tenant=tenant)
    if active_only:
        rows = rows.filter(is_active=True)
    return rows.order_by("name", "pk")


def hours_for(*, tenant: Tenant, resource: Resource) -> dict[int, list[tuple[time, time]]]:
    """Weekday (0 = Monday) -> sorted open intervals."""
    week: dict[int, list[tuple[time, time]]] = defaultdict(list)
    rows = BusinessHours.objects.filter(tenant=tenant, resource=resource).order_by("weekday", "opens")
    for row in rows:
        week[row.weekday].append((row.opens, row.closes))
    return dict(week)


def closed_days(*, tenant: Tenant, resource: Resource, day_from: date, day_to: date) -> set[date]:
    """Local dates in ``day_from``..``day_to`` closed for this resource or for the whole tenant."""
    closed: set[date] = set()
    rows = TimeOff.objects.filter(
        Q(resource=resource) | Q(resource__isnull=True),
        tenant=tenant,
        starts_on__lte=day_to,
        ends_on__gte=day_from,
    )
    for first, last in rows.values_list("starts_on", "ends_on"):
        day = max(first, day_from)
        while day <= min(last, day_to):
            closed.add(day)
            day += timedelta(1)
    return closed


def booking_list(
    *,
    tenant: Tenant,
    resource: Resource | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    status: str | None = None,
) -> QuerySet[Booking]:
    rows = Booking.objects.filter(tenant=tenant).select_related("resource")
    if resource is not None:
        rows = rows.filter(resource=resource)
    if start_from is not None:
        rows = rows.filter(start__gte=start_from)
    if start_to is not None:
        rows = rows.filter(start__lt=start_to)
    if status is not None:
        rows = rows.filter(status=status)
    return rows.order_by("start", "pk")


def bookings_upcoming_for_caller(
    *, tenant: Tenant, now: datetime, customer_phone: str = "", contact_public_id: uuid.UUID | None = None
) -> QuerySet[Booking]:
    """The caller's confirmed bookings that have not ended, matched by verified phone or contact."""
    who = Q(pk__in=[])
    if customer_phone:
        who |= Q(customer_phone=customer_phone)
    if contact_public_id is not None:
        who |= Q(contact_public_id=contact_public_id)
    return booking_list(tenant=tenant, status=BookingStatus.CONFIRMED).filter(who, end__gt=now)


def _interval_bounds(day: date, opens: time, closes: time, resource: Resource) -> tuple[datetime, datetime]:
    zone = resource.zone
    close_day = day + timedelta(1) if closes == MIDNIGHT else day
    return local_datetime(day, opens, zone), local_datetime(close_day, closes, zone)


def _last_bookable_day(resource: Resource, now: datetime) -> date:
    return now.astimezone(resource.zone).date() + timedelta(resource.horizon_days)


def _load(*, tenant: Tenant, resource: Resource, day_from: date, day_to: date, exclude: int | None) -> _Day:
    buffer = timedelta(minutes=resource.buffer_minutes)
    window_start = local_datetime(day_from, time(0), resource.zone) - buffer - timedelta(days=1)
    window_end = local_datetime(day_to + timedelta(2), time(0), resource.zone) + buffer
    busy = Booking.objects.filter(
        tenant=tenant,
        resource=resource,
        status=BookingStatus.CONFIRMED,
        start__lt=window_end,
        end__gt=window_start,
    )
    if exclude is not None:
        busy = busy.exclude(pk=exclude)
    starts: list[datetime] = []
    ends_running_max: list[datetime] = []
    for start, end in busy.order_by("start").values_list("start", "end"):
        starts.append(start)
        ends_running_max.append(max(end, ends_running_max[-1]) if ends_running_max else end)
    return _Day(
        intervals=hours_for(tenant=tenant, resource=resource),
        closed=closed_days(tenant=tenant, resource=resource, day_from=day_from, day_to=day_to),
        starts=starts,
        ends_running_max=ends_running_max,
    )


def _collides(loaded: _Day, start: datetime, end: datetime, buffer: timedelta) -> bool:
    """Whether [start, end) comes within ``buffer`` of a confirmed booking."""
    # Bookings starting before end + buffer are candidates; the latest end among them decides.
    index = bisect.bisect_left(loaded.starts, end + buffer)
    return index > 0 and loaded.ends_running_max[index - 1] + buffer > start


def free_slots(
    *, tenant: Tenant, resource: Resource, day_from: date, day_to: date, now: datetime
) -> list[Slot]:
    """Free slots of ``resource`` on local days ``day_from``..``day_to`` (inclusive), in order."""
    if resource.tenant_id != tenant.pk or not resource.is_active:
        return []
    now = now.astimezone(UTC)  # arithmetic below must be elapsed time, not wall-clock time
    today = now.astimezone(resource.zone).date()
    day_from = max(day_from, today)
    day_to = min(day_to, _last_bookable_day(resource, now), day_from + timedelta(MAX_RANGE_DAYS))
    if day_from > day_to:
        return []
    loaded = _load(tenant=tenant, resource=resource, day_from=day_from, day_to=day_to, exclude=None)
    length = timedelta(minutes=resource.slot_minutes)
    buffer = timedelta(minutes=resource.buffer_minutes)
    earliest = now + timedelta(minutes=resource.min_notice_minutes)
    slots: list[Slot] = []
    day = day_from
    while day <= day_to:
        if day not in loaded.closed:
            for opens, closes in loaded.intervals.get(day.weekday(), []):
                start, close = _interval_bounds(day, opens, closes, resource)
                while start + length <= close:
                    if start >= earliest and not _collides(loaded, start, start + length, buffer):
                        slots.append(Slot(resource, start.astimezone(UTC), (start + length).astimezone(UTC)))
                    start += length
        day += timedelta(1)
    return slots


def booking_problem(
    *,
    tenant: Tenant,
    resource: Resource,
    start: datetime,
    end: datetime,
    now: datetime,
    exclude: int | None = None,
) -> str | None:
    """Why [start, end) cannot be booked on ``resource`` ("taken", "closed", ...), or None.

    The same rules as ``free_slots``, for any start (not only slot-grid ones) and any length
    that fits in one opening interval.
    """
    zone = resource.zone
    now, start, end = now.astimezone(UTC), start.astimezone(UTC), end.astimezone(UTC)
    if not resource.is_active:
        return "inactive"
    if start < now + timedelta(minutes=resource.min_notice_minutes):
        return "too_soon"
    day = start.astimezone(zone).date()
    if day > _last_bookable_day(resource, now):
        return "too_far"
    loaded = _load(tenant=tenant, resource=resource, day_from=day, day_to=day, exclude=exclude)
    if day in loaded.closed:
        return "closed"
    fits = any(
        opening <= start and end <= closing
        for opening, closing in (
            _interval_bounds(day, opens, closes, resource)
            for opens, closes in loaded.intervals.get(day.weekday(), [])
        )
    )
    if not fits:
        return "outside_hours"
    if _collides(loaded, start, end, timedelta(minutes=resource.buffer_minutes)):
        return "taken"
    return None


def slots_for_resources(
    *, tenant: Tenant, resources: Iterable[Resource], day_from: date, day_to: date, now: datetime
) -> list[Slot]:
    """Free slots of several resources, one per start time (the first resource by name wins)."""
    by_start: dict[datetime, Slot] = {}
    for resource in resources:
        for slot in free_slots(tenant=tenant, resource=resource, day_from=day_from, day_to=day_to, now=now):
            by_start.setdefault(slot.start, slot)
    return [by_start[start] for start in sorted(by_start)]
