"""Audio codecs, framing and resampling for the bridge.

``audioop`` is in the standard library up to Python 3.12; from 3.13 the ``audioop-lts`` package
provides the same module name (installed by an environment marker in requirements.txt).
All helpers here are cheap and allocation-light: they run 50 times a second per call direction.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # Known and handled (see above): Python 3.11/3.12 warn that audioop leaves in 3.13.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

MULAW_SILENCE = b"\xff"  # mu-law code for (near) zero amplitude
SAMPLE_RATE = 8000
BYTES_PER_MS_MULAW = 8  # 8 kHz, one byte per sample
FRAME_MS = 20
FRAME_BYTES = FRAME_MS * BYTES_PER_MS_MULAW  # 160


def ulaw_to_pcm16(mulaw: bytes) -> bytes:
    """G.711 mu-law -> signed 16-bit little-endian PCM (same sample rate)."""
    return audioop.ulaw2lin(mulaw, 2)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Signed 16-bit little-endian PCM -> G.711 mu-law (same sample rate)."""
    return audioop.lin2ulaw(pcm, 2)


def interleave_stereo(left_pcm: bytes, right_pcm: bytes) -> bytes:
    """Two mono s16le buffers of equal length -> one interleaved stereo s16le buffer."""
    return audioop.add(audioop.tostereo(left_pcm, 2, 1, 0), audioop.tostereo(right_pcm, 2, 0, 1), 2)


def mulaw_duration_ms(mulaw: bytes) -> int:
    return len(mulaw) // BYTES_PER_MS_MULAW


def mulaw_silence(ms: int) -> bytes:
    """``ms`` milliseconds of mu-law silence (0xFF bytes)."""
    return MULAW_SILENCE * (max(0, ms) * BYTES_PER_MS_MULAW)


def pcm16_duration_ms(pcm: bytes, sample_rate: int) -> int:
    """Duration of a mono s16le buffer in whole milliseconds."""
    return (len(pcm) // 2) * 1000 // sample_rate


def frame_bytes_for(frame_ms: int) -> int:
    """mu-law bytes in one outgoing frame of ``frame_ms`` (at least one byte)."""
    return max(1, frame_ms * BYTES_PER_MS_MULAW)


class FrameChunker:
    """Cuts a stream of arbitrarily sized mu-law chunks into fixed-size frames.

    Engines deliver audio in whatever sizes their network or codec produces (OpenAI deltas,
    Ultravox binary messages, ElevenLabs chunks). Twilio plays any size, but fixed frames keep
    pacing, marks and byte accounting regular. The tail that does not fill a frame is held until
    more audio arrives or ``flush()`` is called (end of an utterance), so no audio is lost and at
    most one frame of it is delayed.
    """

    __slots__ = ("_pending", "frame_bytes")

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        if frame_bytes <= 0:
            raise ValueError("frame_bytes must be positive")
        self.frame_bytes = frame_bytes
        self._pending = b""

    @property
    def pending(self) -> int:
        """Bytes held back because they do not fill a frame yet."""
        return len(self._pending)

    def push(self, mulaw: bytes) -> list[bytes]:
        """Add audio; return the complete frames it makes (possibly none)."""
        data = self._pending + mulaw if self._pending else mulaw
        size = self.frame_bytes
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        if whole == size:  # the common case: one exact frame in, one frame out
            return [data[:size]]
        return [data[i : i + size] for i in range(0, whole, size)]

    def flush(self) -> bytes:
        """Return the held tail (shorter than a frame, maybe empty) and forget it."""
        tail, self._pending = self._pending, b""
        return tail

    def discard(self) -> None:
        """Drop the held tail (barge-in: it must never be played)."""
        self._pending = b""


class Resampler:
    """Stateful mono s16le resampler: keeps ``ratecv`` state across chunks so a stream cut into
    20 ms frames resamples without clicks at the frame edges."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def process(self, pcm: bytes) -> bytes:
        if self.from_rate == self.to_rate or not pcm:
            return pcm
        if len(pcm) % 2:
            # ratecv rejects odd lengths; a stray byte is a caller bug, not a reason to crash.
            pcm = pcm[:-1]
        out, self._state = audioop.ratecv(pcm, 2, 1, self.from_rate, self.to_rate, self._state)
        return out

    def reset(self) -> None:
        """Forget the filter state (start of an unrelated stream, e.g. after a barge-in)."""
        self._state = None


class MulawResampler:
    """mu-law 8 kHz <-> PCM s16le at another rate, in one stateful step per chunk.

    Engines that speak PCM (Ultravox 8/16/24 kHz, OpenAI ``audio/pcm`` 24 kHz) wrap their edge in
    one of these so the session can keep everything in mu-law.
    """

    def __init__(self, pcm_rate: int) -> None:
        self.pcm_rate = pcm_rate
        self._up = Resampler(SAMPLE_RATE, pcm_rate)
        self._down = Resampler(pcm_rate, SAMPLE_RATE)
        self._odd = b""  # a sample split across two network messages

    def mulaw_to_pcm(self, mulaw: bytes) -> bytes:
        return self._up.process(ulaw_to_pcm16(mulaw))

    def pcm_to_mulaw(self, pcm: bytes) -> bytes:
        if self._odd:
            pcm = self._odd + pcm
        if len(pcm) % 2:
            pcm, self._odd = pcm[:-1], pcm[-1:]
        else:
            self._odd = b""
        if not pcm:
            return b""
        return pcm16_to_ulaw(self._down.process(pcm))
