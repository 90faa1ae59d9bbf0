"""Spoken English made regular before parsing: number words become digits ("twenty first" ->
"21th", "three oh five" -> "3 05"), fixed phrases become single keywords ("as soon as possible"
-> "soonest", "tonight" -> "today evening"), punctuation and "p.m." style meridiems are unified."""

from __future__ import annotations

import re

_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
# Whole phrases rewritten before numbers are read (order matters: longer phrases first).
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"\b(as soon as possible|asap|earliest|soonest|(first|next) (available|opening|free)|right away)\b",
     " soonest "),
    (r"\b(the )?day after tomorrow\b", " overmorrow "),
    (r"\bo ?'? ?clock\b", " oclock "),
    (r"\b(a )?quarter\b", " quarter "),
    (r"\bhalf (an|a) hour\b", " 30 minutes "),
    (r"\b(a )?couple( of)?\b", " two "),
    (r"\b(a )?few\b", " three "),
    (r"\ba fortnight\b", " two weeks "),
    (r"\b(a|an) (minute|hour|day|week)\b", r" one \2 "),
    (r"\btonight\b", " today evening "),
    (r"\bthis (morning|afternoon|evening)\b", r" today \1 "),
    (r"\bnight\b", " evening "),
    (r"\b(tomorow|tommorow|tommorrow|tmrw|tmr)\b", " tomorrow "),
    (r"\bmid ?day\b", " noon "),
)  # fmt: skip


def canonical(text: str) -> str:
    s = text.lower()
    s = re.sub(r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?:t(?=\d))?", r" \2/\3/\1 ", s)  # ISO 8601 dates
    s = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", s)
    s = re.sub(r"[^a-z0-9:/' ]", " ", s)
    for pattern, replacement in _PHRASES:
        s = re.sub(pattern, replacement, s)
    s = s.replace("'", " ")
    s = re.sub(r"(\d)(am|pm)\b", r"\1 \2", s)
    words, out, i = s.split(), [], 0
    while i < len(words):
        word, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
        if word in _TENS and nxt in _UNITS:
            out.append(str(_TENS[word] + _UNITS[nxt]))
            i += 1
        elif word in _TENS and nxt in _ORDINALS and _ORDINALS[nxt] < 10:
            out.append(f"{_TENS[word] + _ORDINALS[nxt]}th")
            i += 1
        elif word in ("oh", "o") and out and out[-1].isdigit() and nxt in _UNITS:
            out.append(f"0{_UNITS[nxt]}")
            i += 1
        elif word in _UNITS or word in _TEENS or word in _TENS:
            out.append(str({**_UNITS, **_TEENS, **_TENS}[word]))
        elif word in _ORDINALS:
            out.append(f"{_ORDINALS[word]}th")
        else:
            out.append(word)
        i += 1
    return " " + " ".join(out) + " "
