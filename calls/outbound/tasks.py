"""Housekeeping for outbound calls."""

from __future__ import annotations

from celery import shared_task

from calls.outbound.services import idempotency_purge


@shared_task(name="outbound.purge_idempotency", ignore_result=True)
def outbound_purge_idempotency() -> int:
    """Forget idempotency records past their 24-hour window (celery beat, hourly)."""
    return idempotency_purge()
