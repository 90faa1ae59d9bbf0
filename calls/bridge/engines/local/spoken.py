"""Reading numbers, days, times and dates out of what a recogniser heard ("one two three four",
"tomorrow at three pm", "the fourth of july nineteen eighty"). Used by the demo dialogue policy;
deliberately small and English-only.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_HOURS = {w: int(d) for w, d in DIGIT_WORDS.items() if d != "0"} | {"ten": 10, "eleven": 11, "twelve": 12}
_MINUTES = {"fifteen": 15, "thirty": 30, "forty five": 45, "forty-five": 45, "o'clock": 0, "oclock": 0}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def spoken_digits(text: str) -> str:
    """Every digit the caller said, in order: "my pin is one two double three" -> "1233"."""
    out: list[str] = []
    repeat = 1
    for word in words(text):
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        if word.isdigit():
            out.append(word * repeat)
        elif word in DIGIT_WORDS and word != "o":
            out.append(DIGIT_WORDS[word] * repeat)
        repeat = 1
    return "".join(out)


def parse_day(text: str, today: date) -> date | None:
    """today / tomorrow / the day after tomorrow / (next) <weekday> -> a date on or after today."""
    lowered = " ".join(words(text))
    if "day after tomorrow" in lowered:
        return today + timedelta(days=2)
    if "tomorrow" in lowered:
        return today + timedelta(days=1)
    if "today" in lowered or "this afternoon" in lowered or "this morning" in lowered:
        return today
    for index, name in enumerate(WEEKDAYS):
        if re.search(rf"\b{name}\b", lowered):
            ahead = (index - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    return None


def parse_time(text: str) -> time | None:
    """ "three pm", "3:30 p.m.", "half past two", "noon", "ten o'clock" -> a time of day. Without
    am/pm, 1-7 means the afternoon (office hours) and 8-11 the morning."""
    lowered = " ".join(words(text.replace(".", "")))
    if re.search(r"\b(noon|midday)\b", lowered):
        return time(12, 0)
    suffix = r"(?:\s*(a\s?m|p\s?m))?"
    match = re.search(rf"\b(\d{{1,2}})(?:\s?:?\s?(\d{{2}}))?{suffix}\b", lowered)
    hour = minute = None
    meridiem = None
    if match and (match.group(2) or match.group(3)):
        hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    else:
        hours = "|".join(sorted(_HOURS, key=len, reverse=True))
        minutes = "|".join(sorted(_MINUTES, key=len, reverse=True))
        half = re.search(rf"\b(half|quarter) past ({hours})\b", lowered)
        if half:
            hour, minute = _HOURS[half.group(2)], 30 if half.group(1) == "half" else 15
            meridiem = None
        else:
            after_at = rf"\bat ({hours})(?: ({minutes}))?{suffix}\b"
            with_suffix = rf"\b({hours})(?: ({minutes}))?\s*(a\s?m|p\s?m|o'clock)\b"
            spoken = re.search(f"{after_at}|{with_suffix}", lowered)
            if spoken is None:
                return None
            word = spoken.group(1) or spoken.group(4)
            extra = spoken.group(2) or spoken.group(5)
            meridiem = spoken.group(3) or (spoken.group(6) if spoken.group(6) != "o'clock" else None)
            hour, minute = _HOURS[word], _MINUTES.get(extra or "", 0)
    if hour is None or not 0 <= hour <= 23 or not 0 <= (minute or 0) <= 59:
        return None
    if meridiem is not None and meridiem.replace(" ", "") == "pm" and hour < 12:
        hour += 12
    elif meridiem is not None and meridiem.replace(" ", "") == "am" and hour == 12:
        hour = 0
    elif meridiem is None and 1 <= hour <= 7:
        hour += 12
    return time(hour, minute or 0)


def _number_words(tokens: list[str]) -> int | None:
    """ "nineteen eighty four" -> 1984, "two thousand and five" -> 2005, "1980" -> 1980."""
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    if tokens[:2] == ["two", "thousand"]:
        return 2000 + (_small([t for t in tokens[2:] if t != "and"]) or 0)
    if tokens and tokens[0] in _TEENS:
        rest = _small(tokens[1:])
        if rest is not None:
            return _TEENS[tokens[0]] * 100 + rest
    return None


def _small(tokens: list[str]) -> int | None:
    if not tokens:
        return None
    if tokens[0] in _TENS:
        unit = int(DIGIT_WORDS.get(tokens[1], 0)) if len(tokens) > 1 else 0
        return _TENS[tokens[0]] + unit
    if tokens[0] in _TEENS:
        return _TEENS[tokens[0]]
    if tokens[0] in DIGIT_WORDS:
        return int(DIGIT_WORDS[tokens[0]])
    return None


def _day_of_month(tokens: list[str]) -> int | None:
    for i, token in enumerate(tokens):
        if token in _ORDINALS:
            value = _ORDINALS[token]
            if i > 0 and tokens[i - 1] in ("twenty", "thirty"):
                value += _TENS[tokens[i - 1]]
            return value
        found = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", token)
        if found and 1 <= int(found.group(1)) <= 31:
            return int(found.group(1))
    return None


def parse_date_of_birth(text: str) -> date | None:
    """ "the fourth of july nineteen eighty", "july 4th 1980", "4 july 1980" -> 1980-07-04."""
    tokens = words(text)
    months = [i for i, t in enumerate(tokens) if t in MONTHS]
    if not months:
        return None
    at = months[0]
    month = MONTHS.index(tokens[at]) + 1
    day = _day_of_month(tokens[max(0, at - 3) : at]) or _day_of_month(tokens[at + 1 : at + 3])
    year = None
    day_like = re.compile(r"\d{1,2}(st|nd|rd|th)?")
    tail = [t for t in tokens[at + 1 :] if t not in _ORDINALS and not day_like.fullmatch(t)]
    for end in range(len(tail), 0, -1):
        year = _number_words(tail[:end])
        if year is not None and 1900 <= year <= 2100:
            break
        year = None
    if day is None or year is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def say_time(value: time) -> str:
    hour = value.hour % 12 or 12
    minutes = f":{value.minute:02d}" if value.minute else ""
    return f"{hour}{minutes} {'PM' if value.hour >= 12 else 'AM'}"


def say_day(value: date, today: date) -> str:
    if value == today:
        return "today"
    if value == today + timedelta(days=1):
        return "tomorrow"
    return f"{WEEKDAYS[value.weekday()].capitalize()}, {MONTHS[value.month - 1].capitalize()} {value.day}"
