"""Webhooks: endpoints, deliveries, replay."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any
from unittest import mock

from django.utils import timezone

from calls.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from calls.webhooks.services import webhook_endpoint_create, webhooks_emit
from tests.dashboard.conftest import Side, World
from tests.dashboard.pagekit import Action, Page, _u, extra

ENDPOINT = extra("webhook_endpoint")
DELIVERY = extra("webhook_delivery")


def _endpoint_form(side: Side) -> dict[str, Any]:
    return {
        "url": "https://forged.example.test/hook",
        "description": "Forged",
        "event_types": ["call.started"],
    }


PAGES: dict[str, Page] = {
    "webhooks": Page("viewer", _u("webhooks")),
    "webhook-new": Page("admin", _u("webhook-new")),
    "webhook": Page("viewer", _u("webhook", ENDPOINT), detail=True),
    "webhook-deliveries": Page("viewer", _u("webhook-deliveries")),
    "webhook-delivery": Page("viewer", _u("webhook-delivery", DELIVERY), detail=True),
}
ACTIONS: dict[str, Action] = {
    "webhook-new": Action("admin", _u("webhook-new"), _endpoint_form, False),
    "webhook": Action("admin", _u("webhook", ENDPOINT), _endpoint_form),
    "webhook-test": Action("admin", _u("webhook-test", ENDPOINT), lambda s: {"event_type": "call.ended"}),
    "webhook-disable": Action("admin", _u("webhook-disable", ENDPOINT), lambda s: {}),
    "webhook-enable": Action("admin", _u("webhook-enable", ENDPOINT), lambda s: {}),
    "webhook-rotate-secret": Action("admin", _u("webhook-rotate-secret", ENDPOINT), lambda s: {}),
    "webhook-delete": Action("admin", _u("webhook-delete", ENDPOINT), lambda s: {}),
    "webhook-delivery-replay": Action("admin", _u("webhook-delivery-replay", DELIVERY), lambda s: {}),
}


def populate(side: Side, suffix: str) -> dict[str, Any]:
    """An endpoint (on a reserved .test name: nothing is ever reached) with one delivery of the
    side's call that failed once and is waiting for its retry."""
    tenant = side.tenant
    endpoint = webhook_endpoint_create(
        tenant=tenant,
        url=f"https://hooks-{suffix}.example.test/voxsaas",
        event_types=["call.ended", "call.summarized"],
        description=f"CRM sync {suffix}",
    ).endpoint
    # Queue it without sending it: a test that commits (and runs tasks eagerly) would otherwise
    # make the first attempt here; this row's history is the one written below.
    with mock.patch("calls.webhooks.services._enqueue"):
        message = webhooks_emit(
            tenant_id=tenant.pk,
            event_type="call.ended",
            payload={"id": str(side.call.public_id), "transcript_text": f"Agent: Hello from {suffix}."},
            dedup_key=f"call.ended:{side.call.public_id}",
        )
    assert message is not None
    delivery = WebhookDelivery.objects.get(tenant=tenant, endpoint=endpoint, message=message)
    now = timezone.now()
    WebhookAttempt.objects.create(
        tenant=tenant,
        delivery=delivery,
        number=1,
        status_code=503,
        response_snippet=f"busy {suffix}",
        error="HTTP 503",
        duration_ms=120,
        at=now,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempt_count=1,
        last_status_code=503,
        last_error="HTTP 503",
        next_attempt_at=now + timedelta(seconds=30),
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=1,
        failing_since=now,
        last_attempt_at=now,
        last_attempt_succeeded=False,
        last_attempt_status_code=503,
        last_attempt_error="HTTP 503",
    )
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    return {"webhook_endpoint": endpoint, "webhook_delivery": delivery}


def snapshot() -> dict[str, list[Any]]:
    """Every row a write of this area could change."""
    return {
        "webhook_endpoints": list(
            WebhookEndpoint.objects.order_by("pk").values_list(
                "pk", "url", "description", "event_types", "is_active", "secret", "consecutive_failures"
            )
        ),
        "webhook_deliveries": list(
            WebhookDelivery.objects.order_by("pk").values_list(
                "pk", "status", "attempt_count", "next_attempt_at", "last_error"
            )
        ),
        "webhook_attempts": list(
            WebhookAttempt.objects.order_by("pk").values_list("pk", "delivery_id", "trigger")
        ),
    }


# Seeds for tests/dashboard/test_query_counts.py: n more rows of each list, in tenant A.
_serial = itertools.count()


def seed_endpoints(world: World, n: int) -> None:
    now = timezone.now()
    for i in itertools.islice(_serial, n):
        WebhookEndpoint.objects.create(
            tenant=world.a.tenant,
            url=f"https://hooks-{i:03d}.example.test/h",
            event_types=["call.ended", "tool.invoked"],
            secret=f"whsec_seed{i}",
            consecutive_failures=i % 3,
            last_attempt_at=now,
            last_attempt_succeeded=bool(i % 2),
            last_attempt_status_code=200 if i % 2 else 500,
        )


def seed_deliveries(world: World, n: int) -> None:
    """Deliveries to A's endpoint, each with a failed attempt (so they are "retrying")."""
    endpoint = world.a.extra["webhook_endpoint"]
    for i in itertools.islice(_serial, n):
        message = webhooks_emit(
            tenant_id=world.a.tenant.pk, event_type="call.ended", payload={"i": i}, dedup_key=f"seed:{i}"
        )
        delivery = WebhookDelivery.objects.get(message=message, endpoint=endpoint)
        WebhookAttempt.objects.create(tenant=world.a.tenant, delivery=delivery, number=1, error="HTTP 500")
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempt_count=1, last_status_code=500, last_error="HTTP 500"
        )


def seed_attempts(world: World, n: int) -> None:
    """More attempts (replays) in the log of A's delivery."""
    delivery = world.a.extra["webhook_delivery"]
    number = WebhookAttempt.objects.filter(delivery=delivery).count()
    for _ in range(n):
        number += 1
        WebhookAttempt.objects.create(
            tenant=world.a.tenant,
            delivery=delivery,
            number=number,
            trigger="replay",
            succeeded=True,
            status_code=200,
            response_snippet="ok",
        )
