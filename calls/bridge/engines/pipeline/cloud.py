"""The cloud parts of the chained engine, and what they share.

``build_cloud_pipeline_engine(settings)`` (used by the engine registry) returns a
``PipelineEngine`` over the three cloud parts; ``build_cloud_pipeline_parts(settings)`` returns
the parts alone: AssemblyAI speech-to-text, an OpenAI-compatible chat model, ElevenLabs
text-to-speech. Everything is parsed here, once, so a malformed value fails before the call starts
with an ``EngineError`` that names the key. ``ComponentError`` is what the parts raise at run time.

Where each value comes from (``EngineSettings`` of kind ``"pipeline"``; the first source found):

chat endpoint URL    ``extra.llm_url``, ``base_url``, else ``https://api.openai.com/v1``
chat API key         ``extra.llm_key``, ``api_key`` (may be empty for local servers)
chat model           ``extra.llm_model``, ``model``, else ``gpt-4o-mini``
AssemblyAI URL       argument, ``extra.assemblyai_url`` (settings.ASSEMBLYAI_STREAMING_URL)
AssemblyAI key       ``extra.assemblyai_key`` / ``extra.assemblyai_api_key`` (required)
ElevenLabs URL       argument, ``extra.elevenlabs_url`` (settings.ELEVENLABS_API_BASE_URL)
ElevenLabs key       ``extra.elevenlabs_key`` / ``extra.elevenlabs_api_key`` (required)
ElevenLabs voice     ``voice``, else the premade voice "Rachel"
``temperature``      chat temperature
``language``         ``en*`` -> ``universal-streaming-english``, otherwise
                     ``universal-streaming-multilingual``, and ElevenLabs ``language_code``
``turn_endpoint_delay_ms``  AssemblyAI ``min_turn_silence``

Optional ``extra`` knobs:

``elevenlabs_model_id``         default ``eleven_flash_v2_5``
``stt_speech_model``            overrides the model chosen from ``language``
``stt_format_turns``            bool, default True
``stt_end_of_turn_confidence``  0..1, default 0.4
``stt_max_turn_silence_ms``     default 1280
``stt_keyterms``                list of strings (names, products) to bias recognition
``llm_extra_body``              dict merged into every chat request (e.g. ``{"max_tokens": 200}``)
``llm_include_usage``           bool, default True (``stream_options.include_usage``; some older
                                OpenAI-compatible servers reject it)
``tts_voice_settings``          dict sent once per socket (stability, similarity_boost, speed ...)
``tts_flush``                   ``first`` (default) | ``every`` | ``never``
``tts_keep_warm``               bool, default True (pre-open the next ElevenLabs socket)
``use_env_proxy``               honour HTTPS_PROXY & co. (default False)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from calls.bridge.config import EngineSettings
from calls.bridge.engines.base import Engine, EngineError
from calls.bridge.engines.pipeline.components import (
    LanguageModel,
    SpeechToText,
    SttEvent,
    TextToSpeech,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.exceptions import InvalidStatus

log = logging.getLogger(__name__)

DEFAULT_LLM_URL = "https://api.openai.com/v1"
DEFAULT_LLM_MODEL = "gpt-4o-mini"
DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"  # ElevenLabs premade voice "Rachel"

# websockets logs every handshake header at DEBUG (API keys included) whenever its logger is
# enabled for DEBUG. The engine sockets log through this logger instead, pinned at INFO, so a
# verbose logging configuration can never print a key.
WEBSOCKET_LOGGER = logging.getLogger("calls.bridge.engines.pipeline.websocket")
WEBSOCKET_LOGGER.setLevel(logging.INFO)


class ComponentError(EngineError):
    """A cloud pipeline part failed for good: refused credentials, a closed socket, a server error,
    a timeout. Raised by ``start``/``send_audio``/``force_endpoint``/``events`` (speech-to-text),
    ``stream`` (language model) and ``synthesize`` (text-to-speech). ``PipelineEngine`` turns it
    into ``EngineFailure`` mid-call, or lets it through as the ``EngineError`` it is during
    ``connect``. ``component`` names the part; ``code`` is the provider's WebSocket close code or
    HTTP status when there is one. Messages never contain credentials."""

    def __init__(self, component: str, message: str, *, code: int | None = None) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.code = code


def websocket_url(base_url: str) -> str:
    """``https://host`` -> ``wss://host`` (and http -> ws): settings may hold either form."""
    base = base_url.strip().rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://")
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://")
    if base.startswith(("ws://", "wss://")):
        return base
    raise ValueError(f"not an http(s) or ws(s) URL: {base_url!r}")


def handshake_refusal(exc: InvalidStatus) -> str:
    """``HTTP 401: <start of the body>``: providers explain refusals in the body."""
    body = (exc.response.body or b"").decode("utf-8", "replace").strip()
    return f"handshake refused: HTTP {exc.response.status_code}" + (f": {body[:200]}" if body else "")


def abort_websocket(ws: ClientConnection) -> None:
    """Drop the TCP connection now, without a closing handshake: used on barge-in and
    cancellation, where waiting for the peer's close frame would only add delay."""
    transport = getattr(ws, "transport", None)
    if transport is not None:
        transport.abort()


@dataclass(frozen=True, slots=True)
class CloudPipelineParts:
    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech

    async def close(self) -> None:
        """Close all three; one failing close does not keep the others open."""
        for part in (self.stt, self.llm, self.tts):
            try:
                await part.close()
            except Exception:  # teardown must finish: log and go on
                log.exception("closing %s failed", type(part).__name__)


def build_cloud_pipeline_engine(settings: EngineSettings) -> Engine:
    """The engine registry's entry point: a ``PipelineEngine`` over the cloud parts. The TTS and
    chat connections are opened while the AssemblyAI session starts (``connect``), so neither
    the greeting nor the first reply waits for a handshake."""
    from calls.bridge.engines.pipeline.engine import PipelineEngine

    parts = build_cloud_pipeline_parts(settings)
    warmers = [getattr(part, "prewarm", None) for part in (parts.tts, parts.llm)]
    stt = _WarmingStart(parts.stt, [w for w in warmers if callable(w)])
    return PipelineEngine(settings, stt, parts.llm, parts.tts)


def build_cloud_pipeline_parts(
    settings: EngineSettings,
    *,
    assemblyai_streaming_url: str | None = None,
    elevenlabs_api_base_url: str | None = None,
) -> CloudPipelineParts:
    """Build the three cloud parts for one call. Nothing connects yet: ``stt.start()`` opens the
    AssemblyAI session, the chat client connects on its first request (or ``prewarm()``),
    ElevenLabs on the first ``synthesize`` (or ``prewarm()``)."""
    # Imported here: the part modules import ComponentError from this module.
    from calls.bridge.engines.pipeline.assemblyai import AssemblyAISpeechToText
    from calls.bridge.engines.pipeline.elevenlabs import ElevenLabsTextToSpeech
    from calls.bridge.engines.pipeline.openai_chat import OpenAIChatLanguageModel

    extra = dict(settings.extra or {})
    english = (settings.language or "en").lower().startswith("en")
    use_env_proxy = _bool(extra, "use_env_proxy", False)
    assemblyai_url = assemblyai_streaming_url or _first(extra, "assemblyai_url")
    elevenlabs_url = elevenlabs_api_base_url or _first(extra, "elevenlabs_url")
    if not assemblyai_url:
        raise EngineError("pipeline: the AssemblyAI URL is empty (ASSEMBLYAI_STREAMING_URL)")
    if not elevenlabs_url:
        raise EngineError("pipeline: the ElevenLabs URL is empty (ELEVENLABS_API_BASE_URL)")
    default_model = "universal-streaming-english" if english else "universal-streaming-multilingual"
    keyterms = extra.get("stt_keyterms", [])
    if not isinstance(keyterms, list) or not all(isinstance(k, str) for k in keyterms):
        raise EngineError("pipeline: extra.stt_keyterms must be a list of strings")
    flush = _FLUSH_MODES.get(_str(extra, "tts_flush", "first"))
    if flush is None:
        raise EngineError("pipeline: extra.tts_flush must be first, every or never")
    try:
        stt = AssemblyAISpeechToText(
            api_key=_required(extra, "assemblyai_key", "assemblyai_api_key"),
            base_url=assemblyai_url,
            speech_model=_str(extra, "stt_speech_model", default_model),
            format_turns=_bool(extra, "stt_format_turns", True),
            end_of_turn_confidence_threshold=_float(extra, "stt_end_of_turn_confidence", 0.4, 0.0, 1.0),
            min_turn_silence_ms=settings.turn_endpoint_delay_ms,
            max_turn_silence_ms=_int(extra, "stt_max_turn_silence_ms", 1280, 100, 10_000),
            keyterms=tuple(keyterms),
            use_env_proxy=use_env_proxy,
        )
        llm = OpenAIChatLanguageModel(
            api_key=_first(extra, "llm_key") or settings.api_key,
            base_url=_first(extra, "llm_url") or settings.base_url or DEFAULT_LLM_URL,
            model=_first(extra, "llm_model") or settings.model or DEFAULT_LLM_MODEL,
            temperature=settings.temperature,
            extra_body=_dict(extra, "llm_extra_body"),
            include_usage=_bool(extra, "llm_include_usage", True),
            use_env_proxy=use_env_proxy,
        )
        tts = ElevenLabsTextToSpeech(
            api_key=_required(extra, "elevenlabs_key", "elevenlabs_api_key"),
            base_url=elevenlabs_url,
            voice_id=settings.voice or DEFAULT_VOICE_ID,
            model_id=_str(extra, "elevenlabs_model_id", "eleven_flash_v2_5"),
            voice_settings=_dict(extra, "tts_voice_settings") or None,
            language_code=None if english else settings.language,
            flush=flush,
            keep_warm=_bool(extra, "tts_keep_warm", True),
            use_env_proxy=use_env_proxy,
        )
    except ValueError as exc:  # constructors validate ranges and URLs
        raise EngineError(f"pipeline: {exc}") from exc
    return CloudPipelineParts(stt=stt, llm=llm, tts=tts)


class _WarmingStart(SpeechToText):
    """Delegates to the real speech-to-text; its ``start()`` first kicks off the other parts'
    connection warm-up, so those handshakes overlap the AssemblyAI one."""

    def __init__(self, inner: SpeechToText, warmers: list[Callable[[], None]]) -> None:
        self.inner = inner
        self._warmers = warmers

    async def start(self) -> None:
        for warm in self._warmers:
            warm()
        await self.inner.start()

    async def send_audio(self, mulaw: bytes) -> None:
        await self.inner.send_audio(mulaw)

    async def force_endpoint(self) -> None:
        await self.inner.force_endpoint()

    def set_mode(self, mode: Literal["speech", "digits"]) -> None:
        self.inner.set_mode(mode)

    def events(self) -> AsyncIterator[SttEvent]:
        return self.inner.events()

    async def close(self) -> None:
        await self.inner.close()


# ------------------------------------------------------------------------------ extra parsing

_FLUSH_MODES: dict[str, Literal["first", "every", "never"]] = {
    "first": "first",
    "every": "every",
    "never": "never",
}


def _first(extra: Mapping[str, Any], *keys: str) -> str:
    """The first non-empty string among ``keys`` ("" if none)."""
    for key in keys:
        value = extra.get(key)
        if value is not None and not isinstance(value, str):
            raise EngineError(f"pipeline: extra.{key} must be a string")
        if value:
            return value
    return ""


def _required(extra: Mapping[str, Any], *keys: str) -> str:
    value = _first(extra, *keys)
    if not value:
        raise EngineError(f"pipeline: extra.{keys[0]} is required")
    return value


def _str(extra: Mapping[str, Any], key: str, default: str) -> str:
    value = extra.get(key, default)
    if not isinstance(value, str) or not value:
        raise EngineError(f"pipeline: extra.{key} must be a non-empty string")
    return value


def _bool(extra: Mapping[str, Any], key: str, default: bool) -> bool:
    value = extra.get(key, default)
    if not isinstance(value, bool):
        raise EngineError(f"pipeline: extra.{key} must be true or false")
    return value


def _int(extra: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise EngineError(f"pipeline: extra.{key} must be an integer in {lo}..{hi}")
    return value


def _float(extra: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise EngineError(f"pipeline: extra.{key} must be a number in {lo}..{hi}")
    return float(value)


def _dict(extra: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = extra.get(key, {})
    if not isinstance(value, dict):
        raise EngineError(f"pipeline: extra.{key} must be an object")
    return dict(value)
