"""Redaction of the secrets a caller speaks while being verified (PIN digits, birth dates).

The session already keeps keyed-in digits and ``verify_caller`` arguments out of events; what the
caller *says* during verification reaches the transcript, so caller segments spoken before the
call left the verification stage are scrubbed of digit runs, spoken digit sequences and dates
before they are stored (and therefore before any webhook can carry them).
"""

from __future__ import annotations

import re

from calls.bridge.ports import EventEntry, TranscriptEntry

REDACTED = "[redacted]"
_DIGIT_WORDS = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand)"  # noqa: E501
_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"  # noqa: E501
# A day of the month: "14", "14th", or an ordinal word ("first", "fourteenth", "twenty-first").
_DAY = r"(?:\d{1,2}(?:st|nd|rd|th)?|(?:twenty[\s-]|thirty[\s-])?(?:first|second|third|[a-z]+th))"
_PATTERNS = [
    # "march 14th 1990", "14 march 1990", "the fourteenth of march": a month next to a day
    re.compile(
        rf"\b{_MONTHS}\s+{_DAY}(?:\s*,?\s*(?:\d{{2,4}}|{_DIGIT_WORDS}(?:[\s-]+{_DIGIT_WORDS})*))?\b", re.I
    ),
    re.compile(
        rf"\b{_DAY}\s+(?:of\s+)?{_MONTHS}(?:\s*,?\s*(?:\d{{2,4}}|{_DIGIT_WORDS}(?:[\s-]+{_DIGIT_WORDS})*))?\b",
        re.I,
    ),
    # runs of digits, possibly separated: "1234", "12 34", "1-2-3-4", "14/03/1990"
    re.compile(r"\d(?:[\s./-]*\d){1,}"),
    # two or more spoken numbers in a row: "one two three four", "nineteen ninety"
    re.compile(rf"\b{_DIGIT_WORDS}(?:[\s,-]+{_DIGIT_WORDS})+\b", re.IGNORECASE),
]


def redact_secrets(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


class VerificationRedactor:
    """Follows the stage through the flushed events and scrubs caller segments spoken while the
    call was in verification. One instance per call, fed every flush in order."""

    def __init__(self, *, starts_in_verification: bool) -> None:
        # None: still verifying; otherwise the stream time (ms) the call left verification.
        self._verified_at_ms: int | None = None if starts_in_verification else -1

    def apply(self, segments: list[TranscriptEntry], events: list[EventEntry]) -> list[TranscriptEntry]:
        for event in events:
            if (
                event.type == "stage_changed"
                and event.payload.get("to") == "main"
                and self._verified_at_ms is None
            ):
                self._verified_at_ms = event.at_ms
        return [self._scrub(segment) for segment in segments]

    def _scrub(self, segment: TranscriptEntry) -> TranscriptEntry:
        in_verification = self._verified_at_ms is None or segment.start_ms < self._verified_at_ms
        if segment.speaker != "caller" or not in_verification:
            return segment
        redacted = redact_secrets(segment.text)
        if redacted == segment.text:
            return segment
        return TranscriptEntry(segment.speaker, redacted, segment.ordinal, segment.start_ms, segment.end_ms)
