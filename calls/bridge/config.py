"""The immutable snapshot a call runs with.

The Django side builds one ``CallConfig`` per call in a single database hop (agent revision,
stage prompts, tools, decrypted credentials) and hands it to the ``CallSession``. Nothing in the
bridge reads settings or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StageName = Literal["verification", "main"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it. ``parameters`` is a JSON Schema (type object)."""

    name: str
    description: str
    parameters: dict[str, Any]
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class StageSpec:
    """What the engine runs with in one stage: its prompt and the tools it may call."""

    name: StageName
    system_prompt: str
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Per-call engine settings. ``base_url`` always comes from configuration (never hard-coded)
    so tests and self-hosters can point each client elsewhere."""

    kind: str  # "ultravox" | "openai_realtime" | "pipeline" | "local" | "echo"
    api_key: str = ""
    base_url: str = ""
    model: str = ""
    voice: str = ""
    language: str = "en"
    temperature: float = 0.3
    greeting: str = ""  # what the agent says first; empty = the caller speaks first
    turn_endpoint_delay_ms: int = 384
    max_duration_s: int = 900
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific knobs


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Timers and behaviour of one call."""

    max_duration_s: float = 900.0
    silence_timeout_s: float = 30.0  # no caller activity for this long -> reminder
    silence_reminder: str = "Are you still there?"
    silence_hangup_after_s: float = 10.0  # ... then this long again -> polite hang-up
    fallback_line: str = "Sorry, we are having technical difficulties. Please call again later."
    frame_ms: int = 20  # outgoing audio frame size
    flush_interval_s: float = 1.0  # transcript/event flush period
    record: bool = False


@dataclass(frozen=True, slots=True)
class CallConfig:
    call_id: str  # public id of the Call row
    tenant_id: int
    engine: EngineSettings
    session: SessionSettings
    stages: dict[str, StageSpec]  # "verification" (optional) and "main"
    first_stage: StageName = "main"
    variables: dict[str, str] = field(default_factory=dict)
