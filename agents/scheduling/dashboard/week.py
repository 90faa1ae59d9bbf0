"""The week view's layout: which day column and which vertical band each booking occupies.

Everything is placed by wall-clock time in ONE display zone (the resource's), so a booking at
10:00 in Berlin sits at the 10:00 line on the right day in a daylight-saving week too: positions
come from the local hour and minute, never from elapsed time since Monday. Positions are
percentages of the visible hours; overlapping bookings (several resources at once) share the
column side by side in lanes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agents.scheduling.models import MIDNIGHT, Booking
from agents.scheduling.selectors import Slot

DEFAULT_FIRST_HOUR = 8
DEFAULT_LAST_HOUR = 18
DAY_MINUTES = 24 * 60


@dataclass
class Block:
    """Something placed in a day column: a booking, a free slot or an opening interval."""

    kind: str  # "booking", "free" or "open"
    start_minute: int  # local wall-clock minutes since midnight
    end_minute: int  # exclusive; 1440 when it runs to (or past) midnight
    label: str  # "10:00–10:30"
    booking: Booking | None = None
    slot_start: datetime | None = None  # a free slot's start (UTC), to prefill a booking
    top: float = 0.0  # percent of the visible band
    height: float = 0.0
    lane: int = 0
    lanes: int = 1

    @property
    def short(self) -> bool:
        """Too short for two lines of text at the view's scale."""
        return self.end_minute - self.start_minute <= 45


@dataclass
class Day:
    date: date
    is_today: bool = False
    closures: list[str] = field(default_factory=list)  # why the day is closed, if it is
    notes: list[str] = field(default_factory=list)  # other resources' days off (all-resources view)
    bookings: list[Block] = field(default_factory=list)
    free: list[Block] = field(default_factory=list)
    open: list[Block] = field(default_factory=list)
    now_top: float | None = None  # where the "now" line goes, on today's column


@dataclass
class Week:
    monday: date
    zone: ZoneInfo
    days: list[Day]
    first_hour: int
    last_hour: int

    @property
    def hours(self) -> list[int]:
        return list(range(self.first_hour, self.last_hour))

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _label(start: int, end: int) -> str:
    def clock(minutes: int) -> str:
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"

    return f"{clock(start)}–{clock(end)}"


def _place(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[date, int, int]:
    """The local day of ``start`` and the wall-clock minutes the range covers on that day."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = local_start.date()
    first = _minutes(local_start.time())
    last = DAY_MINUTES if local_end.date() > day else _minutes(local_end.time())
    return day, first, max(last, first + 1)


def _assign_lanes(blocks: list[Block]) -> None:
    """Side-by-side lanes for overlapping blocks: each cluster of transitively overlapping
    blocks is as wide as its busiest moment needs."""
    blocks.sort(key=lambda b: (b.start_minute, b.end_minute))
    cluster: list[Block] = []
    cluster_end = -1
    lane_ends: list[int] = []

    def close() -> None:
        for member in cluster:
            member.lanes = len(lane_ends)

    for block in blocks:
        if cluster and block.start_minute >= cluster_end:
            close()
            cluster, lane_ends = [], []
        free_lane = next((i for i, end in enumerate(lane_ends) if end <= block.start_minute), None)
        if free_lane is None:
            lane_ends.append(block.end_minute)
            block.lane = len(lane_ends) - 1
        else:
            lane_ends[free_lane] = block.end_minute
            block.lane = free_lane
        cluster.append(block)
        cluster_end = max(cluster_end, block.end_minute)
    if cluster:
        close()


def build_week(
    *,
    monday: date,
    zone: ZoneInfo,
    today: date,
    now: datetime,
    bookings: Iterable[Booking],
    free_slots: Sequence[Slot] = (),
    hours: dict[int, list[tuple[time, time]]] | None = None,
    closures: dict[date, list[str]] | None = None,
    notes: dict[date, list[str]] | None = None,
) -> Week:
    """Lay out one week (``monday`` .. Sunday) in ``zone``. ``hours``: weekday -> opening
    intervals to shade; ``closures``: local date -> reasons the day is closed; ``notes``: local
    date -> other things to mention in the day's header."""
    days = {monday + timedelta(days=n): Day(monday + timedelta(days=n)) for n in range(7)}
    for day in days.values():
        day.is_today = day.date == today
        day.closures = list((closures or {}).get(day.date, []))
        day.notes = list((notes or {}).get(day.date, []))
    for booking in bookings:
        day_date, first, last = _place(booking.start, booking.end, zone)
        if day_date in days:
            days[day_date].bookings.append(
                Block("booking", first, last, _label(first, last), booking=booking)
            )
    for slot in free_slots:
        day_date, first, last = _place(slot.start, slot.end, zone)
        if day_date in days:
            days[day_date].free.append(Block("free", first, last, _label(first, last), slot_start=slot.start))
    for day in days.values():
        if day.closures:
            continue
        for opens, closes in (hours or {}).get(day.date.weekday(), []):
            end = DAY_MINUTES if closes == MIDNIGHT else _minutes(closes)
            day.open.append(Block("open", _minutes(opens), end, _label(_minutes(opens), end)))

    placed = [block for day in days.values() for block in (*day.bookings, *day.free, *day.open)]
    first_hour = min([DEFAULT_FIRST_HOUR, *(block.start_minute // 60 for block in placed)])
    last_hour = max([DEFAULT_LAST_HOUR, *(-(-block.end_minute // 60) for block in placed)])
    band = (last_hour - first_hour) * 60
    for day in days.values():
        for block in (*day.bookings, *day.free, *day.open):
            block.top = round((block.start_minute - first_hour * 60) * 100 / band, 3)
            block.height = round((block.end_minute - block.start_minute) * 100 / band, 3)
        _assign_lanes(day.bookings)
        if day.is_today:
            minute = _minutes(now.astimezone(zone).time())
            if first_hour * 60 <= minute < last_hour * 60:
                day.now_top = round((minute - first_hour * 60) * 100 / band, 3)
    return Week(monday, zone, [days[d] for d in sorted(days)], first_hour, last_hour)
