"""Writes of post-call processing. Each function takes ids, re-reads the call with the tenant in
the query, and is idempotent: the summary and the usage record are unique per call, so running
a step again returns what is stored (no second LLM request, no second row)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction

from agents.models import Engine
from calls.models import Call, TranscriptSegment
from calls.postcall import summary as summarise
from calls.postcall.models import CallSummary, CallUsage, FieldsStatus, SummarySource
from tenants.models import ProviderCredential
from voxsaas import safehttp

log = logging.getLogger(__name__)

LLM_TIMEOUT_S = 60.0
DEFAULT_LLM_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class SummaryConfig:
    prompt: str
    schema: dict[str, Any]
    engine: str
    llm_base_url: str
    llm_model: str


def summary_config(call: Call) -> SummaryConfig:
    """The summary settings the call ran with: its agent revision's, else the agent's now."""
    revision = getattr(call, "agent_revision", None)
    source: dict[str, Any] = dict(getattr(revision, "config", None) or {})
    agent = call.agent
    if not source and agent is not None:
        source = {
            name: getattr(agent, name)
            for name in ("summary_prompt", "summary_schema", "engine", "llm_base_url", "llm_model")
        }
    schema = source.get("summary_schema") or {}
    return SummaryConfig(
        prompt=str(source.get("summary_prompt") or ""),
        schema=schema if isinstance(schema, dict) else {},
        engine=str(source.get("engine") or call.engine or Engine.LOCAL),
        llm_base_url=str(source.get("llm_base_url") or ""),
        llm_model=str(source.get("llm_model") or ""),
    )


def llm_target(*, tenant_id: int, config: SummaryConfig, allow_private: bool) -> summarise.LlmTarget | None:
    """Which OpenAI-compatible endpoint summarises this call, or None for an extractive summary.

    The agent's own LLM URL first (with the tenant's "OpenAI-compatible LLM" key, if any: an
    OpenAI key is never sent to a URL a tenant typed in); else none for the local engine; else
    the tenant's LLM or OpenAI credential. Tenant-supplied URLs pass the SSRF address check."""
    credentials = {c.provider: c for c in ProviderCredential.objects.filter(tenant_id=tenant_id)}
    llm = credentials.get(ProviderCredential.Provider.LLM)
    openai = credentials.get(ProviderCredential.Provider.OPENAI)
    model = config.llm_model or DEFAULT_LLM_MODEL
    if config.llm_base_url:
        base_url, api_key, tenant_url = config.llm_base_url, (llm.api_key if llm else ""), True
    elif config.engine == Engine.LOCAL:
        return None
    elif llm is not None and llm.base_url:
        base_url, api_key, tenant_url = llm.base_url, llm.api_key, True
    elif openai is not None:
        base_url = openai.base_url or settings.OPENAI_API_BASE_URL
        api_key, tenant_url = openai.api_key, bool(openai.base_url)
    else:
        return None
    if tenant_url:
        safehttp.check_url(base_url, allow_private=allow_private)  # raises SafeHttpError
    return summarise.LlmTarget(base_url=base_url, api_key=api_key, model=model)


def _transcript(tenant_id: int, call_pk: int) -> list[summarise.Line]:
    rows = TranscriptSegment.objects.filter(tenant_id=tenant_id, call_id=call_pk).order_by(
        "start_ms", "ordinal", "pk"
    )
    return [(row.speaker, row.text) for row in rows]


def _structured(schema: dict[str, Any], raw: str | None) -> dict[str, Any]:
    if not schema:
        return {"fields_status": FieldsStatus.NOT_REQUESTED}
    problem = summarise.schema_errors(schema)
    if problem:
        return {"fields_status": FieldsStatus.INVALID, "fields_errors": [problem]}
    if raw is None:
        return {"fields_status": FieldsStatus.UNAVAILABLE, "fields_errors": ["No language model was used."]}
    value = summarise.parse_json_object(raw)
    if value is None:
        return {
            "fields_status": FieldsStatus.INVALID,
            "fields_errors": ["The model's answer is not a JSON object."],
            "fields_raw": raw[:2000],
        }
    errors = summarise.validation_errors(schema, value)
    if errors:
        return {"fields_status": FieldsStatus.INVALID, "fields_errors": errors, "fields_raw": raw[:2000]}
    return {"fields_status": FieldsStatus.VALID, "structured_fields": value}


def call_summary_create(*, tenant_id: int, call_pk: int, allow_private: bool) -> CallSummary:
    existing = CallSummary.objects.filter(tenant_id=tenant_id, call_id=call_pk).first()
    if existing is not None:
        return existing
    call = Call.objects.select_related("agent").get(tenant_id=tenant_id, pk=call_pk)
    config = summary_config(call)
    lines = _transcript(tenant_id, call_pk)
    fields: dict[str, Any] = {"source": SummarySource.EXTRACTIVE, "text": summarise.extractive_summary(lines)}
    raw_fields: str | None = None
    try:
        target = llm_target(tenant_id=tenant_id, config=config, allow_private=allow_private)
        if target is not None:
            text, raw_fields = async_to_sync(summarise.summarise_with_llm)(
                target,
                prompt=config.prompt,
                transcript=summarise.transcript_text(lines),
                schema=config.schema or None,
                timeout_s=LLM_TIMEOUT_S,
            )
            fields.update(source=SummarySource.LLM, text=text, model=target.model)
    except (summarise.SummaryError, safehttp.SafeHttpError) as exc:
        # The extractive summary stands in; the reason is kept for the dashboard.
        log.warning("call %s: LLM summary failed: %s", call_pk, exc)
        fields["error"] = str(exc)[:300]
    fields.update(_structured(config.schema, raw_fields))
    try:
        with transaction.atomic():
            return CallSummary.objects.create(tenant_id=tenant_id, call_id=call_pk, **fields)
    except IntegrityError:  # a concurrent run stored it first
        return CallSummary.objects.get(tenant_id=tenant_id, call_id=call_pk)


def billable_seconds(call: Call) -> int:
    if call.duration_s is not None:
        return int(call.duration_s)
    if call.answered_at and call.ended_at:
        return max(0, int((call.ended_at - call.answered_at).total_seconds()))
    return 0


def call_usage_record(*, tenant_id: int, call_pk: int, price_per_minute: Decimal) -> CallUsage:
    """Billable seconds, minutes rounded up per call (60 s and 61 s are 1 and 2 minutes), cost."""
    existing = CallUsage.objects.filter(tenant_id=tenant_id, call_id=call_pk).first()
    if existing is not None:
        return existing
    call = Call.objects.get(tenant_id=tenant_id, pk=call_pk)
    seconds = billable_seconds(call)
    minutes = math.ceil(seconds / 60)
    month = (call.ended_at or call.created_at).date().replace(day=1)
    usage, _ = CallUsage.objects.get_or_create(
        tenant_id=tenant_id,
        call_id=call_pk,
        defaults={
            "month": month,
            "billable_seconds": seconds,
            "billed_minutes": minutes,
            "price_per_minute": price_per_minute,
            "cost": price_per_minute * minutes,
            "engine_usage": dict(call.usage or {}),
        },
    )
    return usage
