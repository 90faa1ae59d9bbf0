"""The calendar pages: the week view places bookings by the resource's wall clock (daylight-saving
weeks included), the agenda, booking by hand and cancelling, resources, the hours editor, closed
days and the private feed URL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Contact
from agents.scheduling.dashboard.week import build_week
from agents.scheduling.feeds import feed_path
from agents.scheduling.models import Booking, BookingStatus, BusinessHours, Resource, TimeOff
from agents.scheduling.services import hours_set, resource_create, time_off_add
from tests.dashboard.areas.calendar import OFFICE_HOURS, resource_form
from tests.dashboard.conftest import World, make_call, signed_in

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEK = reverse("dashboard:calendar", args=["acme"])
AGENDA = reverse("dashboard:calendar-agenda", args=["acme"])
NEW_BOOKING = reverse("dashboard:calendar-booking-new", args=["acme"])
RESOURCES = reverse("dashboard:calendar-resources", args=["acme"])
TIME_OFF_NEW = reverse("dashboard:calendar-time-off-new", args=["acme"])


def html_of(response: Any) -> str:
    return str(response.content.decode())


def book(
    resource: Resource, day: date, clock: time, minutes: int = 30, name: str = "Walk-in", **extra: Any
) -> Booking:
    """A booking made directly (the page under test reads it; booking rules depend on the clock)."""
    start = datetime.combine(day, clock, tzinfo=resource.zone)
    return Booking.objects.create(
        tenant_id=resource.tenant_id,
        resource=resource,
        start=start,
        end=start + timedelta(minutes=minutes),
        customer_name=name,
        **extra,
    )


def day_column(html: str, day: date) -> str:
    """The HTML of the week view's column for ``day``."""
    start = html.index(f'data-date="{day.isoformat()}"')
    end = html.find('data-date="', start + 20)
    return html[start : end if end != -1 else len(html)]


def day_head(html: str, day: date) -> str:
    """The HTML of the week view's header for ``day``."""
    start = html.index(f'data-day="{day.isoformat()}"')
    ends = [html.find(marker, start + 20) for marker in ('data-day="', 'class="cal-body"')]
    return html[start : min(end for end in ends if end != -1)]


def block(html: str, booking: Booking) -> dict[str, float]:
    """The placement the week view gives ``booking``."""
    match = re.search(
        r'<a class="cal-booking[^"]*" data-top="([\d.]+)" data-height="([\d.]+)" data-lane="(\d+)" '
        rf'data-lanes="(\d+)" href="[^"]*/bookings/{booking.public_id}/"',
        html,
    )
    assert match is not None, f"{booking.customer_name} is not in this HTML"
    top, height, lane, lanes = match.groups()
    return {"top": float(top), "height": float(height), "lane": int(lane), "lanes": int(lanes)}


def first_hour(html: str) -> int:
    match = re.search(r'data-first-hour="(\d+)"', html)
    assert match is not None
    return int(match.group(1))


def future_monday(weeks: int = 2) -> date:
    today = datetime.now(BERLIN).date()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)


# -------------------------------------------------------------------------------- week view
def test_a_booking_sits_on_its_day_at_its_local_time(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]  # Europe/Berlin; the tenant is on UTC
    monday = date(2026, 1, 12)
    tuesday_ten = book(resource, monday + timedelta(days=1), time(10), name="Tuesday Tina")
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(WEEK, {"resource": str(resource.public_id), "week": "2026-01-14"}))
    assert "Jan 12 – Jan 18, 2026" in html and "Europe/Berlin" in html
    column = day_column(html, monday + timedelta(days=1))
    assert "Tuesday Tina" in column and "10:00" in column  # 09:00 UTC, shown at 10:00 Berlin time
    assert "Tuesday Tina" not in day_column(html, monday)
    placed = block(html, tuesday_ten)
    hours = 18 - first_hour(html)  # the view spans at least 08:00-18:00
    assert placed["top"] == pytest.approx((10 - first_hour(html)) * 100 / hours, abs=0.01)
    assert placed["height"] == pytest.approx(0.5 * 100 / hours, abs=0.01)


@pytest.mark.parametrize(
    ("zone", "monday", "change_day"),
    [
        ("Europe/Berlin", date(2026, 3, 23), date(2026, 3, 29)),  # clocks go forward on Sunday 29 March
        ("America/New_York", date(2026, 10, 26), date(2026, 11, 1)),  # and back on Sunday 1 November
    ],
)
def test_a_daylight_saving_week_keeps_wall_clock_positions(
    client: Client, world: World, zone: str, monday: date, change_day: date
) -> None:
    resource = resource_create(tenant=world.a.tenant, name="DST desk", time_zone=zone)
    before = book(resource, monday, time(10), name="Before Change")
    after = book(resource, change_day, time(10), name="After Change")
    book(resource, change_day, time(23, 0), name="Late Sunday")
    book(resource, change_day + timedelta(days=1), time(0, 30), name="Next Monday")
    assert before.start.astimezone(UTC).hour != after.start.astimezone(UTC).hour  # the offset changed
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(WEEK, {"resource": str(resource.public_id), "week": monday.isoformat()}))
    assert "Before Change" in day_column(html, monday)
    assert "After Change" in day_column(html, change_day) and "Late Sunday" in day_column(html, change_day)
    assert block(html, before)["top"] == block(html, after)["top"]  # both at the 10:00 line
    assert "23:00–23:30" in day_column(html, change_day)
    assert "Next Monday" not in html  # 00:30 local on Monday belongs to the next week
    following = html_of(
        client.get(WEEK, {"resource": str(resource.public_id), "week": (monday + timedelta(7)).isoformat()})
    )
    assert "Next Monday" in day_column(following, change_day + timedelta(days=1))
    assert "00:30–01:00" in following and first_hour(following) == 0


def test_overlapping_bookings_of_all_resources_share_the_column(client: Client, world: World) -> None:
    dr_a = world.a.extra["resource"]
    room = resource_create(tenant=world.a.tenant, name="Room 2", time_zone="Europe/Berlin")
    monday = date(2026, 1, 12)
    first = book(dr_a, monday, time(9), minutes=60, name="Overlap One")
    second = book(room, monday, time(9, 30), minutes=60, name="Overlap Two")
    alone = book(room, monday, time(14), name="Alone Later")
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(WEEK, {"week": "2026-01-12"}))
    assert (block(html, first)["lane"], block(html, second)["lane"]) == (0, 1)
    assert block(html, first)["lanes"] == block(html, second)["lanes"] == 2
    assert block(html, alone)["lanes"] == 1
    column = day_column(html, monday)
    assert "Dr. A" in column and "Room 2" in column  # all resources: each block names its resource


def test_mixed_time_zones_are_drawn_in_the_tenants_zone_with_a_warning(client: Client, world: World) -> None:
    world.a.tenant.time_zone = "America/Chicago"
    world.a.tenant.save()
    resource_create(tenant=world.a.tenant, name="NY desk", time_zone="America/New_York")
    berlin_booking = book(world.a.extra["resource"], date(2026, 1, 13), time(10), name="Berlin Bob")
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(WEEK, {"week": "2026-01-13"}))
    assert "different time zones" in html and "America/Chicago" in html
    assert "03:00–03:30" in day_column(html, date(2026, 1, 13))  # 10:00 Berlin is 03:00 in Chicago
    assert block(html, berlin_booking)["top"] == 0.0 and first_hour(html) == 3


def test_closed_days_and_hours_are_shown(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    monday = future_monday()
    time_off_add(
        tenant=world.a.tenant, resource=resource, starts_on=monday, ends_on=monday, reason="Training"
    )
    time_off_add(
        tenant=world.a.tenant,
        resource=None,
        starts_on=monday + timedelta(1),
        ends_on=monday + timedelta(1),
        reason="Holiday",
    )
    signed_in(client, world.cast.viewer_a)
    one = html_of(client.get(WEEK, {"resource": str(resource.public_id), "week": monday.isoformat()}))
    assert 'class="cal-day closed"' in one and ">Training<" in day_head(one, monday)
    assert ">Holiday<" in day_head(one, monday + timedelta(1))
    assert 'class="cal-open"' in one  # the other weekdays shade their opening hours
    every = html_of(client.get(WEEK, {"week": monday.isoformat()}))
    assert "Dr. A: Training" in every  # another resource's day off is only mentioned
    assert ">Holiday<" in every


def test_free_slots_are_offered_and_prefill_a_booking(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]  # Mon-Fri 9-12 and 13-17, 30-minute slots
    monday = future_monday()
    book(resource, monday, time(9), name="Early Eve")
    signed_in(client, world.cast.editor_a)
    html = html_of(client.get(WEEK, {"resource": str(resource.public_id), "week": monday.isoformat()}))
    assert ">13 free<" in day_head(html, monday) and ">14 free<" in day_head(html, monday + timedelta(1))
    assert "69 free slots left" in html  # 14 x 5 - 1
    slot = re.search(r'<a class="cal-free"[^>]* href="([^"]+)"', day_column(html, monday + timedelta(1)))
    assert slot is not None
    prefilled = html_of(client.get(slot.group(1).replace("&amp;", "&")))
    assert f'value="{(monday + timedelta(1)).isoformat()}"' in prefilled and 'value="09:00"' in prefilled
    assert f'<option value="{resource.public_id}" selected>' in prefilled
    viewer = Client()
    signed_in(viewer, world.cast.viewer_a)
    seen = html_of(viewer.get(WEEK, {"resource": str(resource.public_id), "week": monday.isoformat()}))
    assert '<a class="cal-free"' not in seen and 'class="cal-free"' in seen  # shown, not bookable


def test_week_navigation_and_bad_weeks(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(WEEK, {"resource": str(resource.public_id), "week": "2026-01-15"}))
    assert f"resource={resource.public_id}&amp;week=2026-01-05" in html  # previous Monday
    assert f"resource={resource.public_id}&amp;week=2026-01-19" in html
    assert "This week" in html
    for bad in ("nonsense", "0001-01-01", "9999-12-31"):
        assert client.get(WEEK, {"week": bad}).status_code == 200  # this week instead


def test_no_resource_yet_invites_to_create_one(client: Client, world: World) -> None:
    Booking.objects.filter(tenant=world.a.tenant).delete()
    Resource.objects.filter(tenant=world.a.tenant).delete()
    signed_in(client, world.cast.editor_a)
    html = html_of(client.get(WEEK))
    assert "No calendars yet" in html and reverse("dashboard:calendar-resource-new", args=["acme"]) in html


def test_build_week_assigns_lanes_per_cluster() -> None:
    zone = ZoneInfo("UTC")
    monday = date(2026, 1, 12)

    def at(hour: int, minute: int, length: int) -> Booking:
        start = datetime.combine(monday, time(hour, minute), tzinfo=zone)
        return Booking(start=start, end=start + timedelta(minutes=length), customer_name="x")

    bookings = [at(9, 0, 60), at(9, 30, 60), at(10, 0, 60), at(13, 0, 30)]
    week = build_week(
        monday=monday, zone=zone, today=monday, now=datetime(2026, 1, 12, 12, tzinfo=zone), bookings=bookings
    )
    blocks = sorted(week.days[0].bookings, key=lambda b: b.start_minute)
    assert [(b.lane, b.lanes) for b in blocks] == [(0, 2), (1, 2), (0, 2), (0, 1)]
    assert week.days[0].now_top == pytest.approx(40.0)  # 12:00 in an 08:00-18:00 view
    assert [d.date for d in week.days] == [monday + timedelta(n) for n in range(7)]


# ----------------------------------------------------------------------------------- agenda
def test_the_agenda_lists_bookings_by_local_day(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    booking = world.a.extra["booking"]  # tomorrow 10:00 Berlin
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(AGENDA))
    local = booking.start.astimezone(BERLIN)
    assert f"{local:%A} {local.day} {local:%B %Y}" in html and "10:00–10:30" in html
    assert "Customer a" in html and "Customer b" not in html
    assert "Customer a" in html_of(client.get(AGENDA, {"q": "CUSTOMER"}))
    assert "Customer a" in html_of(client.get(AGENDA, {"q": "555 333"}))
    assert "No bookings match" in html_of(client.get(AGENDA, {"q": "nobody"}))
    assert "Customer a" in html_of(client.get(AGENDA, {"resource": str(resource.public_id)}))
    assert "Enter a valid date." in html_of(client.get(AGENDA, {"start": "not-a-date"}))
    assert "Pick a date between 2000 and 2100." in html_of(client.get(AGENDA, {"start": "0001-01-01"}))
    assert client.get(AGENDA, {"resource": str(world.b.extra["resource"].public_id)}).status_code == 200
    assert "Customer b" not in html_of(
        client.get(AGENDA, {"resource": str(world.b.extra["resource"].public_id)})
    )


def test_the_agenda_paginates_and_filters_cancelled(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    day = future_monday()
    for i in range(55):
        book(resource, day + timedelta(days=i // 10), time(8 + i % 10), name=f"Many {i:02d}")
    book(resource, day, time(19), name="Gone Gary", status=BookingStatus.CANCELLED)
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(AGENDA, {"start": day.isoformat()}))
    assert "55 bookings from" in html and "Page 1 of 2" in html and "Gone Gary" not in html
    assert "Many 54" in html_of(client.get(AGENDA, {"start": day.isoformat(), "page": "2"}))
    cancelled = html_of(client.get(AGENDA, {"start": day.isoformat(), "status": "cancelled"}))
    assert "Gone Gary" in cancelled and "Many 00" not in cancelled
    assert "56 bookings" in html_of(client.get(AGENDA, {"start": day.isoformat(), "status": "all"}))


# --------------------------------------------------------------------- booking page, cancel
def test_the_booking_page_shows_local_times_and_links(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    contact = world.a.extra["contact"]
    call = make_call(world.a.tenant, agent=world.a.agent, number=world.a.number)
    booking = book(
        resource,
        date(2026, 7, 7),
        time(15, 30),
        name="Linked Lisa",
        contact_public_id=contact.public_id,
        source_call_id=call.public_id,
        customer_phone="+15550009999",
    )
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(reverse("dashboard:calendar-booking", args=["acme", booking.public_id])))
    assert "Tuesday 7 July 2026, 15:30–16:00" in html and "(Europe/Berlin)" in html  # 13:30 UTC
    assert reverse("dashboard:contact", args=["acme", contact.public_id]) in html
    assert reverse("dashboard:call", args=["acme", call.public_id]) in html
    assert "Cancel booking" not in html  # a viewer, and the booking is past anyway


def test_cancelling_frees_the_time_and_is_idempotent(client: Client, world: World) -> None:
    booking = world.a.extra["booking"]
    url = reverse("dashboard:calendar-booking", args=["acme", booking.public_id])
    cancel = reverse("dashboard:calendar-booking-cancel", args=["acme", booking.public_id])
    signed_in(client, world.cast.editor_a)
    assert "Cancel booking</button>" in html_of(client.get(url))
    response = client.post(cancel)
    assert response.status_code == 302 and response["Location"] == url
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.cancelled_at is not None
    html = html_of(client.get(url))
    assert "is cancelled; the time is free again" in html and "Cancel booking</button>" not in html
    stamp = booking.cancelled_at
    assert "already cancelled" in html_of(client.post(cancel, follow=True))
    booking.refresh_from_db()
    assert booking.cancelled_at == stamp
    week = html_of(client.get(WEEK, {"week": booking.start.date().isoformat()}))
    assert booking.customer_name not in week  # the week view shows confirmed bookings
    assert world.b.extra["booking"].status == BookingStatus.CONFIRMED


# ------------------------------------------------------------------------- booking by hand
def _booking_post(world: World, day: date, clock: str, **changes: Any) -> dict[str, Any]:
    return {
        "resource": str(world.a.extra["resource"].public_id),
        "day": day.isoformat(),
        "start_time": clock,
        "customer_name": "Hand Booked",
        "customer_phone": "+1 (555) 010-2030",
        "notes": "Booked at the desk.",
    } | changes


def test_booking_by_hand_uses_the_resources_local_time(client: Client, world: World) -> None:
    tuesday = future_monday() + timedelta(days=1)
    signed_in(client, world.cast.editor_a)
    response = client.post(NEW_BOOKING, _booking_post(world, tuesday, "13:30", duration_minutes="60"))
    booking = Booking.objects.get(customer_name="Hand Booked")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:calendar-booking", args=["acme", booking.public_id])
    assert booking.start == datetime.combine(tuesday, time(13, 30), tzinfo=BERLIN)
    assert booking.end - booking.start == timedelta(hours=1)
    assert booking.customer_phone == "+15550102030" and booking.tenant_id == world.a.tenant.pk


@pytest.mark.parametrize(
    ("clock", "weekday", "message"),
    [
        ("07:00", 1, "That time is outside business hours."),
        ("12:00", 1, "That time is outside business hours."),  # the lunch break
        ("10:00", 5, "That time is outside business hours."),  # Saturday: closed
        ("10:00", 0, "The business is closed that day."),
        ("10:00", 2, "That time is already taken."),
    ],
)
def test_booking_by_hand_follows_the_booking_rules(
    client: Client, world: World, clock: str, weekday: int, message: str
) -> None:
    resource = world.a.extra["resource"]
    monday = future_monday()
    time_off_add(tenant=world.a.tenant, resource=resource, starts_on=monday, ends_on=monday)
    book(resource, monday + timedelta(days=2), time(10), name="Already There")
    signed_in(client, world.cast.editor_a)
    html = html_of(client.post(NEW_BOOKING, _booking_post(world, monday + timedelta(days=weekday), clock)))
    assert message in html
    assert not Booking.objects.filter(customer_name="Hand Booked").exists()


def test_booking_by_hand_validates_the_form(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    theirs = str(world.b.extra["resource"].public_id)
    html = html_of(
        client.post(
            NEW_BOOKING,
            _booking_post(
                world, future_monday(), "25:00", resource=theirs, customer_phone="555-1234", customer_name=""
            ),
        )
    )
    assert "Select a valid choice." in html  # another tenant's resource is not a choice
    assert "Enter a valid time." in html and "This field is required." in html
    assert "Use the international form" in html
    far = html_of(client.post(NEW_BOOKING, _booking_post(world, date(1, 1, 1), "10:00")))
    assert "Pick a date between 2000 and 2100." in far  # not an overflow deep in the time maths
    assert not Booking.objects.filter(notes="Booked at the desk.").exists()


# ------------------------------------------------------------------------------- resources
def test_creating_a_resource_leads_to_its_hours(client: Client, world: World) -> None:
    world.a.tenant.time_zone = "America/New_York"
    world.a.tenant.save()
    signed_in(client, world.cast.editor_a)
    page = html_of(client.get(reverse("dashboard:calendar-resource-new", args=["acme"])))
    assert '<option value="America/New_York" selected>' in page  # the tenant's zone by default
    response = client.post(
        reverse("dashboard:calendar-resource-new", args=["acme"]), resource_form(world.a, name="Van 1")
    )
    resource = Resource.objects.get(tenant=world.a.tenant, name="Van 1")
    assert response["Location"] == reverse(
        "dashboard:calendar-resource-hours", args=["acme", resource.public_id]
    )
    assert (resource.time_zone, resource.slot_minutes, resource.buffer_minutes) == ("Europe/Berlin", 45, 5)


def test_resource_settings_validate_with_clear_messages(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    url = reverse("dashboard:calendar-resource", args=["acme", resource.public_id])
    signed_in(client, world.cast.editor_a)
    html = html_of(
        client.post(
            url,
            resource_form(
                world.a, name="Room 9", slot_minutes="3", horizon_days="0", time_zone="Mars/Olympus"
            ),
        )
    )
    assert "Ensure this value is greater than or equal to 5." in html
    assert "Ensure this value is greater than or equal to 1." in html
    assert "Select a valid choice. Mars/Olympus is not one of the available choices." in html
    resource_create(tenant=world.a.tenant, name="Taken Name")
    assert "Another resource already has this name." in html_of(
        client.post(url, resource_form(world.a, name="Taken Name"))
    )
    assert Resource.objects.get(pk=resource.pk).name == "Dr. A"
    response = client.post(url, resource_form(world.a, name="Dr. A", is_active=""))
    assert response.status_code == 302
    stored = Resource.objects.get(pk=resource.pk)
    assert not stored.is_active and stored.slot_minutes == 45
    assert "is inactive" in html_of(client.get(WEEK, {"resource": str(resource.public_id)}))


def test_a_resource_with_bookings_cannot_be_deleted(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    signed_in(client, world.cast.editor_a)
    html = html_of(
        client.post(
            reverse("dashboard:calendar-resource-delete", args=["acme", resource.public_id]), follow=True
        )
    )
    assert "has bookings, so it cannot be deleted; make it inactive instead." in html
    assert Resource.objects.filter(pk=resource.pk).exists()
    spare = resource_create(tenant=world.a.tenant, name="Spare room")
    hours_set(tenant=world.a.tenant, resource=spare, week=OFFICE_HOURS)
    response = client.post(reverse("dashboard:calendar-resource-delete", args=["acme", spare.public_id]))
    assert response["Location"] == RESOURCES
    assert not Resource.objects.filter(pk=spare.pk).exists()
    assert not BusinessHours.objects.filter(resource_id=spare.pk).exists()


def test_the_resource_list_summarises_hours(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(RESOURCES))
    assert "Mon–Fri 09:00–12:00, 13:00–17:00" in html and "Taking bookings" in html
    assert "Xmas" in html and "25 Dec 2030" in html  # the closure for everyone, with its date
    assert "Dr. B" not in html


# ------------------------------------------------------------------------------ hours editor
def test_the_hours_editor_saves_several_intervals_per_day(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    url = reverse("dashboard:calendar-resource-hours", args=["acme", resource.public_id])
    signed_in(client, world.cast.editor_a)
    html = html_of(client.get(url))
    assert 'name="d0_0_opens" value="09:00"' in html and 'name="d0_1_closes" value="17:00"' in html
    response = client.post(
        url,
        {
            "d0_0_opens": "08:00",
            "d0_0_closes": "11:00",
            "d0_2_opens": "14:00",  # any free pair of boxes will do
            "d0_2_closes": "18:30",
            "d5_0_opens": "18:00",
            "d5_0_closes": "00:00",  # until midnight
        },
    )
    assert response.status_code == 302
    rows = list(
        BusinessHours.objects.filter(resource=resource)
        .order_by("weekday", "opens")
        .values_list("weekday", "opens", "closes")
    )
    assert rows == [(0, time(8), time(11)), (0, time(14), time(18, 30)), (5, time(18), time(0))]
    assert "Sat 18:00–24:00" in html_of(
        client.get(reverse("dashboard:calendar-resource", args=["acme", resource.public_id]))
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"d1_0_opens": "12:00", "d1_0_closes": "09:00"}, "12:00–09:00 closes before it opens"),
        (
            {"d1_0_opens": "09:00", "d1_0_closes": "12:00", "d1_1_opens": "11:00", "d1_1_closes": "14:00"},
            "09:00–12:00 and 11:00–14:00 overlap.",
        ),
        ({"d1_0_opens": "09:00"}, "Interval 1 needs both an opening and a closing time."),
        (
            {"d1_0_opens": "20:00", "d1_0_closes": "00:00", "d1_1_opens": "21:00", "d1_1_closes": "22:00"},
            "overlap",
        ),
        ({"d1_0_opens": "9 am", "d1_0_closes": "12:00"}, "Enter a valid time."),
    ],
)
def test_the_hours_editor_refuses_bad_intervals(
    client: Client, world: World, data: dict[str, str], message: str
) -> None:
    resource = world.a.extra["resource"]
    before = list(BusinessHours.objects.filter(resource=resource).values_list("weekday", "opens", "closes"))
    signed_in(client, world.cast.editor_a)
    html = html_of(
        client.post(reverse("dashboard:calendar-resource-hours", args=["acme", resource.public_id]), data)
    )
    assert message in html
    if "valid time" not in message:
        assert (
            "Some days need fixing: Tuesday." in html and 'class="hours-day invalid" data-weekday="1"' in html
        )
    assert (
        list(BusinessHours.objects.filter(resource=resource).values_list("weekday", "opens", "closes"))
        == before
    )


def test_a_viewer_reads_the_hours_without_a_form(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = html_of(
        client.get(
            reverse("dashboard:calendar-resource-hours", args=["acme", world.a.extra["resource"].public_id])
        )
    )
    assert "<fieldset disabled>" in html and "Save hours" not in html and 'value="09:00"' in html


# ------------------------------------------------------------------------------ closed days
def test_closed_days_are_added_and_removed(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    page = reverse("dashboard:calendar-resource", args=["acme", resource.public_id])
    signed_in(client, world.cast.editor_a)
    data = {
        "resource": str(resource.public_id),
        "starts_on": "2031-05-01",
        "ends_on": "2031-05-03",
        "reason": "Congress",
    }
    response = client.post(TIME_OFF_NEW, data)
    assert response["Location"] == page
    row = TimeOff.objects.get(reason="Congress")
    assert (row.resource_id, row.starts_on, row.ends_on) == (resource.pk, date(2031, 5, 1), date(2031, 5, 3))
    html = html_of(client.get(page))
    assert "Congress" in html and "Xmas" in html  # its own closures and everyone's
    response = client.post(TIME_OFF_NEW, data | {"resource": "", "reason": "Strike"})
    assert response["Location"] == RESOURCES
    assert TimeOff.objects.get(reason="Strike").resource is None
    remove = reverse("dashboard:calendar-time-off-remove", args=["acme", row.public_id])
    assert client.post(remove)["Location"] == page
    assert not TimeOff.objects.filter(pk=row.pk).exists()
    strike = TimeOff.objects.get(reason="Strike")
    back = client.post(
        reverse("dashboard:calendar-time-off-remove", args=["acme", strike.public_id]),
        {"back": str(resource.public_id)},
    )
    assert back["Location"] == page  # removed from the resource's page: back there


def test_closed_days_validate(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    count = TimeOff.objects.count()
    html = html_of(
        client.post(TIME_OFF_NEW, {"resource": "", "starts_on": "2031-05-03", "ends_on": "2031-05-01"})
    )
    assert "The last day must be on or after the first." in html
    html = html_of(
        client.post(TIME_OFF_NEW, {"resource": "", "starts_on": "2031-01-01", "ends_on": "2033-01-01"})
    )
    assert "At most a year at a time." in html
    theirs = {
        "resource": str(world.b.extra["resource"].public_id),
        "starts_on": "2031-05-01",
        "ends_on": "2031-05-01",
    }
    assert "Select a valid choice." in html_of(client.post(TIME_OFF_NEW, theirs))
    assert TimeOff.objects.count() == count


# ------------------------------------------------------------------------------ calendar feed
def test_the_feed_url_is_for_editors_and_rotating_revokes_the_old_one(client: Client, world: World) -> None:
    resource = world.a.extra["resource"]
    page = reverse("dashboard:calendar-resource", args=["acme", resource.public_id])
    old_path = feed_path(resource)
    viewer = Client()
    signed_in(viewer, world.cast.viewer_a)
    assert old_path not in html_of(viewer.get(page))
    signed_in(client, world.cast.editor_a)
    assert f"https://voice.example.test{old_path}" in html_of(client.get(page))
    assert Client().get(old_path).status_code == 200
    response = client.post(
        reverse("dashboard:calendar-resource-feed-rotate", args=["acme", resource.public_id])
    )
    assert response["Location"] == page
    rotated = Resource.objects.get(pk=resource.pk)
    new_path = feed_path(rotated)
    assert new_path != old_path and new_path in html_of(client.get(page))
    assert Client().get(old_path).status_code == 404
    feed = Client().get(new_path)
    assert feed.status_code == 200 and b"Customer a" in feed.content


def test_contacts_link_to_their_bookings(client: Client, world: World) -> None:
    contact = Contact.objects.get(pk=world.a.extra["contact"].pk)
    booking = world.a.extra["booking"]
    Booking.objects.filter(pk=booking.pk).update(contact_public_id=contact.public_id)
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(reverse("dashboard:contact", args=["acme", contact.public_id])))
    assert reverse("dashboard:calendar-booking", args=["acme", booking.public_id]) in html
    assert f"{booking.start.astimezone(BERLIN):%H:%M}" == "10:00" and ", 10:00</a>" in html


def test_a_legacy_time_zone_name_stays_editable(client: Client, world: World) -> None:
    resource = resource_create(tenant=world.a.tenant, name="Old desk", time_zone="US/Eastern")
    url = reverse("dashboard:calendar-resource", args=["acme", resource.public_id])
    signed_in(client, world.cast.editor_a)
    assert '<option value="US/Eastern" selected>' in html_of(client.get(url))
    response = client.post(
        url, resource_form(world.a, name="Old desk", time_zone="US/Eastern", slot_minutes="20")
    )
    assert response.status_code == 302
    assert Resource.objects.get(pk=resource.pk).slot_minutes == 20
