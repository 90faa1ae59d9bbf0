"""Specs of the built-in tools, as the model sees them (name, description, JSON Schema).

Every schema is strict (``additionalProperties: false``, bounded strings) because the model's
arguments are validated against it before anything runs.
"""

from __future__ import annotations

from typing import Any

from agents.models import BuiltinTool
from calls.bridge.config import ToolSpec
from calls.bridge.tools import END_CALL_TOOL


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


VERIFY_CALLER = ToolSpec(
    name=BuiltinTool.VERIFY_CALLER,
    description=(
        "Verify the caller's identity. Pass the PIN or the date of birth exactly as the caller gave it, "
        "and the account number or full name if the caller gave one. Never read the PIN back."
    ),
    parameters=_object(
        {
            "pin": {"type": "string", "maxLength": 32, "description": "The caller's PIN, digits or spoken."},
            "date_of_birth": {"type": "string", "maxLength": 64, "description": "As spoken, or YYYY-MM-DD."},
            "account_number": {"type": "string", "maxLength": 64},
            "name": {"type": "string", "maxLength": 200},
            "digits": {"type": "string", "maxLength": 32, "description": "Digits keyed in on the phone."},
        }
    ),
    timeout_s=5.0,
)
QUERY_KNOWLEDGE_BASE = ToolSpec(
    name=BuiltinTool.QUERY_KNOWLEDGE_BASE,
    description="Search the business's knowledge base for facts to answer the caller's question.",
    parameters=_object(
        {
            "query": {"type": "string", "minLength": 1, "maxLength": 500, "description": "The question."},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
        },
        ["query"],
    ),
    timeout_s=3.0,
)
TRANSFER_TO_HUMAN = ToolSpec(
    name=BuiltinTool.TRANSFER_TO_HUMAN,
    description="Transfer the caller to a human colleague, when they ask for a person or you cannot help.",
    parameters=_object(
        {"reason": {"type": "string", "maxLength": 300, "description": "Why, in a few words."}}
    ),
    timeout_s=5.0,
)
CURRENT_TIME = ToolSpec(
    name=BuiltinTool.CURRENT_TIME,
    description="The current local date and time of the business, for questions about today or now.",
    parameters=_object({}),
    timeout_s=2.0,
)


def _scheduling_specs() -> dict[str, ToolSpec]:  # noqa: D401
    from agents.scheduling import tools as scheduling

    return {
        BuiltinTool.CHECK_AVAILABILITY: ToolSpec(
            name=BuiltinTool.CHECK_AVAILABILITY,
            description="Find free appointment slots, near the time the caller asked for if they gave one.",
            parameters=scheduling.CHECK_AVAILABILITY_SCHEMA,
            timeout_s=5.0,
        ),
        BuiltinTool.SCHEDULE_MEETING: ToolSpec(
            name=BuiltinTool.SCHEDULE_MEETING,
            description="Book one of the free slots check_availability offered, for the caller.",
            parameters=scheduling.SCHEDULE_MEETING_SCHEMA,
            timeout_s=5.0,
        ),
        BuiltinTool.CANCEL_MEETING: ToolSpec(
            name=BuiltinTool.CANCEL_MEETING,
            description="Cancel the caller's appointment.",
            parameters=scheduling.CANCEL_MEETING_SCHEMA,
            timeout_s=5.0,
        ),
    }


def builtin_spec(name: str) -> ToolSpec:
    simple: dict[str, ToolSpec] = {
        BuiltinTool.VERIFY_CALLER: VERIFY_CALLER,
        BuiltinTool.QUERY_KNOWLEDGE_BASE: QUERY_KNOWLEDGE_BASE,
        BuiltinTool.TRANSFER_TO_HUMAN: TRANSFER_TO_HUMAN,
        BuiltinTool.CURRENT_TIME: CURRENT_TIME,
        BuiltinTool.END_CALL: END_CALL_TOOL,
    }
    if name in simple:
        return simple[name]
    return _scheduling_specs()[name]
