"""Wall-clock helpers: local instants that survive daylight-saving changes, and spoken labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def local_datetime(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The instant of a wall-clock time in ``zone``, as a UTC datetime.

    A time inside a spring-forward gap moves forward by the gap (02:30 -> 03:30); a repeated
    fall-back time takes its first occurrence. The result is in UTC on purpose: Python adds and
    subtracts datetimes that share a tzinfo in wall-clock time, which is wrong across a change.
    """
    return datetime.combine(day, clock).replace(tzinfo=zone).astimezone(UTC)


def speak_time(clock: time) -> str:
    hour = clock.hour % 12 or 12
    return f"{hour}:{clock.minute:02d} {'AM' if clock.hour < 12 else 'PM'}"


def speak_date(day: date) -> str:
    return f"{WEEKDAY_NAMES[day.weekday()]} {MONTH_NAMES[day.month - 1]} {day.day}"


def speak_datetime(moment: datetime, zone: ZoneInfo) -> str:
    """'Tuesday March 3 at 3:00 PM' in ``zone``."""
    local = moment.astimezone(zone)
    return f"{speak_date(local.date())} at {speak_time(local.time())}"
