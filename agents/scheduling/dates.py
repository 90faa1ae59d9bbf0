"""Phone-style dates and times in English, resolved in the business's time zone.

``resolve_when("next tuesday morning", now=..., zone="Europe/Berlin")`` gives a ``ResolvedWhen``:
a local date range plus an optional time window or exact time. Rules a caller would expect:

- "on friday" / "friday": the next Friday after today; "this friday": the coming one, today
  included; "next friday": Friday of next week (weeks start on Monday); "friday after next": the
  Friday after the coming one.
- "the 14th": the next 14th, today included; "march 3": this year, or next year once past;
  "3/14": month/day (day/month when the first number cannot be a month).
- A bare hour names business hours: 1-7 means PM, 8-11 AM, 12 noon; "in the morning" and
  friends set the meridiem. A time with no date is today if still ahead, otherwise tomorrow.
- Parts of day: morning 8-12, afternoon 12-17, evening 17-20 ("early"/"late" halve them).

Unknown words are ignored (callers say "uh, how about"); a phrase naming no day and no time at
all raises ``UnclearWhen`` so the agent asks again instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agents.scheduling.clock import (
    MONTH_NAMES,
    WEEKDAY_NAMES,
    local_datetime,
    speak_date,
    speak_time,
)
from agents.scheduling.phrases import canonical

PARTS_OF_DAY: dict[str, tuple[time, time]] = {
    "morning": (time(8), time(12)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(20)),
}


class UnclearWhen(ValueError):
    """The phrase names no day or time that can be resolved; the agent should ask again."""


@dataclass(frozen=True)
class DateTimeRange:
    start: datetime  # aware
    end: datetime  # aware, exclusive


@dataclass(frozen=True)
class ResolvedWhen:
    """Local dates ``date_from``..``date_to`` (inclusive) and, on each of them, either the whole
    day, the window ``time_from``..``time_to`` (None = open end), or the exact ``time_from``."""

    date_from: date
    date_to: date
    time_from: time | None = None
    time_to: time | None = None
    exact: bool = False
    soonest: bool = False

    def days(self) -> list[date]:
        return [self.date_from + timedelta(n) for n in range((self.date_to - self.date_from).days + 1)]

    def windows(self, zone: ZoneInfo) -> list[DateTimeRange]:
        """One aware range per day. An exact time is a one-minute window starting at it."""
        out = []
        for day in self.days():
            start = local_datetime(day, self.time_from or time(0), zone)
            if self.exact:
                end = start + timedelta(minutes=1)
            elif self.time_to is not None and self.time_to != time(0):
                end = local_datetime(day, self.time_to, zone)
            else:
                end = local_datetime(day + timedelta(1), time(0), zone)
            out.append(DateTimeRange(start, end))
        return out

    def describe(self) -> str:
        """What was understood, in words the agent can read back."""
        days = speak_date(self.date_from)
        if self.date_to != self.date_from:
            days = f"{days} to {speak_date(self.date_to)}"
        if self.soonest:
            return f"the earliest time from {speak_date(self.date_from)}"
        if self.time_from is None and self.time_to is None:
            return days
        if self.exact and self.time_from is not None:
            return f"{days} at {speak_time(self.time_from)}"
        for name, (start, end) in PARTS_OF_DAY.items():
            if (self.time_from, self.time_to) == (start, end):
                return f"{days} in the {name}"
        if self.time_to is None:
            return f"{days} after {speak_time(self.time_from or time(0))}"
        if self.time_from is None:
            return f"{days} before {speak_time(self.time_to)}"
        return f"{days} between {speak_time(self.time_from)} and {speak_time(self.time_to)}"


# ---------------------------------------------------------------------------------- parsing
_MONTH = (
    r"(january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|august|aug|"
    r"september|sept|sep|october|oct|november|nov|december|dec)"
)
_WEEKDAY = (
    r"(monday|mon|tuesday|tues|tue|wednesday|wed|thursday|thurs|thur|thu|friday|fri|saturday|sat|sunday|sun)"
)
_ORD = r"(?:st|nd|rd|th)"
_CLOCK = r"(?:noon|midnight|\d{1,2}(?::\d{2}| \d{2})?(?: am| pm)?(?: oclock)?)"


def _month_number(name: str) -> int:
    return next(n for n, full in enumerate(MONTH_NAMES, 1) if full.lower().startswith(name[:3]))


def _weekday_number(name: str) -> int:
    return next(n for n, full in enumerate(WEEKDAY_NAMES) if full.lower().startswith(name[:3]))


# (hour as said, minutes to add (negative for "quarter to"), meridiem: "am", "pm", "24h" or None)
Clock = tuple[int, int, str | None]


@dataclass
class _Found:
    day_from: date | None = None
    day_to: date | None = None
    day_of_month_only: bool = False
    clock: Clock | None = None
    window: tuple[Clock | None, Clock | None] | None = None
    part_window: tuple[time, time] | None = None
    part: str | None = None
    soonest: bool = False
    instant: datetime | None = None
    shift_days: int = 0  # "a week from friday"


class _Parser:
    def __init__(self, text: str, now: datetime, zone: ZoneInfo) -> None:
        self.local_now = now.astimezone(zone)
        self.today = self.local_now.date()
        self.s = canonical(text)
        self.found = _Found()

    def take(self, pattern: str) -> re.Match[str] | None:
        match = re.search(pattern, self.s)
        if match:
            self.s = self.s[: match.start()] + " , " + self.s[match.end() :]
        return match

    def each(self, pattern: str, action: Callable[[re.Match[str]], None]) -> None:
        match = self.take(pattern)
        if match:
            action(match)

    def set_day(self, day: date, until: date | None = None) -> None:
        if self.found.day_from is not None:
            raise UnclearWhen("The phrase names two different days.")
        self.found.day_from, self.found.day_to = day, until or day

    # -- dates
    def calendar_date(self, year: int | None, month: int, day: int) -> None:
        try:
            candidate = date(year or self.today.year, month, day)
            if year is None and candidate < self.today:
                candidate = date(self.today.year + 1, month, day)
        except ValueError:
            raise UnclearWhen(f"There is no day {day} in month {month}.") from None
        self.set_day(candidate)

    def day_of_month(self, day: int) -> None:
        if not 1 <= day <= 31:
            raise UnclearWhen(f"There is no {day}th day of a month.")
        year, month = self.today.year, self.today.month
        for _ in range(13):  # the next month that has this day, this month included
            try:
                candidate = date(year, month, day)
            except ValueError:
                candidate = None
            if candidate is not None and candidate >= self.today:
                self.set_day(candidate)
                self.found.day_of_month_only = True
                return
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def slash_date(self, match: re.Match[str]) -> None:
        first, second = int(match[1]), int(match[2])
        month, day = (first, second) if first <= 12 else (second, first)
        year = int(match[3]) if match[3] else None
        if year is not None and year < 100:
            year += 2000
        self.calendar_date(year, month, day)

    def relative_days(self) -> None:
        self.each(r" overmorrow ", lambda m: self.set_day(self.today + timedelta(2)))
        self.each(r" tomorrow ", lambda m: self.set_day(self.today + timedelta(1)))
        self.each(r" today ", lambda m: self.set_day(self.today))
        self.each(r" in (\d+) days? ", lambda m: self.set_day(self.today + timedelta(int(m[1]))))
        self.each(r" in (\d+) weeks? ", lambda m: self.set_day(self.today + timedelta(7 * int(m[1]))))
        monday = self.today - timedelta(self.today.weekday())
        self.each(r" next week ", lambda m: self.set_day(monday + timedelta(7), monday + timedelta(13)))
        self.each(r" this week ", lambda m: self.set_day(self.today, monday + timedelta(6)))
        saturday = monday + timedelta(5)
        self.each(r" next weekend ", lambda m: self.set_day(saturday + timedelta(7), saturday + timedelta(8)))
        self.each(
            r" (?:this |the )?weekend ",
            lambda m: self.set_day(max(saturday, self.today), saturday + timedelta(1)),
        )

    def apply_weekday(self, weekday: int, modifier: str) -> None:
        f = self.found
        if f.day_from is not None and f.day_to is not None and f.day_to != f.day_from:
            matches = [d for d in _days(f.day_from, f.day_to) if d.weekday() == weekday]
            if not matches:
                raise UnclearWhen(f"{WEEKDAY_NAMES[weekday]} is not in that week.")
            f.day_from = f.day_to = matches[0]
            return
        if f.day_from is not None:
            if f.day_from.weekday() == weekday:
                return
            if f.day_of_month_only:  # "friday the 13th": the next month where that holds
                for months_ahead in range(1, 13):
                    month_index = f.day_from.month - 1 + months_ahead
                    try:
                        candidate = f.day_from.replace(
                            year=f.day_from.year + month_index // 12, month=month_index % 12 + 1
                        )
                    except ValueError:
                        continue
                    if candidate.weekday() == weekday:
                        f.day_from = f.day_to = candidate
                        return
            raise UnclearWhen(f"{speak_date(f.day_from)} is not a {WEEKDAY_NAMES[weekday]}.")
        ahead = (weekday - self.today.weekday()) % 7
        if modifier == "this" or modifier == "coming":
            day = self.today + timedelta(ahead)
        elif modifier.startswith("next"):
            monday = self.today - timedelta(self.today.weekday())
            day = monday + timedelta(7 + weekday)
        else:
            day = self.today + timedelta(ahead or 7)
        if modifier.endswith("after next"):
            day += timedelta(7)
        self.set_day(day)

    # -- times
    def clock_of(self, text: str) -> Clock:
        text = text.replace(" oclock", "").strip()
        if text == "noon":
            return 12, 0, "pm"
        if text == "midnight":
            return 0, 0, "am"
        match = re.fullmatch(r"(\d{1,2})(?:[: ](\d{2}))?(?: (am|pm))?", text)
        if match is None:
            raise UnclearWhen(f"{text!r} is not a time.")
        hour, minute = int(match[1]), int(match[2] or 0)
        meridiem = match[3] or ("24h" if hour > 12 or match[1].startswith("0") else None)
        if minute > 59 or hour > 23 or (meridiem in ("am", "pm") and not 1 <= hour <= 12):
            raise UnclearWhen(f"{text!r} is not a time.")
        return hour, minute, meridiem

    def set_clock(self, value: Clock) -> None:
        if self.found.clock is not None or self.found.window is not None:
            raise UnclearWhen("The phrase names two different times.")
        self.found.clock = value

    def set_window(self, start: str | None, end: str | None) -> None:
        first = self.clock_of(start) if start else None
        second = self.clock_of(end) if end else None
        if first and second and first[2] is None and second[2] in ("am", "pm"):
            # "between 2 and 4 pm": the meridiem of the end applies to the start too
            first = (first[0], first[1], second[2] if first[0] <= second[0] or first[0] == 12 else "am")
        if self.found.clock is not None or self.found.window is not None:
            raise UnclearWhen("The phrase names two different times.")
        self.found.window = (first, second)

    def times(self) -> None:
        self.each(r" in (\d+) (?:minutes?|mins?) ", self._after_delta("minutes"))
        self.each(r" in (\d+) hours? ", self._after_delta("hours"))
        self.each(
            rf" (?:between|from) ({_CLOCK}) (?:and|to|till|until) ({_CLOCK}) ",
            lambda m: self.set_window(m[1], m[2]),
        )
        self.each(
            rf" (?:after|from|later than|not before) ({_CLOCK}) ", lambda m: self.set_window(m[1], None)
        )
        self.each(rf" ({_CLOCK}) or later ", lambda m: self.set_window(m[1], None))
        self.each(
            rf" (?:before|earlier than|no later than) ({_CLOCK}) ", lambda m: self.set_window(None, m[1])
        )
        meridiem = r"(?: (am|pm))?"
        self.each(rf" half past (\d{{1,2}}){meridiem} ", lambda m: self._minutes_from(m, 30))
        self.each(rf" quarter past (\d{{1,2}}){meridiem} ", lambda m: self._minutes_from(m, 15))
        self.each(rf" quarter to (\d{{1,2}}){meridiem} ", lambda m: self._minutes_from(m, -15))
        self.each(
            rf" (\d{{1,2}}) (?:minutes? )?past (\d{{1,2}}){meridiem} ",
            lambda m: self._minutes_from(m, int(m[1]), hour_group=2),
        )
        self.each(
            rf" (5|10|20|25) (?:minutes? )?to (\d{{1,2}}){meridiem} ",
            lambda m: self._minutes_from(m, -int(m[1]), hour_group=2),
        )
        self.each(r" (noon|midnight) ", lambda m: self.set_clock(self.clock_of(m[1])))
        self.each(r" (\d{1,2}):(\d{2})(?: (am|pm))? ", lambda m: self.set_clock(self.clock_of(m[0])))
        self.each(r" (\d{1,2})(?: oclock)? (am|pm) ", lambda m: self.set_clock(self.clock_of(m[0])))
        self.each(r" (\d{1,2}) ([0-5]\d) ", lambda m: self.set_clock(self.clock_of(m[0])))
        self.each(r" (\d{1,2}) oclock ", lambda m: self.set_clock(self.clock_of(m[1])))
        self.each(
            r" (?:at|around|about|by|for|say) (\d{1,2}) ", lambda m: self.set_clock(self.clock_of(m[1]))
        )

    def _shift(self, match: re.Match[str]) -> None:
        self.found.shift_days = int(match[1]) * (7 if match[2] == "week" else 1)

    def _after_delta(self, unit: str) -> Callable[[re.Match[str]], None]:
        def action(match: re.Match[str]) -> None:
            later = self.local_now.astimezone(UTC) + timedelta(**{unit: int(match[1])})
            self.found.instant = later.astimezone(self.local_now.tzinfo)

        return action

    def _minutes_from(self, match: re.Match[str], minutes: int, hour_group: int = 1) -> None:
        hour = int(match[hour_group])
        meridiem = match.groups()[-1]
        if not 1 <= hour <= 12 or abs(minutes) > 59:
            raise UnclearWhen(f"{match[0].strip()!r} is not a time.")
        self.set_clock((hour, minutes, meridiem))  # "quarter to 8": 8 o'clock (AM) less 15

    def parts_of_day(self) -> None:
        match = self.take(r" (early |late )?(morning|afternoon|evening) ")
        if match is None:
            return
        start, end = PARTS_OF_DAY[match[2]]
        middle = time((start.hour + end.hour) // 2, 30 if (start.hour + end.hour) % 2 else 0)
        if match[1] == "early ":
            end = middle
        elif match[1] == "late ":
            start = middle
        self.found.part = match[2]
        self.found.part_window = (start, end)

    def parse(self) -> ResolvedWhen:
        f = self.found
        f.soonest = self.take(r" soonest ") is not None
        self.each(r" (\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))? ", self.slash_date)
        self.each(
            rf" (?:the )?(\d{{1,2}}){_ORD}? of {_MONTH}(?: (\d{{4}}))? ",
            lambda m: self.calendar_date(int(m[3]) if m[3] else None, _month_number(m[2]), int(m[1])),
        )
        self.each(
            rf" {_MONTH} (?:the )?(\d{{1,2}}){_ORD}?(?: (\d{{4}}))? ",
            lambda m: self.calendar_date(int(m[3]) if m[3] else None, _month_number(m[1]), int(m[2])),
        )
        self.each(
            rf" (\d{{1,2}}){_ORD}? {_MONTH}(?: (\d{{4}}))? ",
            lambda m: self.calendar_date(int(m[3]) if m[3] else None, _month_number(m[2]), int(m[1])),
        )
        self.each(rf" (?:the )?(\d{{1,2}}){_ORD} ", lambda m: self.day_of_month(int(m[1])))
        self.each(r" (\d+) (day|week)s? from (?:now |today )?", self._shift)
        self.relative_days()
        self.times()
        self.each(
            rf" (?:(this|next|coming|on) )?{_WEEKDAY}s?( after next)? ",
            lambda m: self.apply_weekday(_weekday_number(m[2]), (m[1] or "") + (m[3] or "")),
        )
        if re.search(rf" {_WEEKDAY}s? ", self.s):
            raise UnclearWhen("The phrase names two different days.")  # "monday or tuesday"
        if f.day_from is not None and f.clock is None and f.window is None:
            # "tuesday 3", "tomorrow at ten": a lone hour once the day is known
            self.each(r" (\d{1,2}) ", lambda m: self.set_clock(self.clock_of(m[1])))
        self.parts_of_day()
        return self.result()

    def result(self) -> ResolvedWhen:
        f = self.found
        if f.instant is not None:
            if f.day_from is not None or f.clock is not None or f.window is not None:
                raise UnclearWhen("The phrase mixes 'in N hours' with another day or time.")
            day = f.instant.date()
            return ResolvedWhen(day, day, f.instant.time().replace(second=0, microsecond=0), exact=True)
        exact_time = _to_time(f.clock, f.part) if f.clock else None
        window: tuple[time | None, time | None] | None = f.part_window
        if f.window is not None:
            begin, finish = (_to_time(c, f.part) if c else None for c in f.window)
            if begin is not None and finish is not None and finish <= begin:
                raise UnclearWhen("The time window ends before it starts.")
            window = (begin, finish)
        if f.day_from is None and f.shift_days:
            f.day_from = f.day_to = self.today
        if f.day_from is None:
            if exact_time is None and window is None and not f.soonest:
                raise UnclearWhen("No day or time was recognised.")
            day = self.today
            ends = exact_time or (window[1] if window else None)
            if ends is not None and ends != time(0) and ends <= self.local_now.time():
                day += timedelta(1)  # "at three" at 5 pm means tomorrow
            f.day_from = f.day_to = day
        assert f.day_to is not None
        shift = timedelta(f.shift_days)
        resolved = ResolvedWhen(f.day_from + shift, f.day_to + shift, soonest=f.soonest)
        if exact_time is not None:
            return replace(resolved, time_from=exact_time, exact=True)
        if window is not None:
            return replace(resolved, time_from=window[0], time_to=window[1])
        return resolved


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def _to_time(clock: Clock, part: str | None) -> time:
    hour, minute, meridiem = clock
    if meridiem is None and part is not None:
        meridiem = "am" if part == "morning" else "pm"
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif meridiem is None and 1 <= hour <= 7:
        hour += 12  # "at three" on a business line is 3 PM
    total = (hour * 60 + minute) % (24 * 60)
    return time(total // 60, total % 60)


def resolve_when(text: str, *, now: datetime, zone: ZoneInfo | str) -> ResolvedWhen:
    """Resolve ``text`` ("tomorrow at three") at ``now`` (aware) in the business's ``zone``."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if len(text) > 200:
        raise UnclearWhen("That is too long for a date.")
    return _Parser(text, now, zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).parse()
