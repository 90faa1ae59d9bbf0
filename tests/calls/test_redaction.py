from __future__ import annotations

import pytest

from calls.bridge.ports import EventEntry, TranscriptEntry
from calls.redaction import REDACTED, VerificationRedactor, redact_secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my pin is one two three four", f"my pin is {REDACTED}"),
        ("it's 1234", f"it's {REDACTED}"),
        ("I was born on march 14th 1990", f"I was born on {REDACTED}"),
        ("the fourteenth of march nineteen ninety", f"the {REDACTED}"),
        ("12-34", REDACTED),
    ],
)
def test_secrets_are_redacted(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


@pytest.mark.parametrize(
    "text", ["may I speak to a human", "I'd like to book for tomorrow", "my name is Ann Archer"]
)
def test_ordinary_speech_is_kept(text: str) -> None:
    assert redact_secrets(text) == text


def _seg(speaker: str, text: str, start: int) -> TranscriptEntry:
    return TranscriptEntry(speaker, text, ordinal=start, start_ms=start, end_ms=start + 500)  # type: ignore[arg-type]


def test_only_caller_speech_before_verification_ends_is_redacted() -> None:
    redactor = VerificationRedactor(starts_in_verification=True)
    first = redactor.apply(
        [_seg("caller", "my pin is 1234", 1000), _seg("agent", "Thanks, 1234 checks out", 2000)], []
    )
    assert first[0].text == f"my pin is {REDACTED}"
    assert first[1].text == "Thanks, 1234 checks out"  # the agent never reads it back; not ours to hide
    later = redactor.apply(
        [_seg("caller", "order 5678 please", 6000), _seg("caller", "it is 4321", 3000)],
        [EventEntry("stage_changed", {"from": "verification", "to": "main"}, at_ms=5000)],
    )
    assert later[0].text == "order 5678 please"  # after verification: kept
    assert later[1].text == f"it is {REDACTED}"  # spoken before the switch, flushed late: redacted


def test_nothing_is_redacted_without_verification() -> None:
    redactor = VerificationRedactor(starts_in_verification=False)
    assert redactor.apply([_seg("caller", "my number is 1234", 10)], [])[0].text == "my number is 1234"
