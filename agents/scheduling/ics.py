"""A small RFC 5545 (iCalendar) writer for booking feeds.

Only what a published, read-only calendar needs: VCALENDAR with VEVENTs whose times are UTC.
Content lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character;
TEXT values are escaped (backslash, semicolon, comma, newline) and stripped of control characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_LINE_OCTETS = 75
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    created: datetime | None = None
    status: str = "CONFIRMED"


def escape_text(value: str) -> str:
    value = _CONTROL.sub("", value).replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def utc_stamp(moment: datetime) -> str:
    """DATE-TIME in UTC form, e.g. 20260303T150000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fold_line(line: str) -> bytes:
    """One content line as octets: at most 75 octets per physical line, CRLF, continuation
    lines starting with a single space."""
    data = line.encode("utf-8")
    pieces: list[bytes] = []
    limit = MAX_LINE_OCTETS
    while len(data) > limit:
        cut = limit
        while cut > 0 and data[cut] & 0xC0 == 0x80:  # never cut inside a multi-byte character
            cut -= 1
        pieces.append(data[:cut])
        data = data[cut:]
        limit = MAX_LINE_OCTETS - 1  # the leading space counts
    pieces.append(data)
    return b"\r\n ".join(pieces) + b"\r\n"


def render_calendar(
    *, name: str, time_zone: str, events: Iterable[CalendarEvent], now: datetime, product: str = "VoxSaaS"
) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//{escape_text(product)}//Scheduling//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"X-WR-TIMEZONE:{escape_text(time_zone)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
        "X-PUBLISHED-TTL:PT15M",
    ]
    stamp = utc_stamp(now)
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{escape_text(event.uid)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{utc_stamp(event.start)}",
            f"DTEND:{utc_stamp(event.end)}",
            f"SUMMARY:{escape_text(event.summary)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.created is not None:
            lines.append(f"CREATED:{utc_stamp(event.created)}")
        lines += [f"STATUS:{event.status}", "TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return b"".join(fold_line(line) for line in lines)
