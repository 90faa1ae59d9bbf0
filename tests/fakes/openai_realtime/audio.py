"""Audio for the fake Realtime server: G.711 tables, a speech-like tone, an energy VAD.

Self-contained (no ``audioop``) so the fake runs on any Python the project supports. Decoding is
a table lookup per byte, cheap enough for benchmarks with many concurrent calls.
"""

from __future__ import annotations

import bisect
import math
from array import array
from dataclasses import dataclass

SUPPORTED_FORMATS = ("audio/pcmu", "audio/pcma", "audio/pcm")
BYTES_PER_MS = {"audio/pcmu": 8, "audio/pcma": 8, "audio/pcm": 48}  # pcm is s16le 24 kHz
SAMPLE_RATE = {"audio/pcmu": 8000, "audio/pcma": 8000, "audio/pcm": 24000}
BETA_FORMATS = {"g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma", "pcm16": "audio/pcm"}


def _ulaw_to_linear(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
    return -(magnitude - 0x84) if code & 0x80 else magnitude - 0x84


def _alaw_to_linear(code: int) -> int:
    code ^= 0x55
    exponent, mantissa = (code >> 4) & 0x07, code & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


ULAW_DECODE = [_ulaw_to_linear(code) for code in range(256)]
ALAW_DECODE = [_alaw_to_linear(code) for code in range(256)]
_ULAW_ABS = [abs(value) for value in ULAW_DECODE]
_ALAW_ABS = [abs(value) for value in ALAW_DECODE]


def _nearest_code_encoder(table: list[int]) -> list[tuple[int, int]]:
    return sorted((value, code) for code, value in enumerate(table))


_ULAW_SORTED = _nearest_code_encoder(ULAW_DECODE)
_ALAW_SORTED = _nearest_code_encoder(ALAW_DECODE)


def _encode(samples: list[int], sorted_table: list[tuple[int, int]]) -> bytes:
    # Nearest codeword by bisection: exact for G.711 and only used to synthesise the tone once.
    values = [value for value, _ in sorted_table]
    out = bytearray()
    for sample in samples:
        index = bisect.bisect_left(values, sample)
        candidates = [i for i in (index - 1, index) if 0 <= i < len(values)]
        best = min(candidates, key=lambda i: abs(values[i] - sample))
        out.append(sorted_table[best][1])
    return bytes(out)


def encode(fmt: str, samples: list[int]) -> bytes:
    if fmt == "audio/pcmu":
        return _encode(samples, _ULAW_SORTED)
    if fmt == "audio/pcma":
        return _encode(samples, _ALAW_SORTED)
    return array("h", samples).tobytes()


def decode(fmt: str, audio: bytes) -> list[int]:
    if fmt == "audio/pcmu":
        return [ULAW_DECODE[b] for b in audio]
    if fmt == "audio/pcma":
        return [ALAW_DECODE[b] for b in audio]
    samples = array("h")
    samples.frombytes(audio[: len(audio) - len(audio) % 2])
    return list(samples)


def mean_level(fmt: str, audio: bytes) -> float:
    """Mean absolute amplitude (16-bit scale) of a chunk."""
    if not audio:
        return 0.0
    if fmt == "audio/pcmu":
        return sum(map(_ULAW_ABS.__getitem__, audio)) / len(audio)
    if fmt == "audio/pcma":
        return sum(map(_ALAW_ABS.__getitem__, audio)) / len(audio)
    samples = array("h")
    samples.frombytes(audio[: len(audio) - len(audio) % 2])
    return sum(map(abs, samples)) / max(1, len(samples))


_TONE_CACHE: dict[str, bytes] = {}


def speech_like(fmt: str, duration_ms: int) -> bytes:
    """A voiced, syllable-modulated tone of ``duration_ms``: loud enough to look like speech to a
    VAD or a level meter, obviously synthetic to a listener."""
    second = _TONE_CACHE.get(fmt)
    if second is None:
        rate = SAMPLE_RATE[fmt]
        samples = []
        for n in range(rate):
            t = n / rate
            envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 4.0 * t)  # ~4 syllables per second
            voice = 0.7 * math.sin(2 * math.pi * 190 * t) + 0.3 * math.sin(2 * math.pi * 570 * t)
            samples.append(int(9000 * envelope * voice))
        second = _TONE_CACHE[fmt] = encode(fmt, samples)
    size = duration_ms * BYTES_PER_MS[fmt]
    return (second * (size // len(second) + 1))[:size]


@dataclass(slots=True)
class VadConfig:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


class EnergyVad:
    """Turn detection on the input clock (ms of audio appended), not on wall time, so a test
    that feeds audio faster than real time sees the same events as a live call."""

    WINDOW_MS = 20
    ONSET_WINDOWS = 2  # 40 ms of energy before speech counts as started

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.clock_ms = 0
        self.in_speech = False
        self._pending = b""
        self._onset_run = 0
        self._silence_ms = 0

    def feed(self, audio: bytes, config: VadConfig) -> list[tuple[str, int]]:
        """Returns ``("start", audio_start_ms)`` / ``("stop", audio_end_ms)`` events."""
        window_bytes = self.WINDOW_MS * BYTES_PER_MS[self.fmt]
        data = self._pending + audio
        events: list[tuple[str, int]] = []
        level_threshold = 100 + 800 * config.threshold
        offset = 0
        while len(data) - offset >= window_bytes:
            window = data[offset : offset + window_bytes]
            offset += window_bytes
            self.clock_ms += self.WINDOW_MS
            loud = mean_level(self.fmt, window) > level_threshold
            if not self.in_speech:
                self._onset_run = self._onset_run + 1 if loud else 0
                if self._onset_run >= self.ONSET_WINDOWS:
                    onset = self.clock_ms - self.ONSET_WINDOWS * self.WINDOW_MS
                    self.in_speech, self._silence_ms = True, 0
                    # Documented: the start includes prefix_padding_ms of audio before the onset.
                    events.append(("start", max(0, onset - config.prefix_padding_ms)))
            elif loud:
                self._silence_ms = 0
            else:
                self._silence_ms += self.WINDOW_MS
                if self._silence_ms >= config.silence_duration_ms:
                    self.in_speech, self._onset_run = False, 0
                    # Documented: the end includes the silence duration.
                    events.append(("stop", self.clock_ms))
        self._pending = data[offset:]
        return events

    def reset(self) -> None:
        self.in_speech, self._onset_run, self._silence_ms, self._pending = False, 0, 0, b""
