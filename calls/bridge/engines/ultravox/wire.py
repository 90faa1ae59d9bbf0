"""Ultravox wire shapes: the create-call body, tool definitions and client data messages.

Pure functions over the bridge's config types, kept apart from the connection logic so the
exact JSON the engine sends is easy to read and to test. Field names follow Ultravox's REST API
(camelCase, protobuf-JSON durations such as ``"0.384s"``) and its WebSocket data messages
(snake_case ``type`` values). See PROTOCOLS.md section 2.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calls.bridge.config import EngineSettings, StageSpec, ToolSpec
from calls.bridge.engines.base import EngineError, ToolResult

API_KEY_HEADER = "X-API-Key"
SAMPLE_RATE = 8000  # Twilio's rate: asking Ultravox for it avoids any resampling on our side
# Ultravox may send agent audio this far ahead of real time. A large buffer survives network
# jitter; barge-in stays instant because we honour ``playback_clear_buffer`` (Twilio ``clear``).
CLIENT_BUFFER_SIZE_MS = 30_000
# Ultravox caps client tool timeouts at 40 s (docs: tools/async-tools). The session runs its own
# timer at ``ToolSpec.timeout_s`` and answers with a structured error the model can use; Ultravox's
# timer gets a margin on top so it never fires first and swallows that error.
MAX_TOOL_TIMEOUT_S = 40.0
TOOL_TIMEOUT_MARGIN_S = 1.0
HANG_UP_TOOL = "hangUp"  # Ultravox's built-in: the agent ends the call (we see a normal close)
# A client tool the engine itself answers with ``new-stage``, so the session can change stage
# outside a tool answer: a ``forced_agent_message`` makes the agent call it (see switch_stage).
STAGE_SWITCH_TOOL = "voxsaas_switch_stage"
STAGE_SWITCH_DESCRIPTION = "Internal control operated by the phone system. Never call this tool yourself."
# Ultravox's rule for tool names (``nameOverride``/``modelToolName``).
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Client messages above ~15 KB may time out (Ultravox SDK reference); bigger tool outputs are
# cut down to a JSON envelope the model can still read instead of silently failing.
MAX_TOOL_RESULT_BYTES = 15_000


@dataclass(frozen=True, slots=True)
class UltravoxOptions:
    """Engine knobs read from ``EngineSettings.extra`` (all optional)."""

    http_timeout_s: float = 10.0  # create-call request
    open_timeout_s: float = 10.0  # WebSocket handshake
    ping_interval_s: float = 5.0  # data-level ping; 0 disables stall detection
    pong_timeout_s: float = 5.0  # no pong for interval + this -> EngineFailure
    hang_up_tool: bool = True  # select Ultravox's built-in hangUp in every stage
    stage_switch_tool: bool = True  # enables switch_stage()
    stage_switch_timeout_s: float = 10.0
    speech_rms_threshold: int = 500  # caller-speech evidence for CallerTurnEnded (s16 RMS)
    max_message_bytes: int = 1 << 20  # WebSocket max_size: a hostile peer cannot balloon memory
    create_call_overrides: Mapping[str, Any] | None = None  # merged into the create-call body

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> UltravoxOptions:
        """Parse and validate, so a malformed setting fails at call start with a clear message."""
        values: dict[str, Any] = {}
        numeric = ("http_timeout_s", "open_timeout_s", "ping_interval_s", "pong_timeout_s")
        for key in (*numeric, "stage_switch_timeout_s"):
            if key in extra:
                value = extra[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"ultravox option {key!r} must be a number >= 0, got {value!r}")
                values[key] = float(value)
        for key in ("hang_up_tool", "stage_switch_tool"):
            if key in extra:
                if not isinstance(extra[key], bool):
                    raise ValueError(f"ultravox option {key!r} must be true or false")
                values[key] = extra[key]
        for key in ("speech_rms_threshold", "max_message_bytes"):
            if key in extra:
                value = extra[key]
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ValueError(f"ultravox option {key!r} must be a positive integer")
                values[key] = value
        if "create_call_overrides" in extra:
            if not isinstance(extra["create_call_overrides"], Mapping):
                raise ValueError("ultravox option 'create_call_overrides' must be an object")
            values["create_call_overrides"] = dict(extra["create_call_overrides"])
        return cls(**values)


def format_duration(seconds: float) -> str:
    """Protobuf-JSON duration: ``0.384`` -> ``"0.384s"``, ``900`` -> ``"900s"``."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {seconds!r}")
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def tool_timeout(tool: ToolSpec) -> str:
    return format_duration(min(tool.timeout_s + TOOL_TIMEOUT_MARGIN_S, MAX_TOOL_TIMEOUT_S))


def client_tool(tool: ToolSpec) -> dict[str, Any]:
    """A stage tool as an Ultravox ``temporaryTool`` answered by us over the WebSocket.

    Each JSON-Schema property becomes a BODY ``dynamicParameter`` (client tools accept only body
    parameters); the property's own schema is passed through untouched.
    """
    if not TOOL_NAME_RE.match(tool.name):
        raise EngineError(f"tool name {tool.name!r} is not allowed by Ultravox (^[a-zA-Z0-9_-]{{1,64}}$)")
    schema = tool.parameters if isinstance(tool.parameters, Mapping) else {}
    properties = schema.get("properties")
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    parameters = [
        {
            "name": name,
            "location": "PARAMETER_LOCATION_BODY",
            "schema": prop if isinstance(prop, Mapping) else {},
            "required": name in required_names,
        }
        for name, prop in (properties.items() if isinstance(properties, Mapping) else ())
    ]
    definition: dict[str, Any] = {
        "modelToolName": tool.name,
        "description": tool.description,
        "client": {},
        "timeout": tool_timeout(tool),
    }
    if parameters:
        definition["dynamicParameters"] = parameters
    return {"temporaryTool": definition}


def stage_switch_tool() -> dict[str, Any]:
    return {
        "temporaryTool": {
            "modelToolName": STAGE_SWITCH_TOOL,
            "description": STAGE_SWITCH_DESCRIPTION,
            "client": {},
            "timeout": format_duration(MAX_TOOL_TIMEOUT_S),
        }
    }


def selected_tools(stage: StageSpec, options: UltravoxOptions) -> list[dict[str, Any]]:
    """Every stage carries the same built-ins: a new stage replaces ``selectedTools`` entirely."""
    tools = [client_tool(tool) for tool in stage.tools]
    names = {tool.name for tool in stage.tools}
    if options.hang_up_tool and HANG_UP_TOOL not in names:
        tools.append({"toolName": HANG_UP_TOOL})
    if options.stage_switch_tool and STAGE_SWITCH_TOOL not in names:
        tools.append(stage_switch_tool())
    return tools


def create_call_body(settings: EngineSettings, stage: StageSpec, options: UltravoxOptions) -> dict[str, Any]:
    """The ``POST /api/calls`` body for a ``serverWebSocket`` call at 8 kHz."""
    body: dict[str, Any] = {"systemPrompt": stage.system_prompt}
    if settings.model:
        body["model"] = settings.model
    if settings.voice:
        body["voice"] = settings.voice
    body["temperature"] = settings.temperature
    if settings.language:
        body["languageHint"] = settings.language
    # With a greeting, Ultravox speaks it verbatim first (no model latency on pickup); without
    # one the caller speaks first, as the settings promise.
    body["firstSpeakerSettings"] = (
        {"agent": {"text": settings.greeting}} if settings.greeting else {"user": {}}
    )
    body["vadSettings"] = {"turnEndpointDelay": format_duration(settings.turn_endpoint_delay_ms / 1000)}
    body["maxDuration"] = format_duration(settings.max_duration_s)
    body["selectedTools"] = selected_tools(stage, options)
    body["medium"] = {
        "serverWebSocket": {
            "inputSampleRate": SAMPLE_RATE,
            "outputSampleRate": SAMPLE_RATE,
            "clientBufferSizeMs": CLIENT_BUFFER_SIZE_MS,
        }
    }
    if options.create_call_overrides:
        body.update(options.create_call_overrides)
    return body


def join_url_with_api_version(join_url: str) -> str:
    """Add ``apiVersion=1`` (what Ultravox's own clients send), keeping other query params."""
    parts = urllib.parse.urlsplit(join_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise EngineError("Ultravox returned a joinUrl that is not a ws:// or wss:// URL")
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(key, value) for key, value in pairs if key != "apiVersion"]
    query.append(("apiVersion", "1"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def stage_body(stage: StageSpec, tool_result_text: str, options: UltravoxOptions) -> dict[str, Any]:
    """The ``new-stage`` body: a subset of the create-call body; the rest is inherited."""
    return {
        "systemPrompt": stage.system_prompt,
        "selectedTools": selected_tools(stage, options),
        "toolResultText": tool_result_text,
    }


def error_output(output: str) -> str:
    """Make an error result unmistakable to the model: a JSON object with an ``error`` key."""
    try:
        parsed = json.loads(output)
    except ValueError:
        parsed = output
    if isinstance(parsed, dict) and "error" in parsed:
        return output
    return json.dumps({"error": parsed})


def bounded_output(output: str) -> str:
    if len(output.encode("utf-8")) <= MAX_TOOL_RESULT_BYTES:
        return output
    # JSON escaping can grow the excerpt (quotes, control characters), so shrink until the
    # envelope fits; "ignore" drops a multi-byte character split by the cut.
    budget = MAX_TOOL_RESULT_BYTES // 2
    while True:
        partial = output.encode("utf-8")[:budget].decode("utf-8", "ignore")
        envelope = json.dumps({"truncated": True, "partial_output": partial}, ensure_ascii=False)
        if len(envelope.encode("utf-8")) <= MAX_TOOL_RESULT_BYTES or budget == 0:
            return envelope
        budget //= 2


def tool_result_message(invocation_id: str, result: ToolResult, options: UltravoxOptions) -> dict[str, Any]:
    """``client_tool_result`` for a session tool answer.

    Errors travel as a normal ``tool-response`` whose result is error JSON: Ultravox's
    ``errorType``/``errorMessage`` fields are not shown to the model, which then cannot apologise,
    re-ask for a value or try another tool. A visible error lets it recover in conversation.
    """
    output = error_output(result.output) if result.is_error else result.output
    message: dict[str, Any] = {"type": "client_tool_result", "invocationId": invocation_id}
    if result.new_stage is not None:
        message["responseType"] = "new-stage"
        message["result"] = json.dumps(stage_body(result.new_stage, output, options))
    else:
        message["responseType"] = "tool-response"
        message["result"] = bounded_output(output)
    message["agentReaction"] = "speaks" if result.speak else "listens"
    return message


def stage_switch_result(invocation_id: str, stage: StageSpec, options: UltravoxOptions) -> dict[str, Any]:
    """Answer to our own stage-switch tool: apply ``stage``; the agent then waits for the caller
    (the switch is plumbing the caller should not hear about)."""
    text = json.dumps({"stage": stage.name, "status": "active"})
    return {
        "type": "client_tool_result",
        "invocationId": invocation_id,
        "responseType": "new-stage",
        "result": json.dumps(stage_body(stage, text, options)),
        "agentReaction": "listens",
    }


def stray_stage_switch_result(invocation_id: str) -> dict[str, Any]:
    """The model called the internal tool on its own: tell it so, and let it carry on."""
    return {
        "type": "client_tool_result",
        "invocationId": invocation_id,
        "responseType": "tool-response",
        "result": json.dumps({"error": "This tool is operated by the phone system. Do not call it."}),
    }


def forced_stage_switch_message(invocation_id: str) -> dict[str, Any]:
    """Make the agent call the internal stage-switch tool at its next opportunity ("soon"), so an
    utterance in progress is not cut off."""
    return {
        "type": "forced_agent_message",
        "toolCalls": [{"id": invocation_id, "name": STAGE_SWITCH_TOOL, "arguments": {}}],
        "urgency": "soon",
    }


def user_text_message(text: str) -> dict[str, Any]:
    # "immediate": DTMF or other caller input is a complete turn; answer it now.
    return {"type": "user_text_message", "text": text, "urgency": "immediate"}


def ping_message(timestamp: float) -> dict[str, Any]:
    return {"type": "ping", "timestamp": timestamp}


def response_snippet(text: str, secret: str, limit: int = 200) -> str:
    """A short, single-line excerpt of an error body for logs and EngineError (never the key)."""
    snippet = " ".join(text.split())[:limit]
    if secret:
        snippet = snippet.replace(secret, "***")
    return snippet
