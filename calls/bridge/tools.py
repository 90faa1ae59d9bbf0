"""Tool calls: look up, validate, run with a timeout, answer with a result or a structured error.

The model makes mistakes (wrong types, missing or extra fields, enormous strings, a tool from
another stage, malformed JSON). None of them may crash a call: every failure becomes a
structured error the model can read and recover from::

    {"error": {"type": "invalid_arguments", "message": "...", "details": [{"path": "$.date", ...}]}}

Error types: ``unknown_tool``, ``tool_not_in_stage``, ``invalid_json``, ``invalid_arguments``,
``timeout``, ``tool_error`` (``ToolExecutionError``: its message is shown to the model),
``internal_error`` (anything else: logged, a generic message shown), ``misconfigured_tool``
(the tenant's JSON Schema itself is invalid).

Steering the call from a tool
-----------------------------
A ``ToolExecutor`` normally returns any JSON-serialisable value, which becomes the tool result
the model sees. To also steer the session it returns a ``ToolOutput``::

    return ToolOutput({"transferring": True}, TransferCall("<Response><Dial>+1555...</Dial></Response>"))

Directives (applied by the ``CallSession`` after the result is sent to the engine):

``EndCall(reason)``
    End the call once the agent has finished speaking (the last mark sent is echoed), then hang
    up through ``CallControl.hang_up()``. End reason ``agent_hangup``; ``reason`` is recorded.
``TransferCall(twiml)``
    Let the agent say its handover line (the tool result is spoken), wait until it has played,
    then ``CallControl.redirect(twiml)`` (Twilio ends the media stream). End reason
    ``transferred``.
``SwitchStage(stage)``
    Switch the engine to ``config.stages[stage]`` as part of answering this call
    (``ToolResult.new_stage``), recording a ``stage_changed`` event.

The built-in ``end_call`` tool (``END_CALL_TOOL``; declare it in a stage's tools so the model
knows it) never reaches the executor: the dispatcher answers it with an ``EndCall`` directive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from calls.bridge.config import StageSpec, ToolSpec
from calls.bridge.engines.base import ToolResult
from calls.bridge.frames import ToolCall
from calls.bridge.ports import ToolContext, ToolExecutionError, ToolExecutor

logger = logging.getLogger(__name__)

END_CALL = "end_call"
END_CALL_TOOL = ToolSpec(
    name=END_CALL,
    description="End the phone call. Say goodbye first; the call ends when you have finished speaking.",
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 200}},
        "additionalProperties": False,
    },
    timeout_s=1.0,
)
MAX_ARGUMENT_CHARS = 16 * 1024  # the whole JSON text of one call's arguments
MAX_STRING_CHARS = 4000  # any single string value, unless the tool's schema says otherwise
MAX_ERROR_DETAILS = 10
MAX_EVENT_TEXT = 2000  # result/arguments kept in the tool_call event


# ----------------------------------------------------------------------------------- directives


@dataclass(frozen=True, slots=True)
class EndCall:
    """Hang up after the agent has finished speaking."""

    reason: str = "agent_hangup"


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Redirect the live call to this TwiML once the agent's handover line has played."""

    twiml: str


@dataclass(frozen=True, slots=True)
class SwitchStage:
    """Move the conversation to another stage of the agent (``"main"`` after verification)."""

    stage: str


Directive = EndCall | TransferCall | SwitchStage


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What an executor returns to steer the call: a result for the model plus a directive.

    ``speak=False`` asks the engine to listen instead of replying to the result.
    """

    result: Any
    directive: Directive | None = None
    speak: bool = True


Outcome = Literal[
    "ok",
    "unknown_tool",
    "tool_not_in_stage",
    "invalid_json",
    "invalid_arguments",
    "misconfigured_tool",
    "timeout",
    "tool_error",
    "internal_error",
]


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """The dispatcher's verdict: the result for the engine and what the session should do."""

    call_id: str
    name: str
    result: ToolResult
    directive: Directive | None
    outcome: Outcome
    duration_ms: int


def tool_error(kind: str, message: str, details: list[dict[str, Any]] | None = None) -> str:
    """The structured error JSON the model sees."""
    body: dict[str, Any] = {"type": kind, "message": message}
    if details:
        body["details"] = details
    return json.dumps({"error": body})


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _long_strings(value: Any, limit: int, path: str = "$") -> list[dict[str, Any]]:
    """Strings over ``limit`` characters anywhere in the arguments (iterative: no recursion
    limit to trip on hostile nesting)."""
    found: list[dict[str, Any]] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack and len(found) < MAX_ERROR_DETAILS:
        where, item = stack.pop()
        if isinstance(item, str):
            if len(item) > limit:
                found.append({"path": where, "message": f"string of {len(item)} characters; at most {limit}"})
        elif isinstance(item, dict):
            stack.extend((f"{where}.{key}", sub) for key, sub in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", sub) for index, sub in enumerate(item))
    return found


def _clip(text: str) -> str:
    return text if len(text) <= MAX_EVENT_TEXT else text[:MAX_EVENT_TEXT] + "…"


EventSink = Callable[[str, dict[str, Any]], None]


class ToolDispatcher:
    """Validates and runs one tool call at a time per ``dispatch`` (calls may run concurrently).

    ``record_event(type, payload)`` receives one ``tool_call`` event per dispatch:
    ``{name, call_id, arguments, result | error, duration_ms, outcome}``.
    """

    def __init__(
        self,
        executor: ToolExecutor,
        *,
        context: ToolContext,
        stages: Mapping[str, StageSpec],
        record_event: EventSink,
        max_string_chars: int = MAX_STRING_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._executor = executor
        self._context = context
        self._stages = stages
        self._record = record_event
        self._max_string = max_string_chars
        self._clock = clock
        self._validators: dict[int, Draft202012Validator | SchemaError] = {}

    async def dispatch(
        self, call: ToolCall, stage: StageSpec, *, redact_arguments: bool = False
    ) -> ToolAnswer:
        started = self._clock()
        arguments: Any = call.arguments
        directive: Directive | None = None
        speak = True
        outcome: Outcome
        try:
            spec = self._find(call.name, stage)
            arguments = self._decode(call.arguments)
            self._validate(spec, arguments)
            if spec.name == END_CALL:
                value: Any = {"status": "ending_call"}
                directive = EndCall(reason=str(arguments.get("reason") or "agent_hangup"))
                speak = False  # the goodbye was said (or is being said); do not start a new reply
            else:
                value = await self._run(spec, arguments, stage)
                if isinstance(value, ToolOutput):
                    directive, speak, value = value.directive, value.speak, value.result
            output = self._encode(call.name, value)
            result = ToolResult(output=output, speak=speak)
            outcome = "ok"
        except _Refusal as refusal:
            error_json = tool_error(refusal.kind, refusal.message, refusal.details)
            result = ToolResult(output=error_json, is_error=True)
            outcome = refusal.kind
        duration_ms = int((self._clock() - started) * 1000)
        self._record_call(call, stage, arguments, result, outcome, duration_ms, redact_arguments)
        return ToolAnswer(call.call_id, call.name, result, directive, outcome, duration_ms)

    # ------------------------------------------------------------------------------ steps

    def _find(self, name: str, stage: StageSpec) -> ToolSpec:
        for spec in stage.tools:
            if spec.name == name:
                return spec
        if name == END_CALL:
            return END_CALL_TOOL  # built in: available in every stage
        for other in self._stages.values():
            if any(spec.name == name for spec in other.tools):
                message = f"Tool '{name}' is not available in the '{stage.name}' stage."
                raise _Refusal("tool_not_in_stage", message)
        available = ", ".join(spec.name for spec in stage.tools) or "none"
        raise _Refusal("unknown_tool", f"There is no tool named '{name[:80]}'. Available tools: {available}.")

    def _decode(self, raw: str | dict[str, Any]) -> dict[str, Any]:
        if isinstance(raw, str):
            if len(raw) > MAX_ARGUMENT_CHARS:
                message = f"Arguments are {len(raw)} characters; at most {MAX_ARGUMENT_CHARS}."
                raise _Refusal("invalid_arguments", message)
            if not raw.strip():
                raw = "{}"  # some models send "" for a tool without parameters
            try:
                decoded = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise _Refusal("invalid_json", f"Arguments are not valid JSON: {exc}.") from None
        else:
            decoded = raw
        if not isinstance(decoded, dict):
            raise _Refusal("invalid_arguments", "Arguments must be a JSON object.")
        return decoded

    def _validator(self, spec: ToolSpec) -> Draft202012Validator | SchemaError:
        key = id(spec)  # specs are frozen and live as long as the config: identity is a safe key
        cached = self._validators.get(key)
        if cached is None:
            try:
                Draft202012Validator.check_schema(spec.parameters)
                cached = Draft202012Validator(spec.parameters)
            except SchemaError as exc:
                logger.error("tool %s has an invalid JSON Schema: %s", spec.name, exc.message)
                cached = exc
            self._validators[key] = cached
        return cached

    def _validate(self, spec: ToolSpec, arguments: dict[str, Any]) -> None:
        validator = self._validator(spec)
        if isinstance(validator, SchemaError):
            message = f"Tool '{spec.name}' is misconfigured and cannot be used now."
            raise _Refusal("misconfigured_tool", message)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path)))
        details = [
            {"path": _json_path(error.absolute_path), "message": error.message[:300]} for error in errors
        ][:MAX_ERROR_DETAILS]
        details += _long_strings(arguments, self._max_string)
        if details:
            raise _Refusal(
                "invalid_arguments",
                f"Arguments for '{spec.name}' do not match its parameters; fix them and call again.",
                details[:MAX_ERROR_DETAILS],
            )

    @staticmethod
    def _encode(name: str, value: Any) -> str:
        try:
            return json.dumps(value, default=str, ensure_ascii=False)
        except (ValueError, TypeError, RecursionError):
            logger.exception("tool %s returned a result that is not JSON-serialisable", name)
            raise _Refusal("internal_error", f"Tool '{name}' returned an unusable result.") from None

    async def _run(self, spec: ToolSpec, arguments: dict[str, Any], stage: StageSpec) -> Any:
        context = ToolContext(
            call_id=self._context.call_id,
            tenant_id=self._context.tenant_id,
            stage=stage.name,
            variables=self._context.variables,
        )
        try:
            async with asyncio.timeout(spec.timeout_s):
                return await self._executor.execute(spec.name, arguments, context)
        except TimeoutError:
            message = f"Tool '{spec.name}' did not answer within {spec.timeout_s:g} s."
            raise _Refusal("timeout", message) from None
        except ToolExecutionError as exc:
            raise _Refusal("tool_error", str(exc)[:500] or f"Tool '{spec.name}' failed.") from None
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("tool %s raised", spec.name)
            raise _Refusal("internal_error", f"Tool '{spec.name}' failed unexpectedly.") from None

    def _record_call(
        self,
        call: ToolCall,
        stage: StageSpec,
        arguments: Any,
        result: ToolResult,
        outcome: Outcome,
        duration_ms: int,
        redact: bool,
    ) -> None:
        if redact:
            shown: Any = "<redacted>"
        elif isinstance(arguments, str):
            shown = _clip(arguments)
        else:
            text = json.dumps(arguments, default=str, ensure_ascii=False)
            shown = arguments if len(text) <= MAX_EVENT_TEXT else _clip(text)
        payload: dict[str, Any] = {
            "name": call.name[:80],
            "call_id": call.call_id[:80],
            "stage": stage.name,
            "arguments": shown,
            "duration_ms": duration_ms,
            "outcome": outcome,
        }
        shown_result = result.output
        if redact and isinstance(arguments, dict):
            # An executor may echo what it was given ("checked 1234"): mask that too.
            for value in arguments.values():
                if isinstance(value, str) and len(value) >= 2:
                    shown_result = shown_result.replace(value, "*" * len(value))
        payload["error" if result.is_error else "result"] = _clip(shown_result)
        self._record("tool_call", payload)


class _Refusal(Exception):
    def __init__(self, kind: Outcome, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.kind: Outcome = kind
        self.message = message
        self.details = details
