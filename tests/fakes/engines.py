"""A scriptable in-memory ``Engine`` for session tests and demos.

``ScriptedEngine`` records everything the session sends it and emits whatever events the test
(or a reply hook) pushes, so each behaviour of the ``CallSession`` can be driven precisely::

    engine = ScriptedEngine(greeting=agent_speech(400, "greet"))
    engine.reply_to_text = lambda text: agent_speech(300, "reminder")
    engine.emit(CallerSpeechStarted())
    await engine.wait_for(lambda: engine.interruptions)
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable

from calls.bridge.audio import pcm16_to_ulaw
from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.engines.base import Engine, EngineError, ToolResult
from calls.bridge.frames import AgentAudio, AgentAudioDone, EngineEvent, EngineFailure


def tone(ms: int, freq: float = 440.0, amplitude: int = 8000) -> bytes:
    """``ms`` of a sine tone as mu-law 8 kHz (audible, unlike 0xFF silence)."""
    samples = ms * 8
    pcm = b"".join(
        int(amplitude * math.sin(2 * math.pi * freq * n / 8000)).to_bytes(2, "little", signed=True)
        for n in range(samples)
    )
    return pcm16_to_ulaw(pcm)


def agent_speech(
    ms: int, item_id: str | None, *, chunk_ms: int = 100, done: bool = True
) -> list[EngineEvent]:
    """An utterance as an engine streams it: ``AgentAudio`` chunks, then ``AgentAudioDone``."""
    audio = tone(ms)
    size = chunk_ms * 8
    events: list[EngineEvent] = [AgentAudio(audio[i : i + size], item_id) for i in range(0, len(audio), size)]
    if done:
        events.append(AgentAudioDone(item_id))
    return events


TextReply = Callable[[str], Iterable[EngineEvent]]
ToolReply = Callable[[str, ToolResult], Iterable[EngineEvent]]


class ScriptedEngine(Engine):
    name = "scripted"

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        greeting: Iterable[EngineEvent] = (),
        connect_error: Exception | None = None,
        connect_delay_s: float = 0.0,
        reply_to_text: TextReply | None = None,
        reply_to_tool: ToolReply | None = None,
        can_switch_stage: bool = True,
    ) -> None:
        super().__init__(settings or EngineSettings(kind="scripted"))
        self.greeting = list(greeting)
        self.connect_error = connect_error
        self.connect_delay_s = connect_delay_s
        self.reply_to_text = reply_to_text
        self.reply_to_tool = reply_to_tool
        self.can_switch_stage = can_switch_stage
        # what the session did
        self.stages: list[StageSpec] = []
        self.audio_bytes = 0
        self.audio_chunks = 0
        self.caller_texts: list[str] = []
        self.tool_results: list[tuple[str, ToolResult]] = []
        self.interruptions: list[tuple[str | None, int]] = []
        self.closed = False
        self.closed_at: float | None = None
        # state
        self._queue: deque[EngineEvent] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self._changed = asyncio.Event()

    # ----------------------------------------------------------------------- test controls

    def emit(self, *events: EngineEvent) -> None:
        self._queue.extend(events)
        self._wakeup.set()

    def fail(self, message: str = "engine connection lost") -> None:
        """Report a fatal failure (``EngineFailure``) and end the event stream."""
        self.emit(EngineFailure(message))
        self.end()

    def end(self) -> None:
        """End ``events()`` once the queued events are consumed."""
        self._ended = True
        self._wakeup.set()

    async def wait_for(self, predicate: Callable[[], object], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                changed = self._changed
                await changed.wait()

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------------------ Engine

    async def connect(self, stage: StageSpec) -> None:
        if self.connect_delay_s:
            await asyncio.sleep(self.connect_delay_s)  # simulated network latency, not sync
        if self.connect_error is not None:
            raise self.connect_error
        self.stages.append(stage)
        self.emit(*self.greeting)
        self._pulse()

    async def send_audio(self, mulaw: bytes) -> None:
        self.audio_bytes += len(mulaw)
        self.audio_chunks += 1
        self._pulse()

    async def send_caller_text(self, text: str) -> None:
        self.caller_texts.append(text)
        if self.reply_to_text is not None:
            self.emit(*self.reply_to_text(text))
        self._pulse()

    async def send_tool_result(self, call_id: str, result: ToolResult) -> None:
        self.tool_results.append((call_id, result))
        if result.new_stage is not None:
            self.stages.append(result.new_stage)
        if self.reply_to_tool is not None:
            self.emit(*self.reply_to_tool(call_id, result))
        self._pulse()

    async def playback_interrupted(self, item_id: str | None, heard_ms: int) -> None:
        self.interruptions.append((item_id, heard_ms))
        self._pulse()

    async def switch_stage(self, stage: StageSpec) -> None:
        if not self.can_switch_stage:
            raise EngineError("scripted engine refuses to switch stage")
        self.stages.append(stage)
        self._pulse()

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._ended or self.closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.closed_at = asyncio.get_running_loop().time()
        self._wakeup.set()
        self._pulse()
