"""What the fake model says: scripted caller turns and replies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """The model calls ``name`` with ``arguments``; once the client sends the function output and
    ``response.create``, the model says ``reply`` with ``{output}`` replaced by that output."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    reply: str = "Here is what I found: {output}"

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True, slots=True)
class FakeTurn:
    """One caller turn: what the transcription reports and how the model answers.

    ``hold_after_ms`` pauses the spoken reply once that much audio was generated, until
    ``FakeOpenAIRealtime.release()`` or a cancel: a deterministic "agent is mid-sentence" state
    for barge-in tests.
    """

    transcript: str = ""
    reply: str = "Okay."
    tool_call: FakeToolCall | None = None
    hold_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SpeakPlan:
    text: str
    hold_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CallPlan:
    tool_call: FakeToolCall


Plan = SpeakPlan | CallPlan


def plan_for_turn(turn: FakeTurn) -> Plan:
    if turn.tool_call is not None:
        return CallPlan(turn.tool_call)
    return SpeakPlan(turn.reply, turn.hold_after_ms)


# "say exactly ... "<line>"": the line runs to the last closing quote, so it may contain quotes.
_SAY_EXACTLY = re.compile(r"say(?:ing)?\s+exactly[^\"“«]*[\"“«](?P<line>.*)[\"”»]", re.IGNORECASE | re.DOTALL)


def line_from_instructions(instructions: str | None) -> str | None:
    """A model told to "say exactly "...”" says that line: the fake does it literally."""
    if not instructions:
        return None
    match = _SAY_EXACTLY.search(instructions)
    return match.group("line").strip() if match else None


def split_evenly(text: str, parts: int) -> list[str]:
    """``text`` as ``parts`` consecutive pieces (some possibly empty), joined back losslessly."""
    parts = max(1, parts)
    words = re.findall(r"\S+\s*", text)
    pieces: list[str] = []
    for index in range(parts):
        # Rounded up: the first word comes with the first chunk, as text leads audio.
        start, end = -(-len(words) * index // parts), -(-len(words) * (index + 1) // parts)
        pieces.append("".join(words[start:end]))
    return pieces
