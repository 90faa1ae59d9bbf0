"""Build the engine an agent chose. Imports are lazy so a process only loads the engines (and
their native libraries) that its calls use."""

from __future__ import annotations

from calls.bridge.config import EngineSettings
from calls.bridge.engines.base import Engine, EngineError

ENGINE_KINDS = ("local", "ultravox", "openai_realtime", "pipeline", "echo")


def build_engine(settings: EngineSettings) -> Engine:
    kind = settings.kind
    if kind == "ultravox":
        from calls.bridge.engines.ultravox import UltravoxEngine

        return UltravoxEngine(settings)
    if kind == "openai_realtime":
        from calls.bridge.engines.openai_realtime import OpenAIRealtimeEngine

        return OpenAIRealtimeEngine(settings)
    if kind == "echo":
        from calls.bridge.engines.echo import EchoEngine

        return EchoEngine(settings)
    if kind == "local":
        from calls.bridge.engines.local import build_local_engine

        llm_url = str(settings.extra.get("llm_url") or "")
        if not llm_url:
            return build_local_engine(settings)  # the deterministic demo policy
        # Local speech in and out, with the agent's OpenAI-compatible LLM (e.g. a local server).
        from calls.bridge.engines.pipeline.openai_chat import OpenAIChatLanguageModel

        try:
            llm = OpenAIChatLanguageModel(
                api_key=str(settings.extra.get("llm_key") or ""),
                base_url=llm_url,
                model=str(settings.extra.get("llm_model") or settings.model or "gpt-4o-mini"),
                temperature=settings.temperature,
            )
        except ValueError as exc:
            raise EngineError(f"the agent's LLM endpoint is unusable: {exc}") from exc
        return build_local_engine(settings, llm=llm)
    if kind == "pipeline":
        from calls.bridge.engines.pipeline.cloud import build_cloud_pipeline_engine

        return build_cloud_pipeline_engine(settings)
    raise EngineError(f"unknown engine {kind!r}")
