"""The fake's mouth and ears: a speech-like voice for agent audio and an energy VAD for callers.

The voice is not speech, but it has speech's shape: voiced syllables (a 110-170 Hz buzz with a
few harmonics under a rise-and-fall envelope), gaps between words, longer pauses at punctuation,
and a length that grows with the text. That is enough to exercise buffering, barge-in, marks and
the "never silent" timers, and it is deterministic.
"""

from __future__ import annotations

import audioop
import functools
import math
import struct
from array import array
from pathlib import Path

SYLLABLE_CHARS = 3  # roughly one syllable per three letters
WORD_GAP_MS = 60
PUNCTUATION_PAUSE_MS = 220
PEAK = 9000  # well above any sane VAD threshold, well below clipping


@functools.lru_cache(maxsize=64)
def synthesize(text: str, sample_rate: int, ms_per_char: int = 55) -> bytes:
    """s16le mono PCM at ``sample_rate`` for ``text`` (at least 200 ms)."""
    samples = array("h")
    phase = 0.0
    syllable_index = 0
    for word in text.split():
        letters = [c for c in word if c.isalnum()]
        for start in range(0, len(letters), SYLLABLE_CHARS):
            chunk = letters[start : start + SYLLABLE_CHARS]
            count = int(sample_rate * len(chunk) * ms_per_char / 1000)
            pitch = 170.0 - 60.0 * ((syllable_index % 7) / 7)  # a falling, repeating contour
            step = 2 * math.pi * pitch / sample_rate
            for i in range(count):
                envelope = math.sin(math.pi * i / count)  # rise and fall within the syllable
                value = math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase)
                samples.append(int(PEAK * envelope * value / 1.75))
                phase += step
            syllable_index += 1
        pause = PUNCTUATION_PAUSE_MS if word[-1] in ".,;:!?" else WORD_GAP_MS
        samples.extend([0] * (sample_rate * pause // 1000))
    minimum = sample_rate // 5
    if len(samples) < minimum:
        samples.extend([0] * (minimum - len(samples)))
    return samples.tobytes()


def duration_ms(pcm: bytes, sample_rate: int) -> float:
    return len(pcm) / 2 / sample_rate * 1000


class EnergyVad:
    """Speech onset after ``min_speech_ms`` of loud audio; end of turn after
    ``end_of_turn_ms`` of quiet audio. Time is counted in samples received, not wall time, so a
    caller streaming faster than real time (tests) still gets exact, deterministic turns."""

    def __init__(self, sample_rate: int, threshold: int, min_speech_ms: float, end_of_turn_ms: float) -> None:
        self.sample_rate = sample_rate
        self.threshold = threshold
        self.min_speech_ms = min_speech_ms
        self.end_of_turn_ms = end_of_turn_ms
        self.in_speech = False
        self._voiced_ms = 0.0
        self._quiet_ms = 0.0

    def feed(self, pcm: bytes) -> str | None:
        """Returns ``"onset"``, ``"end"`` or None for this chunk."""
        if len(pcm) < 2:
            return None
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        ms = duration_ms(pcm, self.sample_rate)
        if audioop.rms(pcm, 2) >= self.threshold:
            self._quiet_ms = 0.0
            self._voiced_ms += ms
            if not self.in_speech and self._voiced_ms >= self.min_speech_ms:
                self.in_speech = True
                return "onset"
            return None
        self._voiced_ms = 0.0
        if self.in_speech:
            self._quiet_ms += ms
            if self._quiet_ms >= self.end_of_turn_ms:
                self.in_speech = False
                self._quiet_ms = 0.0
                return "end"
        return None


def read_mulaw_wav(path: Path) -> bytes:
    """The raw mu-law bytes of a G.711 WAV (format tag 7), which the ``wave`` module refuses:
    exactly what a Twilio media stream carries, e.g. the caller fixtures in tests/data/audio."""
    raw = path.read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    offset, data, tag = 12, b"", 0
    while offset + 8 <= len(raw):
        chunk_id, size = raw[offset : offset + 4], struct.unpack("<I", raw[offset + 4 : offset + 8])[0]
        if chunk_id == b"fmt ":
            tag = struct.unpack("<H", raw[offset + 8 : offset + 10])[0]
        elif chunk_id == b"data":
            data = raw[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)  # chunks are word-aligned
    if tag != 7 or not data:
        raise ValueError(f"{path} is not 8-bit G.711 mu-law audio")
    return data


def mulaw_frames(mulaw: bytes, size: int = 160) -> list[bytes]:
    """20 ms Twilio-sized frames (the last one may be shorter)."""
    return [mulaw[i : i + size] for i in range(0, len(mulaw), size)]
