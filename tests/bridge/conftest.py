"""Fixtures for bridge tests: in-memory ports and a harness running a ``CallSession`` against the
fake Twilio caller (linked in memory through a ``QueueTransport``) and a ``ScriptedEngine``.

No database, no Django: the bridge is pure asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from calls.bridge.config import CallConfig, EngineSettings, SessionSettings, StageSpec, ToolSpec
from calls.bridge.frames import StreamStarted
from calls.bridge.ports import EventEntry, ToolContext, TranscriptEntry
from calls.bridge.session import CallSession, SessionOutcome
from calls.bridge.transport import QueueTransport, read_stream_start
from tests.fakes.engines import ScriptedEngine
from tests.fakes.twilio import FakeTwilioCaller

# Short timers so every path finishes in well under a second of real time.
FAST = SessionSettings(
    max_duration_s=30.0,
    silence_timeout_s=30.0,
    silence_hangup_after_s=10.0,
    flush_interval_s=0.05,
)


class MemoryRecorder:
    """``CallRecorder`` keeping batches in memory; can be told to fail the next N flushes."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[TranscriptEntry], list[EventEntry]]] = []
        self.attempts = 0
        self.fail_next = 0

    async def flush(self, segments: list[TranscriptEntry], events: list[EventEntry]) -> None:
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionError("database unavailable")
        self.batches.append((list(segments), list(events)))

    @property
    def segments(self) -> list[TranscriptEntry]:
        return [segment for batch, _ in self.batches for segment in batch]

    @property
    def events(self) -> list[EventEntry]:
        return [event for _, batch in self.batches for event in batch]

    def events_of(self, kind: str) -> list[EventEntry]:
        return [event for event in self.events if event.type == kind]


class MemoryControl:
    """``CallControl`` recording hang-ups and redirects; like Twilio, it ends the linked media
    stream afterwards."""

    def __init__(self, caller: FakeTwilioCaller | None = None) -> None:
        self.caller = caller
        self.hang_ups: list[float] = []
        self.redirects: list[str] = []

    async def hang_up(self) -> None:
        self.hang_ups.append(asyncio.get_running_loop().time())
        if self.caller is not None:
            await self.caller.end_stream()

    async def redirect(self, twiml: str) -> None:
        self.redirects.append(twiml)
        if self.caller is not None:
            await self.caller.end_stream()


ToolHandler = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


class MemoryTools:
    """``ToolExecutor`` running async handlers by tool name."""

    def __init__(self, handlers: dict[str, ToolHandler] | None = None) -> None:
        self.handlers = dict(handlers or {})
        self.calls: list[tuple[str, dict[str, Any], ToolContext]] = []

    async def execute(self, name: str, arguments: dict[str, Any], context: ToolContext) -> Any:
        self.calls.append((name, arguments, context))
        return await self.handlers[name](arguments, context)


def make_config(
    *,
    session: SessionSettings = FAST,
    stages: dict[str, StageSpec] | None = None,
    first_stage: str = "main",
    tools: tuple[ToolSpec, ...] = (),
) -> CallConfig:
    return CallConfig(
        call_id="call-public-id",
        tenant_id=7,
        engine=EngineSettings(kind="scripted"),
        session=session,
        stages=stages or {"main": StageSpec(name="main", system_prompt="Help the caller.", tools=tools)},
        first_stage=first_stage,  # type: ignore[arg-type]
        variables={"caller_number": "+15552223333"},
    )


@dataclass
class CallHarness:
    caller: FakeTwilioCaller
    transport: QueueTransport
    engine: ScriptedEngine
    recorder: MemoryRecorder
    control: MemoryControl
    tools: MemoryTools
    session: CallSession
    started: StreamStarted
    task: asyncio.Task[SessionOutcome] | None = None
    tasks_before: set[asyncio.Task[Any]] = field(default_factory=set)

    def start(self) -> None:
        self.tasks_before = set(asyncio.all_tasks())
        self.task = asyncio.create_task(self.session.run())

    async def outcome(self, timeout_s: float = 5.0) -> SessionOutcome:
        assert self.task is not None, "start() the session first"
        async with asyncio.timeout(timeout_s):
            return await self.task

    def leftover_tasks(self) -> set[asyncio.Task[Any]]:
        """Tasks created since ``start()`` that are still alive (must be none after run())."""
        current = asyncio.current_task()
        return {
            task
            for task in asyncio.all_tasks() - self.tasks_before
            if task is not current and not task.done()
        }


MakeCall = Callable[..., Awaitable[CallHarness]]


@pytest.fixture
async def make_call() -> AsyncIterator[MakeCall]:
    harnesses: list[CallHarness] = []

    async def factory(
        *,
        engine: ScriptedEngine | None = None,
        config: CallConfig | None = None,
        tools: MemoryTools | None = None,
        stream_silence: bool = True,
        control_ends_stream: bool = True,
        **session_kwargs: Any,
    ) -> CallHarness:
        caller = FakeTwilioCaller(
            custom_parameters={"call_token": "signed-token"}, stream_silence=stream_silence
        )
        transport = caller.link_in_memory()
        await caller.start()
        started = await read_stream_start(transport, timeout_s=2.0)
        engine = engine or ScriptedEngine()
        recorder = MemoryRecorder()
        control = MemoryControl(caller if control_ends_stream else None)
        tools = tools or MemoryTools()
        session = CallSession(
            config or make_config(),
            transport,
            engine,
            recorder,
            control,
            tools,
            started,
            **session_kwargs,
        )
        harness = CallHarness(caller, transport, engine, recorder, control, tools, session, started)
        harnesses.append(harness)
        return harness

    yield factory
    for harness in harnesses:
        if harness.task is not None and not harness.task.done():
            harness.task.cancel()
            await asyncio.gather(harness.task, return_exceptions=True)
        await harness.caller.aclose()
