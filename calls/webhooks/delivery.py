"""One delivery attempt: claim, sign, send through the SSRF guard, record the outcome, schedule
the next try.

No database transaction or row lock is held while the receiver is being called: the attempt
number is allocated first, the HTTP exchange runs with a bounded timeout, and the outcome is
written afterwards. A receiver that is down, slow or failing therefore delays nothing but its own
deliveries.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from calls.webhooks.models import (
    AttemptTrigger,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from calls.webhooks.signing import signature_headers
from voxsaas import metrics, safehttp

log = logging.getLogger(__name__)

# Exponential backoff: 30 s x 3^n, capped at a day. Ten retries after the first try, the last
# one about 75 hours (a bit over three days) after the event. The default of the
# WEBHOOK_RETRY_DELAYS_S setting, which the tasks pass in.
RETRY_DELAYS_S: tuple[int, ...] = tuple(min(30 * 3**n, 86_400) for n in range(10))
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS_S)
# An endpoint is disabled after this many failed attempts in a row spanning at least this long
# (so a short outage during a burst of events does not disable it), or at once on 410 Gone.
DISABLE_AFTER_FAILURES = 20
DISABLE_AFTER_FAILING_FOR = timedelta(hours=24)
SNIPPET_CHARS = 1000
USER_AGENT = "VoxSaaS-Webhooks/1.0"


def retry_delay(automatic_attempts_made: int, delays_s: Sequence[int] = RETRY_DELAYS_S) -> timedelta | None:
    """The wait before the next automatic attempt, or None when retries are exhausted."""
    if not 1 <= automatic_attempts_made <= len(delays_s):
        return None
    return timedelta(seconds=delays_s[automatic_attempts_made - 1])


def message_body(message: WebhookMessage) -> bytes:
    """The request body: the Standard Webhooks envelope, identical for every attempt."""
    envelope = {
        "type": message.event_type,
        "timestamp": message.created_at.isoformat().replace("+00:00", "Z"),
        "data": message.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class SendResult:
    succeeded: bool
    status_code: int | None
    snippet: str
    error: str
    duration_ms: int


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: WebhookAttempt | None
    next_attempt_at: datetime | None


def claim_due(*, tenant_id: int, delivery_pk: int, lease: timedelta) -> bool:
    """Take a due automatic attempt. The conditional UPDATE makes duplicate task messages (a
    broker redelivery, the sweeper and the scheduled task racing) harmless: one wins. The new
    ``next_attempt_at`` is a lease: if the worker dies mid-attempt, the sweeper retries later."""
    now = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(
            tenant_id=tenant_id, pk=delivery_pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + lease)
    )


def send(
    *, endpoint: WebhookEndpoint, message: WebhookMessage, timeout_s: float, allow_private: bool
) -> SendResult:
    body = message_body(message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(
            secret=endpoint.secret, msg_id=message.webhook_id, timestamp=int(time.time()), body=body
        ),
    }
    started = time.monotonic()
    try:
        response = safehttp.request(
            "POST",
            endpoint.url,
            content=body,
            headers=headers,
            timeout_s=timeout_s,
            max_bytes=4 * SNIPPET_CHARS,
            allow_private=allow_private,
        )
    except safehttp.SafeHttpError as exc:
        return SendResult(False, None, "", str(exc)[:300], round((time.monotonic() - started) * 1000))
    snippet = response.body.decode("utf-8", "replace")[:SNIPPET_CHARS]
    succeeded = 200 <= response.status_code < 300
    error = "" if succeeded else f"HTTP {response.status_code}"
    return SendResult(succeeded, response.status_code, snippet, error, response.elapsed_ms)


def attempt_delivery(
    *,
    tenant_id: int,
    delivery_pk: int,
    trigger: str,
    timeout_s: float,
    allow_private: bool,
    retry_delays_s: Sequence[int] = RETRY_DELAYS_S,
) -> AttemptOutcome:
    """Make one attempt now and record it. Returns when the next automatic attempt is due."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "message")
            .get(tenant_id=tenant_id, pk=delivery_pk)
        )
        if not delivery.endpoint.is_active:
            # Nothing is sent to a disabled endpoint; a replay after re-enabling it will be.
            if delivery.status == DeliveryStatus.PENDING:
                delivery.status = DeliveryStatus.FAILED
                delivery.last_error = "endpoint disabled"
                delivery.completed_at = timezone.now()
                delivery.next_attempt_at = None
                delivery.save(update_fields=["status", "last_error", "completed_at", "next_attempt_at"])
                _count_outcome("endpoint_disabled")
            return AttemptOutcome(None, None)
        delivery.attempt_count += 1
        delivery.save(update_fields=["attempt_count"])
        number = delivery.attempt_count
    result = send(
        endpoint=delivery.endpoint, message=delivery.message, timeout_s=timeout_s, allow_private=allow_private
    )
    return _record(
        tenant_id=tenant_id,
        delivery_pk=delivery_pk,
        number=number,
        trigger=trigger,
        result=result,
        retry_delays_s=retry_delays_s,
    )


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.is_active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:200]
    log.warning("webhook endpoint %s disabled: %s", endpoint.public_id, reason)


@transaction.atomic
def _record(
    *,
    tenant_id: int,
    delivery_pk: int,
    number: int,
    trigger: str,
    result: SendResult,
    retry_delays_s: Sequence[int],
) -> AttemptOutcome:
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_for_update().get(tenant_id=tenant_id, pk=delivery_pk)
    endpoint = WebhookEndpoint.objects.select_for_update().get(tenant_id=tenant_id, pk=delivery.endpoint_id)
    attempt = WebhookAttempt.objects.create(
        tenant_id=tenant_id,
        delivery=delivery,
        number=number,
        trigger=trigger,
        succeeded=result.succeeded,
        status_code=result.status_code,
        response_snippet=result.snippet,
        error=result.error,
        duration_ms=max(0, result.duration_ms),
        at=now,
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    endpoint.last_attempt_at = now
    endpoint.last_attempt_succeeded = result.succeeded
    endpoint.last_attempt_status_code = result.status_code
    endpoint.last_attempt_error = result.error
    if result.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.completed_at = now
        delivery.next_attempt_at = None
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
    else:
        # The endpoint row is locked: a plain increment is safe against concurrent attempts.
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        failures, since = endpoint.consecutive_failures, endpoint.failing_since
        if result.status_code == 410:
            _disable(endpoint, "The endpoint answered 410 Gone.", now)
        elif (
            endpoint.is_active
            and failures >= DISABLE_AFTER_FAILURES
            and now - since >= DISABLE_AFTER_FAILING_FOR
        ):
            _disable(endpoint, f"{failures} failed attempts in a row since {since:%Y-%m-%d %H:%M} UTC.", now)
        _schedule_after_failure(delivery, trigger, endpoint.is_active, now, retry_delays_s)
    endpoint.save(
        update_fields=[
            "consecutive_failures",
            "failing_since",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "last_attempt_at",
            "last_attempt_succeeded",
            "last_attempt_status_code",
            "last_attempt_error",
            "updated_at",
        ]
    )
    delivery.save()
    if result.succeeded:
        _count_outcome("succeeded")
    else:
        _count_outcome("retrying" if delivery.status == DeliveryStatus.PENDING else "failed")
    return AttemptOutcome(
        attempt, delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None
    )


def _count_outcome(outcome: str) -> None:
    """Prometheus ``voxsaas_webhook_deliveries_total{outcome}``, once the outcome is committed."""
    transaction.on_commit(lambda: metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome).inc())


def _schedule_after_failure(
    delivery: WebhookDelivery,
    trigger: str,
    endpoint_active: bool,
    now: datetime,
    retry_delays_s: Sequence[int],
) -> None:
    if trigger == AttemptTrigger.REPLAY and delivery.status == DeliveryStatus.PENDING and endpoint_active:
        return  # a failed replay leaves the automatic schedule as it was
    automatic = WebhookAttempt.objects.filter(delivery=delivery, trigger=AttemptTrigger.AUTOMATIC).count()
    delay = (
        retry_delay(automatic, retry_delays_s)
        if trigger == AttemptTrigger.AUTOMATIC and endpoint_active
        else None
    )
    if delay is not None:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + delay
    else:
        delivery.status = DeliveryStatus.FAILED
        delivery.completed_at = now
        delivery.next_attempt_at = None
