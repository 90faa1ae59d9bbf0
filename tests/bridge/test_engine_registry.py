"""The registry builds the engine an agent chose, with the parts its settings name."""

from __future__ import annotations

import pytest

from calls.bridge.config import EngineSettings
from calls.bridge.engines.base import EngineError
from calls.bridge.engines.local.policy import DialoguePolicy
from calls.bridge.engines.pipeline.engine import PipelineEngine
from calls.bridge.engines.pipeline.openai_chat import OpenAIChatLanguageModel
from calls.bridge.engines.registry import build_engine


def test_local_engine_uses_the_demo_policy_without_an_llm_endpoint() -> None:
    engine = build_engine(EngineSettings(kind="local"))
    assert isinstance(engine, PipelineEngine)
    assert isinstance(engine.llm, DialoguePolicy)


def test_local_engine_uses_the_agents_llm_endpoint_when_one_is_configured() -> None:
    settings = EngineSettings(
        kind="local", extra={"llm_url": "http://127.0.0.1:11434/v1", "llm_key": "k", "llm_model": "llama3"}
    )
    engine = build_engine(settings)
    assert isinstance(engine, PipelineEngine)
    assert isinstance(engine.llm, OpenAIChatLanguageModel)


def test_an_unusable_llm_endpoint_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="LLM endpoint"):
        build_engine(EngineSettings(kind="local", extra={"llm_url": "ftp://nowhere"}))


def test_unknown_engine() -> None:
    with pytest.raises(EngineError, match="unknown engine"):
        build_engine(EngineSettings(kind="telepathy"))
