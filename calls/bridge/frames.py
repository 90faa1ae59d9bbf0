"""Typed frames that cross the bridge.

Telephony frames are provider-neutral: a serializer (``telephony/twilio.py``) maps a provider's
wire messages to and from them. Engine events are what an engine reports to the ``CallSession``.
All audio inside the bridge is G.711 mu-law, 8 kHz, mono, unless a name says otherwise; engines
convert at their own edge so the session never transcodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# --------------------------------------------------------------------------- telephony, inbound


@dataclass(frozen=True, slots=True)
class StreamConnected:
    """First message of a stream (Twilio ``connected``)."""

    protocol: str = "Call"


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The stream's metadata (Twilio ``start``)."""

    stream_id: str
    call_id: str
    account_id: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """One chunk of caller audio (mu-law bytes) with the provider's stream clock in ms."""

    mulaw: bytes
    timestamp_ms: int
    chunk: int


@dataclass(frozen=True, slots=True)
class CallerDtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The provider echoed a mark: playback reached it (or the buffer was cleared)."""

    name: str


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """The provider ended the stream (caller hung up, or the call was redirected)."""


TelephonyEvent = StreamConnected | StreamStarted | CallerAudio | CallerDtmf | MarkPlayed | StreamStopped

# -------------------------------------------------------------------------- telephony, outbound


@dataclass(frozen=True, slots=True)
class PlayAudio:
    mulaw: bytes


@dataclass(frozen=True, slots=True)
class PlaceMark:
    name: str


@dataclass(frozen=True, slots=True)
class ClearPlayback:
    pass


TelephonyCommand = PlayAudio | PlaceMark | ClearPlayback

# ------------------------------------------------------------------------------- engine events


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """Agent speech, mu-law 8 kHz. ``item_id`` names the utterance (for truncation on barge-in)."""

    mulaw: bytes
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentAudioDone:
    """The engine finished producing audio for one utterance."""

    item_id: str | None = None


Speaker = Literal["caller", "agent"]


@dataclass(frozen=True, slots=True)
class Transcript:
    """Text of one utterance. ``final`` closes the ``ordinal``; ``text`` is the full text so far
    (engines that stream deltas accumulate them before reporting)."""

    speaker: Speaker
    text: str
    final: bool
    ordinal: int


@dataclass(frozen=True, slots=True)
class CallerSpeechStarted:
    """The caller started talking: barge-in. The session clears playback at once."""


@dataclass(frozen=True, slots=True)
class CallerTurnEnded:
    """The caller finished a turn (engine end-of-turn or local VAD); starts the latency clock."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model wants a tool. ``arguments`` is the raw JSON text or an already decoded object."""

    call_id: str
    name: str
    arguments: str | dict[str, Any]


@dataclass(frozen=True, slots=True)
class EngineHangUp:
    """The engine itself ended the conversation (e.g. Ultravox ``hang_up``)."""

    reason: str = "agent_hangup"


@dataclass(frozen=True, slots=True)
class EngineFailure:
    """A fatal engine error: the session plays the fallback line and ends with ``engine_error``."""

    message: str


@dataclass(frozen=True, slots=True)
class EngineUsage:
    """Usage figures for cost accounting (tokens, seconds), merged into the call's totals."""

    figures: dict[str, float]


@dataclass(frozen=True, slots=True)
class EngineMetric:
    """A timing point inside the engine for the per-turn latency breakdown
    (``stt_final``, ``llm_first_token``, ``tts_first_audio``)."""

    name: str
    at: float  # loop.time()


EngineEvent = (
    AgentAudio
    | AgentAudioDone
    | Transcript
    | CallerSpeechStarted
    | CallerTurnEnded
    | ToolCall
    | EngineHangUp
    | EngineFailure
    | EngineUsage
    | EngineMetric
)
