"""Every way a call ends: both sides closed fast, the phone call really ended, no task left."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from calls.bridge.config import SessionSettings
from calls.bridge.engines.base import EngineError
from calls.bridge.frames import AgentAudio, EngineHangUp, Transcript
from tests.bridge.conftest import FAST, MakeCall, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech, tone


def settings(**changes: Any) -> SessionSettings:
    values = {name: getattr(FAST, name) for name in SessionSettings.__dataclass_fields__}
    values.update(changes)
    return SessionSettings(**values)


async def test_caller_hangup_closes_the_engine_within_a_second(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(greeting=agent_speech(3000, "long")))
    call.start()
    await call.caller.wait_for(lambda: call.caller.mark_echoes, 2.0)
    hung_up_at = asyncio.get_running_loop().time()
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.end_reason == "caller_hangup"
    assert call.engine.closed_at is not None and call.engine.closed_at - hung_up_at < 1.0
    assert call.control.hang_ups == []  # the call is already over
    assert call.transport.closed
    assert not call.leftover_tasks()


async def test_socket_closing_without_stop_is_a_caller_hangup(make_call: MakeCall) -> None:
    call = await make_call()
    call.start()
    await call.engine.wait_for(lambda: call.engine.audio_chunks > 3)
    call.transport.feed_closed()  # the consumer's disconnect handler
    outcome = await call.outcome()
    assert outcome.end_reason == "caller_hangup"
    assert call.engine.closed
    assert not call.leftover_tasks()


async def test_engine_hangup_lets_the_agent_finish_then_hangs_up(make_call: MakeCall) -> None:
    engine = ScriptedEngine(greeting=[*agent_speech(300, "bye"), EngineHangUp("done")])
    call = await make_call(engine=engine, control_ends_stream=False)
    call.start()
    outcome = await call.outcome()
    caller = call.caller
    assert outcome.end_reason == "agent_hangup"
    assert len(caller.played) == 300 * 8  # the goodbye was heard to the end
    last_echo_ms = max(echo.at_ms for echo in caller.mark_echoes)
    assert len(call.control.hang_ups) == 1
    await caller.wait_for(lambda: caller.closed.is_set(), 1.0)
    assert caller.closed_by_server and caller.close_code == 1000  # our side closed the socket
    assert call.engine.closed
    assert last_echo_ms >= 280
    assert call.recorder.events_of("engine_hangup")[0].payload == {"reason": "done"}
    assert not call.leftover_tasks()


async def test_engine_failure_plays_the_fallback_and_keeps_the_transcript(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    fallback = tone(400, freq=660)
    call = await make_call(engine=engine, fallback_audio=fallback, control_ends_stream=False)
    call.start()
    engine.emit(
        Transcript("agent", "Hello, how can I help?", True, 0),
        Transcript("caller", "I need a plumber", True, 1),
        *agent_speech(2000, "answer", chunk_ms=200),
    )
    await call.caller.wait_for(lambda: len(call.caller.played) >= 800, 2.0)
    engine.fail("upstream closed with 1011")
    outcome = await call.outcome()

    caller = call.caller
    assert outcome.end_reason == "engine_error"
    assert outcome.error == "upstream closed with 1011"
    assert caller.clears  # the half-said answer was cut...
    assert bytes(caller.played).endswith(fallback)  # ...and the fallback line was heard in full
    fallback_mark = [e for e in caller.mark_echoes if "fallback" in e.name]
    assert fallback_mark and not fallback_mark[-1].cleared
    assert len(call.control.hang_ups) == 1
    assert caller.closed_by_server
    assert [(s.speaker, s.text) for s in call.recorder.segments] == [
        ("agent", "Hello, how can I help?"),
        ("caller", "I need a plumber"),
    ]
    errors = call.recorder.events_of("error")
    assert errors and errors[0].payload["message"] == "upstream closed with 1011"
    assert call.recorder.events_of("call_ended")[0].payload["reason"] == "engine_error"
    assert not call.leftover_tasks()


async def test_engine_connect_failure_plays_the_fallback(make_call: MakeCall) -> None:
    engine = ScriptedEngine(connect_error=EngineError("401 invalid API key"))
    call = await make_call(engine=engine, fallback_audio=tone(200), control_ends_stream=False)
    call.start()
    outcome = await call.outcome()
    assert outcome.end_reason == "engine_error"
    assert "401 invalid API key" in (outcome.error or "")
    assert len(call.caller.played) == 1600
    assert len(call.control.hang_ups) == 1
    assert call.engine.closed
    assert not call.leftover_tasks()


async def test_engine_connect_failure_without_fallback_audio_leaves_it_to_twiml(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(connect_error=OSError("refused")), control_ends_stream=False)
    call.start()
    outcome = await call.outcome()
    assert outcome.end_reason == "engine_error"
    # no REST hang-up: closing the socket lets Twilio run the <Say> fallback after <Connect>
    assert call.control.hang_ups == []
    await call.caller.wait_for(lambda: call.caller.closed.is_set(), 1.0)
    assert call.caller.closed_by_server
    assert not call.leftover_tasks()


async def test_engine_stream_ending_silently_is_an_engine_error(make_call: MakeCall) -> None:
    call = await make_call()
    call.start()
    await call.engine.wait_for(lambda: call.engine.stages)
    call.engine.end()
    outcome = await call.outcome()
    assert outcome.end_reason == "engine_error"
    assert not call.leftover_tasks()


async def test_max_duration(make_call: MakeCall) -> None:
    call = await make_call(
        config=make_config(session=settings(max_duration_s=0.3)), control_ends_stream=False
    )
    call.start()
    outcome = await call.outcome()
    assert outcome.end_reason == "max_duration"
    assert 280 <= outcome.duration_ms <= 1000
    assert len(call.control.hang_ups) == 1
    assert call.caller.closed_by_server
    assert not call.leftover_tasks()


async def test_silence_reminder_then_polite_hangup(make_call: MakeCall) -> None:
    replies = iter(["reminder", "goodbye"])
    engine = ScriptedEngine(reply_to_text=lambda text: agent_speech(200, next(replies)))
    config = make_config(session=settings(silence_timeout_s=0.3, silence_hangup_after_s=0.3))
    call = await make_call(engine=engine, config=config, control_ends_stream=False)
    call.start()
    outcome = await call.outcome()

    assert outcome.end_reason == "silence_timeout"
    assert len(engine.caller_texts) == 2
    assert '"Are you still there?"' in engine.caller_texts[0]
    assert "goodbye" in engine.caller_texts[1]
    names = [echo.name for echo in call.caller.mark_echoes if not echo.cleared]
    assert any(":reminder:" in name for name in names) and any(":goodbye:" in name for name in names)
    assert len(call.caller.played) == 2 * 1600  # both lines heard in full
    assert len(call.control.hang_ups) == 1
    reminder = call.recorder.events_of("silence_reminder")
    assert len(reminder) == 1 and reminder[0].at_ms >= 300
    assert not call.leftover_tasks()


async def test_caller_activity_answers_the_reminder(make_call: MakeCall) -> None:
    engine = ScriptedEngine(reply_to_text=lambda text: agent_speech(100, f"r{len(text)}"))
    config = make_config(session=settings(silence_timeout_s=0.3, silence_hangup_after_s=0.2))
    call = await make_call(engine=engine, config=config, control_ends_stream=False)
    call.start()
    await engine.wait_for(lambda: engine.caller_texts, 2.0)  # reminded once
    engine.emit(Transcript("caller", "yes I am here", True, 1))  # the caller answers
    await engine.wait_for(lambda: len(engine.caller_texts) >= 2, 2.0)
    # the second text is a fresh reminder (silence started over), not the goodbye
    assert "Are you still there?" in engine.caller_texts[1]
    outcome = await call.outcome()
    assert outcome.end_reason == "silence_timeout"


@pytest.mark.parametrize("garbage", ["not json", '{"event": "media"}', '{"event": "start"}'])
async def test_protocol_violation_closes_with_1008(make_call: MakeCall, garbage: str) -> None:
    call = await make_call()
    call.start()
    await call.engine.wait_for(lambda: call.engine.stages)
    await call.caller.send_raw(garbage)
    outcome = await call.outcome()
    assert outcome.end_reason == "protocol_error"
    assert call.transport.close_code == 1008
    assert call.caller.close_code == 1008
    assert call.engine.closed
    assert call.control.hang_ups == []
    assert call.recorder.events_of("error")[0].payload["source"] == "telephony"
    assert not call.leftover_tasks()


async def test_cancelling_run_still_closes_both_sides(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(greeting=agent_speech(200, "hi")))
    call.start()
    await call.caller.wait_for(lambda: call.caller.mark_echoes, 2.0)
    assert call.task is not None
    call.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call.task
    assert call.engine.closed
    assert call.transport.closed
    assert call.recorder.events_of("call_ended")[0].payload["reason"] == "internal_error"
    assert not call.leftover_tasks()


async def test_a_bug_in_the_session_ends_with_internal_error_and_the_fallback(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine, fallback_audio=tone(100), control_ends_stream=False)

    def broken(speaker: str, at_ms: int) -> None:
        raise RuntimeError("bug")

    call.session.journal.speech_started = broken  # type: ignore[method-assign]
    call.start()
    engine.emit(AgentAudio(tone(100), "x"))
    outcome = await call.outcome()
    assert outcome.end_reason == "internal_error"
    assert "bug" in (outcome.error or "")
    assert bytes(call.caller.played).endswith(tone(100))
    assert len(call.control.hang_ups) == 1
    assert not call.leftover_tasks()


async def test_engine_hangup_without_audio_done_still_ends_promptly(make_call: MakeCall) -> None:
    engine = ScriptedEngine(greeting=[*agent_speech(210, "bye", done=False), EngineHangUp()])
    call = await make_call(engine=engine, control_ends_stream=False)
    call.start()
    outcome = await call.outcome()
    assert outcome.end_reason == "agent_hangup"
    assert len(call.caller.played) == 210 * 8  # the held 10 ms tail was sent and heard too
    assert outcome.duration_ms < 450  # no extra wait for more audio from a finished engine
