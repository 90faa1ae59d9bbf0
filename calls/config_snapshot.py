"""Build the immutable ``CallConfig`` a call runs with, from the agent's published revision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from agents.models import AgentRevision, BuiltinTool, Engine
from agents.templating import render
from calls.bridge.config import CallConfig, EngineSettings, SessionSettings, StageSpec, ToolSpec
from calls.bridge.tools import END_CALL_TOOL
from calls.models import Call
from tenants.models import ProviderCredential, Tenant

# Which provider credential each engine needs, and the setting holding its base URL.
_ENGINE_PROVIDER = {
    Engine.ULTRAVOX: (ProviderCredential.Provider.ULTRAVOX, "ULTRAVOX_API_BASE_URL"),
    Engine.OPENAI_REALTIME: (ProviderCredential.Provider.OPENAI, "OPENAI_REALTIME_URL"),
}


def tenant_zone(tenant: Tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def call_variables(
    *, call: Call, config: dict[str, Any], extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Template variables at the start of a call (contact fields join after verification)."""
    now = datetime.now(tenant_zone(call.tenant))
    variables = {str(k): str(v) for k, v in (config.get("custom_variables") or {}).items()}
    variables.update(
        {
            "caller_number": call.from_number or "anonymous",
            "called_number": call.to_number,
            "tenant_name": call.tenant.name,
            "local_date": now.strftime("%A %-d %B %Y"),
            "local_time": now.strftime("%-I:%M %p"),
            "local_weekday": now.strftime("%A"),
            "agent_name": str(config.get("name", "")),
            "time_zone": str(now.tzinfo),
        }
    )
    variables.update(extra or {})
    return variables


def _engine_settings(tenant_id: int, config: dict[str, Any], greeting: str) -> EngineSettings:
    engine = config["engine"]
    api_key = ""
    base_url = ""
    extra: dict[str, Any] = {}
    creds = {c.provider: c for c in ProviderCredential.objects.filter(tenant_id=tenant_id)}
    provider = _ENGINE_PROVIDER.get(engine)
    if provider is not None:
        credential = creds.get(provider[0])
        api_key = credential.api_key if credential else ""
        base_url = (credential.base_url if credential else "") or getattr(settings, provider[1])
    if engine in (Engine.PIPELINE, Engine.LOCAL):
        llm = creds.get(ProviderCredential.Provider.LLM) or creds.get(ProviderCredential.Provider.OPENAI)
        extra = {
            "llm_url": config.get("llm_base_url") or (llm.base_url if llm else ""),
            "llm_key": llm.api_key if llm else "",
            "llm_model": config.get("llm_model", ""),
        }
        if engine == Engine.PIPELINE:
            assembly, eleven = creds.get("assemblyai"), creds.get("elevenlabs")
            extra.update(
                {
                    "assemblyai_url": settings.ASSEMBLYAI_STREAMING_URL,
                    "assemblyai_key": assembly.api_key if assembly else "",
                    "elevenlabs_url": settings.ELEVENLABS_API_BASE_URL,
                    "elevenlabs_key": eleven.api_key if eleven else "",
                }
            )
    return EngineSettings(
        kind=engine,
        api_key=api_key,
        base_url=base_url,
        model=config.get("model", ""),
        voice=config.get("voice", ""),
        language=config.get("language", "en"),
        temperature=float(config.get("temperature", 0.3)),
        greeting=greeting,
        max_duration_s=int(config.get("max_duration_s", 900)),
        extra=extra,
    )


def _tool_spec(entry: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        name=entry["name"],
        description=entry.get("description", ""),
        parameters=entry.get("parameters") or {"type": "object", "properties": {}},
        timeout_s=float(entry.get("timeout_s", 10.0)),
    )


def stage_tools(config: dict[str, Any], stage: str) -> tuple[ToolSpec, ...]:
    """The tools offered in a stage. Verification always offers verify_caller; the main stage
    always offers end_call, so the model can always finish a call."""
    key = "in_verification" if stage == "verification" else "in_main"
    tools = [_tool_spec(entry) for entry in config.get("tools", []) if entry.get(key)]
    names = {tool.name for tool in tools}
    if stage == "verification" and BuiltinTool.VERIFY_CALLER not in names:
        from agents.builtins import VERIFY_CALLER

        tools.insert(0, VERIFY_CALLER)
    if stage == "main" and END_CALL_TOOL.name not in names:
        tools.append(END_CALL_TOOL)
    return tuple(tools)


def stage_spec(config: dict[str, Any], stage: str, variables: dict[str, str]) -> StageSpec:
    prompt_field = "verification_prompt" if stage == "verification" else "main_prompt"
    return StageSpec(
        name="verification" if stage == "verification" else "main",
        system_prompt=render(config.get(prompt_field, ""), variables),
        tools=stage_tools(config, stage),
    )


def uses_verification(config: dict[str, Any]) -> bool:
    return bool(config.get("verification_enabled")) and bool(
        str(config.get("verification_prompt", "")).strip()
    )


RETURN_GREETING = "Sorry, nobody was available to take your call. Is there anything else I can help you with?"


def build_call_config(
    *,
    call: Call,
    revision: AgentRevision,
    extra_variables: dict[str, str] | None = None,
    returning: bool = False,
    verified: bool = False,
) -> CallConfig:
    config = revision.config
    variables = call_variables(call=call, config=config, extra=extra_variables)
    stages = {"main": stage_spec(config, "main", variables)}
    first_stage = "main"
    greeting = RETURN_GREETING if returning else render(config.get("greeting", ""), variables)
    if returning:
        variables["returning"] = "yes"
    elif config.get("recording_enabled") and str(config.get("recording_announcement", "")).strip():
        # A recorded call says so first, before anything else the caller hears.
        greeting = f"{str(config['recording_announcement']).strip()} {greeting}".strip()
    if uses_verification(config) and not verified:
        stages["verification"] = stage_spec(config, "verification", variables)
        first_stage = "verification"
    return CallConfig(
        call_id=str(call.public_id),
        tenant_id=call.tenant_id,
        engine=_engine_settings(call.tenant_id, config, greeting),
        session=SessionSettings(
            max_duration_s=float(config.get("max_duration_s", 900)),
            silence_timeout_s=float(config.get("silence_timeout_s", 20)),
            silence_reminder=render(config.get("silence_reminder", ""), variables),
            record=bool(config.get("recording_enabled")),
        ),
        stages=stages,
        first_stage=first_stage,  # type: ignore[arg-type]
        variables=variables,
    )


def with_variables(config: CallConfig, revision_config: dict[str, Any], extra: dict[str, str]) -> CallConfig:
    """The same call config with more template variables (pre-call personalisation), re-rendered
    without touching the database."""
    if not extra:
        return config
    variables = {**config.variables, **extra}
    stages = {name: stage_spec(revision_config, name, variables) for name in config.stages}
    greeting = config.engine.greeting
    if not config.variables.get("returning"):
        greeting = render(revision_config.get("greeting", ""), variables)
    return replace(
        config,
        variables=variables,
        stages=stages,
        engine=replace(config.engine, greeting=greeting),
        session=replace(
            config.session, silence_reminder=render(revision_config.get("silence_reminder", ""), variables)
        ),
    )
