"""Shape checks the fake Ultravox applies to create-call and new-stage bodies.

Strict on purpose: a typo (``system_prompt``), a number where Ultravox wants a duration string,
a client tool with a non-body parameter or a missing ``inputSampleRate`` is a 400 here, as it
is (or silently misbehaves) on the real service. Each check raises ``BodyError`` with a message
naming the field, which the fake returns in the 400 body.
"""

from __future__ import annotations

import re
from typing import Any

DURATION_RE = re.compile(r"^\d+(\.\d{1,9})?s$")
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOL_TIMEOUT_S = 40.0

CREATE_CALL_FIELDS = frozenset(
    {
        "systemPrompt", "model", "voice", "externalVoice", "voiceOverrides", "temperature",
        "languageHint", "initialMessages", "joinTimeout", "maxDuration", "timeExceededMessage",
        "inactivityMessages", "selectedTools", "medium", "recordingEnabled", "firstSpeaker",
        "firstSpeakerSettings", "initialOutputMedium", "vadSettings", "transcriptOptional",
        "metadata", "initialState", "dataConnection", "callbacks", "sharedSecrets",
        "retentionPolicy", "experimentalSettings",
    }
)  # fmt: skip
STAGE_FIELDS = frozenset(
    {
        "systemPrompt",
        "temperature",
        "voice",
        "languageHint",
        "initialMessages",
        "selectedTools",
        "toolResultText",
    }
)
MEDIUMS = frozenset({"webRtc", "twilio", "serverWebSocket", "telnyx", "plivo", "exotel", "sip"})
SERVER_WS_FIELDS = frozenset(
    {"inputSampleRate", "outputSampleRate", "clientBufferSizeMs", "mediaIdleTimeout", "dataMessages"}
)
VAD_FIELDS = frozenset(
    {"turnEndpointDelay", "minimumTurnDuration", "minimumInterruptionDuration", "frameActivationThreshold"}
)
SELECTED_TOOL_FIELDS = frozenset(
    {
        "toolId",
        "toolName",
        "temporaryTool",
        "nameOverride",
        "descriptionOverride",
        "parameterOverrides",
        "authTokens",
    }
)
TEMPORARY_TOOL_FIELDS = frozenset(
    {
        "modelToolName", "description", "dynamicParameters", "staticParameters",
        "automaticParameters", "requirements", "timeout", "precomputable", "defaultReaction",
        "http", "client", "dataConnection", "staticResponse",
    }
)  # fmt: skip
LOCATIONS = frozenset(
    {
        "PARAMETER_LOCATION_BODY",
        "PARAMETER_LOCATION_QUERY",
        "PARAMETER_LOCATION_PATH",
        "PARAMETER_LOCATION_HEADER",
    }
)
SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000, 44100, 48000})


class BodyError(ValueError):
    pass


def duration_seconds(value: Any, field: str) -> float:
    if not isinstance(value, str) or not DURATION_RE.match(value):
        raise BodyError(f"{field}: expected a duration string such as '0.384s', got {value!r}")
    return float(value[:-1])


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BodyError(f"{field}: expected an object")
    return value


def _unknown(value: dict[str, Any], allowed: frozenset[str], field: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise BodyError(f"{field}: unknown field(s) {', '.join(extra)}")


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BodyError(f"{field}: expected a string")
    return value


def validate_create_call(body: Any) -> dict[str, Any]:
    body = _object(body, "body")
    _unknown(body, CREATE_CALL_FIELDS, "body")
    for key in ("systemPrompt", "model", "voice", "languageHint", "timeExceededMessage"):
        if key in body:
            _string(body[key], key)
    _temperature(body)
    for key in ("joinTimeout", "maxDuration"):
        if key in body:
            duration_seconds(body[key], key)
    if "medium" not in body:
        raise BodyError("medium: a server bridge must set medium.serverWebSocket (default is webRtc)")
    medium = _object(body["medium"], "medium")
    if len(medium) != 1 or not set(medium) <= MEDIUMS:
        raise BodyError(f"medium: exactly one of {sorted(MEDIUMS)}")
    if "serverWebSocket" in medium:
        _server_websocket(_object(medium["serverWebSocket"], "medium.serverWebSocket"))
    if "firstSpeakerSettings" in body:
        _first_speaker(_object(body["firstSpeakerSettings"], "firstSpeakerSettings"))
    if "vadSettings" in body:
        vad = _object(body["vadSettings"], "vadSettings")
        _unknown(vad, VAD_FIELDS, "vadSettings")
        for key in ("turnEndpointDelay", "minimumTurnDuration", "minimumInterruptionDuration"):
            if key in vad:
                duration_seconds(vad[key], f"vadSettings.{key}")
    if "selectedTools" in body:
        validate_selected_tools(body["selectedTools"], "selectedTools")
    if "metadata" in body:
        metadata = _object(body["metadata"], "metadata")
        if any(not isinstance(v, str) or k.startswith("ultravox.") for k, v in metadata.items()):
            raise BodyError("metadata: string values only; keys may not start with 'ultravox.'")
    return body


def validate_stage(body: Any) -> dict[str, Any]:
    body = _object(body, "new-stage result")
    _unknown(body, STAGE_FIELDS, "new-stage result")
    for key in ("systemPrompt", "voice", "languageHint", "toolResultText"):
        if key in body:
            _string(body[key], f"new-stage {key}")
    _temperature(body)
    if "selectedTools" in body:
        validate_selected_tools(body["selectedTools"], "new-stage selectedTools")
    return body


def _temperature(body: dict[str, Any]) -> None:
    if "temperature" in body:
        value = body["temperature"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise BodyError("temperature: a number between 0 and 1")


def _server_websocket(ws: dict[str, Any]) -> None:
    _unknown(ws, SERVER_WS_FIELDS, "medium.serverWebSocket")
    if "inputSampleRate" not in ws:
        raise BodyError("medium.serverWebSocket.inputSampleRate is required")
    for key in ("inputSampleRate", "outputSampleRate"):
        if key in ws and ws[key] not in SAMPLE_RATES:
            raise BodyError(f"medium.serverWebSocket.{key}: unsupported sample rate {ws[key]!r}")
    size = ws.get("clientBufferSizeMs", 60)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BodyError("medium.serverWebSocket.clientBufferSizeMs: a non-negative integer")
    if "mediaIdleTimeout" in ws:
        duration_seconds(ws["mediaIdleTimeout"], "medium.serverWebSocket.mediaIdleTimeout")


def _first_speaker(settings: dict[str, Any]) -> None:
    if len(settings) != 1 or not set(settings) <= {"agent", "user"}:
        raise BodyError("firstSpeakerSettings: exactly one of 'agent' or 'user'")
    ((who, value),) = settings.items()
    value = _object(value, f"firstSpeakerSettings.{who}")
    allowed = {"uninterruptible", "text", "prompt", "delay"} if who == "agent" else {"fallback"}
    _unknown(value, frozenset(allowed), f"firstSpeakerSettings.{who}")
    if "text" in value:
        _string(value["text"], "firstSpeakerSettings.agent.text")
    if "delay" in value:
        duration_seconds(value["delay"], "firstSpeakerSettings.agent.delay")


def validate_selected_tools(tools: Any, field: str) -> None:
    if not isinstance(tools, list):
        raise BodyError(f"{field}: expected a list")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        where = f"{field}[{index}]"
        tool = _object(tool, where)
        _unknown(tool, SELECTED_TOOL_FIELDS, where)
        kinds = [key for key in ("toolId", "toolName", "temporaryTool") if key in tool]
        if len(kinds) != 1:
            raise BodyError(f"{where}: exactly one of toolId, toolName, temporaryTool")
        if "temporaryTool" in tool:
            name = _temporary_tool(_object(tool["temporaryTool"], f"{where}.temporaryTool"), where)
        else:
            name = _string(tool[kinds[0]], f"{where}.{kinds[0]}")
        name = tool.get("nameOverride", name)
        if not TOOL_NAME_RE.match(name):
            raise BodyError(f"{where}: tool name {name!r} does not match ^[a-zA-Z0-9_-]{{1,64}}$")
        if name in names:
            raise BodyError(f"{where}: duplicate tool name {name!r}")
        names.add(name)


def _temporary_tool(tool: dict[str, Any], where: str) -> str:
    _unknown(tool, TEMPORARY_TOOL_FIELDS, f"{where}.temporaryTool")
    name = _string(tool.get("modelToolName"), f"{where}.temporaryTool.modelToolName")
    _string(tool.get("description", ""), f"{where}.temporaryTool.description")
    impls = [key for key in ("http", "client", "dataConnection") if key in tool]
    if len(impls) != 1:
        raise BodyError(f"{where}.temporaryTool: exactly one of http, client, dataConnection")
    if "timeout" in tool and duration_seconds(tool["timeout"], f"{where}.timeout") > MAX_TOOL_TIMEOUT_S:
        raise BodyError(f"{where}.temporaryTool.timeout: at most {MAX_TOOL_TIMEOUT_S:g}s")
    for index, param in enumerate(tool.get("dynamicParameters", [])):
        at = f"{where}.temporaryTool.dynamicParameters[{index}]"
        param = _object(param, at)
        _unknown(param, frozenset({"name", "location", "schema", "required"}), at)
        _string(param.get("name"), f"{at}.name")
        if param.get("location") not in LOCATIONS:
            raise BodyError(f"{at}.location: one of {sorted(LOCATIONS)}")
        if "client" in tool and param["location"] != "PARAMETER_LOCATION_BODY":
            raise BodyError(f"{at}: client tools accept only PARAMETER_LOCATION_BODY")
        _object(param.get("schema"), f"{at}.schema")
        if not isinstance(param.get("required", False), bool):
            raise BodyError(f"{at}.required: a boolean")
    return name


def client_tool_timeouts(tools: list[dict[str, Any]]) -> dict[str, float]:
    """Client tools by name with their timeout in seconds (Ultravox's default is 2.5 s)."""
    found: dict[str, float] = {}
    for tool in tools:
        definition = tool.get("temporaryTool")
        if isinstance(definition, dict) and "client" in definition:
            name = str(tool.get("nameOverride", definition.get("modelToolName")))
            found[name] = float(str(definition.get("timeout", "2.5s"))[:-1])
    return found
