"""booking_create / booking_cancel: the rules, and double booking refused even under a race.

The race tests run real threads with their own database connections, released together by a
barrier, on whatever database the run uses: SQLite locally, PostgreSQL in CI (DATABASE_URL).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction

from agents.scheduling import services
from agents.scheduling.models import BOOKING_OVERLAP_CONSTRAINT, Booking, BookingStatus
from agents.scheduling.services import (
    BookingLimitReached,
    SlotUnavailable,
    booking_cancel,
    booking_create,
    time_off_add,
)
from agents.scheduling.tools import schedule_meeting
from tests.scheduling.conftest import MONDAY, NOW, Desk, at

TUESDAY = MONDAY + timedelta(1)


def book(desk: Desk, start: datetime, end: datetime | None = None, **extra: Any) -> Booking:
    return booking_create(
        tenant=desk.tenant,
        resource=desk.resource,
        start=start,
        end=end,
        customer_name="Caller",
        now=NOW,
        **extra,
    )


def test_booking_stores_the_caller_and_defaults_to_one_slot(desk: Desk) -> None:
    call_id, contact_id = uuid.uuid4(), uuid.uuid4()
    booking = book(
        desk,
        at(TUESDAY, "10:00"),
        customer_phone="+15551230000",
        contact_public_id=contact_id,
        source_call_id=call_id,
    )
    booking.refresh_from_db()
    assert booking.tenant == desk.tenant and booking.resource == desk.resource
    assert booking.end - booking.start == timedelta(minutes=30)
    assert (booking.customer_phone, booking.contact_public_id, booking.source_call_id) == (
        "+15551230000",
        contact_id,
        call_id,
    )
    assert booking.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (at(TUESDAY, "12:00"), None, "outside_hours"),  # lunch
        (at(TUESDAY, "11:45"), at(TUESDAY, "12:15"), "outside_hours"),  # runs into lunch
        (at(MONDAY + timedelta(5), "10:00"), None, "outside_hours"),  # Saturday
        (at(TUESDAY, "08:30"), None, "outside_hours"),
        (at(MONDAY, "08:45"), None, "too_soon"),  # NOW is 8:00, notice is 60 minutes
        (at(MONDAY - timedelta(7), "10:00"), None, "too_soon"),
        (at(MONDAY + timedelta(63), "10:00"), None, "too_far"),
    ],
)
def test_times_the_rules_forbid_are_refused(
    desk: Desk, start: datetime, end: datetime | None, reason: str
) -> None:
    with pytest.raises(SlotUnavailable) as refused:
        book(desk, start, end)
    assert refused.value.reason == reason
    assert not Booking.objects.exists()


def test_closed_days_are_refused(desk: Desk) -> None:
    time_off_add(tenant=desk.tenant, resource=desk.resource, starts_on=TUESDAY, ends_on=TUESDAY)
    with pytest.raises(SlotUnavailable) as refused:
        book(desk, at(TUESDAY, "10:00"))
    assert refused.value.reason == "closed"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("10:00", "10:30"),  # the same slot
        ("10:15", "10:45"),  # overlapping the end
        ("09:45", "10:15"),  # overlapping the start
        ("09:00", "11:00"),  # containing it
    ],
)
def test_overlapping_bookings_are_refused(desk: Desk, start: str, end: str) -> None:
    book(desk, at(TUESDAY, "10:00"))
    with pytest.raises(SlotUnavailable) as refused:
        book(desk, at(TUESDAY, start), at(TUESDAY, end))
    assert refused.value.reason == "taken"
    assert Booking.objects.count() == 1


def test_back_to_back_is_fine_without_a_buffer_and_refused_with_one(desk: Desk) -> None:
    book(desk, at(TUESDAY, "10:00"))
    book(desk, at(TUESDAY, "10:30"))
    desk.resource.buffer_minutes = 10
    desk.resource.save(update_fields=["buffer_minutes"])
    with pytest.raises(SlotUnavailable):
        book(desk, at(TUESDAY, "11:00"))
    book(desk, at(TUESDAY, "11:10"), at(TUESDAY, "11:40"))


def test_cancelling_frees_the_time_and_is_idempotent(desk: Desk) -> None:
    booking = book(desk, at(TUESDAY, "10:00"))
    cancelled = booking_cancel(tenant=desk.tenant, booking=booking, now=NOW)
    assert cancelled.status == BookingStatus.CANCELLED and cancelled.cancelled_at == NOW
    again = booking_cancel(tenant=desk.tenant, booking=booking)
    assert again.cancelled_at == NOW
    assert book(desk, at(TUESDAY, "10:00")).status == BookingStatus.CONFIRMED


def test_the_same_call_repeating_a_booking_gets_the_same_booking(desk: Desk) -> None:
    call_id = uuid.uuid4()
    first = book(desk, at(TUESDAY, "10:00"), source_call_id=call_id)
    second = book(desk, at(TUESDAY, "10:00"), source_call_id=call_id)
    assert first.pk == second.pk and Booking.objects.count() == 1
    with pytest.raises(SlotUnavailable):
        book(desk, at(TUESDAY, "10:00"), source_call_id=uuid.uuid4())


def test_a_call_may_only_make_so_many_bookings(desk: Desk) -> None:
    call_id = uuid.uuid4()
    for clock in ("09:00", "10:00"):
        book(desk, at(TUESDAY, clock), source_call_id=call_id, max_bookings_per_call=2)
    with pytest.raises(BookingLimitReached):
        book(desk, at(TUESDAY, "11:00"), source_call_id=call_id, max_bookings_per_call=2)


def test_naive_times_are_refused(desk: Desk) -> None:
    with pytest.raises(ValueError, match="aware"):
        book(desk, datetime(2026, 3, 3, 10, 0))


def test_the_database_refuses_overlaps_on_postgres(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exclusion constraint stands even when the service check is skipped (as a buggy or
    racing writer would); the service turns its violation into SlotUnavailable."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Booking._meta.db_table)
    if connection.vendor != "postgresql":
        # SQLite has no exclusion constraints: the service lock is the guard there (see below).
        assert BOOKING_OVERLAP_CONSTRAINT not in constraints
        return
    assert BOOKING_OVERLAP_CONSTRAINT in constraints
    book(desk, at(TUESDAY, "10:00"))
    fields = {"tenant": desk.tenant, "resource": desk.resource, "customer_name": "Raw"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(**fields, start=at(TUESDAY, "10:15"), end=at(TUESDAY, "10:45"))
    # Cancelled bookings, touching bookings and other resources do not conflict.
    Booking.objects.create(**fields, start=at(TUESDAY, "10:00"), end=at(TUESDAY, "10:30"), status="cancelled")
    Booking.objects.create(**fields, start=at(TUESDAY, "10:30"), end=at(TUESDAY, "11:00"))
    monkeypatch.setattr(services, "booking_problem", lambda **kwargs: None)
    with pytest.raises(SlotUnavailable) as refused:
        book(desk, at(TUESDAY, "10:10"), at(TUESDAY, "10:40"))
    assert refused.value.reason == "taken" and isinstance(refused.value.__cause__, IntegrityError)


# -------------------------------------------------------------------------------------- races
def race(attempts: list[Callable[[], Any]]) -> list[Any]:
    """Run the attempts in threads released at the same moment; return each result or error."""
    barrier = threading.Barrier(len(attempts))
    results: list[Any] = [None] * len(attempts)

    def run(index: int, attempt: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = attempt()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("callers", [2, 4])
def test_simultaneous_bookings_of_one_slot_exactly_one_wins(desk: Desk, callers: int) -> None:
    start = at(TUESDAY, "10:00")
    results = race([lambda: book(desk, start) for _ in range(callers)])
    won = [r for r in results if isinstance(r, Booking)]
    lost = [r for r in results if isinstance(r, SlotUnavailable)]
    assert len(won) == 1 and len(lost) == callers - 1, results
    assert all(r.reason == "taken" for r in lost)
    assert list(Booking.objects.filter(status=BookingStatus.CONFIRMED).values_list("pk", flat=True)) == [
        won[0].pk
    ]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_overlapping_bookings_exactly_one_wins(desk: Desk) -> None:
    results = race(
        [
            lambda: book(desk, at(TUESDAY, "10:00"), at(TUESDAY, "10:30")),
            lambda: book(desk, at(TUESDAY, "10:15"), at(TUESDAY, "10:45")),
        ]
    )
    assert sorted(type(r).__name__ for r in results) == ["Booking", "SlotUnavailable"], results
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_calls_scheduling_the_same_slot_through_the_tool(desk: Desk) -> None:
    start_iso = at(TUESDAY, "15:00").isoformat()

    def call(phone: str) -> Callable[[], dict[str, Any]]:
        return lambda: schedule_meeting(
            tenant=desk.tenant,
            start_iso=start_iso,
            customer_name=f"Caller {phone[-1]}",
            customer_phone=phone,
            source_call_id=uuid.uuid4(),
            now=NOW,
        )

    results = race([call("+15550000001"), call("+15550000002")])
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["booked", "unavailable"], results
    loser = next(r for r in results if r["status"] == "unavailable")
    assert loser["reason"] == "taken" and loser["alternatives"]
    assert start_iso not in {alt["start"] for alt in loser["alternatives"]}
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_bookings_of_different_slots_all_succeed(desk: Desk) -> None:
    def booking_at(clock: str) -> Callable[[], Booking]:
        return lambda: book(desk, at(TUESDAY, clock))

    results = race([booking_at(clock) for clock in ("10:00", "10:30", "11:00")])
    assert all(isinstance(r, Booking) for r in results), results
    assert Booking.objects.count() == 3
