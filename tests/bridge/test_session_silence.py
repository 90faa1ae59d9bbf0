"""The caller-silence watch: when it reminds, and that it is not woken by every audio frame.

The watch waits for ``session.activity`` only while the agent talks or a tool runs, and sleeps
to its deadline otherwise (bench/README.md, "Where daphne's CPU goes"). These tests pin what it
decides: silence counts from the end of the agent's audio, never while it plays or a tool runs,
and a continuous echo stream (one drained mark per frame) does not wake it per frame.
"""

from __future__ import annotations

import asyncio
from typing import Any

from calls.bridge.config import SessionSettings, ToolSpec
from calls.bridge.engines.echo import EchoEngine
from calls.bridge.frames import ToolCall
from calls.bridge.playback import PlaybackTracker
from calls.bridge.ports import ToolContext
from calls.bridge.session.signals import Pulse
from tests.bridge.conftest import FAST, MakeCall, MemoryTools, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech

SLOW_LOOKUP = ToolSpec(name="slow_lookup", description="A slow backend.", parameters={"type": "object"})


def settings(**changes: Any) -> SessionSettings:
    values = {name: getattr(FAST, name) for name in SessionSettings.__dataclass_fields__}
    values.update(changes)
    return SessionSettings(**values)


class CountingTracker(PlaybackTracker):
    """Counts reads of ``has_unplayed``: the silence watch reads it once per evaluation (the only
    other reader, the ending, reads it once)."""

    reads = 0

    @property
    def has_unplayed(self) -> bool:
        self.reads += 1
        return super().has_unplayed


async def test_a_pulse_wakes_the_current_waiters_once_and_nobody_later() -> None:
    pulse = Pulse()
    pulse.pulse()  # nobody waits: nothing to wake, nothing remembered
    assert await pulse.wait(0.01) is False
    waiters = [asyncio.create_task(pulse.wait()), asyncio.create_task(pulse.wait(5.0))]
    await asyncio.sleep(0)  # both are waiting now
    pulse.pulse()
    assert await asyncio.gather(*waiters) == [True, True]
    assert await pulse.wait(0.01) is False  # a later waiter needs a later pulse
    late = asyncio.create_task(pulse.wait(5.0))
    await asyncio.sleep(0)
    pulse.pulse()
    assert await late is True


async def test_silence_counts_from_the_end_of_a_long_agent_utterance(make_call: MakeCall) -> None:
    engine = ScriptedEngine(
        greeting=agent_speech(800, "greeting"), reply_to_text=lambda text: agent_speech(100, "reminder")
    )
    config = make_config(session=settings(silence_timeout_s=0.3, silence_hangup_after_s=5.0))
    call = await make_call(engine=engine, config=config, control_ends_stream=False)
    call.start()
    await engine.wait_for(lambda: engine.caller_texts, 3.0)
    heard = [echo.at_ms for echo in call.caller.mark_echoes if ":greeting:" in echo.name]
    await call.caller.hang_up()
    await call.outcome()
    reminder = call.recorder.events_of("silence_reminder")
    assert len(reminder) == 1 and len(engine.caller_texts) == 1
    # Not during the 800 ms greeting (the timeout is 300 ms), but 300 ms after the caller heard it end.
    assert max(heard) >= 780
    assert max(heard) + 300 - 20 <= reminder[0].at_ms <= max(heard) + 300 + 250


async def test_no_reminder_while_a_slow_tool_runs(make_call: MakeCall) -> None:
    """Silence is counted from the caller's (or the agent's audio's) last activity; a tool that
    runs past the timeout holds the reminder back, and it comes as soon as the tool is done."""
    finished_at: list[float] = []

    async def slow_lookup(arguments: dict[str, Any], context: ToolContext) -> Any:
        await asyncio.sleep(0.6)  # a backend slower than the silence timeout
        finished_at.append(asyncio.get_running_loop().time())
        return {"found": True}

    engine = ScriptedEngine(reply_to_text=lambda text: agent_speech(100, "reminder"))
    config = make_config(
        session=settings(silence_timeout_s=0.3, silence_hangup_after_s=5.0), tools=(SLOW_LOOKUP,)
    )
    call = await make_call(
        engine=engine,
        config=config,
        tools=MemoryTools({"slow_lookup": slow_lookup}),
        control_ends_stream=False,
    )
    call.start()
    engine.emit(ToolCall("call_1", "slow_lookup", "{}"))
    await engine.wait_for(lambda: engine.caller_texts, 3.0)
    reminded_at = asyncio.get_running_loop().time()
    await call.caller.hang_up()
    await call.outcome()
    assert engine.tool_results and len(engine.caller_texts) == 1
    assert 0 <= reminded_at - finished_at[0] <= 0.25


async def test_a_continuous_echo_stream_does_not_wake_the_watch_per_frame(make_call: MakeCall) -> None:
    """The bench's load: every caller frame comes back as agent audio with a mark that is echoed
    (playback drains) before the next frame: two pulses per frame. The watch used to evaluate
    on both (~100 times a second); now it sleeps to its deadline."""
    engine = EchoEngine()
    call = await make_call(
        engine=engine, config=make_config(session=settings(silence_timeout_s=10.0)), control_ends_stream=False
    )
    tracker = call.session.playback
    tracker.__class__ = CountingTracker
    assert isinstance(tracker, CountingTracker)
    call.start()
    await call.caller.wait_for(lambda: len(call.caller.mark_echoes) >= 50, 5.0)  # a second of echo
    evaluations = tracker.reads
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.counters.frames_out >= 50 and outcome.counters.marks_echoed >= 50
    assert evaluations <= 5, f"the silence watch evaluated {evaluations} times in ~50 frames"
    assert call.recorder.events_of("silence_reminder") == []
    assert not call.leftover_tasks()
