"""Webhook deliveries against a fake receiver: Standard Webhooks signatures verified by the
reference library, retries with backoff, replay, auto-disable, timeouts, the SSRF guard."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from calls.webhooks import delivery as delivery_module
from calls.webhooks.delivery import DISABLE_AFTER_FAILURES, MAX_ATTEMPTS, RETRY_DELAYS_S, retry_delay
from calls.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from calls.webhooks.services import CreatedEndpoint, webhook_endpoint_create, webhooks_emit
from calls.webhooks.tasks import webhook_deliver
from tests.api.conftest import Keys, api
from tests.calls.conftest import Telephony
from tests.fakes.webhook_receiver import HANG, FakeWebhookReceiver, Reply

pytestmark = pytest.mark.usefixtures("allow_private", "eager_celery")


@pytest.fixture
def endpoint(telephony: Telephony, receiver: FakeWebhookReceiver) -> CreatedEndpoint:
    return webhook_endpoint_create(
        tenant=telephony.cast.tenant_a, url=receiver.url, event_types=["call.ended", "call.started"]
    )


def emit(tenant_id: int, key: str = "call.ended:1", event_type: str = "call.ended") -> WebhookMessage | None:
    return webhooks_emit(tenant_id=tenant_id, event_type=event_type, payload={"call_id": key}, dedup_key=key)


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_signature_verifies_with_standardwebhooks(
    endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = emit(endpoint.endpoint.tenant_id)
    assert message is not None
    (request,) = receiver.requests
    verified = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert verified["type"] == "call.ended" and verified["data"] == {"call_id": "call.ended:1"}
    assert request.headers["webhook-id"] == message.webhook_id
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    # A different secret must not verify: the check is real.
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.last_status_code == 200


def test_retry_on_500_then_success(
    endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.script(500)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 500
    assert delivery.next_attempt_at is not None
    assert (
        before + timedelta(seconds=30) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=31)
    )

    webhook_deliver(delivery.pk, delivery.tenant_id)  # not due yet: nothing happens
    assert len(receiver.requests) == 1
    make_due(delivery)
    webhook_deliver(delivery.pk, delivery.tenant_id)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.completed_at is not None
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [(1, 500, False), (2, 200, True)]
    assert attempts[0].response_snippet == "scripted" and attempts[0].error == "HTTP 500"
    assert all(a.duration_ms < 10_000 for a in attempts)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    for request in (first, second):
        Webhook(endpoint.secret).verify(request.body, request.headers)
    endpoint.endpoint.refresh_from_db()
    assert endpoint.endpoint.consecutive_failures == 0 and endpoint.endpoint.failing_since is None


def test_backoff_schedule_spans_about_three_days_then_gives_up(
    endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    assert list(RETRY_DELAYS_S) == [30, 90, 270, 810, 2430, 7290, 21870, 65610, 86400, 86400]
    assert all(later > earlier for earlier, later in zip(RETRY_DELAYS_S, RETRY_DELAYS_S[1:8], strict=False))
    total = timedelta(seconds=sum(RETRY_DELAYS_S))
    assert timedelta(days=2.5) < total < timedelta(days=3.5)
    assert retry_delay(0) is None and retry_delay(len(RETRY_DELAYS_S) + 1) is None

    receiver.default = Reply(500, b"down")
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    delivery = WebhookDelivery.objects.get()
    for attempt in range(1, MAX_ATTEMPTS):
        delivery.refresh_from_db()
        last = WebhookAttempt.objects.filter(delivery=delivery).order_by("-number").first()
        assert last is not None and last.number == attempt
        assert delivery.next_attempt_at is not None
        waited = (delivery.next_attempt_at - last.at).total_seconds()
        assert waited == RETRY_DELAYS_S[attempt - 1]
        make_due(delivery)
        webhook_deliver(delivery.pk, delivery.tenant_id)
    delivery.refresh_from_db()
    assert delivery.attempt_count == MAX_ATTEMPTS == len(receiver.requests)
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None


def test_duplicate_task_messages_attempt_once(
    endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.script(500)
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)
    webhook_deliver(delivery.pk, delivery.tenant_id)
    webhook_deliver(delivery.pk, delivery.tenant_id)  # a redelivered copy of the same message
    assert len(receiver.requests) == 2


def test_replay_through_the_api(
    endpoint: CreatedEndpoint,
    receiver: FakeWebhookReceiver,
    keys: Keys,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(keys.write_a).post(f"/api/v1/webhook-deliveries/{delivery.public_id}/replay")
    assert response.status_code == 202
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    Webhook(endpoint.secret).verify(receiver.requests[1].body, receiver.requests[1].headers)
    log = api(keys.read_a).get(f"/api/v1/webhook-deliveries/{delivery.public_id}").json()
    assert [(a["number"], a["trigger"], a["status_code"]) for a in log["attempts"]] == [
        (1, "automatic", 200),
        (2, "replay", 200),
    ]
    assert log["status"] == "succeeded"
    assert api(keys.read_a).post(f"/api/v1/webhook-deliveries/{delivery.public_id}/replay").status_code == 403


def test_410_disables_the_endpoint(
    endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.script(410)
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    row = WebhookEndpoint.objects.get(pk=endpoint.endpoint.pk)
    assert not row.is_active and "410" in row.disabled_reason and row.disabled_at is not None
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    # Later events are not even stored for it.
    assert emit(row.tenant_id, key="call.ended:2") is None
    assert WebhookDelivery.objects.count() == 1


def test_long_failure_run_disables_but_a_short_burst_does_not(
    endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.default = Reply(500, b"down")
    row = endpoint.endpoint
    # Many failures within minutes (a burst of events during a short outage): still enabled.
    WebhookEndpoint.objects.filter(pk=row.pk).update(
        consecutive_failures=DISABLE_AFTER_FAILURES + 5, failing_since=timezone.now() - timedelta(minutes=10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        emit(row.tenant_id, key="burst")
    row.refresh_from_db()
    assert row.is_active and row.consecutive_failures == DISABLE_AFTER_FAILURES + 6
    # The same run of failures lasting a day: disabled, and pending deliveries stop.
    WebhookEndpoint.objects.filter(pk=row.pk).update(failing_since=timezone.now() - timedelta(hours=25))
    with django_capture_on_commit_callbacks(execute=True):
        emit(row.tenant_id, key="long-run")
    row.refresh_from_db()
    assert not row.is_active and "failed attempts in a row" in row.disabled_reason
    burst = WebhookDelivery.objects.get(message__dedup_key="burst")
    make_due(burst)
    webhook_deliver(burst.pk, burst.tenant_id)
    burst.refresh_from_db()
    assert burst.status == DeliveryStatus.FAILED and burst.last_error == "endpoint disabled"
    assert len(receiver.requests) == 2


def test_slow_receiver_times_out_without_blocking_and_loses_nothing(
    endpoint: CreatedEndpoint,
    receiver: FakeWebhookReceiver,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.WEBHOOK_DELIVERY_TIMEOUT_S = 0.5
    # Emitting only writes rows and enqueues: the receiver is not contacted on the caller's path.
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(webhook_deliver, "delay", lambda *args: queued.append(args))
    receiver.script(HANG)
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    assert receiver.requests == [] and len(queued) == 1

    started = time.monotonic()
    webhook_deliver(*queued[0])  # the worker's attempt: bounded by the timeout
    assert time.monotonic() - started < 5
    delivery = WebhookDelivery.objects.get()
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and "timed out" in attempt.error
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    make_due(delivery)
    webhook_deliver(delivery.pk, delivery.tenant_id)  # the receiver is back (default 200)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_guard_refuses_loopback_unless_allowed(
    endpoint: CreatedEndpoint,
    receiver: FakeWebhookReceiver,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = False
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get()
    assert "refused address" in attempt.error and "loopback" in attempt.error
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING  # retried later, not lost


def test_emit_is_idempotent_and_follows_subscriptions(
    telephony: Telephony, endpoint: CreatedEndpoint, receiver: FakeWebhookReceiver
) -> None:
    tenant = telephony.cast.tenant_a
    other = webhook_endpoint_create(tenant=tenant, url=receiver.url, event_types=["booking.created"]).endpoint
    paused = webhook_endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.ended"]).endpoint
    WebhookEndpoint.objects.filter(pk=paused.pk).update(is_active=False)
    first = emit(tenant.pk)
    again = emit(tenant.pk)
    assert first is not None and again is not None and first.pk == again.pk
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [endpoint.endpoint.pk]
    assert other.pk != endpoint.endpoint.pk
    # Tenant B has no endpoints: its events are not stored at all.
    assert emit(telephony.cast.tenant_b.pk) is None
    with pytest.raises(ValueError, match="unknown webhook event type"):
        emit(tenant.pk, event_type="call.exploded")


def test_message_body_is_the_standard_envelope(endpoint: CreatedEndpoint) -> None:
    message = emit(endpoint.endpoint.tenant_id)
    assert message is not None
    envelope = json.loads(delivery_module.message_body(message))
    assert envelope["type"] == "call.ended" and envelope["data"] == {"call_id": "call.ended:1"}
    assert envelope["timestamp"].endswith("Z")


def test_retry_schedule_comes_from_the_setting(
    endpoint: CreatedEndpoint,
    receiver: FakeWebhookReceiver,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """WEBHOOK_RETRY_DELAYS_S (shortened by bench/webhook_drain.py): one retry per entry."""
    settings.WEBHOOK_RETRY_DELAYS_S = (2, 5)
    receiver.default = Reply(500, b"down")
    with django_capture_on_commit_callbacks(execute=True):
        emit(endpoint.endpoint.tenant_id)
    delivery = WebhookDelivery.objects.get()
    for attempt, wait in ((1, 2), (2, 5)):
        delivery.refresh_from_db()
        last = WebhookAttempt.objects.get(delivery=delivery, number=attempt)
        assert delivery.next_attempt_at is not None
        assert (delivery.next_attempt_at - last.at).total_seconds() == wait
        make_due(delivery)
        webhook_deliver(delivery.pk, delivery.tenant_id)
    delivery.refresh_from_db()
    assert delivery.attempt_count == 3 == len(receiver.requests)
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None


def test_only_near_retries_wait_in_the_broker(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry due within WEBHOOK_ETA_MAX_S is an ETA message; a later one is left to the sweep:
    Redis redelivers an unacknowledged message every visibility timeout, so a day-long ETA would
    be copied to another worker every hour."""
    from calls.webhooks import tasks

    settings.WEBHOOK_ETA_MAX_S = 300
    sent: list[dict[str, Any]] = []
    tasks.webhook_deliver.app.conf.task_always_eager = False  # the eager_celery fixture restores it
    monkeypatch.setattr(tasks.webhook_deliver, "apply_async", lambda args, **options: sent.append(options))
    now = timezone.now()
    tasks.schedule_delivery(1, 2, now + timedelta(seconds=90))
    tasks.schedule_delivery(1, 2, now + timedelta(seconds=2430))
    assert [options["eta"] for options in sent] == [now + timedelta(seconds=90)]
