"""In-memory, scripted doubles of the three chained-engine parts (``SpeechToText``,
``LanguageModel``, ``TextToSpeech``) for ``PipelineEngine`` orchestration tests and demos.

They implement the real interfaces and behave like well-mannered parts: the STT emits exactly
the events the test pushes, the LLM plays one script per ``stream()`` call (holding at ``Gate``s
so a test can look at the engine mid-stream), the TTS turns text into mu-law of a predictable
length (``ms_per_char``). Each records what it was given and whether it was cancelled, so tests
can assert that barge-in really aborted the request::

    llm = ScriptedLanguageModel([[TextDelta("Sure. "), gate, TextDelta("Done.")]])
    ...
    gate.open()

It also reads the caller-speech fixtures (``tests/data/audio``: 8 kHz mu-law WAVs with reference
texts) and scores recognisers on them (word error rate), for the local-engine tests and
``bench/local_wer.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from calls.bridge.config import ToolSpec
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    LanguageModel,
    LlmEvent,
    Message,
    SpeechStarted,
    SpeechToText,
    SttEvent,
    TextToSpeech,
)
from tests.audio import AUDIO_DIR


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Let the loop run, one iteration at a time, until ``predicate()`` holds: the test waits
    for a state, never for a fixed time (the timeout only turns a hang into a failure)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        while not predicate():
            turn: asyncio.Future[None] = loop.create_future()
            loop.call_soon(turn.set_result, None)
            await turn


@dataclass
class Gate:
    """A point in an LLM script (or TTS piece) where the part waits until the test opens it."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    reached: bool = False

    def open(self) -> None:
        self.event.set()

    async def pass_(self) -> None:
        self.reached = True
        await self.event.wait()


class ScriptedSpeechToText(SpeechToText):
    def __init__(self, *, fail_on_start: Exception | None = None) -> None:
        self._events: asyncio.Queue[SttEvent | Exception | None] = asyncio.Queue()
        self.fail_on_start = fail_on_start
        self.fail_on_audio: Exception | None = None
        self.audio = bytearray()
        self.modes: list[str] = []
        self.endpoints = 0
        self.started = False
        self.closed = False

    # test side
    def emit(self, event: SttEvent) -> None:
        self._events.put_nowait(event)

    def caller_says(self, text: str) -> None:
        self.emit(SpeechStarted())
        self.emit(FinalTranscript(text))

    def fail(self, exc: Exception) -> None:
        self._events.put_nowait(exc)

    # interface
    async def start(self) -> None:
        if self.fail_on_start is not None:
            raise self.fail_on_start
        self.started = True

    async def send_audio(self, mulaw: bytes) -> None:
        if self.fail_on_audio is not None:
            raise self.fail_on_audio
        self.audio.extend(mulaw)

    async def force_endpoint(self) -> None:
        self.endpoints += 1

    def set_mode(self, mode: Literal["speech", "digits"]) -> None:
        self.modes.append(mode)

    async def events(self) -> AsyncIterator[SttEvent]:
        while True:
            item = await self._events.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def close(self) -> None:
        self.closed = True
        self._events.put_nowait(None)


ScriptItem = LlmEvent | Gate | Exception


@dataclass
class LlmCall:
    messages: list[Message]
    tools: tuple[ToolSpec, ...]
    finished: bool = False
    cancelled: bool = False


class ScriptedLanguageModel(LanguageModel):
    """Plays ``scripts`` in order, one per ``stream()`` call; an ``Exception`` item is raised."""

    def __init__(self, scripts: Iterable[list[ScriptItem]] = ()) -> None:
        self.scripts: deque[list[ScriptItem]] = deque(scripts)
        self.calls: list[LlmCall] = []
        self.closed = False

    async def stream(self, messages: list[Message], tools: tuple[ToolSpec, ...]) -> AsyncIterator[LlmEvent]:
        call = LlmCall([dict(m) for m in messages], tools)
        self.calls.append(call)
        script = self.scripts.popleft() if self.scripts else []
        try:
            for item in script:
                if isinstance(item, Gate):
                    await item.pass_()
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item
                    await asyncio.sleep(0)  # a network stream never delivers all tokens at once
            call.finished = True
        except (asyncio.CancelledError, GeneratorExit):
            call.cancelled = True
            raise

    async def close(self) -> None:
        self.closed = True


@dataclass
class TtsRequest:
    text: str
    audio_bytes: int = 0
    finished: bool = False
    cancelled: bool = False


class ScriptedTextToSpeech(TextToSpeech):
    """``ms_per_char`` ms of mu-law per character, in ``chunk_ms`` chunks. A text containing a
    key of ``gates`` waits at that gate after its first chunk; ``fail_on`` raises for a text
    containing it."""

    def __init__(self, *, ms_per_char: int = 50, chunk_ms: int = 100) -> None:
        self.ms_per_char = ms_per_char
        self.chunk_ms = chunk_ms
        self.gates: dict[str, Gate] = {}
        self.fail_on: str | None = None
        self.requests: list[TtsRequest] = []
        self.closed = False

    async def synthesize(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        async for piece in text:
            request = TtsRequest(piece)
            self.requests.append(request)
            try:
                if self.fail_on is not None and self.fail_on in piece:
                    raise RuntimeError("tts service refused the text")
                audio = b"\x7f" * (len(piece) * self.ms_per_char * 8)  # quiet but not 0xFF silence
                size = self.chunk_ms * 8
                for index in range(0, len(audio), size):
                    chunk = audio[index : index + size]
                    request.audio_bytes += len(chunk)
                    yield chunk
                    if index == 0:
                        for key, gate in self.gates.items():
                            if key in piece:
                                await gate.pass_()
                    await asyncio.sleep(0)
                request.finished = True
            except (asyncio.CancelledError, GeneratorExit):
                request.cancelled = True
                raise

    async def close(self) -> None:
        self.closed = True


# ------------------------------------------------------------------------------ speech fixtures


@dataclass(frozen=True)
class SpeechFixture:
    file: str
    text: str
    mulaw: bytes


def read_mulaw_wav(path: Path) -> bytes:
    """The ``data`` chunk of a G.711 mu-law WAV (format tag 7, which ``wave`` cannot read)."""
    blob = path.read_bytes()
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    offset, fmt = 12, None
    while offset + 8 <= len(blob):
        chunk, size = blob[offset : offset + 4], struct.unpack("<I", blob[offset + 4 : offset + 8])[0]
        body = blob[offset + 8 : offset + 8 + size]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHI", body[:8])
        elif chunk == b"data":
            if fmt != (7, 1, 8000):
                raise ValueError(f"{path}: expected mono 8 kHz mu-law, got format/channels/rate {fmt}")
            return body
        offset += 8 + size + (size & 1)
    raise ValueError(f"{path} has no data chunk")


def speech_fixtures() -> list[SpeechFixture]:
    """The caller-speech fixtures in ``tests/data/audio`` with their reference texts."""
    manifest = json.loads((AUDIO_DIR / "manifest.json").read_text())
    return [SpeechFixture(m["file"], m["text"], read_mulaw_wav(AUDIO_DIR / m["file"])) for m in manifest]


def speech_fixture(file: str) -> SpeechFixture:
    return next(f for f in speech_fixtures() if f.file == file)


def normalise_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words): word-level edit distance."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[len(hyp)], len(ref)


def frames(mulaw: bytes, frame_bytes: int = 160) -> Iterator[bytes]:
    """Cut audio into 20 ms frames, as a Twilio media stream delivers it (the last one padded
    with mu-law silence)."""
    for offset in range(0, len(mulaw), frame_bytes):
        yield mulaw[offset : offset + frame_bytes].ljust(frame_bytes, b"\xff")
