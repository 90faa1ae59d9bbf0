"""ToolDispatcher: lookup by stage, JSON decoding, JSON Schema validation, timeouts, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from calls.bridge.config import StageSpec, ToolSpec
from calls.bridge.frames import ToolCall
from calls.bridge.ports import ToolContext, ToolExecutionError
from calls.bridge.tools import END_CALL_TOOL, EndCall, SwitchStage, ToolDispatcher, ToolOutput, TransferCall
from tests.bridge.conftest import MemoryTools

BOOK = ToolSpec(
    name="book_appointment",
    description="Book a slot.",
    parameters={
        "type": "object",
        "properties": {
            "date": {"type": "string", "format": "date"},
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "note": {"type": "string"},
        },
        "required": ["date", "hour"],
        "additionalProperties": False,
    },
    timeout_s=0.5,
)
VERIFY = ToolSpec(
    name="verify_caller",
    description="Check a PIN.",
    parameters={"type": "object", "properties": {"digits": {"type": "string"}}, "required": ["digits"]},
)
SLOW = ToolSpec(
    name="slow", description="Never answers in time.", parameters={"type": "object"}, timeout_s=0.05
)
BROKEN = ToolSpec(name="broken", description="Bad schema.", parameters={"type": "object", "properties": 5})
STAGES = {
    "verification": StageSpec(name="verification", system_prompt="Verify.", tools=(VERIFY,)),
    "main": StageSpec(name="main", system_prompt="Help.", tools=(BOOK, SLOW, BROKEN, END_CALL_TOOL)),
}


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.recorded.append((kind, payload))


def make_dispatcher(tools: MemoryTools) -> tuple[ToolDispatcher, Events]:
    events = Events()
    context = ToolContext(call_id="c1", tenant_id=3, stage="main", variables={"x": "y"})
    return ToolDispatcher(tools, context=context, stages=STAGES, record_event=events), events


async def booked(arguments: dict[str, Any], context: ToolContext) -> Any:
    return {"booked": True, "date": arguments["date"], "stage": context.stage}


def error_of(output: str) -> dict[str, Any]:
    body = json.loads(output)
    assert set(body) == {"error"}
    return body["error"]


async def test_valid_call_runs_with_context_and_records_event() -> None:
    tools = MemoryTools({"book_appointment": booked})
    dispatcher, events = make_dispatcher(tools)
    answer = await dispatcher.dispatch(
        ToolCall("t1", "book_appointment", '{"date": "2026-05-01", "hour": 15}'), STAGES["main"]
    )
    assert answer.outcome == "ok"
    assert not answer.result.is_error
    assert json.loads(answer.result.output) == {"booked": True, "date": "2026-05-01", "stage": "main"}
    name, arguments, context = tools.calls[0]
    assert (name, arguments) == ("book_appointment", {"date": "2026-05-01", "hour": 15})
    assert (context.tenant_id, context.call_id, context.variables) == (3, "c1", {"x": "y"})
    kind, payload = events.recorded[0]
    assert kind == "tool_call"
    assert payload["outcome"] == "ok"
    assert payload["arguments"] == {"date": "2026-05-01", "hour": 15}
    assert "result" in payload and "error" not in payload
    assert payload["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("arguments", "path_fragment"),
    [
        ('{"date": "2026-05-01", "hour": "three"}', "$.hour"),  # wrong type
        ('{"date": "2026-05-01"}', "$"),  # missing field
        ('{"date": "2026-05-01", "hour": 3, "extra": 1}', "$"),  # additionalProperties false
        ('{"date": "2026-05-01", "hour": 99}', "$.hour"),  # out of range
        (json.dumps({"date": "2026-05-01", "hour": 3, "note": "x" * 5000}), "$.note"),  # huge string
    ],
)
async def test_invalid_arguments_give_structured_errors(arguments: str, path_fragment: str) -> None:
    tools = MemoryTools({"book_appointment": booked})
    dispatcher, events = make_dispatcher(tools)
    answer = await dispatcher.dispatch(ToolCall("t1", "book_appointment", arguments), STAGES["main"])
    assert answer.outcome == "invalid_arguments"
    assert answer.result.is_error
    error = error_of(answer.result.output)
    assert error["type"] == "invalid_arguments"
    assert error["details"] and any(detail["path"].startswith(path_fragment) for detail in error["details"])
    assert tools.calls == []  # nothing ran
    assert events.recorded[0][1]["outcome"] == "invalid_arguments"


@pytest.mark.parametrize(
    ("arguments", "kind"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_arguments"),
        ("x" * 20000, "invalid_arguments"),  # over the size cap: not even parsed
        ("[" * 5000 + "]" * 5000, "invalid_json"),  # recursion in the parser
    ],
)
async def test_undecodable_arguments(arguments: str, kind: str) -> None:
    dispatcher, _ = make_dispatcher(MemoryTools({"book_appointment": booked}))
    answer = await dispatcher.dispatch(ToolCall("t1", "book_appointment", arguments), STAGES["main"])
    assert answer.outcome == kind
    assert error_of(answer.result.output)["type"] == kind


async def test_unknown_tool_and_tool_of_another_stage() -> None:
    dispatcher, _ = make_dispatcher(MemoryTools({"verify_caller": booked}))
    unknown = await dispatcher.dispatch(ToolCall("t1", "launch_rockets", "{}"), STAGES["main"])
    assert unknown.outcome == "unknown_tool"
    assert "book_appointment" in error_of(unknown.result.output)["message"]
    other_stage = await dispatcher.dispatch(
        ToolCall("t2", "verify_caller", '{"digits": "1"}'), STAGES["main"]
    )
    assert other_stage.outcome == "tool_not_in_stage"
    assert error_of(other_stage.result.output)["type"] == "tool_not_in_stage"


async def test_timeout_and_failures_become_structured_errors() -> None:
    async def slow(arguments: dict[str, Any], context: ToolContext) -> Any:
        await asyncio.Event().wait()

    async def refuse(arguments: dict[str, Any], context: ToolContext) -> Any:
        raise ToolExecutionError("The calendar is full that day.")

    async def crash(arguments: dict[str, Any], context: ToolContext) -> Any:
        raise RuntimeError("secret internal detail")

    tools = MemoryTools({"slow": slow, "book_appointment": refuse})
    dispatcher, _ = make_dispatcher(tools)
    timed_out = await dispatcher.dispatch(ToolCall("t1", "slow", "{}"), STAGES["main"])
    assert timed_out.outcome == "timeout"
    assert "0.05" in error_of(timed_out.result.output)["message"]

    refused = await dispatcher.dispatch(
        ToolCall("t2", "book_appointment", {"date": "d", "hour": 1}), STAGES["main"]
    )
    assert refused.outcome == "tool_error"
    assert error_of(refused.result.output)["message"] == "The calendar is full that day."

    tools.handlers["book_appointment"] = crash
    crashed = await dispatcher.dispatch(
        ToolCall("t3", "book_appointment", {"date": "d", "hour": 1}), STAGES["main"]
    )
    assert crashed.outcome == "internal_error"
    assert "secret" not in crashed.result.output  # internals are logged, not shown to the model


async def test_misconfigured_schema_is_reported_not_raised() -> None:
    dispatcher, _ = make_dispatcher(MemoryTools())
    answer = await dispatcher.dispatch(ToolCall("t1", "broken", "{}"), STAGES["main"])
    assert answer.outcome == "misconfigured_tool"


async def test_unserialisable_result_is_an_internal_error() -> None:
    async def circular(arguments: dict[str, Any], context: ToolContext) -> Any:
        loop: list[Any] = []
        loop.append(loop)
        return loop

    dispatcher, _ = make_dispatcher(MemoryTools({"book_appointment": circular}))
    answer = await dispatcher.dispatch(
        ToolCall("t1", "book_appointment", {"date": "d", "hour": 1}), STAGES["main"]
    )
    assert answer.outcome == "internal_error"


async def test_directives_pass_through() -> None:
    async def transfer(arguments: dict[str, Any], context: ToolContext) -> Any:
        return ToolOutput(
            {"transferring": True}, TransferCall("<Response><Dial>+15557778888</Dial></Response>")
        )

    async def verified(arguments: dict[str, Any], context: ToolContext) -> Any:
        return ToolOutput({"verified": True}, SwitchStage("main"), speak=False)

    dispatcher, _ = make_dispatcher(MemoryTools({"book_appointment": transfer, "verify_caller": verified}))
    answer = await dispatcher.dispatch(
        ToolCall("t1", "book_appointment", {"date": "d", "hour": 1}), STAGES["main"]
    )
    assert answer.directive == TransferCall("<Response><Dial>+15557778888</Dial></Response>")
    assert json.loads(answer.result.output) == {"transferring": True}
    switch = await dispatcher.dispatch(
        ToolCall("t2", "verify_caller", {"digits": "1234"}), STAGES["verification"]
    )
    assert switch.directive == SwitchStage("main")
    assert switch.result.speak is False


async def test_builtin_end_call_never_reaches_the_executor() -> None:
    tools = MemoryTools()
    dispatcher, _ = make_dispatcher(tools)
    answer = await dispatcher.dispatch(
        ToolCall("t1", "end_call", '{"reason": "caller said bye"}'), STAGES["main"]
    )
    assert answer.directive == EndCall("caller said bye")
    assert answer.result.speak is False
    assert tools.calls == []
    # available in a stage that does not declare it, with empty arguments
    bare = await dispatcher.dispatch(ToolCall("t2", "end_call", ""), STAGES["verification"])
    assert bare.directive == EndCall("agent_hangup")
    bad = await dispatcher.dispatch(ToolCall("t3", "end_call", '{"why": 1}'), STAGES["main"])
    assert bad.outcome == "invalid_arguments" and bad.directive is None


async def test_redacted_arguments_are_not_recorded() -> None:
    dispatcher, events = make_dispatcher(MemoryTools({"verify_caller": booked}))
    await dispatcher.dispatch(
        ToolCall("k1", "verify_caller", {"digits": "9876"}), STAGES["verification"], redact_arguments=True
    )
    assert "9876" not in json.dumps(events.recorded[0][1]["arguments"])
