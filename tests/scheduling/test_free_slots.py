"""free_slots: business hours, slot length, buffer, notice, horizon, closures, bookings and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from agents.scheduling.models import Booking, BookingStatus, Resource
from agents.scheduling.selectors import Slot, free_slots
from agents.scheduling.services import (
    booking_cancel,
    booking_create,
    hours_set,
    resource_create,
    resource_update,
    time_off_add,
)
from tenants.models import Tenant
from tests.scheduling.conftest import BERLIN, MONDAY, NOW, NY, Desk, at

TUESDAY = MONDAY + timedelta(1)
SATURDAY = MONDAY + timedelta(5)


def local_times(slots: list[Slot], zone: ZoneInfo = NY) -> list[str]:
    return [f"{slot.start.astimezone(zone):%H:%M}" for slot in slots]


def day_slots(desk: Desk, day: date, now: datetime = NOW, resource: Resource | None = None) -> list[Slot]:
    return free_slots(
        tenant=desk.tenant, resource=resource or desk.resource, day_from=day, day_to=day, now=now
    )


def book(desk: Desk, start: datetime, end: datetime | None = None) -> Booking:
    return booking_create(
        tenant=desk.tenant, resource=desk.resource, start=start, end=end, customer_name="Caller", now=NOW
    )


def test_slots_follow_the_opening_intervals(desk: Desk) -> None:
    slots = day_slots(desk, MONDAY)
    assert local_times(slots) == [
        "09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30",
    ]  # fmt: skip
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)
    assert all(slot.start.tzinfo == UTC for slot in slots)
    assert day_slots(desk, SATURDAY) == []


def test_slot_length_is_the_resources(desk: Desk) -> None:
    resource_update(tenant=desk.tenant, resource=desk.resource, slot_minutes=45)
    desk.resource.refresh_from_db()
    # 9:00-12:00 fits four 45-minute slots; 13:00-17:00 fits five (16:45 would end at 17:30).
    assert local_times(day_slots(desk, MONDAY)) == [
        "09:00", "09:45", "10:30", "11:15", "13:00", "13:45", "14:30", "15:15", "16:00",
    ]  # fmt: skip


def test_minimum_notice(desk: Desk) -> None:
    ten_fifteen = at(MONDAY, "10:15")
    assert local_times(day_slots(desk, MONDAY, now=ten_fifteen))[:2] == ["11:30", "13:00"]
    resource_update(tenant=desk.tenant, resource=desk.resource, min_notice_minutes=24 * 60)
    desk.resource.refresh_from_db()
    assert day_slots(desk, MONDAY, now=ten_fifteen) == []
    assert local_times(day_slots(desk, TUESDAY, now=ten_fifteen))[0] == "10:30"


def test_past_days_and_the_horizon(desk: Desk) -> None:
    assert day_slots(desk, MONDAY - timedelta(7)) == []
    resource_update(tenant=desk.tenant, resource=desk.resource, horizon_days=3)
    desk.resource.refresh_from_db()
    slots = free_slots(
        tenant=desk.tenant, resource=desk.resource, day_from=MONDAY, day_to=MONDAY + timedelta(30), now=NOW
    )
    assert {slot.start.astimezone(NY).date() for slot in slots} == {MONDAY + timedelta(n) for n in range(4)}


def test_existing_bookings_take_their_slots_and_cancelling_frees_them(desk: Desk) -> None:
    booking = book(desk, at(MONDAY, "10:00"))
    assert "10:00" not in local_times(day_slots(desk, MONDAY))
    assert {"09:30", "10:30"} <= set(local_times(day_slots(desk, MONDAY)))
    booking_cancel(tenant=desk.tenant, booking=booking)
    assert "10:00" in local_times(day_slots(desk, MONDAY))


def test_a_longer_booking_blocks_every_slot_it_touches(desk: Desk) -> None:
    book(desk, at(MONDAY, "10:15"), end=at(MONDAY, "11:15"))
    assert local_times(day_slots(desk, MONDAY))[:3] == ["09:00", "09:30", "11:30"]


def test_buffer_keeps_time_free_around_bookings(desk: Desk) -> None:
    resource_update(tenant=desk.tenant, resource=desk.resource, buffer_minutes=15)
    desk.resource.refresh_from_db()
    book(desk, at(MONDAY, "10:00"))
    # 9:30-10:00 ends less than 15 minutes before 10:00; 10:30 starts less than 15 after 10:30.
    assert local_times(day_slots(desk, MONDAY))[:3] == ["09:00", "11:00", "11:30"]


def test_bookings_of_other_resources_do_not_block(desk: Desk) -> None:
    room = resource_create(tenant=desk.tenant, name="Room 2")
    hours_set(tenant=desk.tenant, resource=room, week={0: [(time(9), time(12))]})
    booking_create(tenant=desk.tenant, resource=room, start=at(MONDAY, "10:00"), customer_name="X", now=NOW)
    assert "10:00" in local_times(day_slots(desk, MONDAY))
    assert "10:00" not in local_times(day_slots(desk, MONDAY, resource=room))


def test_time_off_closes_whole_days(desk: Desk) -> None:
    time_off_add(
        tenant=desk.tenant, resource=desk.resource, starts_on=TUESDAY, ends_on=TUESDAY + timedelta(1)
    )
    slots = free_slots(
        tenant=desk.tenant, resource=desk.resource, day_from=MONDAY, day_to=MONDAY + timedelta(4), now=NOW
    )
    days = {slot.start.astimezone(NY).date() for slot in slots}
    assert days == {MONDAY, MONDAY + timedelta(3), MONDAY + timedelta(4)}


def test_a_tenant_wide_closure_closes_every_resource_of_that_tenant_only(desk: Desk) -> None:
    time_off_add(tenant=desk.tenant, resource=None, starts_on=MONDAY, ends_on=MONDAY, reason="Holiday")
    assert day_slots(desk, MONDAY) == []
    other = free_slots(
        tenant=desk.other_tenant, resource=desk.other_resource, day_from=MONDAY, day_to=MONDAY, now=NOW
    )
    assert len(other) == 14


def test_closing_at_midnight(desk: Desk) -> None:
    hours_set(tenant=desk.tenant, resource=desk.resource, week={0: [(time(22), time(0))]})
    assert local_times(day_slots(desk, MONDAY)) == ["22:00", "22:30", "23:00", "23:30"]


def test_inactive_or_foreign_resources_have_no_slots(desk: Desk) -> None:
    assert (
        free_slots(tenant=desk.other_tenant, resource=desk.resource, day_from=MONDAY, day_to=MONDAY, now=NOW)
        == []
    )
    resource_update(tenant=desk.tenant, resource=desk.resource, is_active=False)
    desk.resource.refresh_from_db()
    assert day_slots(desk, MONDAY) == []


@pytest.mark.parametrize(
    "week",
    [
        {0: [(time(9), time(12)), (time(11), time(14))]},  # overlapping
        {0: [(time(12), time(9))]},  # closes before it opens
        {0: [(time(20), time(0)), (time(21), time(22))]},  # overlaps an interval open till midnight
        {7: [(time(9), time(12))]},  # no such weekday
    ],
)
def test_invalid_hours_are_refused_and_change_nothing(
    desk: Desk, week: dict[int, list[tuple[time, time]]]
) -> None:
    with pytest.raises(ValidationError):
        hours_set(tenant=desk.tenant, resource=desk.resource, week=week)
    assert len(day_slots(desk, MONDAY)) == 14


def test_resource_time_zone_defaults_to_the_tenants_and_must_exist(desk: Desk) -> None:
    assert desk.resource.time_zone == "America/New_York"
    with pytest.raises(ValidationError):
        resource_create(tenant=desk.tenant, name="Nowhere", time_zone="Mars/Olympus_Mons")


# ------------------------------------------------------------------------ daylight saving time
def around_the_clock(tenant: Tenant, zone: str) -> Resource:
    resource = resource_create(
        tenant=tenant, name=f"24h {zone}", time_zone=zone, slot_minutes=60, min_notice_minutes=0
    )
    hours_set(tenant=tenant, resource=resource, week={day: [(time(0), time(0))] for day in range(7)})
    return resource


@pytest.mark.parametrize(
    ("zone", "day", "count", "first_local_hours"),
    [
        # New York springs forward at 2:00 on 2026-03-08: no 2 o'clock, a 23-hour day.
        ("America/New_York", date(2026, 3, 8), 23, ["00:00", "01:00", "03:00", "04:00"]),
        # ...and falls back at 2:00 on 2026-11-01: 1 o'clock twice, a 25-hour day.
        ("America/New_York", date(2026, 11, 1), 25, ["00:00", "01:00", "01:00", "02:00"]),
        ("America/New_York", date(2026, 3, 9), 24, ["00:00", "01:00", "02:00", "03:00"]),
        # Berlin springs forward at 2:00 on 2026-03-29 and falls back at 3:00 on 2026-10-25.
        ("Europe/Berlin", date(2026, 3, 29), 23, ["00:00", "01:00", "03:00", "04:00"]),
        ("Europe/Berlin", date(2026, 10, 25), 25, ["00:00", "01:00", "02:00", "02:00"]),
    ],
)
def test_dst_days_have_their_real_number_of_slots(
    desk: Desk, zone: str, day: date, count: int, first_local_hours: list[str]
) -> None:
    resource = around_the_clock(desk.tenant, zone)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    resource_update(tenant=desk.tenant, resource=resource, horizon_days=366)
    resource.refresh_from_db()
    slots = free_slots(tenant=desk.tenant, resource=resource, day_from=day, day_to=day, now=now)
    assert len(slots) == count
    assert local_times(slots, ZoneInfo(zone))[:4] == first_local_hours
    assert all(slot.end - slot.start == timedelta(hours=1) for slot in slots)
    assert all(b.start == a.end for a, b in zip(slots, slots[1:], strict=False))  # no gap, no overlap


def test_office_hours_keep_their_wall_clock_across_the_change(desk: Desk) -> None:
    now = at(date(2026, 3, 5), "08:00")
    friday = free_slots(
        tenant=desk.tenant,
        resource=desk.resource,
        day_from=date(2026, 3, 6),
        day_to=date(2026, 3, 6),
        now=now,
    )
    monday = free_slots(
        tenant=desk.tenant,
        resource=desk.resource,
        day_from=date(2026, 3, 9),
        day_to=date(2026, 3, 9),
        now=now,
    )
    assert friday[0].start == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)  # 9:00 EST
    assert monday[0].start == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 9:00 EDT
    assert local_times(friday) == local_times(monday)


def test_hours_inside_the_spring_gap_in_berlin(desk: Desk) -> None:
    resource = resource_create(
        tenant=desk.tenant,
        name="Night desk",
        time_zone="Europe/Berlin",
        slot_minutes=60,
        min_notice_minutes=0,
    )
    hours_set(tenant=desk.tenant, resource=resource, week={6: [(time(1), time(5))]})  # Sundays
    now = datetime(2026, 3, 20, tzinfo=UTC)
    gap_day = free_slots(
        tenant=desk.tenant, resource=resource, day_from=date(2026, 3, 29), day_to=date(2026, 3, 29), now=now
    )
    assert local_times(gap_day, BERLIN) == ["01:00", "03:00", "04:00"]
    fold_day = free_slots(
        tenant=desk.tenant,
        resource=resource,
        day_from=date(2026, 10, 25),
        day_to=date(2026, 10, 25),
        now=datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert local_times(fold_day, BERLIN) == ["01:00", "02:00", "02:00", "03:00", "04:00"]


def test_a_booking_on_a_dst_day_blocks_exactly_its_hour(desk: Desk) -> None:
    resource = around_the_clock(desk.tenant, "America/New_York")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    three_am_edt = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    booking_create(tenant=desk.tenant, resource=resource, start=three_am_edt, customer_name="Early", now=now)
    slots = free_slots(
        tenant=desk.tenant, resource=resource, day_from=date(2026, 3, 8), day_to=date(2026, 3, 8), now=now
    )
    assert len(slots) == 22 and three_am_edt not in {slot.start for slot in slots}
    assert Booking.objects.get(resource=resource).status == BookingStatus.CONFIRMED
