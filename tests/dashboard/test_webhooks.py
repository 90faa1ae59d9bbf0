"""Webhook pages: endpoints (create with the SSRF guard, the secret shown once, rotate, enable and
disable, delete), test events through the real sender against a local receiver, the delivery
lists and their filters, the delivery log, and replay with the same event id."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from calls.webhooks import payloads, samples
from calls.webhooks.models import (
    AttemptTrigger,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from calls.webhooks.selectors import DELIVERY_PAGE_SIZE
from calls.webhooks.services import webhook_endpoint_create, webhooks_emit
from tests.api.conftest import allow_private, eager_celery  # noqa: F401 - fixtures
from tests.dashboard.conftest import World, signed_in
from tests.fakes.webhook_receiver import FakeWebhookReceiver, Reply
from voxsaas import safehttp

LIST = reverse("dashboard:webhooks", args=["acme"])
NEW = reverse("dashboard:webhook-new", args=["acme"])
DELIVERIES = reverse("dashboard:webhook-deliveries", args=["acme"])
SECRET = re.compile(r'value="(whsec_[A-Za-z0-9+/=]+)"')
HTMX = {"HX-Request": "true"}


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver() as fake:
        yield fake


def _url(name: str, *ids: Any) -> str:
    return reverse(f"dashboard:{name}", args=["acme", *ids])


def _form(url: str, *types: str, description: str = "") -> dict[str, Any]:
    return {"url": url, "description": description, "event_types": list(types or ["call.ended"])}


def _emit(tenant_id: int, key: str, event_type: str = "call.ended") -> WebhookMessage:
    message = webhooks_emit(
        tenant_id=tenant_id, event_type=event_type, payload={"key": key}, dedup_key=f"{event_type}:{key}"
    )
    assert message is not None
    return message


# ----------------------------------------------------------------------------- create, secret


def test_the_secret_is_shown_once_and_stored_encrypted(
    client: Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    signed_in(client, world.cast.admin_a)
    response = client.post(
        NEW, _form("https://crm.example.test/hooks", "call.ended", "booking.created", description="CRM")
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    html = response.content.decode()
    found = SECRET.search(html)
    assert found is not None and "will not be shown again" in html
    secret = found.group(1)
    endpoint = WebhookEndpoint.objects.get(tenant=world.a.tenant, url="https://crm.example.test/hooks")
    assert endpoint.secret == secret and endpoint.is_active and endpoint.description == "CRM"
    assert endpoint.event_types == ["booking.created", "call.ended"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert secret not in stored and secret.removeprefix("whsec_") not in stored

    # Never again: not on the endpoint's page, the list, the deliveries, nor in a message.
    for url in (_url("webhook", endpoint.public_id), LIST, DELIVERIES):
        page = client.get(url).content.decode()
        assert secret not in page and secret.removeprefix("whsec_")[:16] not in page
    rotated = SECRET.search(client.post(_url("webhook-rotate-secret", endpoint.public_id)).content.decode())
    assert rotated is not None
    client.post(_url("webhook-test", endpoint.public_id), {"event_type": "call.ended"})  # signs with it
    for logged in (secret, rotated.group(1)):  # and never logged
        assert logged.removeprefix("whsec_")[:16] not in caplog.text


def test_the_form_validates_with_clear_messages(client: Client, world: World) -> None:
    signed_in(client, world.cast.admin_a)
    response = client.post(NEW, {"url": "not a url", "description": "x" * 201})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a valid URL." in html
    assert "Choose at least one event type." in html
    assert "Ensure this value has at most 200 characters" in html
    assert 'value="x' in html  # what was typed is kept
    assert not WebhookEndpoint.objects.filter(tenant=world.a.tenant, description__startswith="x").exists()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1/", "loopback address"),
        ("http://127.0.0.1:8000/hooks", "loopback address"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata address"),
        ("http://[::ffff:127.0.0.1]/x", "loopback"),
        ("http://10.0.0.5/hooks", "private or non-public address"),
        ("http://localhost:8000/hooks", "not reachable from the internet"),
        ("https://user:pw@hooks.example.test/x", "credentials in the URL are not allowed"),
        ("ftp://hooks.example.test/x", "only http and https URLs are allowed"),
    ],
)
def test_refused_urls_are_explained_and_nothing_is_saved(
    client: Client, world: World, url: str, fragment: str
) -> None:
    signed_in(client, world.cast.admin_a)
    before = WebhookEndpoint.objects.count()
    response = client.post(NEW, _form(url))
    html = response.content.decode()
    assert response.status_code == 400
    assert fragment in html
    assert WebhookEndpoint.objects.count() == before
    assert 'aria-invalid="true"' in html and "id_url" in html


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host names resolved by the save-time guard (the real resolver is looked up at call time)."""
    answers: dict[str, list[str]] = {}

    def resolve(hostname: str, port: int) -> list[str]:
        if hostname not in answers:
            raise OSError("Name or service not known")
        return answers[hostname]

    monkeypatch.setattr(safehttp, "system_resolve", resolve)
    return answers


def test_a_name_resolving_to_a_private_address_is_refused(
    client: Client, world: World, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["crm.corp.example"] = ["10.1.2.3"]
    fake_dns["rebind.example"] = ["93.184.216.34", "127.0.0.1"]  # one bad answer refuses the name
    fake_dns["hooks.public.example"] = ["93.184.216.34"]
    signed_in(client, world.cast.admin_a)
    for host, reason in (("crm.corp.example", "private"), ("rebind.example", "loopback")):
        response = client.post(NEW, _form(f"https://{host}/hooks"))
        html = response.content.decode()
        assert response.status_code == 400, host
        assert f"{host} resolves to a refused address" in html and reason in html
        assert "Use the public address of your receiver" in html
    assert not WebhookEndpoint.objects.filter(url__contains="corp").exists()
    assert client.post(NEW, _form("https://hooks.public.example/hooks")).status_code == 200
    # The REST API uses the same guard.
    api = Client()
    api.force_login(world.cast.admin_a)
    refused = api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://crm.corp.example/x", "event_types": ["call.ended"]},
        content_type="application/json",
        headers={"X-Tenant": "acme"},
    )
    assert refused.status_code == 400 and "resolves to a refused address" in refused.content.decode()


def test_private_addresses_for_self_hosters_but_never_metadata(
    client: Client, world: World, settings: Any
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True
    signed_in(client, world.cast.admin_a)
    assert client.post(NEW, _form("http://10.0.0.5/n8n")).status_code == 200
    response = client.post(NEW, _form("http://169.254.169.254/latest/meta-data"))
    assert response.status_code == 400 and "cloud metadata address" in response.content.decode()


# ----------------------------------------------------------------------------- edit, rotate, enable


def test_edit_saves_and_a_refused_url_changes_nothing(client: Client, world: World) -> None:
    endpoint = world.a.extra["webhook_endpoint"]
    signed_in(client, world.cast.admin_a)
    url = _url("webhook", endpoint.public_id)
    refused = client.post(url, _form("http://169.254.169.254/", "tool.invoked"))
    assert refused.status_code == 400 and "cloud metadata address" in refused.content.decode()
    endpoint.refresh_from_db()
    assert (
        endpoint.url == "https://hooks-a.example.test/voxsaas" and "tool.invoked" not in endpoint.event_types
    )

    saved = client.post(
        url, _form("https://new.example.test/v2", "tool.invoked", description="v2"), follow=True
    )
    assert "Endpoint saved." in saved.content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.event_types, endpoint.description) == (
        "https://new.example.test/v2",
        ["tool.invoked"],
        "v2",
    )


def test_rotating_shows_the_new_secret_once(client: Client, world: World) -> None:
    endpoint = world.a.extra["webhook_endpoint"]
    old = endpoint.secret
    signed_in(client, world.cast.admin_a)
    response = client.post(_url("webhook-rotate-secret", endpoint.public_id))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store, private"
    found = SECRET.search(response.content.decode())
    assert found is not None and found.group(1) != old
    endpoint.refresh_from_db()
    assert endpoint.secret == found.group(1)
    detail = client.get(_url("webhook", endpoint.public_id)).content.decode()
    assert found.group(1) not in detail and old not in detail


def test_disable_then_enable_resets_the_failure_streak(client: Client, world: World) -> None:
    endpoint = world.a.extra["webhook_endpoint"]
    signed_in(client, world.cast.admin_a)
    page = client.post(_url("webhook-disable", endpoint.public_id), follow=True).content.decode()
    assert "The endpoint is disabled" in page and ">Enable</button>" in page
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_reason == "Disabled by a user."
    # Disabled endpoints get no new events.
    assert (
        webhooks_emit(tenant_id=world.a.tenant.pk, event_type="call.ended", payload={}, dedup_key="x") is None
    )
    page = client.post(_url("webhook-enable", endpoint.public_id), follow=True).content.decode()
    assert "The endpoint is enabled" in page and ">Disable</button>" in page
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0 and endpoint.disabled_at is None


def test_delete_removes_the_endpoint_and_its_log(client: Client, world: World) -> None:
    endpoint = world.a.extra["webhook_endpoint"]
    signed_in(client, world.cast.owner_a)
    page = client.post(_url("webhook-delete", endpoint.public_id), follow=True).content.decode()
    assert "and its delivery log are deleted" in page
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert not WebhookDelivery.objects.filter(endpoint_id=endpoint.pk).exists()
    assert WebhookEndpoint.objects.filter(pk=world.b.extra["webhook_endpoint"].pk).exists()


# ----------------------------------------------------------------------------- test events


@pytest.fixture
def local_endpoint(world: World, receiver: FakeWebhookReceiver, allow_private: None) -> WebhookEndpoint:  # noqa: F811
    """An endpoint of tenant A at the fake receiver (on 127.0.0.1, so private addresses are let
    through, as for self-hosters)."""
    return webhook_endpoint_create(
        tenant=world.a.tenant, url=receiver.url, event_types=["call.ended"]
    ).endpoint


def test_a_test_event_goes_through_the_real_sender(
    client: Client, world: World, receiver: FakeWebhookReceiver, local_endpoint: WebhookEndpoint
) -> None:
    signed_in(client, world.cast.admin_a)
    url = _url("webhook-test", local_endpoint.public_id)
    response = client.post(url, {"event_type": "call.ended"}, headers=HTMX)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store, private"
    html = response.content.decode()
    (sent,) = receiver.requests
    verified = Webhook(local_endpoint.secret).verify(
        sent.body, sent.headers
    )  # the endpoint's secret signs it
    assert verified["type"] == "call.ended"
    assert verified["data"]["id"] == samples.SAMPLE_CALL_ID and verified["data"]["transcript"]
    assert sent.headers["webhook-id"] in html
    assert "Delivered" in html and '<span class="badge ok">200</span>' in html
    assert re.search(r"<dd>\d+ ms</dd>", html)
    assert "{&quot;received&quot;: true}" in html  # the response excerpt
    # Nothing stored, nothing counted.
    assert not WebhookDelivery.objects.filter(endpoint=local_endpoint).exists()
    assert not WebhookMessage.objects.filter(dedup_key="test").exists()

    receiver.script(Reply(500, b"receiver exploded"))
    html = client.post(url, {"event_type": "booking.created"}, headers=HTMX).content.decode()
    assert "Not delivered" in html and '<span class="badge bad">500</span>' in html
    assert "receiver exploded" in html and "HTTP 500" in html
    assert json.loads(receiver.requests[1].body)["data"]["booking"]["resource_name"] == "Front desk"
    local_endpoint.refresh_from_db()
    assert local_endpoint.consecutive_failures == 0 and local_endpoint.is_active

    # Without htmx the whole endpoint page comes back, with the result in place.
    page = client.post(url, {"event_type": "call.started"}).content.decode()
    assert "Send a test event" in page and "Delivered" in page and "<h2>Deliveries</h2>" in page


def test_a_test_event_is_refused_by_the_guard(
    client: Client,
    world: World,
    receiver: FakeWebhookReceiver,
    local_endpoint: WebhookEndpoint,
    settings: Any,
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = False  # as on a hosted installation
    signed_in(client, world.cast.admin_a)
    html = client.post(
        _url("webhook-test", local_endpoint.public_id), {"event_type": "call.ended"}, headers=HTMX
    ).content.decode()
    assert receiver.requests == []
    assert "Not delivered" in html and "No response" in html
    assert "resolves to a refused address (loopback address)" in html
    bad = client.post(
        _url("webhook-test", local_endpoint.public_id), {"event_type": "call.exploded"}, headers=HTMX
    )
    assert "Select a valid choice" in bad.content.decode() and receiver.requests == []


def test_sample_payloads_have_the_real_payloads_shape(world: World) -> None:
    call = world.a.call
    real = {
        "call.started": payloads.call_data(call),
        "call.ended": payloads.call_ended_data(call),
        "call.summarized": payloads.call_summarized_data(call),
    }
    for event_type, payload in real.items():
        assert set(samples.sample_payload(event_type)) == set(payload), event_type
    scoped = {"call_id", "customer_number", "agent", "phone_number"}
    assert set(samples.sample_payload("tool.invoked")) == scoped | {"tool"}
    assert set(samples.sample_payload("booking.created")) == scoped | {"booking"}
    assert set(samples.sample_payload("transfer.completed")) == scoped | {"outcome", "returned_to_agent"}
    with pytest.raises(ValueError, match="unknown"):
        samples.sample_payload("call.exploded")


# ----------------------------------------------------------------------------- deliveries


def _delivery_ids(html: str) -> set[str]:
    return set(re.findall(r"/webhooks/deliveries/([0-9a-f-]{36})/", html))


def _states(world: World) -> dict[str, WebhookDelivery]:
    """Tenant A: one delivery in each state, on two endpoints and two event types."""
    tenant = world.a.tenant
    other = webhook_endpoint_create(
        tenant=tenant, url="https://other.example.test/h", event_types=["booking.created"]
    ).endpoint
    now = timezone.now()
    rows = {"retrying": world.a.extra["webhook_delivery"]}
    for name, status, error in (
        ("pending", DeliveryStatus.PENDING, ""),
        ("delivered", DeliveryStatus.SUCCEEDED, ""),
        ("failed", DeliveryStatus.FAILED, "HTTP 500"),
    ):
        message = _emit(tenant.pk, name, "booking.created")
        delivery = WebhookDelivery.objects.get(message=message, endpoint=other)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status, last_error=error, next_attempt_at=now if name == "pending" else None
        )
        rows[name] = delivery
    return rows


def test_delivery_filters_by_status_event_and_endpoint(client: Client, world: World) -> None:
    rows = _states(world)
    ids = {name: str(d.public_id) for name, d in rows.items()}
    signed_in(client, world.cast.viewer_a)
    everything = _delivery_ids(client.get(DELIVERIES).content.decode())
    assert everything == set(ids.values())
    assert str(world.b.extra["webhook_delivery"].public_id) not in everything
    for state in ("pending", "retrying", "delivered", "failed"):
        html = client.get(DELIVERIES, {"status": state}).content.decode()
        assert _delivery_ids(html) == {ids[state]}, state
    by_event = client.get(DELIVERIES, {"event_type": "call.ended"}).content.decode()
    assert _delivery_ids(by_event) == {ids["retrying"]}
    combined = client.get(DELIVERIES, {"event_type": "booking.created", "status": "failed"})
    assert _delivery_ids(combined.content.decode()) == {ids["failed"]}
    endpoint = world.a.extra["webhook_endpoint"]
    by_endpoint = client.get(DELIVERIES, {"endpoint": str(endpoint.public_id)}).content.decode()
    assert _delivery_ids(by_endpoint) == {ids["retrying"]}
    # The endpoint's own page lists its deliveries only, with the same filters (htmx: the results).
    own = client.get(_url("webhook", rows["failed"].endpoint.public_id), {"status": "failed"}, headers=HTMX)
    assert _delivery_ids(own.content.decode()) == {ids["failed"]} and "<html" not in own.content.decode()
    # Bad filters (another tenant's endpoint, an unknown status) say so and list nothing.
    foreign = client.get(DELIVERIES, {"endpoint": str(world.b.extra["webhook_endpoint"].public_id)})
    assert "Some filters are not valid" in foreign.content.decode() and not _delivery_ids(
        foreign.content.decode()
    )
    unknown = client.get(DELIVERIES, {"status": "exploded"}).content.decode()
    assert "Some filters are not valid" in unknown and not _delivery_ids(unknown)


def test_deliveries_paginate_newest_first(client: Client, world: World) -> None:
    tenant = world.a.tenant
    start = timezone.now() - timedelta(hours=1)
    for i in range(DELIVERY_PAGE_SIZE + 7):
        message = _emit(tenant.pk, f"page-{i}")
        WebhookDelivery.objects.filter(message=message).update(created_at=start + timedelta(seconds=i))
    total = DELIVERY_PAGE_SIZE + 8  # and the populated one, the newest
    signed_in(client, world.cast.viewer_a)
    first = client.get(DELIVERIES).content.decode()
    first_ids = _delivery_ids(first)
    assert len(first_ids) == DELIVERY_PAGE_SIZE and "Older →" in first and "← Newer" not in first
    older = re.search(r'href="\?after=([^"]+)"', first)
    assert older is not None
    second = client.get(DELIVERIES, {"after": older.group(1)}).content.decode()
    second_ids = _delivery_ids(second)
    assert len(second_ids) == total - DELIVERY_PAGE_SIZE and not first_ids & second_ids
    newer = re.search(r'href="\?before=([^"]+)"', second)
    assert newer is not None
    assert _delivery_ids(client.get(DELIVERIES, {"before": newer.group(1)}).content.decode()) == first_ids
    # A forged cursor is just the first page.
    assert _delivery_ids(client.get(DELIVERIES, {"after": "bm9wZQ"}).content.decode()) == first_ids


def test_the_delivery_page_shows_the_payload_attempts_and_next_retry(client: Client, world: World) -> None:
    delivery = world.a.extra["webhook_delivery"]
    signed_in(client, world.cast.viewer_a)
    html = client.get(_url("webhook-delivery", delivery.public_id)).content.decode()
    assert "Retrying" in html and delivery.message.webhook_id in html
    assert "Agent: Hello from a." in html and "&quot;type&quot;: &quot;call.ended&quot;" in html
    assert '<span class="badge bad">503</span>' in html and "busy a" in html and "120 ms" in html
    assert "Next retry" in html and timezone.localtime(delivery.next_attempt_at).strftime("%H:%M:%S") in html
    assert "Replay</button>" not in html and 'method="post"' in html  # the sign-out form only
    assert html.count('method="post"') == 1


def test_the_endpoint_list_shows_the_last_outcome_and_failure_streak(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(LIST).content.decode()
    assert "hooks-a.example.test" in html and "hooks-b.example.test" not in html
    assert '<span class="badge bad">503</span>' in html and "1 failure in a row" in html
    assert "<code>call.ended</code>" in html and "<code>call.summarized</code>" in html
    assert "Enabled" in html


# ----------------------------------------------------------------------------- replay


def test_replay_redelivers_the_same_event_id(
    client: Client,
    world: World,
    receiver: FakeWebhookReceiver,
    local_endpoint: WebhookEndpoint,
    eager_celery: None,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = _emit(world.a.tenant.pk, "replayed")
    delivery = WebhookDelivery.objects.get(message=message, endpoint=local_endpoint)
    assert len(receiver.requests) == 1 and delivery.status == DeliveryStatus.SUCCEEDED
    local_endpoint.refresh_from_db()
    assert local_endpoint.last_attempt_succeeded is True and local_endpoint.last_attempt_status_code == 200

    signed_in(client, world.cast.admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("webhook-delivery-replay", delivery.public_id))
    assert response.status_code == 302
    first, again = receiver.requests
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == message.webhook_id
    assert again.body == first.body
    Webhook(local_endpoint.secret).verify(again.body, again.headers)
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.trigger, a.status_code) for a in attempts] == [
        (1, AttemptTrigger.AUTOMATIC, 200),
        (2, AttemptTrigger.REPLAY, 200),
    ]
    page = client.get(response["Location"]).content.decode()
    assert "Replay queued" in page and message.webhook_id in page
    assert '<span class="badge accent">Replay</span>' in page and "Replay</button>" in page


def test_a_failed_delivery_replayed_after_the_fix_is_delivered(
    client: Client,
    world: World,
    receiver: FakeWebhookReceiver,
    local_endpoint: WebhookEndpoint,
    eager_celery: None,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    receiver.script(Reply(410, b"gone"))  # the endpoint is disabled at once
    with django_capture_on_commit_callbacks(execute=True):
        message = _emit(world.a.tenant.pk, "gone")
    delivery = WebhookDelivery.objects.get(message=message, endpoint=local_endpoint)
    assert delivery.status == DeliveryStatus.FAILED
    signed_in(client, world.cast.admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(_url("webhook-delivery-replay", delivery.public_id), follow=True)
    assert "enable it before replaying" in refused.content.decode() and len(receiver.requests) == 1
    client.post(_url("webhook-enable", local_endpoint.public_id))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("webhook-delivery-replay", delivery.public_id))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 2
    assert receiver.requests[1].headers["webhook-id"] == message.webhook_id
    html = client.get(DELIVERIES, {"status": "delivered"}).content.decode()
    assert str(delivery.public_id) in html


# ----------------------------------------------------------------------------- roles and tenants


def test_other_tenants_endpoints_and_deliveries_are_404_and_nothing_is_sent(
    client: Client,
    world: World,
    receiver: FakeWebhookReceiver,
    allow_private: None,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    theirs = webhook_endpoint_create(
        tenant=world.b.tenant, url=receiver.url, event_types=["call.ended"]
    ).endpoint
    their_delivery = world.b.extra["webhook_delivery"]
    signed_in(client, world.cast.owner_a)
    assert client.get(_url("webhook", theirs.public_id)).status_code == 404
    assert client.get(_url("webhook-delivery", their_delivery.public_id)).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(_url("webhook-test", theirs.public_id), {"event_type": "call.ended"}).status_code
            == 404
        )
        assert client.post(_url("webhook-delivery-replay", their_delivery.public_id)).status_code == 404
        assert client.post(_url("webhook-rotate-secret", theirs.public_id)).status_code == 404
    assert receiver.requests == []
    assert WebhookEndpoint.objects.get(pk=theirs.pk).secret == theirs.secret


ADMIN_CONTROLS = (
    "Add endpoint",
    "Save endpoint",
    "Send test event",
    "Rotate secret",
    "Delete endpoint",
    ">Disable</button>",
)


@pytest.mark.parametrize(
    ("role", "shown"), [("viewer", False), ("editor", False), ("admin", True), ("owner", True)]
)
def test_only_admins_get_the_controls(client: Client, world: World, role: str, shown: bool) -> None:
    signed_in(client, getattr(world.cast, f"{role}_a"))
    html = "".join(
        client.get(url).content.decode()
        for url in (
            LIST,
            _url("webhook", world.a.extra["webhook_endpoint"].public_id),
            _url("webhook-delivery", world.a.extra["webhook_delivery"].public_id),
        )
    )
    for control in (*ADMIN_CONTROLS, "Replay</button>"):
        assert (control in html) is shown, control
    assert (html.count('method="post"') > 3) is shown  # beyond one sign-out form per page
    assert client.get(NEW).status_code == (200 if shown else 403)


def test_the_api_also_leaves_endpoints_to_admins(client: Client, world: World) -> None:
    body = {"url": "https://api.example.test/h", "event_types": ["call.ended"]}
    for user, expected in ((world.cast.editor_a, 403), (world.cast.admin_a, 201)):
        client.force_login(user)
        response = client.post(
            "/api/v1/webhook-endpoints", body, content_type="application/json", headers={"X-Tenant": "acme"}
        )
        assert response.status_code == expected, response.content
    client.force_login(world.cast.editor_a)
    replay = client.post(
        f"/api/v1/webhook-deliveries/{world.a.extra['webhook_delivery'].public_id}/replay",
        headers={"X-Tenant": "acme"},
    )
    assert replay.status_code == 403
