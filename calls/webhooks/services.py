"""Writes for webhooks: endpoints, emitting events, replaying deliveries.

``webhooks_emit`` is the one door for producers (post-call tasks, the media-stream consumer, the
booking and transfer code). It only writes rows and enqueues delivery tasks after the commit;
it never talks to a receiver, so emitting from the call path costs one short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.webhooks.models import (
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from calls.webhooks.signing import generate_secret
from tenants.models import Tenant
from voxsaas import safehttp

EVENT_TYPES = frozenset(EventType.values)


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def webhook_url_errors(
    url: str, *, allow_private: bool, resolver: safehttp.Resolver | None = None
) -> str | None:
    """The save-time check: the URL's shape (scheme, no credentials), then its address through
    the same guard as a delivery: a literal refused address, or a host name that resolves to one
    (a name that does not resolve now is accepted: it may be set up later). The guard runs again
    at every delivery, where it counts (DNS answers change)."""
    try:
        target = safehttp.split_url(url)
    except safehttp.SafeHttpError as exc:
        return str(exc)
    if not allow_private and (
        target.hostname == "localhost" or target.hostname.endswith((".localhost", ".local", ".internal"))
    ):
        return "This host is not reachable from the internet."
    try:
        # Looked up at call time (not bound as a default) so tests can stand in a resolver.
        safehttp.check_url(url, allow_private=allow_private, resolver=resolver or safehttp.system_resolve)
    except safehttp.BlockedAddress as exc:
        return str(exc)
    except safehttp.SafeHttpError as exc:
        if target.is_literal:
            return str(exc)
    return None


def _clean_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - EVENT_TYPES)
    if unknown or not event_types:
        raise ValidationError({"event_types": f"Choose one or more of {sorted(EVENT_TYPES)}."})
    return sorted(set(event_types))


@transaction.atomic
def webhook_endpoint_create(
    *, tenant: Tenant, url: str, event_types: list[str], description: str = ""
) -> CreatedEndpoint:
    error = webhook_url_errors(url, allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES)
    if error:
        raise ValidationError({"url": error})
    secret = generate_secret()
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant,
        url=url,
        event_types=_clean_event_types(event_types),
        description=description,
        secret=secret,
    )
    return CreatedEndpoint(endpoint, secret)


@transaction.atomic
def webhook_endpoint_update(*, tenant: Tenant, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    """Change url, description, event_types or is_active. Re-enabling clears the failure run."""
    row = WebhookEndpoint.objects.select_for_update().get(tenant=tenant, pk=endpoint.pk)
    if "url" in changes:
        error = webhook_url_errors(changes["url"], allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES)
        if error:
            raise ValidationError({"url": error})
        row.url = changes["url"]
    if "event_types" in changes:
        row.event_types = _clean_event_types(changes["event_types"])
    if "description" in changes:
        row.description = changes["description"]
    if "is_active" in changes and bool(changes["is_active"]) != row.is_active:
        row.is_active = bool(changes["is_active"])
        row.consecutive_failures = 0
        row.failing_since = None
        row.disabled_at = None if row.is_active else timezone.now()
        row.disabled_reason = "" if row.is_active else "Disabled by a user."
    row.save()
    return row


@transaction.atomic
def webhook_endpoint_rotate_secret(*, tenant: Tenant, endpoint: WebhookEndpoint) -> CreatedEndpoint:
    row = WebhookEndpoint.objects.select_for_update().get(tenant=tenant, pk=endpoint.pk)
    row.secret = generate_secret()
    row.save(update_fields=["secret", "updated_at"])
    return CreatedEndpoint(row, row.secret)


def webhook_endpoint_delete(*, tenant: Tenant, endpoint: WebhookEndpoint) -> None:
    WebhookEndpoint.objects.filter(tenant=tenant, pk=endpoint.pk).delete()


def _enqueue(tenant_id: int, delivery_pks: list[int]) -> None:
    from calls.webhooks.tasks import webhook_deliver

    for pk in delivery_pks:
        webhook_deliver.delay(pk, tenant_id)


def webhooks_emit(
    *, tenant_id: int, event_type: str, payload: dict[str, Any], dedup_key: str
) -> WebhookMessage | None:
    """Store an event for every active endpoint subscribed to it and enqueue the deliveries
    (after the surrounding transaction commits). Idempotent on ``dedup_key`` (unique per
    tenant, e.g. ``"call.ended:<call id>"``): a second emit returns the stored message and
    creates no delivery. Returns None when no endpoint wants this event type."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    dedup_key = dedup_key[:200]
    with transaction.atomic():
        existing = WebhookMessage.objects.filter(tenant_id=tenant_id, dedup_key=dedup_key).first()
        if existing is not None:
            return existing
        endpoints = [
            e
            for e in WebhookEndpoint.objects.filter(tenant_id=tenant_id, is_active=True).only(
                "pk", "event_types"
            )
            if e.receives(event_type)
        ]
        if not endpoints:
            return None
        try:
            with transaction.atomic():  # a savepoint: a concurrent emit of the same event loses here
                message = WebhookMessage.objects.create(
                    tenant_id=tenant_id, event_type=event_type, payload=payload, dedup_key=dedup_key
                )
        except IntegrityError:
            return WebhookMessage.objects.get(tenant_id=tenant_id, dedup_key=dedup_key)
        now = timezone.now()
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(tenant_id=tenant_id, endpoint=e, message=message, next_attempt_at=now)
                for e in endpoints
            ]
        )
        pks = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(tenant_id, pks))
    return message


def webhook_delivery_replay(*, tenant: Tenant, delivery: WebhookDelivery) -> None:
    """Send the delivery's message again now (in a task), whatever its state. The message keeps
    its ``webhook-id``, so a receiver that already processed it can recognise the repeat."""
    from calls.webhooks.tasks import webhook_replay

    row = WebhookDelivery.objects.select_related("endpoint").get(tenant=tenant, pk=delivery.pk)
    if not row.endpoint.is_active:
        raise ValidationError("The endpoint is disabled; enable it before replaying.")
    transaction.on_commit(lambda: webhook_replay.delay(row.pk, tenant.pk))


@dataclass(frozen=True)
class TestEventResult:
    """What happened to a test event: sent or refused, and the receiver's answer."""

    event_type: str
    webhook_id: str
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str
    error: str


def webhook_endpoint_send_test(
    *, tenant: Tenant, endpoint: WebhookEndpoint, event_type: str
) -> TestEventResult:
    """Send an example event (``samples.py``) to the endpoint now, signed with its secret and
    through the same sender and SSRF guard as a delivery, and report the outcome. Nothing is
    stored: a test neither appears in the delivery log nor counts toward auto-disabling. It is
    sent to a disabled endpoint too (that is how one checks a fix before re-enabling it)."""
    from calls.webhooks import delivery, samples

    if event_type not in EVENT_TYPES:
        raise ValidationError({"event_type": f"Choose one of {sorted(EVENT_TYPES)}."})
    row = WebhookEndpoint.objects.get(tenant=tenant, pk=endpoint.pk)
    now = timezone.now()
    message = WebhookMessage(  # never saved: its id is fresh, so receivers see a new event
        tenant=tenant,
        event_type=event_type,
        payload=samples.sample_payload(event_type, now=now),
        dedup_key="test",
        created_at=now,
    )
    result = delivery.send(
        endpoint=row,
        message=message,
        timeout_s=float(settings.WEBHOOK_DELIVERY_TIMEOUT_S),
        allow_private=bool(settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES),
    )
    return TestEventResult(
        event_type=event_type,
        webhook_id=message.webhook_id,
        succeeded=result.succeeded,
        status_code=result.status_code,
        duration_ms=max(0, result.duration_ms),
        response_excerpt=result.snippet,
        error=result.error,
    )


def deliveries_due(*, limit: int = 500) -> list[tuple[int, int]]:
    """(delivery pk, tenant id) of pending deliveries whose attempt is due (for the sweeper)."""
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", "tenant_id")[:limit]
    )
