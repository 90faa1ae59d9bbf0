"""Celery tasks for webhook deliveries. They take ids (delivery, tenant), never objects, and
re-read everything with the tenant in the query; all are safe to run twice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from calls.webhooks import delivery, services
from calls.webhooks.models import AttemptTrigger

log = logging.getLogger(__name__)


def _options() -> dict[str, Any]:
    return {
        "timeout_s": float(settings.WEBHOOK_DELIVERY_TIMEOUT_S),
        "allow_private": bool(settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES),
        "retry_delays_s": tuple(settings.WEBHOOK_RETRY_DELAYS_S),
    }


def schedule_delivery(delivery_pk: int, tenant_id: int, eta: datetime) -> None:
    """Enqueue the next automatic attempt at ``eta``, if it is due within WEBHOOK_ETA_MAX_S; a
    later one is enqueued by the due-delivery sweep when it is due. A worker holds an ETA message
    unacknowledged until then, and Redis hands such a message to another worker every
    BROKER_VISIBILITY_TIMEOUT_S: a day-long wait would pile up copies in the workers' memory.
    In eager mode (development without a broker, tests) nothing is scheduled: running it now
    would retry at once, so the sweeper (or a test) drives it instead."""
    if webhook_deliver.app.conf.task_always_eager:
        return
    if (eta - timezone.now()).total_seconds() > float(settings.WEBHOOK_ETA_MAX_S):
        return
    webhook_deliver.apply_async((delivery_pk, tenant_id), eta=eta)


@shared_task(name="webhooks.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_deliver(delivery_pk: int, tenant_id: int) -> None:
    """The due automatic attempt of a delivery; a no-op if it is not due (a duplicate message)."""
    options = _options()
    lease = timedelta(seconds=float(options["timeout_s"]) + 60)
    if not delivery.claim_due(tenant_id=tenant_id, delivery_pk=delivery_pk, lease=lease):
        return
    outcome = delivery.attempt_delivery(
        tenant_id=tenant_id, delivery_pk=delivery_pk, trigger=AttemptTrigger.AUTOMATIC, **options
    )
    if outcome.next_attempt_at is not None:
        schedule_delivery(delivery_pk, tenant_id, outcome.next_attempt_at)


@shared_task(name="webhooks.replay", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_replay(delivery_pk: int, tenant_id: int) -> None:
    delivery.attempt_delivery(
        tenant_id=tenant_id, delivery_pk=delivery_pk, trigger=AttemptTrigger.REPLAY, **_options()
    )


@shared_task(name="webhooks.dispatch_due", ignore_result=True)
def webhooks_dispatch_due() -> int:
    """Periodic safety net (celery beat, every minute): enqueue every due attempt. Covers a lost
    broker message, a worker that died mid-attempt (its lease expires) and eager mode."""
    due = services.deliveries_due()
    for delivery_pk, tenant_id in due:
        webhook_deliver.delay(delivery_pk, tenant_id)
    return len(due)
