"""The .ics feed: valid RFC 5545 (checked octet by octet and by parsing it with icalendar), and a
capability URL whose token cannot be forged, moved to another resource or kept after rotation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from agents.scheduling.feeds import feed_path, feed_token
from agents.scheduling.ics import CalendarEvent, escape_text, fold_line, render_calendar
from agents.scheduling.models import Booking, Resource
from agents.scheduling.services import booking_cancel, booking_create, hours_set, resource_feed_rotate
from tenants.services import api_key_create
from tests.scheduling.conftest import OFFICE_HOURS, Desk

TRICKY_NAME = 'Zoë "Zed" Müller, Jr.; née O\'Brien \\ 日本語'
LONG_NOTES = "Back pain; bring X-rays, please.\nSecond line: " + "très long " * 30


def upcoming_weekday(days_ahead: int) -> date:
    day = timezone.now().date() + timedelta(days_ahead)
    while day.weekday() >= 5:
        day += timedelta(1)
    return day


def book(resource: Resource, day: date, hour: int) -> Booking:
    start = datetime(day.year, day.month, day.day, hour, 0, tzinfo=resource.zone)
    return booking_create(tenant=resource.tenant, resource=resource, start=start, customer_name="Caller")


@pytest.fixture
def booked(desk: Desk) -> dict[str, Booking]:
    hours_set(tenant=desk.tenant, resource=desk.resource, week=OFFICE_HOURS)
    day = upcoming_weekday(3)
    plain = book(desk.resource, day, 10)
    tricky = booking_create(
        tenant=desk.tenant,
        resource=desk.resource,
        start=datetime(day.year, day.month, day.day, 14, 0, tzinfo=desk.resource.zone),
        customer_name=TRICKY_NAME,
        customer_phone="+15551230000",
        notes=LONG_NOTES,
    )
    cancelled = booking_cancel(tenant=desk.tenant, booking=book(desk.resource, day, 15))
    theirs = book(desk.other_resource, day, 11)
    return {"plain": plain, "tricky": tricky, "cancelled": cancelled, "theirs": theirs}


def test_feed_is_valid_icalendar_with_the_resources_confirmed_bookings(
    desk: Desk, booked: dict[str, Booking]
) -> None:
    response = Client().get(feed_path(desk.resource))  # no login: calendar apps subscribe
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response["Cache-Control"]
    body: bytes = response.content

    physical = body.split(b"\r\n")
    assert physical[-1] == b"" and b"\n" not in body.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 75 for line in physical)
    assert any(line.startswith(b" ") for line in physical)  # long lines were folded
    for line in physical:
        line.decode("utf-8")  # folding never split a character

    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    events = {str(event["UID"]).split("@")[0]: event for event in calendar.walk("VEVENT")}
    assert set(events) == {str(booked["plain"].public_id), str(booked["tricky"].public_id)}
    tricky = events[str(booked["tricky"].public_id)]
    assert tricky.decoded("DTSTART") == booked["tricky"].start
    assert tricky.decoded("DTSTART").utcoffset() == timedelta(0)
    assert b"DTSTART:" + booked["tricky"].start.strftime("%Y%m%dT%H%M%SZ").encode() + b"\r\n" in body
    assert tricky.decoded("DTEND") == booked["tricky"].end
    assert str(tricky["SUMMARY"]) == f"{TRICKY_NAME} (Dr. Ada)"
    assert str(tricky["DESCRIPTION"]) == f"Phone: +15551230000\n{LONG_NOTES.strip()}"
    assert tricky["DTSTAMP"] and tricky["STATUS"] == "CONFIRMED"
    assert str(tricky["UID"]).endswith("@voice.example.test")


def test_rendering_rules_octet_by_octet() -> None:
    now = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    event = CalendarEvent(
        uid="u1@x",
        start=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
        end=datetime(2026, 3, 3, 10, 30, tzinfo=UTC),
        summary="a,b;c\\d\ne\x07f",
    )
    body = render_calendar(name="Room", time_zone="UTC", events=[event], now=now)
    lines = body.decode().split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert "SUMMARY:a\\,b\\;c\\\\d\\nef" in lines  # escaped; control character dropped
    assert "DTSTART:20260303T100000Z" in lines and "DTEND:20260303T103000Z" in lines
    assert "DTSTAMP:20260302T130000Z" in lines


@pytest.mark.parametrize("text", ["x" * 300, "é" * 200, "日本語" * 60, "a" + "€" * 100])
def test_folding_keeps_lines_short_and_characters_whole(text: str) -> None:
    folded = fold_line(f"DESCRIPTION:{text}")
    physical = folded.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical)
    assert all(line.startswith(b" ") for line in physical[1:])
    assert b"".join([physical[0], *(line[1:] for line in physical[1:])]).decode() == f"DESCRIPTION:{text}"


def test_escape_text() -> None:
    assert escape_text("a\r\nb\rc\\;,") == "a\\nb\\nc\\\\\\;\\,"


# ------------------------------------------------------------------------------- the token
def feed_url(resource_id: object, token: str) -> str:
    return reverse("scheduling:ics-feed", kwargs={"resource_id": str(resource_id), "token": token})


def test_a_token_only_opens_its_own_resource(desk: Desk, booked: dict[str, Booking]) -> None:
    client = Client()
    mine, theirs = desk.resource, desk.other_resource
    assert client.get(feed_url(mine.public_id, feed_token(mine))).status_code == 200
    # Tenant B's token does not open tenant A's resource, nor the reverse.
    assert client.get(feed_url(mine.public_id, feed_token(theirs))).status_code == 404
    assert client.get(feed_url(theirs.public_id, feed_token(mine))).status_code == 404
    # A second resource of the same tenant needs its own token too.
    room = Resource.objects.create(tenant=desk.tenant, name="Room", time_zone="UTC")
    assert client.get(feed_url(room.public_id, feed_token(mine))).status_code == 404
    their_feed = client.get(feed_url(theirs.public_id, feed_token(theirs)))
    assert their_feed.status_code == 200
    assert str(booked["plain"].public_id).encode() not in their_feed.content
    assert str(booked["theirs"].public_id).encode() in their_feed.content


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: token.upper(),
        lambda token: "A" * len(token),
        lambda token: token[:-8] + "________",
    ],
)
def test_forged_tokens_are_404(desk: Desk, forge: Callable[[str], str]) -> None:
    token = feed_token(desk.resource)
    forged = forge(token)
    assert forged != token
    assert Client().get(feed_url(desk.resource.public_id, forged)).status_code == 404


def test_unknown_resources_look_like_bad_tokens(desk: Desk) -> None:
    client = Client()
    missing = client.get(feed_url(uuid.uuid4(), feed_token(desk.resource)))
    wrong = client.get(feed_url(desk.resource.public_id, "A" * 43))
    assert missing.status_code == wrong.status_code == 404
    assert missing.content == wrong.content
    assert client.get(f"/calendar/{desk.resource.public_id}/short.ics").status_code == 404


def test_rotation_revokes_old_urls(desk: Desk) -> None:
    old = feed_path(desk.resource)
    rotated = resource_feed_rotate(tenant=desk.tenant, resource=desk.resource)
    client = Client()
    assert client.get(old).status_code == 404
    assert client.get(feed_path(rotated)).status_code == 200
    assert feed_path(rotated) != old


def test_a_token_signed_with_another_key_is_refused(desk: Desk, settings: Any) -> None:
    path = feed_path(desk.resource)
    settings.SECRET_KEY = "another-secret-key-for-another-installation-0123456789"
    assert Client().get(path).status_code == 404


def test_inactive_tenants_feed_is_gone(desk: Desk) -> None:
    path = feed_path(desk.resource)
    desk.tenant.is_active = False
    desk.tenant.save(update_fields=["is_active"])
    assert Client().get(path).status_code == 404


def test_feed_is_read_only(desk: Desk) -> None:
    assert Client().post(feed_path(desk.resource)).status_code == 405
    assert Client().head(feed_path(desk.resource)).status_code == 200


def test_api_hands_out_the_feed_url(desk: Desk) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=desk.tenant, name='k').secret}")
    row = client.get(reverse("scheduling:api-resource-list")).json()["results"][0]
    assert row["calendar_feed_url"] == "https://voice.example.test" + feed_path(desk.resource)
