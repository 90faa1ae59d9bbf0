"""Ports: what the session needs from the outside world, as small protocols.

The Django side implements them (persistence, live-call REST control, tenant tools); tests
implement them with in-memory doubles. Keeping them here keeps the bridge free of Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from calls.bridge.frames import Speaker, TelephonyCommand, TelephonyEvent


class TransportClosed(Exception):
    """The telephony WebSocket is gone."""


class ProtocolViolation(Exception):
    """The telephony side sent something hostile or malformed; close with 1008."""


class TelephonyTransport(Protocol):
    async def receive(self) -> TelephonyEvent:
        """Next frame from the provider. Raises ``TransportClosed`` or ``ProtocolViolation``."""
        ...

    async def send(self, command: TelephonyCommand) -> None: ...

    async def close(self, code: int = 1000) -> None: ...


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    speaker: Speaker
    text: str
    ordinal: int
    start_ms: int  # ms since the call's stream started
    end_ms: int


@dataclass(frozen=True, slots=True)
class EventEntry:
    """A call event: ``dtmf``, ``interruption``, ``stage_changed``, ``tool_call``, ``error``,
    ``turn_latency``, ``silence_reminder``, ... ``payload`` is JSON-serialisable."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    at_ms: int = 0  # ms since the call's stream started
    # Per-call sequence number: flushes are at-least-once, so a recorder stores each seq once.
    seq: int = 0


class CallRecorder(Protocol):
    """Persists transcript segments and events, in batches, off the audio path."""

    async def flush(self, segments: list[TranscriptEntry], events: list[EventEntry]) -> None: ...


class CallControl(Protocol):
    """Live-call operations through the telephony provider's REST API."""

    async def hang_up(self) -> None: ...

    async def redirect(self, twiml: str) -> None: ...


class ToolExecutionError(Exception):
    """A tool failed in a way the model should hear about (message is safe to show it)."""


@dataclass(frozen=True, slots=True)
class ToolContext:
    call_id: str
    tenant_id: int
    stage: str
    variables: dict[str, str]


class ToolExecutor(Protocol):
    """Runs tenant tools (knowledge base, calendar, HTTP webhooks, ...). Arguments arrive
    already validated against the tool's JSON Schema."""

    async def execute(self, name: str, arguments: dict[str, Any], context: ToolContext) -> Any: ...
