"""Transcripts and events: ordered, flushed off the audio path, resilient to recorder failures."""

from __future__ import annotations

from typing import Any

from calls.bridge.config import SessionSettings
from calls.bridge.frames import CallerSpeechStarted, Transcript
from calls.bridge.ports import EventEntry, TranscriptEntry
from calls.bridge.session.journal import CallJournal
from calls.bridge.session.outcome import SessionCounters
from tests.bridge.conftest import FAST, MakeCall, MemoryRecorder, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech


def settings(**changes: Any) -> SessionSettings:
    values = {name: getattr(FAST, name) for name in SessionSettings.__dataclass_fields__}
    values.update(changes)
    return SessionSettings(**values)


async def test_final_transcripts_are_flushed_in_ordinal_order_with_stream_times(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine)
    call.start()
    await engine.wait_for(lambda: engine.stages)
    engine.emit(
        *agent_speech(200, "greet"),
        Transcript("agent", "Hello", False, 0),
        Transcript("agent", "Hello, this is Acme.", True, 0),
        CallerSpeechStarted(),
        Transcript("caller", "I need", False, 1),
        Transcript("agent", "One moment", True, 2),  # arrives before the caller's final
        Transcript("caller", "I need a plumber", True, 1),
        Transcript("caller", "I need a plumber (resent)", True, 1),  # duplicate final: ignored
    )
    await call.caller.wait_for(lambda: len(call.recorder.segments) == 3, 2.0)
    segments = call.recorder.segments
    assert [(s.ordinal, s.speaker, s.text) for s in segments] == [
        (0, "agent", "Hello, this is Acme."),
        (1, "caller", "I need a plumber"),
        (2, "agent", "One moment"),
    ]
    assert all(0 <= s.start_ms <= s.end_ms for s in segments)
    # the agent's line ends when its audio has played, not when the text arrived
    assert segments[0].end_ms >= segments[0].start_ms + 150
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.counters.transcript_segments == 3
    assert len(call.recorder.segments) == 3  # nothing duplicated by the final flush


async def test_failing_flushes_are_retried_and_never_kill_the_call(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine)
    call.recorder.fail_next = 3
    call.start()
    engine.emit(Transcript("caller", "hello?", True, 1))
    await call.caller.wait_for(lambda: call.recorder.segments, 3.0)  # delivered after 3 failures
    assert call.recorder.attempts >= 4
    assert call.task is not None and not call.task.done()  # the call never noticed
    engine.emit(*agent_speech(100, "hi"))
    await call.caller.wait_for(lambda: call.caller.mark_echoes, 2.0)
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.end_reason == "caller_hangup"
    assert outcome.counters.flush_failures == 3
    assert [s.text for s in call.recorder.segments] == ["hello?"]
    assert [e.type for e in call.recorder.events][0] == "call_started"  # kept and resent in order


async def test_everything_left_is_flushed_at_the_end(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine, config=make_config(session=settings(flush_interval_s=60.0)))
    call.start()
    engine.emit(Transcript("caller", "bye", True, 1))
    await engine.wait_for(lambda: engine.stages)
    await call.caller.hang_up()
    await call.outcome()
    assert len(call.recorder.batches) == 1  # one final batch, nothing during the call
    segments, events = call.recorder.batches[0]
    assert [s.text for s in segments] == ["bye"]
    assert [e.type for e in events][0] == "call_started" and events[-1].type == "call_ended"


async def test_buffers_are_bounded_and_count_what_they_drop() -> None:
    counters = SessionCounters()
    recorder = MemoryRecorder()
    journal = CallJournal(recorder, counters, lambda: 5, max_buffered=3)
    for n in range(5):
        journal.event("tick", {"n": n})
    for ordinal in range(5):
        journal.transcript(Transcript("caller", f"t{ordinal}", True, ordinal), end_ms=10)
    assert journal.pending == (3, 3)
    assert counters.dropped_entries == 4
    recorder.fail_next = 1
    assert not await journal.flush()
    assert journal.pending == (3, 3)  # put back after a failure, still bounded
    assert await journal.flush()
    segments: list[TranscriptEntry] = recorder.segments
    events: list[EventEntry] = recorder.events
    assert [s.text for s in segments] == ["t2", "t3", "t4"]  # the newest survive
    assert [e.payload["n"] for e in events] == [2, 3, 4]
    assert counters.flush_failures == 1 and counters.flushes == 1
