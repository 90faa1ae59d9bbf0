"""The calendar: bookings, resources, business hours."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agents.scheduling.models import Booking
from agents.scheduling.services import hours_set, resource_create, time_off_add
from tests.dashboard.conftest import Side, World
from tests.dashboard.pagekit import Action, Page, _u, extra

RESOURCE = extra("resource")
BOOKING = extra("booking")
TIME_OFF = extra("time_off")
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE_HOURS = {weekday: [(time(9), time(12)), (time(13), time(17))] for weekday in range(5)}


def _with_resource(name: str) -> Any:
    def url(slug: str, side: Side) -> str:
        return _u(name)(slug, side) + f"?resource={side.extra['resource'].public_id}"

    return url


PAGES: dict[str, Page] = {
    "calendar": Page("viewer", _u("calendar")),
    "calendar-resource-week": Page("viewer", _with_resource("calendar"), detail=True),
    "calendar-agenda": Page("viewer", _u("calendar-agenda")),
    "calendar-booking": Page("viewer", _u("calendar-booking", BOOKING), detail=True),
    "calendar-booking-new": Page("editor", _u("calendar-booking-new")),
    "calendar-resources": Page("viewer", _u("calendar-resources")),
    "calendar-resource-new": Page("editor", _u("calendar-resource-new")),
    "calendar-resource": Page("viewer", _u("calendar-resource", RESOURCE), detail=True),
    "calendar-resource-hours": Page("viewer", _u("calendar-resource-hours", RESOURCE), detail=True),
    "calendar-time-off-new": Page("editor", _u("calendar-time-off-new")),
}


def resource_form(side: Side, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Forged",
        "time_zone": "Europe/Berlin",
        "slot_minutes": "45",
        "buffer_minutes": "5",
        "min_notice_minutes": "0",
        "horizon_days": "30",
        "is_active": "on",
    } | changes


def _booking_form(side: Side) -> dict[str, Any]:
    monday = date.today() + timedelta(days=7 - date.today().weekday())
    return {
        "resource": str(side.extra["resource"].public_id),
        "day": (monday + timedelta(days=1)).isoformat(),
        "start_time": "10:00",
        "customer_name": "Forged",
    }


ACTIONS: dict[str, Action] = {
    "calendar-booking-new": Action("editor", _u("calendar-booking-new"), _booking_form, False),
    "calendar-booking-cancel": Action("editor", _u("calendar-booking-cancel", BOOKING), lambda s: {}),
    "calendar-resource-new": Action("editor", _u("calendar-resource-new"), resource_form, False),
    "calendar-resource": Action("editor", _u("calendar-resource", RESOURCE), resource_form),
    "calendar-resource-hours": Action(
        "editor",
        _u("calendar-resource-hours", RESOURCE),
        lambda s: {"d0_0_opens": "08:00", "d0_0_closes": "12:00"},
    ),
    "calendar-resource-feed-rotate": Action(
        "editor", _u("calendar-resource-feed-rotate", RESOURCE), lambda s: {}
    ),
    "calendar-resource-delete": Action("editor", _u("calendar-resource-delete", RESOURCE), lambda s: {}),
    "calendar-time-off-new": Action(
        "editor",
        _u("calendar-time-off-new"),
        lambda s: {
            "resource": str(s.extra["resource"].public_id),
            "starts_on": "2031-01-01",
            "ends_on": "2031-01-02",
        },
        False,
    ),
    "calendar-time-off-remove": Action("editor", _u("calendar-time-off-remove", TIME_OFF), lambda s: {}),
}


def populate(side: Side, suffix: str) -> dict[str, Any]:
    """A Berlin resource with office hours, a booking on it tomorrow at 10:00 local time (made
    directly: the booking rules depend on the real clock), its own closed days and a holiday
    for every resource."""
    resource = resource_create(tenant=side.tenant, name=f"Dr. {suffix.upper()}", time_zone="Europe/Berlin")
    hours_set(tenant=side.tenant, resource=resource, week=OFFICE_HOURS)
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(10), tzinfo=BERLIN)
    booking = Booking.objects.create(
        tenant=side.tenant,
        resource=resource,
        start=start,
        end=start + timedelta(minutes=30),
        customer_name=f"Customer {suffix}",
        customer_phone="+15553330000",
    )
    time_off = time_off_add(
        tenant=side.tenant,
        resource=resource,
        starts_on=date(2030, 7, 1),
        ends_on=date(2030, 7, 14),
        reason=f"Vacation {suffix}",
    )
    holiday = time_off_add(
        tenant=side.tenant,
        resource=None,
        starts_on=date(2030, 12, 25),
        ends_on=date(2030, 12, 25),
        reason="Xmas",
    )
    return {"resource": resource, "booking": booking, "time_off": time_off, "holiday": holiday}


def snapshot() -> dict[str, list[Any]]:
    """Every row a write of this area could change."""
    from agents.scheduling.models import Booking, BusinessHours, Resource, TimeOff

    return {
        "resources": list(
            Resource.objects.order_by("pk").values_list(
                "pk", "name", "time_zone", "slot_minutes", "buffer_minutes", "is_active", "feed_generation"
            )
        ),
        "business_hours": list(
            BusinessHours.objects.order_by("pk").values_list(
                "pk", "resource_id", "weekday", "opens", "closes"
            )
        ),
        "time_off": list(
            TimeOff.objects.order_by("pk").values_list("pk", "resource_id", "starts_on", "ends_on", "reason")
        ),
        "bookings": list(
            Booking.objects.order_by("pk").values_list("pk", "resource_id", "start", "status", "cancelled_at")
        ),
    }


_serial = itertools.count()  # unique names across the seeding rounds of a test


def tomorrow_in(zone: ZoneInfo) -> date:
    return datetime.now(zone).date() + timedelta(days=1)


def seed_bookings(world: World, n: int) -> None:
    """``n`` more bookings of tenant A's resource, tomorrow (local) from midnight on, ten minutes
    each: they never overlap (PostgreSQL refuses overlapping bookings) nor reach the 10:00 one."""
    resource = world.a.extra["resource"]
    # UTC arithmetic: adding minutes to a local time would be wall-clock arithmetic.
    midnight = datetime.combine(tomorrow_in(resource.zone), time(0), tzinfo=resource.zone).astimezone(UTC)
    seeded = Booking.objects.filter(resource=resource, customer_name__startswith="Seed").count()
    for k, i in enumerate(itertools.islice(_serial, n)):
        start = midnight + timedelta(minutes=10 * (seeded + k))
        Booking.objects.create(
            tenant=world.a.tenant,
            resource=resource,
            start=start,
            end=start + timedelta(minutes=10),
            customer_name=f"Seed {i:04d}",
            customer_phone="+15550001111",
        )


def seed_resources(world: World, n: int) -> None:
    """``n`` more resources of tenant A, each with hours and an upcoming booking."""
    for i in itertools.islice(_serial, n):
        resource = resource_create(tenant=world.a.tenant, name=f"Room {i:04d}", time_zone="America/New_York")
        hours_set(tenant=world.a.tenant, resource=resource, week=OFFICE_HOURS)
        start = datetime.combine(tomorrow_in(resource.zone), time(10), tzinfo=resource.zone)
        Booking.objects.create(
            tenant=world.a.tenant,
            resource=resource,
            start=start,
            end=start + timedelta(minutes=30),
            customer_name=f"Seed {i:04d}",
        )


def seed_time_off(world: World, n: int) -> None:
    """``n`` more closed days (and bookings) of tenant A's resource, all ahead."""
    resource = world.a.extra["resource"]
    for i in itertools.islice(_serial, n):
        day = date(2031, 1, 1) + timedelta(days=i)
        time_off_add(tenant=world.a.tenant, resource=resource, starts_on=day, ends_on=day, reason=f"Off {i}")
    seed_bookings(world, min(n, 5))
