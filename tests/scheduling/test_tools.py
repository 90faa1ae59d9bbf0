"""The tool functions the call's executor runs: what the model gets back, and that it only ever
sees the calling tenant's calendars and the verified caller's bookings."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import jsonschema
import pytest

from agents.scheduling.models import Booking, BookingStatus
from agents.scheduling.services import booking_create, resource_update, time_off_add
from agents.scheduling.tools import (
    CANCEL_MEETING_SCHEMA,
    CHECK_AVAILABILITY_SCHEMA,
    SCHEDULE_MEETING_SCHEMA,
    TOOL_DEFINITIONS,
    cancel_meeting,
    check_availability,
    schedule_meeting,
)
from tests.scheduling.conftest import MONDAY, NOW, Desk, at, make_resource

TUESDAY = MONDAY + timedelta(1)
PHONE = "+15551230000"


def labels(answer: dict[str, Any], key: str = "slots") -> list[str]:
    return [slot["label"] for slot in answer[key]]


def book(desk: Desk, clock: str, day: Any = TUESDAY, phone: str = PHONE) -> Booking:
    return booking_create(
        tenant=desk.tenant,
        resource=desk.resource,
        start=at(day, clock),
        customer_name="Caller",
        customer_phone=phone,
        now=NOW,
    )


# ------------------------------------------------------------------------- check_availability
def test_no_preference_offers_the_earliest_slots(desk: Desk) -> None:
    answer = check_availability(tenant=desk.tenant, now=NOW)
    assert answer["status"] == "available"
    assert labels(answer) == [
        "Monday March 2 at 9:00 AM",
        "Monday March 2 at 9:30 AM",
        "Monday March 2 at 10:00 AM",
    ]
    assert answer["time_zone"] == "America/New_York"
    assert answer["slots"][0]["start"] == "2026-03-02T09:00:00-05:00"
    assert answer["slots"][0]["resource_id"] == str(desk.resource.public_id)


def test_soonest_within_a_named_day(desk: Desk) -> None:
    answer = check_availability(tenant=desk.tenant, when_text="earliest you have on thursday", now=NOW)
    assert answer["status"] == "available"
    assert labels(answer)[0] == "Thursday March 5 at 9:00 AM"


def test_an_exact_free_time_is_confirmed_first(desk: Desk) -> None:
    answer = check_availability(tenant=desk.tenant, when_text="tomorrow at three", now=NOW)
    assert answer["status"] == "available"
    assert answer["requested"] == "Tuesday March 3 at 3:00 PM"
    assert "Tuesday March 3 at 3:00 PM" in labels(answer)
    assert answer["message"].startswith("Tuesday March 3 at 3:00 PM is free")


def test_an_exact_taken_time_gets_the_nearest_alternatives(desk: Desk) -> None:
    book(desk, "15:00")
    answer = check_availability(tenant=desk.tenant, when_text="tomorrow at three", now=NOW)
    assert answer["status"] == "unavailable"
    assert labels(answer) == [
        "Tuesday March 3 at 2:30 PM",
        "Tuesday March 3 at 3:30 PM",
        "Tuesday March 3 at 4:00 PM",
    ]
    assert "Nothing is free Tuesday March 3 at 3:00 PM" in answer["message"]


def test_a_part_of_day_offers_a_spread_of_free_slots(desk: Desk) -> None:
    answer = check_availability(tenant=desk.tenant, when_text="next Tuesday morning", now=NOW)
    assert answer["status"] == "available"
    assert labels(answer) == [
        "Tuesday March 10 at 9:00 AM",
        "Tuesday March 10 at 10:00 AM",
        "Tuesday March 10 at 11:30 AM",
    ]


def test_a_closed_day_offers_the_nearest_open_times(desk: Desk) -> None:
    answer = check_availability(tenant=desk.tenant, when_text="saturday", now=NOW)
    assert answer["status"] == "unavailable"
    assert labels(answer) == [
        "Friday March 6 at 4:30 PM",
        "Monday March 9 at 9:00 AM",
        "Monday March 9 at 9:30 AM",
    ]


def test_time_off_is_respected(desk: Desk) -> None:
    time_off_add(tenant=desk.tenant, resource=None, starts_on=TUESDAY, ends_on=TUESDAY, reason="Training")
    answer = check_availability(tenant=desk.tenant, when_text="tomorrow afternoon", now=NOW)
    assert answer["status"] == "unavailable"
    assert all("Tuesday" not in label for label in labels(answer))


def test_a_date_and_words_together(desk: Desk) -> None:
    answer = check_availability(tenant=desk.tenant, date="2026-03-04", when_text="in the afternoon", now=NOW)
    assert answer["status"] == "available"
    assert all(label.startswith("Wednesday March 4 at") for label in labels(answer))
    assert all(12 <= int(slot["start"][11:13]) < 17 for slot in answer["slots"])


@pytest.mark.parametrize(
    ("when_text", "date"), [("banana", None), (None, "2026-13-45"), ("monday or tuesday", None)]
)
def test_unclear_requests_ask_the_caller_again(desk: Desk, when_text: str | None, date: str | None) -> None:
    answer = check_availability(tenant=desk.tenant, when_text=when_text, date=date, now=NOW)
    assert answer["status"] == "unclear" and "Ask the caller" in answer["message"]


def test_nothing_free_for_a_month(desk: Desk) -> None:
    time_off_add(tenant=desk.tenant, resource=desk.resource, starts_on=MONDAY, ends_on=MONDAY + timedelta(59))
    answer = check_availability(tenant=desk.tenant, when_text="tomorrow", now=NOW)
    assert answer["status"] == "unavailable" and answer["slots"] == []


def test_several_resources_offer_each_time_once_and_booking_falls_through(desk: Desk) -> None:
    second = make_resource(desk.tenant, "Dr. Cy")
    book(desk, "10:00")
    answer = check_availability(tenant=desk.tenant, when_text="tomorrow at ten", now=NOW)
    assert answer["status"] == "available"
    ten = next(slot for slot in answer["slots"] if slot["label"].endswith("10:00 AM"))
    assert ten["resource_name"] == "Dr. Cy"
    assert len({slot["start"] for slot in answer["slots"]}) == len(answer["slots"])
    booked = schedule_meeting(
        tenant=desk.tenant, start_iso=at(TUESDAY, "10:00").isoformat(), customer_name="Eve", now=NOW
    )
    assert booked["status"] == "booked" and booked["resource_name"] == "Dr. Cy"
    assert Booking.objects.get(public_id=booked["booking_id"]).resource == second


def test_no_calendar_and_inactive_resources(desk: Desk) -> None:
    resource_update(tenant=desk.tenant, resource=desk.resource, is_active=False)
    assert check_availability(tenant=desk.tenant, now=NOW)["status"] == "no_calendar"
    answer = check_availability(tenant=desk.tenant, resource_id=str(desk.resource.public_id), now=NOW)
    assert answer["status"] == "error"


# --------------------------------------------------------------------------- schedule_meeting
def test_schedule_meeting_books_for_the_verified_caller(desk: Desk) -> None:
    call_id, contact_id = uuid.uuid4(), uuid.uuid4()
    answer = schedule_meeting(
        tenant=desk.tenant,
        resource_id=str(desk.resource.public_id),
        start_iso="2026-03-03T15:00:00-05:00",
        customer_name="  Ada Lovelace ",
        notes="Tooth ache",
        customer_phone=PHONE,
        contact_public_id=str(contact_id),
        source_call_id=str(call_id),
        now=NOW,
    )
    assert answer["status"] == "booked"
    assert (
        answer["label"] == "Tuesday March 3 at 3:00 PM" and "Read the day and time back" in answer["message"]
    )
    booking = Booking.objects.get(public_id=answer["booking_id"])
    assert (booking.tenant, booking.customer_name, booking.customer_phone, booking.notes) == (
        desk.tenant,
        "Ada Lovelace",
        PHONE,
        "Tooth ache",
    )
    assert (booking.contact_public_id, booking.source_call_id) == (contact_id, call_id)
    again = schedule_meeting(
        tenant=desk.tenant,
        start_iso="2026-03-03T15:00:00-05:00",
        customer_name="Ada",
        source_call_id=str(call_id),
        now=NOW,
    )
    assert again["status"] == "booked" and again["booking_id"] == answer["booking_id"]


def test_schedule_meeting_reads_a_time_without_offset_in_the_tenants_zone(desk: Desk) -> None:
    answer = schedule_meeting(tenant=desk.tenant, start_iso="2026-03-03T15:00", customer_name="Ada", now=NOW)
    assert answer["status"] == "booked" and answer["start"] == "2026-03-03T15:00:00-05:00"


def test_schedule_meeting_on_a_taken_time_offers_alternatives(desk: Desk) -> None:
    book(desk, "15:00", phone="+15559999999")
    answer = schedule_meeting(
        tenant=desk.tenant, start_iso=at(TUESDAY, "15:00").isoformat(), customer_name="Ada", now=NOW
    )
    assert answer["status"] == "unavailable" and answer["reason"] == "taken"
    assert labels(answer, "alternatives") == [
        "Tuesday March 3 at 2:30 PM",
        "Tuesday March 3 at 3:30 PM",
        "Tuesday March 3 at 4:00 PM",
    ]
    assert Booking.objects.count() == 1


@pytest.mark.parametrize(
    ("start_iso", "name", "status"),
    [
        ("tomorrow at 3", "Ada", "error"),
        ("2026-03-03T15:00:00-05:00", "   ", "error"),
        ("2026-03-03T12:00:00-05:00", "Ada", "unavailable"),
    ],
)
def test_schedule_meeting_refuses_bad_input(desk: Desk, start_iso: str, name: str, status: str) -> None:
    assert (
        schedule_meeting(tenant=desk.tenant, start_iso=start_iso, customer_name=name, now=NOW)["status"]
        == status
    )
    assert not Booking.objects.exists()


def test_one_call_cannot_book_the_whole_calendar(desk: Desk) -> None:
    call_id = str(uuid.uuid4())
    answers = [
        schedule_meeting(
            tenant=desk.tenant,
            start_iso=at(TUESDAY, clock).isoformat(),
            customer_name="Bot",
            source_call_id=call_id,
            now=NOW,
        )
        for clock in ("09:00", "09:30", "10:00", "10:30")
    ]
    assert [a["status"] for a in answers] == ["booked", "booked", "booked", "limit_reached"]


# ----------------------------------------------------------------------------- cancel_meeting
def test_cancel_needs_a_verified_caller(desk: Desk) -> None:
    book(desk, "10:00")
    assert cancel_meeting(tenant=desk.tenant, now=NOW)["status"] == "not_verified"
    assert Booking.objects.get().status == BookingStatus.CONFIRMED


def test_cancel_the_callers_only_booking(desk: Desk) -> None:
    booking = book(desk, "10:00")
    answer = cancel_meeting(tenant=desk.tenant, customer_phone=PHONE, now=NOW)
    assert answer["status"] == "cancelled" and answer["booking_id"] == str(booking.public_id)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert cancel_meeting(tenant=desk.tenant, customer_phone=PHONE, now=NOW)["status"] == "not_found"


def test_cancel_asks_which_when_there_are_several(desk: Desk) -> None:
    first, second = book(desk, "10:00"), book(desk, "11:00")
    answer = cancel_meeting(tenant=desk.tenant, customer_phone=PHONE, now=NOW)
    assert answer["status"] == "choose_booking"
    assert [b["booking_id"] for b in answer["bookings"]] == [str(first.public_id), str(second.public_id)]
    done = cancel_meeting(tenant=desk.tenant, booking_id=str(second.public_id), customer_phone=PHONE, now=NOW)
    assert done["status"] == "cancelled"
    assert Booking.objects.get(pk=first.pk).status == BookingStatus.CONFIRMED


def test_cancel_by_contact(desk: Desk) -> None:
    contact = uuid.uuid4()
    booking_create(
        tenant=desk.tenant,
        resource=desk.resource,
        start=at(TUESDAY, "10:00"),
        customer_name="C",
        contact_public_id=contact,
        now=NOW,
    )
    assert (
        cancel_meeting(tenant=desk.tenant, contact_public_id=str(contact), now=NOW)["status"] == "cancelled"
    )


def test_a_caller_cannot_cancel_someone_elses_booking(desk: Desk) -> None:
    theirs = book(desk, "10:00", phone="+15559999999")
    mine = book(desk, "11:00")
    answer = cancel_meeting(
        tenant=desk.tenant, booking_id=str(theirs.public_id), customer_phone=PHONE, now=NOW
    )
    assert answer["status"] == "not_found"
    assert [b["booking_id"] for b in answer["bookings"]] == [str(mine.public_id)]
    assert Booking.objects.get(pk=theirs.pk).status == BookingStatus.CONFIRMED


# ------------------------------------------------------------------------------ cross-tenant
def test_tools_never_see_another_tenants_calendar(desk: Desk) -> None:
    theirs = desk.other_resource
    answer = check_availability(tenant=desk.tenant, resource_id=str(theirs.public_id), now=NOW)
    assert answer == {
        "status": "error",
        "message": "Unknown resource_id. Use one returned by check_availability.",
    }
    mine = check_availability(tenant=desk.tenant, now=NOW)
    assert {slot["resource_id"] for slot in mine["slots"]} == {str(desk.resource.public_id)}
    booked = schedule_meeting(
        tenant=desk.tenant,
        resource_id=str(theirs.public_id),
        start_iso=at(TUESDAY, "10:00").isoformat(),
        customer_name="X",
        now=NOW,
    )
    assert booked["status"] == "error"
    assert not Booking.objects.exists()


def test_tools_never_touch_another_tenants_bookings(desk: Desk) -> None:
    theirs = booking_create(
        tenant=desk.other_tenant,
        resource=desk.other_resource,
        start=at(TUESDAY, "10:00"),
        customer_name="Globex patient",
        customer_phone=PHONE,  # the same person may be a customer of both businesses
        now=NOW,
    )
    by_id = cancel_meeting(
        tenant=desk.tenant, booking_id=str(theirs.public_id), customer_phone=PHONE, now=NOW
    )
    assert by_id["status"] == "not_found" and by_id["bookings"] == []
    by_phone = cancel_meeting(tenant=desk.tenant, customer_phone=PHONE, now=NOW)
    assert by_phone["status"] == "not_found"
    assert Booking.objects.get(pk=theirs.pk).status == BookingStatus.CONFIRMED
    # Their booking does not make tenant A's 10:00 look busy either.
    assert (
        check_availability(tenant=desk.tenant, when_text="tomorrow at ten", now=NOW)["status"] == "available"
    )


# ------------------------------------------------------------------------------------ schemas
@pytest.mark.parametrize(
    "schema", [CHECK_AVAILABILITY_SCHEMA, SCHEDULE_MEETING_SCHEMA, CANCEL_MEETING_SCHEMA]
)
def test_schemas_are_valid_and_closed(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for prop in schema["properties"].values():
        assert prop["type"] == "string" and 0 < prop["maxLength"] <= 500
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tenant": "someone else"}, schema)


@pytest.mark.parametrize(
    ("schema", "arguments", "valid"),
    [
        (CHECK_AVAILABILITY_SCHEMA, {"when_text": "tomorrow at three"}, True),
        (CHECK_AVAILABILITY_SCHEMA, {"date": "2026-03-03"}, True),
        (CHECK_AVAILABILITY_SCHEMA, {"date": "tomorrow"}, False),
        (CHECK_AVAILABILITY_SCHEMA, {"when_text": "x" * 121}, False),
        (CHECK_AVAILABILITY_SCHEMA, {"resource_id": "../../etc"}, False),
        (SCHEDULE_MEETING_SCHEMA, {"start_iso": "2026-03-03T15:00:00-05:00", "customer_name": "Ada"}, True),
        (SCHEDULE_MEETING_SCHEMA, {"start_iso": "2026-03-03T15:00:00-05:00"}, False),
        (
            SCHEDULE_MEETING_SCHEMA,
            {"start_iso": "2026-03-03T15:00:00-05:00", "customer_name": "Ada", "customer_phone": "+1"},
            False,
        ),
        (CANCEL_MEETING_SCHEMA, {}, True),
        (CANCEL_MEETING_SCHEMA, {"customer_phone": "+15551230000"}, False),
    ],
)
def test_schemas_accept_and_refuse(schema: dict[str, Any], arguments: dict[str, Any], valid: bool) -> None:
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    assert (not errors) is valid


def test_schema_properties_are_the_tool_keywords(desk: Desk) -> None:
    """The executor can call ``tool(tenant=..., now=..., **validated_arguments)``."""
    assert set(TOOL_DEFINITIONS) == {"check_availability", "schedule_meeting", "cancel_meeting"}
    args = {"resource_id": str(desk.resource.public_id), "when_text": "tomorrow", "date": "2026-03-03"}
    assert check_availability(tenant=desk.tenant, now=NOW, **args)["status"] == "available"
    booked = schedule_meeting(
        tenant=desk.tenant,
        now=NOW,
        customer_phone=PHONE,
        **{
            "start_iso": at(TUESDAY, "9:00").isoformat(),
            "customer_name": "A",
            "notes": "n",
            "resource_id": str(desk.resource.public_id),
        },
    )
    assert booked["status"] == "booked"
    assert (
        cancel_meeting(
            tenant=desk.tenant, now=NOW, customer_phone=PHONE, **{"booking_id": booked["booking_id"]}
        )["status"]
        == "cancelled"
    )
