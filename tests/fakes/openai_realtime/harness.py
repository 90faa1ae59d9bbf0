"""Driving an engine against a fake: caller audio in Twilio-sized frames, and a log of the
engine's events that tests (and the demo/benchmarks) can wait on without sleeping.

Generic over ``Engine``: nothing here is specific to the OpenAI protocol.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from calls.bridge.engines.base import Engine
from calls.bridge.frames import EngineEvent

FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz, what Twilio sends
MULAW_SILENCE_FRAME = b"\xff" * FRAME_BYTES
E = TypeVar("E")


def read_mulaw_wav(path: Path) -> bytes:
    """The raw mu-law bytes of an 8 kHz mono WAV with format tag 7 (header stripped)."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    offset, fmt, payload = 12, None, None
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        body = data[offset + 8 : offset + 8 + size]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHI", body[:8])  # format tag, channels, sample rate
        elif chunk == b"data":
            payload = body
        offset += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt != (7, 1, 8000) or payload is None:
        raise ValueError(f"{path}: expected mu-law (tag 7) mono 8 kHz, got {fmt}")
    return payload


def frames(audio: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


async def feed_utterance(engine: Engine, mulaw: bytes, trailing_silence_ms: int = 1000) -> bytes:
    """Send an utterance like Twilio does: 20 ms frames, then continuous silence (Twilio keeps
    streaming while the caller is quiet, which is what lets the server's VAD end the turn)."""
    audio = mulaw + MULAW_SILENCE_FRAME * (trailing_silence_ms // 20)
    for frame in frames(audio):
        await engine.send_audio(frame)
    return audio


class EngineEventLog:
    """Consumes ``engine.events()`` in the background and lets callers wait for conditions."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[EngineEvent] = []
        self.ended = asyncio.Event()
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._pump(engine), name="engine-event-log")

    async def _pump(self, engine: Engine) -> None:
        try:
            async for event in engine.events():
                self.events.append(event)
                self._changed.set()
        finally:
            self.ended.set()
            self._changed.set()

    async def wait_for(self, predicate: Callable[[EngineEvent], bool], timeout_s: float = 5.0) -> EngineEvent:
        """The first event (past or future) matching ``predicate``."""
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self.ended.is_set():
                    raise AssertionError(f"engine events ended without a match: {self.summary()}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_end(self, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            await self.ended.wait()

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    def index(self, predicate: Callable[[EngineEvent], bool]) -> int:
        return next(i for i, event in enumerate(self.events) if predicate(event))

    def summary(self) -> list[str]:
        return [type(event).__name__ for event in self.events]

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
