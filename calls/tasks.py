"""Post-call processing as a Celery chain: summary -> usage -> webhooks; and the reaper of
calls whose worker died.

Enqueued by ``calls.services.call_end`` with ``transaction.on_commit`` (never for a call that is
not committed as ended). Each task takes ids, re-reads the call with its tenant in the query, is
idempotent (unique summary and usage per call, webhook messages deduplicated per call and event)
and is acknowledged late and rejected on a lost worker, so a crash re-runs it safely.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from celery import chain, shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from calls import services
from calls.postcall import services as postcall
from calls.webhooks import events
from voxsaas import metrics
from voxsaas.jsonlog import call_logging

log = logging.getLogger(__name__)

_RETRYING: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    # A database hiccup: retry with backoff. The LLM never raises (it falls back to extractive).
    "autoretry_for": (OperationalError,),
    "retry_backoff": 5,
    "max_retries": 5,
}


@shared_task(name="calls.postcall_summarize", **_RETRYING)
def call_summarize(tenant_id: int, call_pk: int) -> None:
    postcall.call_summary_create(
        tenant_id=tenant_id, call_pk=call_pk, allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES
    )


@shared_task(name="calls.postcall_usage", **_RETRYING)
def call_record_usage(tenant_id: int, call_pk: int) -> None:
    postcall.call_usage_record(
        tenant_id=tenant_id, call_pk=call_pk, price_per_minute=Decimal(settings.USAGE_PRICE_PER_MINUTE)
    )


@shared_task(name="calls.postcall_webhooks", **_RETRYING)
def call_emit_ended_webhooks(tenant_id: int, call_pk: int) -> None:
    events.call_ended_emit(tenant_id=tenant_id, call_pk=call_pk)
    events.call_summarized_emit(tenant_id=tenant_id, call_pk=call_pk)


def postcall_chain(tenant_id: int, call_pk: int) -> Any:
    return chain(
        call_summarize.si(tenant_id, call_pk),
        call_record_usage.si(tenant_id, call_pk),
        call_emit_ended_webhooks.si(tenant_id, call_pk),
    )


def postcall_run(*, tenant_id: int, call_pk: int) -> None:
    """Run the whole chain in this process (tests, management commands, re-processing)."""
    call_summarize(tenant_id, call_pk)
    call_record_usage(tenant_id, call_pk)
    call_emit_ended_webhooks(tenant_id, call_pk)


def postcall_enqueue(*, tenant_id: int, call_pk: int) -> None:
    """Start post-call processing once the surrounding transaction has committed."""
    transaction.on_commit(lambda: postcall_chain(tenant_id, call_pk).apply_async())


@shared_task(name="calls.reap_lost_calls", ignore_result=True)
def reap_lost_calls() -> int:
    """Periodic (celery beat, every CALL_REAPER_INTERVAL_S): end every bridged call whose
    heartbeat is older than CALL_HEARTBEAT_TIMEOUT_S, with reason ``worker_lost``. Safe to run
    twice or on two workers at once: each call is re-checked under its row lock and ``call_end``
    is idempotent, so post-call work and ``call.ended`` happen once. Returns how many it ended."""
    stale_before = services.heartbeat_cutoff()
    reaped = 0
    for tenant_id, call_pk in services.lost_calls(stale_before=stale_before):
        call = services.call_reap_lost(tenant_id=tenant_id, call_pk=call_pk, stale_before=stale_before)
        if call is None:
            continue
        reaped += 1
        metrics.CALLS_REAPED.inc()
        with call_logging(call_id=str(call.public_id), tenant_id=tenant_id):
            log.warning("call ended: its worker %s stopped beating at %s", call.worker_id, call.heartbeat_at)
    return reaped
