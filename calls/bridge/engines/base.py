"""The engine interface every speech AI backend implements.

An engine owns its network connections and converts audio at its own edge: the session sends it
caller audio as mu-law 8 kHz and receives agent audio as mu-law 8 kHz (``AgentAudio``). Engines
report everything else as ``EngineEvent`` frames through ``events()``.

Lifecycle: ``connect(stage)`` -> any number of ``send_*`` calls while ``events()`` is consumed
-> ``close()``. ``close()`` is idempotent and must leave no task or socket behind. When the
engine's connection drops, ``events()`` yields ``EngineFailure`` (or ``EngineHangUp`` for a
clean engine-side end) and then stops.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.frames import EngineEvent


class EngineError(Exception):
    """Raised by ``connect`` when the engine cannot be reached or refuses the call."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool invocation produced, as the model will see it.

    ``output`` is JSON text. ``is_error`` marks a structured error the model can recover from
    (invalid arguments, timeout, webhook failure). ``new_stage``, when set, switches the engine
    to that stage as part of answering this call (Ultravox: ``new-stage`` response type; OpenAI
    Realtime: ``session.update``; pipeline: new system prompt and tools).
    """

    output: str
    is_error: bool = False
    new_stage: StageSpec | None = None
    speak: bool = True  # False: the agent listens instead of replying to the result


class Engine(abc.ABC):
    name: str = "engine"

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    @abc.abstractmethod
    async def connect(self, stage: StageSpec) -> None:
        """Open the engine session in ``stage``. Raise ``EngineError`` on failure."""

    @abc.abstractmethod
    async def send_audio(self, mulaw: bytes) -> None:
        """Caller audio, mu-law 8 kHz, in arrival order (normally 20 ms chunks)."""

    @abc.abstractmethod
    async def send_caller_text(self, text: str) -> None:
        """Text the caller 'said' by other means (e.g. ``The caller pressed 4``)."""

    @abc.abstractmethod
    async def send_tool_result(self, call_id: str, result: ToolResult) -> None:
        """Answer the ``ToolCall`` with that ``call_id``."""

    @abc.abstractmethod
    async def playback_interrupted(self, item_id: str | None, heard_ms: int) -> None:
        """The caller barged in after hearing ``heard_ms`` of utterance ``item_id``: cancel what
        is in flight and make the engine's memory match what was really heard."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[EngineEvent]:
        """The engine's events, until the engine session ends."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the engine session. Idempotent; no task or socket may outlive it."""

    async def switch_stage(self, stage: StageSpec) -> None:
        """Switch to ``stage`` outside a tool answer (e.g. after keypad verification, where the
        model never made a tool call to answer). Engines that can do it override this; the
        default refuses, and the session then keeps the current stage and logs the error."""
        raise EngineError(f"{self.name} engine cannot switch stage outside a tool answer")
