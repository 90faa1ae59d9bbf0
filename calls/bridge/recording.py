"""Two-channel call recording: caller on the left, agent on the right, on the stream clock.

Both channels are kept as mu-law (8 KB/s each) positioned by stream time in ms: caller audio at
its Twilio ``timestamp``, agent audio where the playback model says it *plays* (not when it was
sent, since Twilio buffers ahead), and the agent channel is cut at a barge-in ``clear`` so the
recording holds what the caller really heard. ``render_wav()`` produces a standard 16-bit PCM
stereo WAV (mu-law WAV files do not play in most browsers); it is CPU work proportional to the
call length, so the session runs it in a worker thread at the end of the call.
"""

from __future__ import annotations

import io
import logging
import wave

from calls.bridge.audio import (
    BYTES_PER_MS_MULAW,
    MULAW_SILENCE,
    SAMPLE_RATE,
    interleave_stereo,
    ulaw_to_pcm16,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 2 * 60 * 60  # bounds memory: 2 h is 57.6 MB of mu-law per channel
SILENCE_BYTE = MULAW_SILENCE[0]


class _Channel:
    __slots__ = ("data", "limit", "overflowed")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.overflowed = False

    def write(self, offset: int, mulaw: bytes) -> None:
        if offset < 0:
            mulaw = mulaw[-offset:]
            offset = 0
        end = offset + len(mulaw)
        if end > self.limit:
            if not self.overflowed:
                self.overflowed = True
                logger.warning("recording reached its length limit; the rest is not recorded")
            mulaw = mulaw[: max(0, self.limit - offset)]
            end = offset + len(mulaw)
            if not mulaw:
                return
        size = len(self.data)
        if offset > size:
            self.data.extend(bytes([SILENCE_BYTE]) * (offset - size))
        self.data[offset:end] = mulaw

    def cut(self, offset: int) -> None:
        if 0 <= offset < len(self.data):
            del self.data[offset:]


class StereoWavRecorder:
    """Collects both sides of a call and renders a stereo WAV at the end."""

    def __init__(self, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        limit = int(max_seconds * SAMPLE_RATE)
        self._caller = _Channel(limit)
        self._agent = _Channel(limit)

    @staticmethod
    def _offset(at_ms: float) -> int:
        return int(round(at_ms * BYTES_PER_MS_MULAW))

    def add_caller(self, mulaw: bytes, at_ms: float) -> None:
        """Caller audio that started at stream time ``at_ms`` (Twilio's media timestamp)."""
        self._caller.write(self._offset(at_ms), mulaw)

    def add_agent(self, mulaw: bytes, at_ms: float) -> None:
        """Agent audio that plays from stream time ``at_ms``."""
        self._agent.write(self._offset(at_ms), mulaw)

    def cut_agent(self, at_ms: float) -> None:
        """Playback was cleared at ``at_ms``: the caller never heard the agent audio after it."""
        self._agent.cut(self._offset(at_ms))

    @property
    def duration_ms(self) -> int:
        return max(len(self._caller.data), len(self._agent.data)) // BYTES_PER_MS_MULAW

    def render_wav(self) -> bytes:
        """16-bit PCM stereo WAV at 8 kHz: left = caller, right = agent."""
        frames = max(len(self._caller.data), len(self._agent.data))
        left = bytes(self._caller.data) + MULAW_SILENCE * (frames - len(self._caller.data))
        right = bytes(self._agent.data) + MULAW_SILENCE * (frames - len(self._agent.data))
        stereo = interleave_stereo(ulaw_to_pcm16(left), ulaw_to_pcm16(right))
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(stereo)
        return out.getvalue()
