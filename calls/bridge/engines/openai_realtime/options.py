"""Engine options and the JSON payloads the OpenAI Realtime engine sends (GA protocol).

Everything configurable comes from ``EngineSettings`` (``extra`` holds the engine-specific knobs);
it is parsed once, when the engine is built, so a malformed value fails before the call starts
with a message that names the key.

Recognised ``EngineSettings.extra`` keys (all optional):

``turn_detection``           ``"server_vad"`` (default) or ``"semantic_vad"``
``vad_threshold``            server_vad activation threshold, 0..1 (default 0.5)
``vad_prefix_padding_ms``    server_vad audio kept before speech (default 300)
``vad_silence_duration_ms``  server_vad end-of-turn silence (default ``turn_endpoint_delay_ms``)
``vad_idle_timeout_ms``      server_vad idle timeout, None = off (default None)
``eagerness``                semantic_vad eagerness: low | medium | high | auto (default auto)
``transcription_model``      caller transcription model (default ``gpt-4o-mini-transcribe``)
``noise_reduction``          ``"near_field"`` | ``"far_field"`` | None (default None: not sent)
``speed``                    agent speech speed 0.25..1.5 (default: not sent)
``max_output_tokens``        int 1..4096 or ``"inf"`` (default: not sent)
``connect_timeout_s``        handshake + session set-up budget (default 10)
``partial_transcripts``      emit agent transcript deltas as partial ``Transcript`` (default True)
``max_failed_responses``     consecutive failed responses before ``EngineFailure`` (default 2)
``use_env_proxy``            honour HTTPS_PROXY & co. for the engine socket (default False)
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.engines.base import EngineError

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "marin"  # the API docs recommend marin/cedar for quality
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
# mu-law 8 kHz both ways: Twilio's payload goes through untouched (no transcoding, no resampling).
PCMU = {"type": "audio/pcmu"}
_EAGERNESS = ("low", "medium", "high", "auto")
_NOISE_REDUCTION = ("near_field", "far_field")


@dataclass(frozen=True, slots=True)
class RealtimeOptions:
    url: str
    model: str
    voice: str
    language: str | None
    turn_detection: str
    vad_threshold: float
    vad_prefix_padding_ms: int
    vad_silence_duration_ms: int
    vad_idle_timeout_ms: int | None
    eagerness: str
    transcription_model: str
    noise_reduction: str | None
    speed: float | None
    max_output_tokens: int | str | None
    connect_timeout_s: float
    partial_transcripts: bool
    max_failed_responses: int
    use_env_proxy: bool

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> RealtimeOptions:
        extra = dict(settings.extra or {})
        if not settings.base_url:
            raise EngineError("openai_realtime: base_url is empty (set OPENAI_REALTIME_URL)")
        model = settings.model or DEFAULT_MODEL
        turn_detection = _choice(extra, "turn_detection", ("server_vad", "semantic_vad"), "server_vad")
        max_tokens = extra.get("max_output_tokens")
        if max_tokens is not None and max_tokens != "inf":
            max_tokens = _int(extra, "max_output_tokens", 0, lo=1, hi=4096)
        return cls(
            url=build_url(settings.base_url, model),
            model=model,
            voice=settings.voice or DEFAULT_VOICE,
            language=_iso639_1(settings.language),
            turn_detection=turn_detection,
            vad_threshold=_float(extra, "vad_threshold", 0.5, lo=0.0, hi=1.0),
            vad_prefix_padding_ms=_int(extra, "vad_prefix_padding_ms", 300, lo=0, hi=10_000),
            vad_silence_duration_ms=_int(
                extra, "vad_silence_duration_ms", settings.turn_endpoint_delay_ms, lo=0, hi=10_000
            ),
            vad_idle_timeout_ms=(
                None
                if extra.get("vad_idle_timeout_ms") is None
                else _int(extra, "vad_idle_timeout_ms", 0, lo=1, hi=600_000)
            ),
            eagerness=_choice(extra, "eagerness", _EAGERNESS, "auto"),
            transcription_model=str(extra.get("transcription_model") or DEFAULT_TRANSCRIPTION_MODEL),
            noise_reduction=(
                None
                if extra.get("noise_reduction") is None
                else _choice(extra, "noise_reduction", _NOISE_REDUCTION, "near_field")
            ),
            speed=None if extra.get("speed") is None else _float(extra, "speed", 1.0, lo=0.25, hi=1.5),
            max_output_tokens=max_tokens,
            connect_timeout_s=_float(extra, "connect_timeout_s", 10.0, lo=0.1, hi=120.0),
            partial_transcripts=_bool(extra, "partial_transcripts", True),
            max_failed_responses=_int(extra, "max_failed_responses", 2, lo=1, hi=100),
            use_env_proxy=_bool(extra, "use_env_proxy", False),
        )

    # ------------------------------------------------------------------------------ payloads

    def turn_detection_config(self) -> dict[str, Any]:
        # create_response: the server answers at end of turn without a client round trip;
        # interrupt_response: the server stops generating the moment the caller talks over it.
        if self.turn_detection == "semantic_vad":
            return {
                "type": "semantic_vad",
                "eagerness": self.eagerness,
                "create_response": True,
                "interrupt_response": True,
            }
        config: dict[str, Any] = {
            "type": "server_vad",
            "threshold": self.vad_threshold,
            "prefix_padding_ms": self.vad_prefix_padding_ms,
            "silence_duration_ms": self.vad_silence_duration_ms,
            "create_response": True,
            "interrupt_response": True,
        }
        if self.vad_idle_timeout_ms is not None:
            config["idle_timeout_ms"] = self.vad_idle_timeout_ms
        return config

    def session_config(self, stage: StageSpec) -> dict[str, Any]:
        """The full GA ``session`` object sent once the socket is open."""
        transcription: dict[str, Any] = {"model": self.transcription_model}
        if self.language:
            transcription["language"] = self.language
        audio_input: dict[str, Any] = {
            "format": dict(PCMU),
            "transcription": transcription,
            "turn_detection": self.turn_detection_config(),
        }
        if self.noise_reduction:
            audio_input["noise_reduction"] = {"type": self.noise_reduction}
        audio_output: dict[str, Any] = {"format": dict(PCMU), "voice": self.voice}
        if self.speed is not None:
            audio_output["speed"] = self.speed
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {"input": audio_input, "output": audio_output},
            **stage_fields(stage),
        }
        if self.max_output_tokens is not None:
            session["max_output_tokens"] = self.max_output_tokens
        return session


def stage_fields(stage: StageSpec) -> dict[str, Any]:
    """The part of a session that changes with the stage: prompt and tools. Sending ``tools: []``
    on a stage without tools matters: an update only changes the fields present, so omitting it
    would leave the previous stage's tools callable."""
    return {
        "instructions": stage.system_prompt,
        "tools": [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            }
            for tool in stage.tools
        ],
        "tool_choice": "auto",
    }


def greeting_response(stage: StageSpec, greeting: str) -> dict[str, Any]:
    """``response`` parameters that make the model say ``greeting`` verbatim.

    Why a per-response instruction and no conversation item: a user item ("greet the caller
    with ...") is something the model *answers*, so it tends to paraphrase or add a question;
    an assistant text item is treated as already said, so nothing would be spoken. Response
    ``instructions`` replace the session instructions for this one response only, which is the
    strongest steering the API offers; the stage prompt is kept in front so persona and tone
    stay the same. ``tool_choice: none`` stops the model from calling a tool instead of
    greeting, and the spoken greeting lands in the default conversation, so later turns know
    what the caller heard.
    """
    instructions = (
        f"{stage.system_prompt}\n\n"
        "The call has just been connected. Open the call by saying exactly the following "
        "greeting, word for word, and nothing else; do not add or change anything: "
        f'"{greeting}"'
    ).strip()
    return {
        "instructions": instructions,
        "output_modalities": ["audio"],
        "tool_choice": "none",
        "metadata": {"purpose": "greeting"},
    }


def build_url(base_url: str, model: str) -> str:
    """``{base_url}?model={model}``, keeping any query the base URL already carries."""
    parts = urllib.parse.urlsplit(base_url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(key, value) for key, value in query if key != "model"] + [("model", model)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def redact_url(url: str) -> str:
    """The URL without its query, for logs (a self-hoster might put a token there)."""
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(query=""))


# ------------------------------------------------------------------------------- validation


def _iso639_1(language: str) -> str | None:
    # The transcription API wants ISO-639-1 ("en"), agents are often configured as "en-US".
    code = (language or "").replace("_", "-").split("-")[0].strip().lower()
    return code or None


def _float(extra: dict[str, Any], key: str, default: float, *, lo: float, hi: float) -> float:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise EngineError(f"openai_realtime: extra[{key!r}] must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _int(extra: dict[str, Any], key: str, default: int, *, lo: int, hi: int) -> int:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise EngineError(
            f"openai_realtime: extra[{key!r}] must be an integer in [{lo}, {hi}], got {value!r}"
        )
    return value


def _bool(extra: dict[str, Any], key: str, default: bool) -> bool:
    value = extra.get(key, default)
    if not isinstance(value, bool):
        raise EngineError(f"openai_realtime: extra[{key!r}] must be true or false, got {value!r}")
    return value


def _choice(extra: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = extra.get(key, default)
    if value not in allowed:
        raise EngineError(f"openai_realtime: extra[{key!r}] must be one of {allowed}, got {value!r}")
    return str(value)
