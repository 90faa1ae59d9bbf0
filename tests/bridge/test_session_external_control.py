"""An operator ends or transfers a live call from outside the session (``request_end`` /
``request_transfer``): the session acts at once, through its usual shutdown."""

from __future__ import annotations

import asyncio

from calls.bridge.frames import EngineHangUp
from tests.bridge.conftest import MakeCall
from tests.bridge.test_session_control import live_call, start_session
from tests.fakes.engines import ScriptedEngine, agent_speech

TWIML = "<Response><Dial>+15557778888</Dial></Response>"


class FailingRedirect:
    """``CallControl`` whose redirect fails (Twilio refused it); hang-ups are recorded."""

    def __init__(self) -> None:
        self.hang_ups = 0

    async def hang_up(self) -> None:
        self.hang_ups += 1

    async def redirect(self, twiml: str) -> None:
        raise ConnectionError("Twilio answered 500")


async def test_request_end_hangs_up_at_once_even_while_the_agent_speaks(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(greeting=agent_speech(5000, "long", done=False)))
    call.start()
    await call.caller.wait_for(lambda: len(call.caller.played) >= 800)  # the greeting is playing
    asked_at = asyncio.get_running_loop().time()
    assert call.session.request_end(requested_by="editor@example.com") is True
    outcome = await call.outcome()
    took = asyncio.get_running_loop().time() - asked_at
    assert outcome.end_reason == "agent_hangup"
    assert took < 1.5  # not after the 5 s utterance
    assert len(call.control.hang_ups) == 1  # a phone call is really ended
    assert call.control.redirects == []
    assert call.engine.closed
    (event,) = call.recorder.events_of("operator_hangup")
    assert event.payload == {"requested_by": "editor@example.com"}
    assert call.recorder.events_of("call_ended")[0].payload == {"reason": "agent_hangup"}
    assert call.leftover_tasks() == set()


async def test_request_transfer_redirects_without_waiting_for_a_handover_line(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(greeting=agent_speech(3000, "long", done=False)))
    call.start()
    await call.caller.wait_for(lambda: len(call.caller.played) >= 400)
    assert call.session.request_transfer(TWIML, requested_by="owner") is True
    outcome = await call.outcome()
    assert outcome.end_reason == "transferred"
    assert call.control.redirects == [TWIML]
    assert call.control.hang_ups == []  # the caller stays on the line, with a human
    assert [e.type for e in call.recorder.events if e.type.startswith(("operator", "transferred"))] == [
        "operator_transfer",
        "transferred",
    ]
    assert call.recorder.events_of("operator_transfer")[0].payload == {"requested_by": "owner"}
    assert call.leftover_tasks() == set()


async def test_a_failed_transfer_ends_the_call_properly(make_call: MakeCall) -> None:
    call = await make_call(control_ends_stream=False)
    control = FailingRedirect()
    call.session.control = control
    call.start()
    await call.engine.wait_for(lambda: call.engine.stages)  # the engine is connected
    assert call.session.request_transfer(TWIML)
    outcome = await call.outcome()
    assert outcome.end_reason == "agent_hangup"
    assert outcome.error == "transfer failed"
    assert control.hang_ups == 1  # nobody took the caller: the phone call is hung up
    (error,) = call.recorder.events_of("error")
    assert error.payload["source"] == "control" and "Twilio answered 500" in error.payload["message"]
    assert call.recorder.events_of("transferred") == []


async def test_a_request_made_before_run_is_handled_once_the_call_runs(make_call: MakeCall) -> None:
    call = await make_call()
    assert call.session.request_end("early")
    call.start()
    outcome = await call.outcome()
    assert outcome.end_reason == "agent_hangup"
    assert len(call.recorder.events_of("operator_hangup")) == 1


async def test_requests_after_the_call_decided_its_end_are_refused(make_call: MakeCall) -> None:
    call = await make_call(engine=ScriptedEngine(greeting=[*agent_speech(100, "bye"), EngineHangUp()]))
    call.start()
    outcome = await call.outcome()
    assert outcome.end_reason == "agent_hangup"
    assert call.session.request_end() is False
    assert call.session.request_transfer(TWIML) is False
    assert call.recorder.events_of("operator_hangup") == []
    assert call.control.redirects == []


async def test_repeated_requests_end_the_call_once(make_call: MakeCall) -> None:
    call = await make_call()
    call.start()
    await call.engine.wait_for(lambda: call.engine.stages)
    accepted = [call.session.request_end("double click") for _ in range(20)]
    assert accepted[0] and accepted.count(True) <= 8  # bounded queue
    outcome = await call.outcome()
    assert outcome.end_reason == "agent_hangup"
    assert len(call.control.hang_ups) == 1
    assert len(call.recorder.events_of("operator_hangup")) == 1


async def test_operator_requests_over_twilios_rest_api() -> None:
    """End to end on the wire: the hang-up is Twilio's ``Status=completed``, the transfer its
    ``Twiml`` redirect, each ending the fake media stream like Twilio does."""
    async with live_call() as (rest, caller, client):
        session = await start_session(rest, caller, client, ScriptedEngine(greeting=agent_speech(400, "hi")))
        task = asyncio.create_task(session.run())
        await caller.wait_for(lambda: len(caller.played) >= 160)
        session.request_end("operator")
        outcome = await asyncio.wait_for(task, 5)
        await caller.wait_for(lambda: caller.closed.is_set(), 2.0)
    assert outcome.end_reason == "agent_hangup"
    assert rest.calls[caller.call_sid].status == "completed"
    assert rest.requests[-1].form == {"Status": "completed"}

    async with live_call() as (rest, caller, client):
        session = await start_session(rest, caller, client, ScriptedEngine(greeting=agent_speech(400, "hi")))
        task = asyncio.create_task(session.run())
        await caller.wait_for(lambda: len(caller.played) >= 160)
        session.request_transfer(TWIML, "operator")
        outcome = await asyncio.wait_for(task, 5)
        await caller.wait_for(lambda: caller.closed.is_set(), 2.0)
    assert outcome.end_reason == "transferred"
    assert rest.calls[caller.call_sid].twiml == TWIML
    assert rest.calls[caller.call_sid].history == ["redirect"]
