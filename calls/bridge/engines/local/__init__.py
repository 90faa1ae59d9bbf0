"""The offline engine: local parts behind the same ``PipelineEngine`` as the cloud parts.

- ``LocalSpeechToText``: WebRTC VAD + PocketSphinx (streaming, digits grammar on request);
- ``DialoguePolicy``: a deterministic demo brain, used when no LLM is given;
- ``LocalTextToSpeech``: eSpeak NG in-process.

No network, no model download: the recogniser's model and eSpeak's voices ship in their pip
packages. Heavy native libraries are imported on first use, so importing this package is cheap.

``EngineSettings`` for ``kind="local"``: ``voice`` (an eSpeak voice, default ``en-us+m3``),
``greeting``, ``turn_endpoint_delay_ms`` (end-of-turn silence); ``extra``: ``vad_mode`` (0-3),
``vad_start_frames``, ``end_of_turn_silence_ms``, ``digits_end_of_turn_silence_ms``,
``vad_preroll_ms``, ``max_turn_ms``, ``partial_interval_ms``, ``pocketsphinx`` (decoder
options), ``speech_rate_wpm``, plus the ``PipelineEngine`` knobs.
"""

from __future__ import annotations

from calls.bridge.config import EngineSettings
from calls.bridge.engines.base import EngineError
from calls.bridge.engines.local.policy import DialoguePolicy
from calls.bridge.engines.local.stt import LocalSpeechToText
from calls.bridge.engines.local.tts import LocalTextToSpeech
from calls.bridge.engines.pipeline.components import LanguageModel
from calls.bridge.engines.pipeline.engine import PipelineEngine

__all__ = ["DialoguePolicy", "LocalSpeechToText", "LocalTextToSpeech", "build_local_engine"]


def build_local_engine(settings: EngineSettings, llm: LanguageModel | None = None) -> PipelineEngine:
    """A ``PipelineEngine`` of the local parts; ``llm`` replaces the demo ``DialoguePolicy``
    (e.g. a local OpenAI-compatible server through the cloud chat client). Raises
    ``EngineError`` naming a malformed setting."""
    try:
        stt = LocalSpeechToText.from_settings(settings)
        tts = LocalTextToSpeech.from_settings(settings)
    except ValueError as exc:
        raise EngineError(str(exc)) from exc
    engine = PipelineEngine(settings, stt, llm or DialoguePolicy(), tts)
    engine.name = "local"
    return engine
