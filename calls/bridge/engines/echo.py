"""An engine that plays the caller's audio straight back: the latency benchmark's engine.

With it, everything measured between the caller sending a frame and hearing it back is the
bridge's own cost (serializer, session pumps, marks, transport), with no model in the way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.engines.base import Engine, EngineError, ToolResult
from calls.bridge.frames import AgentAudio, EngineEvent, EngineHangUp

ECHO_ITEM_ID = "echo"
MAX_QUEUED_FRAMES = 500  # 10 s: if nobody reads events() the oldest echoes are dropped


class EchoEngine(Engine):
    """Echoes each caller chunk back at once as ``AgentAudio`` (one long utterance, ``"echo"``).

    Text, tool results and interruptions are accepted and counted; nothing else happens.
    """

    name = "echo"

    def __init__(self, settings: EngineSettings | None = None) -> None:
        super().__init__(settings or EngineSettings(kind="echo"))
        self._queue: deque[EngineEvent] = deque(maxlen=MAX_QUEUED_FRAMES)
        self._wakeup = asyncio.Event()
        self._connected = False
        self._closed = False
        self.stage: StageSpec | None = None
        self.caller_texts: list[str] = []
        self.interruptions: list[tuple[str | None, int]] = []
        self.frames_echoed = 0

    async def connect(self, stage: StageSpec) -> None:
        if self._closed:
            raise EngineError("echo engine already closed")
        self.stage = stage
        self._connected = True

    async def send_audio(self, mulaw: bytes) -> None:
        if not self._connected or self._closed:
            return
        self._queue.append(AgentAudio(mulaw=mulaw, item_id=ECHO_ITEM_ID))
        self.frames_echoed += 1
        self._wakeup.set()

    async def send_caller_text(self, text: str) -> None:
        self.caller_texts.append(text)

    async def send_tool_result(self, call_id: str, result: ToolResult) -> None:
        return None

    async def playback_interrupted(self, item_id: str | None, heard_ms: int) -> None:
        self.interruptions.append((item_id, heard_ms))

    async def switch_stage(self, stage: StageSpec) -> None:
        self.stage = stage

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def hang_up(self) -> None:
        """Make the engine end the conversation (``EngineHangUp``), e.g. at the end of a benchmark."""
        self._queue.append(EngineHangUp(reason="agent_hangup"))
        self._closed = True
        self._wakeup.set()

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
