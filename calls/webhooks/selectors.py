"""Reads for the webhook pages, always with the tenant in the query.

A delivery's dashboard state splits the stored ``pending`` in two: ``pending`` (no attempt has
failed yet: the first one is due or running) and ``retrying`` (an attempt failed and the next
automatic one is scheduled). ``succeeded`` is shown as ``delivered``.

Delivery lists are keyset-paginated (newest first, by ``(created_at, id)``) like the call list,
so page 1 and page 2,000 cost the same; the payload is not read for a list.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet, TextChoices

from calls.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant
from voxsaas.keyset import Cursor, keyset_page

DELIVERY_PAGE_SIZE = 50
ATTEMPTS_SHOWN = 100


class DeliveryState(TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


_STATE_FILTERS: dict[str, Q] = {
    DeliveryState.PENDING: Q(status=DeliveryStatus.PENDING, last_error=""),
    DeliveryState.RETRYING: Q(status=DeliveryStatus.PENDING) & ~Q(last_error=""),
    DeliveryState.DELIVERED: Q(status=DeliveryStatus.SUCCEEDED),
    DeliveryState.FAILED: Q(status=DeliveryStatus.FAILED),
}


def delivery_state(delivery: WebhookDelivery) -> str:
    if delivery.status == DeliveryStatus.SUCCEEDED:
        return DeliveryState.DELIVERED
    if delivery.status == DeliveryStatus.FAILED:
        return DeliveryState.FAILED
    return DeliveryState.RETRYING if delivery.last_error else DeliveryState.PENDING


def endpoints_for_list(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    """The tenant's endpoints, active first then newest; the secret is not read."""
    return (
        WebhookEndpoint.objects.filter(tenant=tenant)
        .defer("secret")
        .order_by("-is_active", "-created_at", "-pk")
    )


def filtered_deliveries(
    *,
    tenant: Tenant,
    endpoint: WebhookEndpoint | None = None,
    state: str = "",
    event_type: str = "",
) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(tenant=tenant)
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if state:
        deliveries = deliveries.filter(_STATE_FILTERS[state])
    if event_type:
        deliveries = deliveries.filter(message__event_type=event_type)
    return deliveries


@dataclass(frozen=True)
class DeliveryRow:
    delivery: WebhookDelivery
    state: str


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    newer: str | None  # cursor for the page of newer deliveries, if any
    older: str | None  # cursor for the page of older deliveries, if any


def delivery_page(
    deliveries: QuerySet[WebhookDelivery],
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = DELIVERY_PAGE_SIZE,
) -> DeliveryPage:
    """One page of ``deliveries``, newest first: the newest, those just older than ``after``,
    or just newer than ``before``. One query, with the endpoint and the event type."""
    rows_with = deliveries.select_related("endpoint", "message").only(
        "public_id",
        "created_at",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "completed_at",
        "endpoint__public_id",
        "endpoint__url",
        "endpoint__tenant_id",
        "message__public_id",
        "message__event_type",
        "message__tenant_id",
    )
    page = keyset_page(rows_with, after=after, before=before, size=size)
    return DeliveryPage([DeliveryRow(d, delivery_state(d)) for d in page.rows], page.newer, page.older)


@dataclass(frozen=True)
class AttemptLog:
    attempts: list[WebhookAttempt]  # oldest first, at most ATTEMPTS_SHOWN (the latest ones)
    hidden: int  # older attempts not shown


def delivery_attempts(
    *, tenant: Tenant, delivery: WebhookDelivery, limit: int = ATTEMPTS_SHOWN
) -> AttemptLog:
    """The delivery's attempt log: the latest ``limit`` attempts, oldest first (two queries)."""
    attempts = WebhookAttempt.objects.filter(tenant=tenant, delivery=delivery)
    latest = list(attempts.order_by("-number")[:limit])
    hidden = attempts.count() - len(latest) if len(latest) == limit else 0
    return AttemptLog(latest[::-1], hidden)


def endpoint_choices(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    """The tenant's endpoints for a filter menu (by URL)."""
    return (
        WebhookEndpoint.objects.filter(tenant=tenant)
        .only("public_id", "url", "description")
        .order_by("url", "pk")
    )
