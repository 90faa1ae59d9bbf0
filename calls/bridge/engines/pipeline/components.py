"""The three parts of a chained engine, as interfaces.

Cloud parts (AssemblyAI, an OpenAI-compatible chat endpoint, ElevenLabs) and local parts
(webrtcvad + PocketSphinx, a deterministic dialogue policy, eSpeak NG) implement the same
interfaces, so ``PipelineEngine`` composes any mix of them.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from calls.bridge.config import ToolSpec

# ------------------------------------------------------------------------------ speech-to-text


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking (VAD): used for barge-in."""


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    text: str


@dataclass(frozen=True, slots=True)
class FinalTranscript:
    """The caller's turn is over; ``text`` is the whole turn."""

    text: str


SttEvent = SpeechStarted | PartialTranscript | FinalTranscript


class SpeechToText(abc.ABC):
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def send_audio(self, mulaw: bytes) -> None:
        """Caller audio, mu-law 8 kHz."""

    @abc.abstractmethod
    async def force_endpoint(self) -> None:
        """End the current turn now."""

    def set_mode(self, mode: Literal["speech", "digits"]) -> None:  # noqa: B027 - optional hook
        """Hint: the agent is collecting digits (a PIN, an account number)."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[SttEvent]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


# ------------------------------------------------------------------------------ language model

Message = dict[str, Any]  # OpenAI chat-completions message shape (role, content, tool_calls, ...)


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    call_id: str
    name: str
    arguments: str  # JSON text, as the model produced it (validated by the session)


@dataclass(frozen=True, slots=True)
class LlmUsage:
    prompt_tokens: int
    completion_tokens: int


LlmEvent = TextDelta | ToolCallRequest | LlmUsage


class LanguageModel(abc.ABC):
    @abc.abstractmethod
    def stream(self, messages: list[Message], tools: tuple[ToolSpec, ...]) -> AsyncIterator[LlmEvent]:
        """Stream one assistant turn. Cancelling the iteration must abort the request."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# ------------------------------------------------------------------------------ text-to-speech


class TextToSpeech(abc.ABC):
    @abc.abstractmethod
    def synthesize(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Speak text as it arrives (sentence by sentence); yield mu-law 8 kHz audio chunks.
        Cancelling the iteration stops synthesis at once (barge-in)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
