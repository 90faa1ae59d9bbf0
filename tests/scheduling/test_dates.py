"""The phone-phrase date parser: a table of what callers say and what it must mean.

Reference: Monday 2026-03-02 10:15 in New York.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from agents.scheduling.clock import local_datetime, speak_datetime
from agents.scheduling.dates import ResolvedWhen, UnclearWhen, resolve_when
from tests.scheduling.conftest import BERLIN, NY

REF = datetime(2026, 3, 2, 10, 15, tzinfo=NY)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def t(clock: str) -> time:
    hour, minute = clock.split(":")
    return time(int(hour), int(minute))


DAYS: list[tuple[str, date, date]] = [
    ("today", d(3, 2), d(3, 2)),
    ("tomorrow", d(3, 3), d(3, 3)),
    ("tmrw", d(3, 3), d(3, 3)),
    ("the day after tomorrow", d(3, 4), d(3, 4)),
    ("on friday", d(3, 6), d(3, 6)),
    ("Friday", d(3, 6), d(3, 6)),
    ("monday", d(3, 9), d(3, 9)),  # today is Monday: a bare weekday means the next one
    ("this monday", d(3, 2), d(3, 2)),
    ("this friday", d(3, 6), d(3, 6)),
    ("coming thursday", d(3, 5), d(3, 5)),
    ("next tuesday", d(3, 10), d(3, 10)),  # Tuesday of next week
    ("next friday", d(3, 13), d(3, 13)),
    ("friday after next", d(3, 13), d(3, 13)),
    ("wed", d(3, 4), d(3, 4)),
    ("next week", d(3, 9), d(3, 15)),
    ("this week", d(3, 2), d(3, 8)),
    ("this weekend", d(3, 7), d(3, 8)),
    ("next weekend", d(3, 14), d(3, 15)),
    ("tuesday next week", d(3, 10), d(3, 10)),
    ("in two days", d(3, 4), d(3, 4)),
    ("in 3 days", d(3, 5), d(3, 5)),
    ("in a couple of days", d(3, 4), d(3, 4)),
    ("in a week", d(3, 9), d(3, 9)),
    ("in two weeks", d(3, 16), d(3, 16)),
    ("a week from friday", d(3, 13), d(3, 13)),
    ("two weeks from today", d(3, 16), d(3, 16)),
    ("3 days from now", d(3, 5), d(3, 5)),
    ("the 14th", d(3, 14), d(3, 14)),
    ("on the 1st", d(4, 1), d(4, 1)),  # the 1st of this month is past
    ("the second", d(3, 2), d(3, 2)),
    ("the 31st", d(3, 31), d(3, 31)),
    ("march 3rd", d(3, 3), d(3, 3)),
    ("March 1", d(3, 1, 2027), d(3, 1, 2027)),  # already past this year
    ("3rd of march", d(3, 3), d(3, 3)),
    ("the twenty first of march", d(3, 21), d(3, 21)),
    ("april twenty-first", d(4, 21), d(4, 21)),
    ("sept 9", d(9, 9), d(9, 9)),
    ("3/14", d(3, 14), d(3, 14)),
    ("12/25", d(12, 25), d(12, 25)),
    ("25/12", d(12, 25), d(12, 25)),  # cannot be month 25: day first
    ("3/14/2027", d(3, 14, 2027), d(3, 14, 2027)),
    ("2026-04-01", d(4, 1), d(4, 1)),
    ("friday the 13th", d(3, 13), d(3, 13)),
    ("friday the 14th", d(8, 14), d(8, 14)),  # the next month whose 14th is a Friday
]


@pytest.mark.parametrize(("text", "first", "last"), DAYS, ids=[row[0] for row in DAYS])
def test_days(text: str, first: date, last: date) -> None:
    resolved = resolve_when(text, now=REF, zone=NY)
    assert (resolved.date_from, resolved.date_to) == (first, last)
    assert resolved.time_from is None and resolved.time_to is None and not resolved.exact


EXACT: list[tuple[str, date, str]] = [
    ("at three", d(3, 2), "15:00"),
    ("at 3", d(3, 2), "15:00"),
    ("3 pm", d(3, 2), "15:00"),
    ("3pm", d(3, 2), "15:00"),
    ("3 p.m.", d(3, 2), "15:00"),
    ("three o'clock", d(3, 2), "15:00"),
    ("at 1", d(3, 2), "13:00"),
    ("at 11", d(3, 2), "11:00"),
    ("at 9", d(3, 3), "09:00"),  # 9 AM has passed today: tomorrow
    ("9:30 am", d(3, 3), "09:30"),
    ("09:30", d(3, 3), "09:30"),
    ("15:30", d(3, 2), "15:30"),
    ("three thirty", d(3, 2), "15:30"),
    ("three oh five", d(3, 2), "15:05"),
    ("eleven fifteen", d(3, 2), "11:15"),
    ("twelve thirty", d(3, 2), "12:30"),
    ("half past two", d(3, 2), "14:30"),
    ("quarter past eleven", d(3, 2), "11:15"),
    ("a quarter to three", d(3, 2), "14:45"),
    ("quarter to eight", d(3, 3), "07:45"),  # 8 is a morning hour; 7:45 AM today has passed
    ("ten to five", d(3, 2), "16:50"),
    ("twenty past four", d(3, 2), "16:20"),
    ("noon", d(3, 2), "12:00"),
    ("midday", d(3, 2), "12:00"),
    ("at 7 in the evening", d(3, 2), "19:00"),
    ("at 7 in the morning", d(3, 3), "07:00"),
    ("8 tonight", d(3, 2), "20:00"),
    ("tomorrow at three", d(3, 3), "15:00"),
    ("TOMORROW, at 3 P.M.!", d(3, 3), "15:00"),
    ("next Tuesday at 10 in the morning", d(3, 10), "10:00"),
    ("uh, how about Wednesday at ten fifteen?", d(3, 4), "10:15"),
    ("tuesday 3", d(3, 3), "15:00"),
    ("the day after tomorrow at noon", d(3, 4), "12:00"),
    ("march 3rd at 9:45 am", d(3, 3), "09:45"),
    ("the 14th at two thirty", d(3, 14), "14:30"),
    ("in an hour", d(3, 2), "11:15"),
    ("in 30 minutes", d(3, 2), "10:45"),
    ("in half an hour", d(3, 2), "10:45"),
    ("in two hours", d(3, 2), "12:15"),
    ("a week from tuesday at 4", d(3, 10), "16:00"),
    ("today at 9", d(3, 2), "09:00"),  # a named day keeps a past time; availability handles it
]


@pytest.mark.parametrize(("text", "day", "clock"), EXACT, ids=[row[0] for row in EXACT])
def test_exact_times(text: str, day: date, clock: str) -> None:
    resolved = resolve_when(text, now=REF, zone=NY)
    assert (resolved.date_from, resolved.date_to, resolved.time_from) == (day, day, t(clock))
    assert resolved.exact and resolved.time_to is None


WINDOWS: list[tuple[str, date, str | None, str | None]] = [
    ("morning", d(3, 2), "08:00", "12:00"),
    ("in the morning", d(3, 2), "08:00", "12:00"),
    ("this afternoon", d(3, 2), "12:00", "17:00"),
    ("tomorrow morning", d(3, 3), "08:00", "12:00"),
    ("next Tuesday morning", d(3, 10), "08:00", "12:00"),
    ("tuesday evening", d(3, 3), "17:00", "20:00"),
    ("tonight", d(3, 2), "17:00", "20:00"),
    ("tomorrow night", d(3, 3), "17:00", "20:00"),
    ("early afternoon", d(3, 2), "12:00", "14:30"),
    ("late morning", d(3, 2), "10:00", "12:00"),
    ("after 3", d(3, 2), "15:00", None),
    ("tomorrow after three", d(3, 3), "15:00", None),
    ("3 or later", d(3, 2), "15:00", None),
    ("before noon on friday", d(3, 6), None, "12:00"),
    ("between 2 and 4 pm", d(3, 2), "14:00", "16:00"),
    ("between 10 and 2", d(3, 2), "10:00", "14:00"),
    ("between 11 and 1 pm", d(3, 2), "11:00", "13:00"),
    ("from 9 to 11 on thursday", d(3, 5), "09:00", "11:00"),
]


@pytest.mark.parametrize(("text", "day", "start", "end"), WINDOWS, ids=[row[0] for row in WINDOWS])
def test_windows(text: str, day: date, start: str | None, end: str | None) -> None:
    resolved = resolve_when(text, now=REF, zone=NY)
    assert (resolved.date_from, resolved.date_to) == (day, day)
    assert resolved.time_from == (t(start) if start else None)
    assert resolved.time_to == (t(end) if end else None)
    assert not resolved.exact


def test_a_part_of_day_that_is_over_means_tomorrow() -> None:
    evening = datetime(2026, 3, 2, 18, 0, tzinfo=NY)
    assert resolve_when("in the afternoon", now=evening, zone=NY).date_from == d(3, 3)
    assert resolve_when("this evening", now=evening, zone=NY).date_from == d(3, 2)


@pytest.mark.parametrize("text", ["as soon as possible", "ASAP", "first available", "the earliest you have"])
def test_soonest(text: str) -> None:
    resolved = resolve_when(text, now=REF, zone=NY)
    assert resolved.soonest and resolved.date_from == d(3, 2)


UNCLEAR = [
    "",
    "banana",
    "whenever works for you",
    "the 32nd",
    "february 30",
    "13/13",
    "tomorrow friday",  # tomorrow is a Tuesday
    "between 5 and 3",
    "at 25",
    "13 pm",
    "monday or tuesday and also the 14th",
    "in an hour on friday",
    "x" * 201,
]


@pytest.mark.parametrize("text", UNCLEAR)
def test_unclear_phrases_raise(text: str) -> None:
    with pytest.raises(UnclearWhen):
        resolve_when(text, now=REF, zone=NY)


def test_days_are_the_tenants_days_not_utcs() -> None:
    # 23:30 UTC on March 2 is already March 3 in Berlin, still March 2 in New York.
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert resolve_when("tomorrow", now=late, zone=BERLIN).date_from == d(3, 4)
    assert resolve_when("tomorrow", now=late, zone="America/New_York").date_from == d(3, 3)
    assert resolve_when("today", now=late, zone=BERLIN).date_from == d(3, 3)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        resolve_when("today", now=datetime(2026, 3, 2, 10, 0), zone=NY)


def test_windows_follow_daylight_saving() -> None:
    spring_forward = ResolvedWhen(d(3, 8), d(3, 8)).windows(NY)[0]
    assert spring_forward.end - spring_forward.start == timedelta(hours=23)
    fall_back = ResolvedWhen(d(11, 1), d(11, 1)).windows(NY)[0]
    assert fall_back.end - fall_back.start == timedelta(hours=25)
    at_three = ResolvedWhen(d(3, 8), d(3, 8), time(15), exact=True).windows(NY)[0]
    assert at_three.start == datetime(2026, 3, 8, 19, 0, tzinfo=UTC)  # 3 PM EDT


def test_wall_clock_in_a_dst_gap_moves_forward() -> None:
    assert local_datetime(d(3, 8), time(2, 30), NY) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 3:30 EDT
    assert local_datetime(d(11, 1), time(1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 1st 1:30


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tomorrow at three", "Tuesday March 3 at 3:00 PM"),
        ("next tuesday morning", "Tuesday March 10 in the morning"),
        ("friday after 3", "Friday March 6 after 3:00 PM"),
        ("between 2 and 4 pm", "Monday March 2 between 2:00 PM and 4:00 PM"),
        ("next week", "Monday March 9 to Sunday March 15"),
    ],
)
def test_describe_reads_back_what_was_understood(text: str, words: str) -> None:
    assert resolve_when(text, now=REF, zone=NY).describe() == words


def test_spoken_labels() -> None:
    assert speak_datetime(datetime(2026, 3, 3, 20, 0, tzinfo=UTC), NY) == "Tuesday March 3 at 3:00 PM"
    assert speak_datetime(datetime(2026, 3, 3, 17, 0, tzinfo=UTC), NY) == "Tuesday March 3 at 12:00 PM"
    assert speak_datetime(datetime(2026, 3, 3, 5, 5, tzinfo=UTC), NY) == "Tuesday March 3 at 12:05 AM"
