"""Session configuration of the fake Realtime server: defaults, validation, merge.

The GA shape is nested (``audio.input.format``...); the beta shape is flat
(``input_audio_format``...). Both are validated strictly, like the real API: an unknown key is an
``unknown_parameter`` error, so a client that sends beta keys to a GA session (or ``temperature``,
which GA dropped) finds out in tests, not on a live call.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fakes.openai_realtime.audio import BETA_FORMATS, SUPPORTED_FORMATS, VadConfig

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
EAGERNESS_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 300}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

GA_KEYS = {
    "type",
    "model",
    "instructions",
    "output_modalities",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "include",
    "prompt",
    "tracing",
    "truncation",
    "reasoning",
    "parallel_tool_calls",
}
BETA_KEYS = {
    "model",
    "modalities",
    "instructions",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "turn_detection",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "input_audio_noise_reduction",
    "speed",
    "tracing",
}
SERVER_VAD_KEYS = {
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
    "idle_timeout_ms",
}
SEMANTIC_VAD_KEYS = {"type", "eagerness", "create_response", "interrupt_response"}


class SessionError(Exception):
    """An invalid ``session.update``: becomes an ``error`` event with this code and param."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def default_session(beta: bool, model: str) -> dict[str, Any]:
    ident = {"id": f"sess_{uuid.uuid4().hex[:20]}", "object": "realtime.session", "model": model}
    turn_detection = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "create_response": True,
        "interrupt_response": True,
    }
    if beta:
        return {
            **ident,
            "modalities": ["text", "audio"],
            "instructions": "",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": turn_detection,
            "input_audio_noise_reduction": None,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": None,
        }
    return {
        **ident,
        "type": "realtime",
        "expires_at": int(time.time()) + 3600,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {**turn_detection, "idle_timeout_ms": None},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
    }


def merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Only the fields present change; nested objects merge, except a turn detection whose type
    changes (its old knobs would not apply) and lists, which are replaced."""
    merged = copy.deepcopy(current)
    for key, value in update.items():
        old = merged.get(key)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and not (key == "turn_detection" and value.get("type") != old.get("type"))
        ):
            merged[key] = merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True, slots=True)
class EffectiveConfig:
    """Dialect-neutral view of a session, for the audio and response logic."""

    input_format: str
    output_format: str
    voice: str
    turn_detection: dict[str, Any] | None
    transcription: bool
    instructions: str
    tools: list[dict[str, Any]]
    output_modalities: list[str]

    def vad(self) -> VadConfig | None:
        td = self.turn_detection
        if not td:
            return None
        if td.get("type") == "semantic_vad":
            return VadConfig(0.5, 300, EAGERNESS_SILENCE_MS.get(td.get("eagerness") or "auto", 800))
        return VadConfig(
            float(td.get("threshold", 0.5)),
            int(td.get("prefix_padding_ms", 300)),
            int(td.get("silence_duration_ms", 200)),
        )

    @property
    def create_response(self) -> bool:
        return bool(self.turn_detection and self.turn_detection.get("create_response", True))

    @property
    def interrupt_response(self) -> bool:
        return bool(self.turn_detection and self.turn_detection.get("interrupt_response", True))


def effective(session: dict[str, Any], beta: bool) -> EffectiveConfig:
    if beta:
        voice = session.get("voice") or "alloy"
        return EffectiveConfig(
            input_format=BETA_FORMATS[session["input_audio_format"]],
            output_format=BETA_FORMATS[session["output_audio_format"]],
            voice=voice if isinstance(voice, str) else str(voice.get("id")),
            turn_detection=session.get("turn_detection"),
            transcription=session.get("input_audio_transcription") is not None,
            instructions=session.get("instructions") or "",
            tools=list(session.get("tools") or []),
            output_modalities=[m for m in session.get("modalities") or ["audio"] if m == "audio"] or ["text"],
        )
    audio_in, audio_out = session["audio"]["input"], session["audio"]["output"]
    voice = audio_out.get("voice") or "alloy"
    return EffectiveConfig(
        input_format=audio_in["format"]["type"],
        output_format=audio_out["format"]["type"],
        voice=voice if isinstance(voice, str) else str(voice.get("id")),
        turn_detection=audio_in.get("turn_detection"),
        transcription=audio_in.get("transcription") is not None,
        instructions=session.get("instructions") or "",
        tools=list(session.get("tools") or []),
        output_modalities=list(session.get("output_modalities") or ["audio"]),
    )


# ------------------------------------------------------------------------------- validation


def validate_update(update: Any, beta: bool, voice_locked: bool, current_voice: str) -> None:
    if not isinstance(update, dict):
        raise SessionError("invalid_type", "session must be an object", "session")
    allowed = BETA_KEYS if beta else GA_KEYS
    for key in update:
        if key not in allowed:
            raise SessionError("unknown_parameter", f"Unknown parameter: 'session.{key}'.", f"session.{key}")
    if not beta and update.get("type") != "realtime":
        raise SessionError(
            "missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type"
        )
    if "instructions" in update and not isinstance(update["instructions"], str):
        raise SessionError("invalid_type", "instructions must be a string", "session.instructions")
    if "tools" in update:
        _validate_tools(update["tools"])
    if "tool_choice" in update:
        _validate_tool_choice(update["tool_choice"])
    if beta:
        _validate_beta(update, voice_locked, current_voice)
    else:
        _validate_ga(update, voice_locked, current_voice)


def _validate_ga(update: dict[str, Any], voice_locked: bool, current_voice: str) -> None:
    modalities = update.get("output_modalities")
    if modalities is not None and modalities not in (["audio"], ["text"]):
        raise SessionError(
            "invalid_value", "output_modalities must be ['audio'] or ['text']", "session.output_modalities"
        )
    audio = update.get("audio")
    if audio is None:
        return
    _keys(audio, {"input", "output"}, "session.audio")
    audio_in = audio.get("input") or {}
    _keys(audio_in, {"format", "transcription", "noise_reduction", "turn_detection"}, "session.audio.input")
    if "format" in audio_in:
        _validate_format(audio_in["format"], "session.audio.input.format")
    if audio_in.get("transcription") is not None:
        transcription = audio_in["transcription"]
        _keys(
            transcription,
            {"model", "language", "prompt", "languages", "keywords", "delay"},
            "session.audio.input.transcription",
        )
        if not isinstance(transcription.get("model", ""), str):
            raise SessionError(
                "invalid_type",
                "transcription.model must be a string",
                "session.audio.input.transcription.model",
            )
    if audio_in.get("noise_reduction") is not None:
        _validate_noise_reduction(audio_in["noise_reduction"], "session.audio.input.noise_reduction")
    if "turn_detection" in audio_in:
        _validate_turn_detection(audio_in["turn_detection"], "session.audio.input.turn_detection")
    audio_out = audio.get("output") or {}
    _keys(audio_out, {"format", "voice", "speed"}, "session.audio.output")
    if "format" in audio_out:
        _validate_format(audio_out["format"], "session.audio.output.format")
    if "voice" in audio_out:
        _validate_voice(audio_out["voice"], voice_locked, current_voice, "session.audio.output.voice")
    if "speed" in audio_out:
        _validate_speed(audio_out["speed"], "session.audio.output.speed")


def _validate_beta(update: dict[str, Any], voice_locked: bool, current_voice: str) -> None:
    for key in ("input_audio_format", "output_audio_format"):
        if key in update and update[key] not in BETA_FORMATS:
            raise SessionError(
                "invalid_value", f"{key} must be one of {sorted(BETA_FORMATS)}", f"session.{key}"
            )
    if "turn_detection" in update:
        _validate_turn_detection(update["turn_detection"], "session.turn_detection")
    if "voice" in update:
        _validate_voice(update["voice"], voice_locked, current_voice, "session.voice")
    if "speed" in update:
        _validate_speed(update["speed"], "session.speed")
    if update.get("input_audio_noise_reduction") is not None:
        _validate_noise_reduction(
            update["input_audio_noise_reduction"], "session.input_audio_noise_reduction"
        )
    if "temperature" in update and not (
        isinstance(update["temperature"], int | float) and 0.6 <= update["temperature"] <= 1.2
    ):
        raise SessionError("invalid_value", "temperature must be in [0.6, 1.2]", "session.temperature")


def _keys(value: Any, allowed: set[str], param: str) -> None:
    if not isinstance(value, dict):
        raise SessionError("invalid_type", f"{param} must be an object", param)
    for key in value:
        if key not in allowed:
            raise SessionError("unknown_parameter", f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}")


def _validate_format(value: Any, param: str) -> None:
    _keys(value, {"type", "rate"}, param)
    if value.get("type") not in SUPPORTED_FORMATS:
        raise SessionError(
            "invalid_value", f"{param}.type must be one of {SUPPORTED_FORMATS}", f"{param}.type"
        )
    if "rate" in value and (value["type"] != "audio/pcm" or value["rate"] != 24000):
        raise SessionError(
            "invalid_value", "only audio/pcm takes a rate, and it must be 24000", f"{param}.rate"
        )


def _validate_voice(value: Any, voice_locked: bool, current_voice: str, param: str) -> None:
    name = value.get("id") if isinstance(value, dict) else value
    if not isinstance(name, str) or (not isinstance(value, dict) and name not in VOICES):
        raise SessionError("invalid_value", f"voice must be one of {VOICES} or {{'id': ...}}", param)
    if voice_locked and name != current_voice:
        raise SessionError(
            "cannot_update_voice",
            "Cannot update a conversation's voice if assistant audio is present.",
            param,
        )


def _validate_speed(value: Any, param: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.25 <= value <= 1.5:
        raise SessionError("invalid_value", "speed must be in [0.25, 1.5]", param)


def _validate_noise_reduction(value: Any, param: str) -> None:
    _keys(value, {"type", "strength"}, param)
    if value.get("type") not in ("near_field", "far_field"):
        raise SessionError(
            "invalid_value", "noise_reduction.type must be near_field or far_field", f"{param}.type"
        )


def _validate_turn_detection(value: Any, param: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") not in ("server_vad", "semantic_vad"):
        raise SessionError(
            "invalid_value", "turn_detection.type must be server_vad or semantic_vad", f"{param}.type"
        )
    _keys(value, SERVER_VAD_KEYS if value["type"] == "server_vad" else SEMANTIC_VAD_KEYS, param)
    checks: dict[str, tuple[bool, float, float]] = {  # key: (integer only, low, high)
        "threshold": (False, 0.0, 1.0),
        "prefix_padding_ms": (True, 0, 10_000),
        "silence_duration_ms": (True, 0, 10_000),
        "idle_timeout_ms": (True, 1, 600_000),
    }
    for key, (integer, lo, hi) in checks.items():
        number = value.get(key)
        if number is None:
            continue
        right_type = isinstance(number, int) if integer else isinstance(number, int | float)
        if isinstance(number, bool) or not right_type or not lo <= number <= hi:
            raise SessionError("invalid_value", f"{key} must be in [{lo}, {hi}]", f"{param}.{key}")
    for key in ("create_response", "interrupt_response"):
        if key in value and not isinstance(value[key], bool):
            raise SessionError("invalid_type", f"{key} must be a boolean", f"{param}.{key}")
    if "eagerness" in value and value["eagerness"] not in EAGERNESS_SILENCE_MS:
        raise SessionError(
            "invalid_value", "eagerness must be low, medium, high or auto", f"{param}.eagerness"
        )


def _validate_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise SessionError("invalid_type", "tools must be an array", "session.tools")
    for index, tool in enumerate(tools):
        param = f"session.tools[{index}]"
        _keys(tool, {"type", "name", "description", "parameters"}, param)
        if tool.get("type") != "function":
            raise SessionError("invalid_value", "tool type must be 'function'", f"{param}.type")
        if not isinstance(tool.get("name"), str) or not _TOOL_NAME.match(tool["name"]):
            raise SessionError("invalid_value", "tool name must match ^[a-zA-Z0-9_-]{1,64}$", f"{param}.name")
        parameters = tool.get("parameters")
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type") != "object"
        ):
            raise SessionError(
                "invalid_value", "parameters must be a JSON Schema of type object", f"{param}.parameters"
            )


def _validate_tool_choice(choice: Any) -> None:
    if choice in ("auto", "none", "required"):
        return
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return
    raise SessionError(
        "invalid_value", "tool_choice must be auto, none, required or a function", "session.tool_choice"
    )
