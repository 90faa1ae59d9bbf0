"""Engine failure with a failover TwiML: the live call is redirected (a fallback line, then a human)
instead of being left to the TwiML after <Connect>; never silence, never a dropped caller."""

from __future__ import annotations

from calls.bridge.engines.base import EngineError
from calls.bridge.frames import Transcript
from tests.bridge.conftest import MakeCall, MemoryControl
from tests.fakes.engines import ScriptedEngine, agent_speech, tone

FAILOVER = "<Response><Say>One moment.</Say><Dial>+15557778888</Dial></Response>"


class FailingRedirectControl(MemoryControl):
    async def redirect(self, twiml: str) -> None:
        self.redirects.append(twiml)
        raise RuntimeError("Twilio REST 500")


async def test_engine_failure_redirects_the_call_to_the_failover(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine, failover_twiml=FAILOVER, fallback_audio=tone(200))
    call.start()
    engine.emit(Transcript("agent", "Hello, how can I help?", True, 0), *agent_speech(1000, "hello"))
    await call.caller.wait_for(lambda: len(call.caller.played) >= 800, 2.0)
    engine.fail("upstream closed with 1011")
    outcome = await call.outcome()

    assert call.control.redirects == [FAILOVER]
    assert call.control.hang_ups == []  # Twilio runs the failover TwiML: nothing to hang up
    assert outcome.end_reason == "transferred"
    assert outcome.failed_over_from == "engine_error"
    assert outcome.error == "upstream closed with 1011"
    assert not bytes(call.caller.played).endswith(tone(200))  # the TwiML says the line instead
    assert call.caller.closed.is_set()
    assert [e.payload for e in call.recorder.events_of("failover")] == [{"from": "engine_error"}]
    ended = call.recorder.events_of("call_ended")[0].payload
    assert ended["reason"] == "transferred" and ended["failed_over_from"] == "engine_error"
    assert [(s.speaker, s.text) for s in call.recorder.segments] == [("agent", "Hello, how can I help?")]
    assert not call.leftover_tasks()


async def test_engine_connect_failure_fails_over_too(make_call: MakeCall) -> None:
    engine = ScriptedEngine(connect_error=EngineError("401 invalid API key"))
    call = await make_call(engine=engine, failover_twiml=FAILOVER)
    call.start()
    outcome = await call.outcome()
    assert call.control.redirects == [FAILOVER]
    assert (outcome.end_reason, outcome.failed_over_from) == ("transferred", "engine_error")
    assert call.engine.closed
    assert not call.leftover_tasks()


async def test_a_failed_redirect_falls_back_to_the_fallback_line_and_hang_up(make_call: MakeCall) -> None:
    engine = ScriptedEngine(connect_error=OSError("refused"))
    fallback = tone(200)
    call = await make_call(
        engine=engine, failover_twiml=FAILOVER, fallback_audio=fallback, control_ends_stream=False
    )
    call.control = FailingRedirectControl()
    call.session.control = call.control
    call.start()
    outcome = await call.outcome()
    assert call.control.redirects == [FAILOVER]
    assert outcome.end_reason == "engine_error" and outcome.failed_over_from is None
    assert bytes(call.caller.played).endswith(fallback)  # heard the fallback line instead
    assert len(call.control.hang_ups) == 1
    errors = [e.payload for e in call.recorder.events_of("error") if e.payload["source"] == "control"]
    assert errors and "failover redirect failed" in errors[0]["message"]
    assert not call.leftover_tasks()


async def test_no_failover_when_the_caller_hung_up_or_the_agent_ended(make_call: MakeCall) -> None:
    hung_up = await make_call(failover_twiml=FAILOVER)
    hung_up.start()
    await hung_up.engine.wait_for(lambda: hung_up.engine.audio_chunks > 3)
    await hung_up.caller.hang_up()
    assert (await hung_up.outcome()).end_reason == "caller_hangup"
    assert hung_up.control.redirects == []

    engine = ScriptedEngine()
    failing = await make_call(engine=engine, failover_twiml=FAILOVER)
    failing.start()
    await failing.engine.wait_for(lambda: failing.engine.audio_chunks > 3)
    await failing.caller.hang_up()
    engine.fail("too late")  # the caller is gone already: nobody to transfer
    assert (await failing.outcome()).end_reason == "caller_hangup"
    assert failing.control.redirects == []
