"""What a finished ``CallSession`` reports back to the Django side."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Literal

EndReason = Literal[
    "caller_hangup",  # Twilio sent stop, or the telephony socket closed
    "agent_hangup",  # EngineHangUp, the end_call tool or an EndCall directive
    "engine_error",  # EngineFailure, connect failure, or the engine stream died
    "max_duration",
    "silence_timeout",
    "protocol_error",  # the telephony side sent something malformed: closed with 1008
    "transferred",  # a TransferCall directive redirected the live call
    "internal_error",  # a bug in the bridge: logged with its traceback; the caller hears the fallback
]

# Ends decided on our side of the call: the phone call must really be ended through the REST API,
# otherwise Twilio runs the TwiML after <Connect> (the fallback <Say>) when the socket closes.
AGENT_SIDE_ENDS: frozenset[str] = frozenset({"agent_hangup", "max_duration", "silence_timeout"})
# Ends where the caller must hear the fallback line before anything closes.
FALLBACK_ENDS: frozenset[str] = frozenset({"engine_error", "internal_error"})


@dataclass(slots=True)
class SessionCounters:
    """Plain counters, cheap to bump on the hot path; ``as_dict()`` for JSON storage."""

    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    marks_sent: int = 0
    marks_echoed: int = 0
    stale_mark_echoes: int = 0
    clears: int = 0
    interruptions: int = 0
    late_audio_dropped: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    dtmf_digits: int = 0
    turns: int = 0
    transcript_segments: int = 0
    events: int = 0
    flushes: int = 0
    flush_failures: int = 0
    dropped_entries: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    end_reason: EndReason
    duration_ms: int  # stream time from 'start' to the end of the session
    counters: SessionCounters
    turn_latencies_ms: tuple[int, ...]  # CallerTurnEnded -> first agent audio frame sent, per turn
    usage: dict[str, float]  # EngineUsage figures, summed
    final_stage: str
    error: str | None = None  # the engine failure or internal error message, for the Call row
    recording_wav: bytes | None = None  # stereo 16-bit PCM WAV when config.session.record
    # engine_error / internal_error when the failover TwiML took the caller to a human instead
    # (end_reason is then "transferred").
    failed_over_from: EndReason | None = None

    @property
    def turn_latency_p50_ms(self) -> float | None:
        return float(statistics.median(self.turn_latencies_ms)) if self.turn_latencies_ms else None

    @property
    def turn_latency_avg_ms(self) -> float | None:
        return statistics.fmean(self.turn_latencies_ms) if self.turn_latencies_ms else None
