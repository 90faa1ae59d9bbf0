"""``DialoguePolicy``: the right tool per intent, with arguments valid against the tool's own
JSON Schema (parameter names differ between tenants, so two schema styles are used)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from calls.bridge.config import ToolSpec
from calls.bridge.engines.local.policy import DialoguePolicy, Reply
from calls.bridge.engines.pipeline.components import Message, TextDelta, ToolCallRequest

NOW = datetime(2030, 1, 7, 9, 30)  # a Monday


def tool(name: str, properties: dict[str, Any], required: list[str] | None = None) -> ToolSpec:
    schema = {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }
    return ToolSpec(name, f"The {name} tool.", schema)


KB = tool("query_knowledge_base", {"query": {"type": "string", "minLength": 1}}, ["query"])
END = tool("end_call", {"reason": {"type": "string", "maxLength": 200}})
TRANSFER = tool("transfer_to_human", {"reason": {"type": "string"}})
CHECK = tool("check_availability", {"date": {"type": "string", "format": "date"}}, ["date"])
SCHEDULE = tool(
    "schedule_meeting",
    {"start": {"type": "string", "format": "date-time"}, "duration_minutes": {"type": "integer"}},
    ["start"],
)
CANCEL = tool("cancel_meeting", {"booking_id": {"type": "string"}}, ["booking_id"])
# Another tenant's calendar tools: other names, other shapes.
CHECK_B = tool("check_availability", {"day": {"type": "string"}, "time": {"type": "string"}}, ["day", "time"])
SCHEDULE_B = tool(
    "schedule_meeting",
    {"slot": {"type": "string", "format": "date-time"}, "customer_name": {"type": "string"}},
    ["slot", "customer_name"],
)
MAIN_TOOLS = (KB, END, TRANSFER, CHECK, SCHEDULE, CANCEL)
VERIFY_DIGITS = tool("verify_caller", {"digits": {"type": "string", "pattern": "^[0-9]{4,8}$"}}, ["digits"])
VERIFY_DOB = tool(
    "verify_caller",
    {"pin": {"type": "string"}, "date_of_birth": {"type": "string", "format": "date"}},
    ["date_of_birth"],
)


def policy() -> DialoguePolicy:
    return DialoguePolicy(clock=lambda: NOW)


def conversation(*user_turns: str) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": "You are Acme's front desk."}]
    for text in user_turns:
        messages.append({"role": "user", "content": text})
    return messages


def answer_tools(messages: list[Message], reply: Reply, outputs: list[Any]) -> list[Message]:
    """Append the assistant tool-call message and the tool results, as PipelineEngine does."""
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(reply.tool_calls)
    ]
    out = [*messages, {"role": "assistant", "content": reply.text or None, "tool_calls": calls}]
    for call, output in zip(calls, outputs, strict=True):
        out.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(output)})
    return out


def assert_valid(reply: Reply, tools: tuple[ToolSpec, ...]) -> None:
    specs = {t.name: t for t in tools}
    for name, arguments in reply.tool_calls:
        validator = Draft202012Validator(
            specs[name].parameters, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = [e.message for e in validator.iter_errors(arguments)]
        assert not errors, (name, arguments, errors)


@pytest.mark.parametrize(
    ("said", "tool_name"),
    [
        ("no thank you goodbye", "end_call"),
        ("can i speak to a human", "transfer_to_human"),
        ("what are your opening hours", "query_knowledge_base"),
        ("is the store open on sunday", "query_knowledge_base"),
    ],
)
def test_intent_picks_the_tool_with_valid_arguments(said: str, tool_name: str) -> None:
    reply = policy().decide(conversation(said), MAIN_TOOLS)
    assert [name for name, _ in reply.tool_calls] == [tool_name]
    assert_valid(reply, MAIN_TOOLS)
    if tool_name == "query_knowledge_base":
        assert reply.tool_calls[0][1] == {"query": said}
    if tool_name == "end_call":
        assert "goodbye" in reply.text.lower()  # said before the call ends


def test_knowledge_base_answer_speaks_the_top_passage_shortly() -> None:
    messages = conversation("what are your opening hours")
    reply = policy().decide(messages, MAIN_TOOLS)
    hours = "We are open nine to five on weekdays. On Saturdays we open at ten. Sundays we are closed."
    passages = {"results": [{"text": hours}, {"text": "Parking is free."}]}
    spoken = policy().decide(answer_tools(messages, reply, [passages]), MAIN_TOOLS)
    assert spoken.tool_calls == []
    assert spoken.text.startswith("We are open nine to five on weekdays. On Saturdays we open at ten.")
    assert "Sundays" not in spoken.text and "Parking" not in spoken.text
    empty = policy().decide(answer_tools(messages, reply, [{"results": []}]), MAIN_TOOLS)
    assert "couldn't find" in empty.text


def test_booking_fills_slots_then_checks_and_schedules() -> None:
    brain = policy()
    messages = conversation("I'd like to book an appointment")
    ask = brain.decide(messages, MAIN_TOOLS)
    assert ask.tool_calls == [] and "day and time" in ask.text
    messages += [
        {"role": "assistant", "content": ask.text},
        {"role": "user", "content": "tomorrow at three pm"},
    ]
    check = brain.decide(messages, MAIN_TOOLS)
    assert check.tool_calls == [("check_availability", {"date": "2030-01-08"})]
    messages = answer_tools(messages, check, [{"available": True, "slots": ["2030-01-08T15:00:00"]}])
    schedule = brain.decide(messages, MAIN_TOOLS)
    assert schedule.tool_calls == [
        ("schedule_meeting", {"start": "2030-01-08T15:00:00", "duration_minutes": 30})
    ]
    assert_valid(schedule, MAIN_TOOLS)
    messages = answer_tools(messages, schedule, [{"booking_id": "bk-9"}])
    done = brain.decide(messages, MAIN_TOOLS)
    assert "tomorrow at 3 PM" in done.text


def test_booking_with_another_schema_offers_alternatives_and_asks_for_a_name() -> None:
    tools = (KB, CHECK_B, SCHEDULE_B)
    brain = policy()
    messages = conversation("book an appointment on friday at ten")
    check = brain.decide(messages, tools)
    assert check.tool_calls == [("check_availability", {"day": "2030-01-11", "time": "10:00"})]
    messages = answer_tools(messages, check, [{"available": False, "slots": ["14:00", "16:30"]}])
    offer = brain.decide(messages, tools)
    assert "Friday, January 11 at 2 PM or Friday, January 11 at 4:30 PM" in offer.text
    messages += [{"role": "assistant", "content": offer.text}, {"role": "user", "content": "the first one"}]
    ask_name = brain.decide(messages, tools)
    assert ask_name.tool_calls == [] and "name" in ask_name.text
    messages += [{"role": "assistant", "content": ask_name.text}, {"role": "user", "content": "john smith"}]
    schedule = brain.decide(messages, tools)
    assert schedule.tool_calls == [
        ("schedule_meeting", {"slot": "2030-01-11T14:00:00", "customer_name": "John Smith"})
    ]
    assert_valid(schedule, tools)


def test_cancel_uses_the_booking_id_from_history_or_asks() -> None:
    brain = policy()
    asked = brain.decide(conversation("I need to cancel my reservation"), MAIN_TOOLS)
    assert asked.tool_calls == [] and "booking id" in asked.text
    messages = conversation("book tomorrow at 3 pm")
    messages = answer_tools(messages, Reply("", [("schedule_meeting", {})]), [{"booking_id": "bk-9"}])
    messages.append({"role": "user", "content": "actually cancel that"})
    cancel = brain.decide(messages, MAIN_TOOLS)
    assert cancel.tool_calls == [("cancel_meeting", {"booking_id": "bk-9"})]


def test_verification_parses_spoken_digits_and_dates_per_schema() -> None:
    brain = policy()
    asked = brain.decide(conversation("hello"), (VERIFY_DIGITS,))
    assert asked.tool_calls == [] and "PIN" in asked.text
    pin = brain.decide(conversation("one two three four"), (VERIFY_DIGITS,))
    assert pin.tool_calls == [("verify_caller", {"digits": "1234"})]
    assert_valid(pin, (VERIFY_DIGITS,))
    dob = brain.decide(conversation("my date of birth is the fourth of july nineteen eighty"), (VERIFY_DOB,))
    assert dob.tool_calls == [("verify_caller", {"date_of_birth": "1980-07-04"})]
    assert_valid(dob, (VERIFY_DOB,))
    ok = brain.decide(answer_tools(conversation("1234"), pin, [{"verified": True}]), MAIN_TOOLS)
    assert "verified" in ok.text
    bad = brain.decide(answer_tools(conversation("1234"), pin, [{"verified": False}]), (VERIFY_DIGITS,))
    assert "didn't match" in bad.text
    keypad = brain.decide(
        conversation('The caller entered a code on the keypad. Verification result: {"verified": true}'),
        MAIN_TOOLS,
    )
    assert "verified" in keypad.text and keypad.tool_calls == []


def test_tool_errors_transfer_and_fallbacks() -> None:
    brain = policy()
    messages = conversation("can I speak to a person")
    transfer = brain.decide(messages, MAIN_TOOLS)
    handover = brain.decide(answer_tools(messages, transfer, [{"transferring": True}]), MAIN_TOOLS)
    assert "transferring you" in handover.text  # said after the result, as the session expects
    messages = conversation("what are your opening hours")
    kb = brain.decide(messages, MAIN_TOOLS)
    error = {"error": {"type": "timeout", "message": "The knowledge base did not answer in time."}}
    assert "did not answer" in brain.decide(answer_tools(messages, kb, [error]), MAIN_TOOLS).text
    assert "not sure I can help" in brain.decide(conversation("what is the meaning of life"), (END,)).text
    assert brain.decide(conversation("can i speak to a human"), (END,)).tool_calls == []
    reminder = brain.decide(
        conversation('(The caller has said nothing for 30 seconds. Say exactly: "Are you still there?")'),
        MAIN_TOOLS,
    )
    assert reminder == Reply("Are you still there?")


async def test_stream_yields_small_text_deltas_then_tool_calls() -> None:
    events = [e async for e in policy().stream(conversation("no thank you goodbye"), MAIN_TOOLS)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    calls = [e for e in events if isinstance(e, ToolCallRequest)]
    assert len(deltas) > 1 and "".join(d.text for d in deltas) == "Thank you for calling. Goodbye!"
    assert len(calls) == 1 and calls[0].name == "end_call"
    assert json.loads(calls[0].arguments) == {"reason": "the caller said goodbye"}
    assert events.index(calls[0]) == len(events) - 1
