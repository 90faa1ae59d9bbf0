"""When did the caller's turn end? Derived from Ultravox's ``state`` messages plus evidence that
the caller actually spoke.

Ultravox reports ``listening`` / ``thinking`` / ``speaking`` but not *why* it left
``listening``: a caller's end of turn, the verbatim greeting, an inactivity prompt, a forced
message or a tool follow-up all look alike. The latency clock must start only on a real caller
turn, so the tracker reports ``CallerTurnEnded`` at the first transition into the agent's phase
(``thinking``, or ``speaking`` straight from ``listening``) *if* the caller gave evidence of
speech since the previous agent phase: energy in the audio we forward while Ultravox listens (we
decode it anyway, so the check is free and does not depend on the undocumented order of
transcript and state messages), a user transcript, a typed/DTMF message, or a barge-in. A user
transcript that arrives only after the agent phase began still closes an unreported turn.
"""

from __future__ import annotations

import audioop

AGENT_STATES = frozenset({"thinking", "speaking"})
CALLER_STATES = frozenset({"listening", "idle"})
MIN_SPEECH_MS = 60  # a click or a cough on the line is shorter than this


class CallerTurnTracker:
    def __init__(self, rms_threshold: int, sample_rate: int = 8000) -> None:
        self.rms_threshold = rms_threshold
        self.sample_rate = sample_rate
        self.state = "idle"
        self._caller_spoke = False
        self._reported = False  # a CallerTurnEnded was already reported for this caller phase
        self._voiced_ms = 0.0

    def on_caller_audio(self, pcm: bytes) -> None:
        """Energy evidence, counted only while Ultravox listens (barge-in has its own signal)."""
        if self.state not in CALLER_STATES or self._caller_spoke or not pcm:
            return
        if audioop.rms(pcm, 2) >= self.rms_threshold:
            self._voiced_ms += len(pcm) / 2 / self.sample_rate * 1000
            if self._voiced_ms >= MIN_SPEECH_MS:
                self._caller_spoke = True
        else:
            self._voiced_ms = 0.0

    def on_caller_input(self) -> None:
        """A typed/DTMF message or a barge-in: a new caller turn is under way."""
        self._caller_spoke = True
        self._reported = False

    def on_state(self, state: str) -> bool:
        """Apply a ``state`` message; True when it ends the caller's turn."""
        previous, self.state = self.state, state
        ended = False
        entering_agent_phase = (state == "thinking" and previous != "thinking") or (
            state == "speaking" and previous not in AGENT_STATES
        )
        if entering_agent_phase:
            ended = self._caller_spoke and not self._reported
            if ended:
                self._reported = True
            self._caller_spoke = False
            self._voiced_ms = 0.0
        if state in CALLER_STATES:
            self._reported = False
        return ended

    def on_user_transcript_final(self) -> bool:
        """True when this (late) transcript is the only sign of a turn that already ended."""
        if self.state in AGENT_STATES:
            if self._reported:
                return False
            self._reported = True
            return True
        self._caller_spoke = True
        return False
