"""CallSession tool loop, directives and keypad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from calls.bridge.config import StageSpec, ToolSpec
from calls.bridge.frames import ToolCall
from calls.bridge.ports import ToolContext
from calls.bridge.tools import END_CALL_TOOL, SwitchStage, ToolOutput, TransferCall
from tests.bridge.conftest import MakeCall, MemoryTools, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Find an order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "pattern": "^[0-9]{4}$"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
    timeout_s=2.0,
)
TRANSFER = ToolSpec(name="transfer_to_human", description="Transfer.", parameters={"type": "object"})
VERIFY = ToolSpec(
    name="verify_caller",
    description="Check the caller's PIN.",
    parameters={"type": "object", "properties": {"digits": {"type": "string"}}, "required": ["digits"]},
)
MAIN = StageSpec(name="main", system_prompt="Help.", tools=(LOOKUP, TRANSFER, END_CALL_TOOL))
VERIFICATION = StageSpec(name="verification", system_prompt="Verify.", tools=(VERIFY,))


async def test_tool_runs_concurrently_with_audio_and_is_answered(make_call: MakeCall) -> None:
    release = asyncio.Event()

    async def lookup(arguments: dict[str, Any], context: ToolContext) -> Any:
        await release.wait()  # a slow backend
        return {"order_id": arguments["order_id"], "status": "shipped"}

    engine = ScriptedEngine()
    call = await make_call(
        engine=engine, config=make_config(tools=MAIN.tools), tools=MemoryTools({"lookup_order": lookup})
    )
    call.start()
    engine.emit(ToolCall("call_1", "lookup_order", '{"order_id": "1234"}'))
    await engine.wait_for(lambda: call.tools.calls)
    # while the tool is busy, the agent keeps talking and the caller keeps hearing it
    engine.emit(*agent_speech(200, "filler"))
    await call.caller.wait_for(lambda: any(not echo.cleared for echo in call.caller.mark_echoes), 2.0)
    assert engine.tool_results == []
    release.set()
    await engine.wait_for(lambda: engine.tool_results)
    call_id, result = engine.tool_results[0]
    assert call_id == "call_1" and not result.is_error
    assert json.loads(result.output) == {"order_id": "1234", "status": "shipped"}
    assert call.tools.calls[0][2].stage == "main"
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.counters.tool_calls == 1 and outcome.counters.tool_errors == 0
    event = call.recorder.events_of("tool_call")[0]
    assert event.payload["outcome"] == "ok" and event.payload["name"] == "lookup_order"
    assert not call.leftover_tasks()


async def test_invalid_arguments_answer_a_structured_error_and_the_call_goes_on(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine, config=make_config(tools=MAIN.tools))
    call.start()
    engine.emit(
        ToolCall("bad_1", "lookup_order", '{"order_id": 1234, "extra": true}'),
        ToolCall("bad_2", "lookup_order", "{oops"),
        ToolCall("bad_3", "verify_caller", '{"digits": "1"}'),
    )
    await engine.wait_for(lambda: len(engine.tool_results) == 3)
    errors = {call_id: json.loads(result.output)["error"] for call_id, result in engine.tool_results}
    assert errors["bad_1"]["type"] == "invalid_arguments" and errors["bad_1"]["details"]
    assert errors["bad_2"]["type"] == "invalid_json"
    assert errors["bad_3"]["type"] == "unknown_tool"
    assert all(result.is_error for _, result in engine.tool_results)
    assert call.tools.calls == []
    engine.emit(*agent_speech(100, "sorry"))  # the call continues normally
    await call.caller.wait_for(lambda: call.caller.mark_echoes, 2.0)
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.end_reason == "caller_hangup"
    assert outcome.counters.tool_errors == 3


async def test_end_call_waits_for_the_goodbye_to_be_heard(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine, config=make_config(tools=MAIN.tools), control_ends_stream=False)
    call.start()
    engine.emit(*agent_speech(400, "bye", done=False), ToolCall("end_1", "end_call", '{"reason": "done"}'))
    outcome = await call.outcome()
    assert outcome.end_reason == "agent_hangup"
    assert len(call.caller.played) == 400 * 8  # not cut short
    hang_up_at = call.control.hang_ups[0]
    assert len(call.control.hang_ups) == 1
    assert engine.tool_results[0][1].speak is False
    last_echo_ms = max(echo.at_ms for echo in call.caller.mark_echoes)
    assert last_echo_ms >= 380
    assert call.caller._started_at is not None and hang_up_at - call.caller._started_at >= 0.38
    assert call.recorder.events_of("end_call")[0].payload == {"reason": "done"}
    assert not call.leftover_tasks()


async def test_transfer_redirects_after_the_handover_line(make_call: MakeCall) -> None:
    twiml = "<Response><Dial>+15557778888</Dial></Response>"

    async def transfer(arguments: dict[str, Any], context: ToolContext) -> Any:
        return ToolOutput({"status": "transferring"}, TransferCall(twiml))

    engine = ScriptedEngine(reply_to_tool=lambda call_id, result: agent_speech(300, "handover"))
    call = await make_call(
        engine=engine,
        config=make_config(tools=MAIN.tools),
        tools=MemoryTools({"transfer_to_human": transfer}),
    )
    call.start()
    engine.emit(ToolCall("t1", "transfer_to_human", "{}"))
    outcome = await call.outcome()
    assert outcome.end_reason == "transferred"
    assert call.control.redirects == [twiml]
    assert call.control.hang_ups == []
    assert len(call.caller.played) == 300 * 8  # the handover line was heard first
    assert call.recorder.events_of("transferred")
    assert not call.leftover_tasks()


async def test_switch_stage_directive_changes_the_stage(make_call: MakeCall) -> None:
    async def verify(arguments: dict[str, Any], context: ToolContext) -> Any:
        return ToolOutput({"verified": True}, SwitchStage("main"))

    engine = ScriptedEngine()
    config = make_config(stages={"verification": VERIFICATION, "main": MAIN}, first_stage="verification")
    call = await make_call(engine=engine, config=config, tools=MemoryTools({"verify_caller": verify}))
    call.start()
    engine.emit(ToolCall("v1", "verify_caller", '{"digits": "2468"}'))
    await engine.wait_for(lambda: engine.tool_results)
    result = engine.tool_results[0][1]
    assert result.new_stage is not None and result.new_stage.name == "main"
    assert call.session.stage.name == "main"
    engine.emit(ToolCall("l1", "lookup_order", '{"order_id": "0001"}'))  # a main-stage tool is now allowed...
    await engine.wait_for(lambda: len(engine.tool_results) == 2)
    assert (
        json.loads(engine.tool_results[1][1].output)["error"]["type"] == "internal_error"
    )  # no handler: generic
    await call.caller.hang_up()
    outcome = await call.outcome()
    assert outcome.final_stage == "main"
    changed = call.recorder.events_of("stage_changed")[0].payload
    assert changed == {"from": "verification", "to": "main", "via": "tool:verify_caller"}


async def test_dtmf_is_forwarded_to_the_model_in_the_main_stage(make_call: MakeCall) -> None:
    engine = ScriptedEngine()
    call = await make_call(engine=engine)
    call.start()
    await engine.wait_for(lambda: engine.stages)
    await call.caller.send_dtmf("4")
    await engine.wait_for(lambda: engine.caller_texts)
    assert engine.caller_texts == ["The caller pressed 4."]
    await call.caller.hang_up()
    await call.outcome()
    assert call.recorder.events_of("dtmf")[0].payload == {"digit": "4"}


async def test_dtmf_pin_goes_to_verify_caller_never_to_the_model(make_call: MakeCall) -> None:
    async def verify(arguments: dict[str, Any], context: ToolContext) -> Any:
        ok = arguments["digits"] == "1234"
        return ToolOutput(
            {"verified": ok, "note": f"checked {arguments['digits']}"}, SwitchStage("main") if ok else None
        )

    engine = ScriptedEngine()
    config = make_config(stages={"verification": VERIFICATION, "main": MAIN}, first_stage="verification")
    call = await make_call(engine=engine, config=config, tools=MemoryTools({"verify_caller": verify}))
    call.start()
    await engine.wait_for(lambda: engine.stages)
    for digit in "1234#":
        await call.caller.send_dtmf(digit)
    await engine.wait_for(lambda: engine.caller_texts)

    assert call.tools.calls[0][1] == {"digits": "1234"}
    assert len(engine.caller_texts) == 1
    text = engine.caller_texts[0]
    assert "Verification result" in text and '"verified": true' in text
    assert "1234" not in text  # the model learns the outcome, never the code
    assert engine.stages[-1].name == "main" and call.session.stage.name == "main"
    await call.caller.hang_up()
    await call.outcome()
    assert all(event.payload == {"redacted": True} for event in call.recorder.events_of("dtmf"))
    assert len(call.recorder.events_of("dtmf")) == 5
    assert "1234" not in json.dumps([event.payload for event in call.recorder.events])
    assert call.recorder.events_of("stage_changed")[0].payload["via"] == "keypad"


async def test_dtmf_entry_ends_after_a_pause(make_call: MakeCall) -> None:
    async def verify(arguments: dict[str, Any], context: ToolContext) -> Any:
        return {"verified": False}

    engine = ScriptedEngine(can_switch_stage=False)
    config = make_config(stages={"verification": VERIFICATION, "main": MAIN}, first_stage="verification")
    call = await make_call(
        engine=engine,
        config=config,
        tools=MemoryTools({"verify_caller": verify}),
        dtmf_interdigit_timeout_s=0.2,
    )
    call.start()
    await engine.wait_for(lambda: engine.stages)
    await call.caller.send_dtmf("5")
    await call.caller.send_dtmf("6")
    await engine.wait_for(lambda: engine.caller_texts, 2.0)  # no '#': the pause ends the entry
    assert call.tools.calls[0][1] == {"digits": "56"}
    assert '"verified": false' in engine.caller_texts[0]
    assert call.session.stage.name == "verification"
    await call.caller.hang_up()
    await call.outcome()
