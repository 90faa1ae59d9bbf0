"""Turning text into index terms, the same way for documents and for callers' questions.

Phone questions are short, spoken and transcribed: "um are you guys open on sunday", "how much is
a cleaning", "do you take delta dental". The analyzer therefore:

- lowercases, folds accents and splits digits from letters ("8am" -> "8", "$120" -> "120");
- turns spoken numbers into digits ("twenty five" -> "25", "first" -> "1"), because speech-to-text
  writes numbers as words while documents write digits;
- expands weekday abbreviations ("Mon-Fri" -> monday, friday) that hours tables use;
- drops stop words, including conversational filler that callers say and documents don't
  ("um", "guys", "wondering");
- stems lightly (plurals, -ing, -ed, a final -e), so "cleanings"/"cleaning", "booked"/"booking"
  and "closed"/"closing"/"close" meet. A light stemmer rather than an aggressive one: short queries
  have no redundancy, so a stem that merges unrelated words costs more than it wins.

Synonyms are applied to the query only (see ``vocabulary``), so editing them needs no re-indexing.
Changing anything in this module that alters the terms of a text must bump ``ANALYZER_VERSION``:
chunks indexed under an older version are re-analysed when the index is built.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

ANALYZER_VERSION = 1

_TOKEN = re.compile(r"[a-z]+|\d+")

_STOP_WORD_TEXT = """
    a about above after again against all also am an and any are aren arent as at be because been
    before being below between both but by can cannot cant could couldn couldnt did didn didnt do
    does doesn doesnt doing don dont down during each either else ever every few for from further
    get gets getting got had hadn hadnt has hasn hasnt have haven havent having he her here hers
    herself him himself his how i id ill im ive if in into is isn isnt it its itself just let lets
    ll me might more most must my myself no nor not now of off on once only or other ought our
    ours ourselves out over own re s same shall she should shouldn shouldnt so some such t than
    that thats the their theirs them themselves then there theres these they theyre this those
    through to too under until up upon us ve very was wasn wasnt we were weren what whats when
    which while who whom whose why will with won wont would wouldn wouldnt you youd youll your
    youre yours yourself yourselves
    um uh uhm erm hmm hi hello hey yeah yes yep ok okay please thanks thank like just actually
    really maybe wondering wonder wanted want wanna gonna gotta need needs know tell guys ya yall
    sir madam maam somebody someone something anything thing things kind sort quick question
    calling call ask asking pm o clock oclock etc eg ie where much many still even go going come
    coming see make good well right bit little take takes taking use using mean say said around
    theyve weve youve hes shes theyd theyll
"""
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())
# Words the stop list would drop that carry meaning for a business's callers are simply not in
# it: "open", "closed", "where" (handled by phrase intents), "call" is dropped because callers
# say "I'm calling about" far more often than they ask about calls.

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})

_ABBREVIATIONS = {
    "mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "thu": "thursday",
    "thur": "thursday", "thurs": "thursday", "fri": "friday", "sat": "saturday", "sun": "sunday",
    "appt": "appointment", "appts": "appointments", "hrs": "hours", "hr": "hour", "mins": "minutes",
    "min": "minute", "approx": "approximately", "info": "information", "dr": "doctor",
}  # fmt: skip
# Irregular forms the suffix rules can't reach but callers use.
_IRREGULAR = {"children": "child", "kids": "child", "kid": "child", "teeth": "tooth", "men": "man",
              "women": "woman", "people": "person", "feet": "foot", "mice": "mouse"}  # fmt: skip
_KEEP_DOUBLE = frozenset("lsz")
_VOWELS = frozenset("aeiouy")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch)).replace("'", "").replace("\u2019", "")


def _numbers_to_digits(words: list[str]) -> list[str]:
    """Spoken numbers to digits: "twenty five" -> "25", "one hundred twenty" -> "120"."""
    out: list[str] = []
    value: int | None = None
    for word in words:
        if word in _UNITS or word in _TENS:
            number = _UNITS.get(word, _TENS.get(word, 0))
            if value is not None and value % 100 >= 20 and value % 10 == 0 and number < 10:
                value += number  # "twenty" + "five"
            elif value is not None and value % 100 == 0 and value > 0:
                value += number  # "one hundred" + "twenty"
            else:
                if value is not None:
                    out.append(str(value))
                value = number
        elif word in _SCALES and value is not None:
            value = value * _SCALES[word] if value else _SCALES[word]
        else:
            if value is not None:
                out.append(str(value))
                value = None
            if word in _ORDINALS:
                out.append(str(_ORDINALS[word]))
            elif word in _ORDINAL_SUFFIXES and out and out[-1].isdigit():
                continue  # "21st" was split into "21", "st"
            else:
                out.append(word)
    if value is not None:
        out.append(str(value))
    return out


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed and a final -e."""
    if word.isdigit() or len(word) <= 3:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= 3 and any(ch in _VOWELS for ch in base):
            if base.endswith("e") and suffix == "ed":  # "agreed" -> "agree", not "agre"
                break
            word = base
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in _KEEP_DOUBLE | _VOWELS:
                word = word[:-1]  # "stopped" -> "stop"
            break
    if word.endswith("e") and not word.endswith("ee") and len(word) > 3:
        word = word[:-1]  # "close"/"closed"/"closing" all become "clos"
    return word


def normalize_word(word: str) -> str:
    """One already-folded word to its index term (used for synonym lists too)."""
    return stem(_ABBREVIATIONS.get(word, word))


def words(text: str) -> list[str]:
    """Folded words and digit runs, numbers spelled out turned into digits, before stop words."""
    return _numbers_to_digits(_TOKEN.findall(fold(text)))


def analyze(text: str) -> list[str]:
    """Index terms of ``text``, in order (repeats kept: term frequency matters)."""
    terms = []
    for word in words(text):
        if word in STOP_WORDS:
            continue
        term = normalize_word(word)
        if term and term not in STOP_WORDS and term.strip("0"):  # "9:00" says nothing with "00"
            terms.append(term)
    return terms


def term_frequencies(text: str) -> tuple[dict[str, int], int]:
    """What a chunk stores for the index: term -> count, and the number of terms."""
    terms = analyze(text)
    return dict(Counter(terms)), len(terms)


def word_count(text: str) -> int:
    return len(text.split())


def chunk_index_text(title: str, heading: str, text: str) -> str:
    """What a chunk is indexed on: its document's title and its headings give it its topic."""
    return f"{title}\n{heading}\n{text}"
