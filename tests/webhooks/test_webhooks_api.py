"""Webhook endpoints and deliveries through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from calls.webhooks.models import WebhookDelivery, WebhookEndpoint
from calls.webhooks.services import webhooks_emit
from tests.api.conftest import Keys, api
from tests.calls.conftest import Telephony

ENDPOINTS = "/api/v1/webhook-endpoints"
DELIVERIES = "/api/v1/webhook-deliveries"


def test_secret_is_shown_once_and_encrypted(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(
        ENDPOINTS,
        {
            "url": "https://hooks.example.com/vox",
            "event_types": ["call.ended", "call.summarized"],
            "tenant": 999,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(public_id=created.json()["id"])
    assert endpoint.tenant == telephony.cast.tenant_a and endpoint.secret == secret
    assert "secret" not in client.get(f"{ENDPOINTS}/{endpoint.public_id}").json()
    assert secret not in str(client.get(ENDPOINTS).json())
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert secret not in stored

    rotated = client.post(f"{ENDPOINTS}/{endpoint.public_id}/rotate-secret").json()["secret"]
    assert rotated.startswith("whsec_") and rotated != secret
    endpoint.refresh_from_db()
    assert endpoint.secret == rotated


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://hooks.example.com/x", "http"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("http://127.0.0.1:8000/x", "loopback"),
        ("http://0177.0.0.1/x", "valid URL"),
        ("http://[::ffff:127.0.0.1]/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://localhost/x", "not reachable"),
    ],
)
def test_refused_urls(telephony: Telephony, keys: Keys, url: str, fragment: str) -> None:
    response = api(keys.write_a).post(ENDPOINTS, {"url": url, "event_types": ["call.ended"]}, format="json")
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    assert error["pointer"] == "#/url" and fragment in error["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_private_urls_allowed_for_self_hosters(telephony: Telephony, keys: Keys, settings: Any) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True
    ok = api(keys.write_a).post(
        ENDPOINTS, {"url": "http://127.0.0.1:5678/n8n", "event_types": ["call.ended"]}, format="json"
    )
    assert ok.status_code == 201
    metadata = api(keys.write_a).post(
        ENDPOINTS, {"url": "http://169.254.169.254/", "event_types": ["call.ended"]}, format="json"
    )
    assert metadata.status_code == 400


def test_event_types_are_validated(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    for types in ([], ["call.exploded"], "call.ended"):
        response = client.post(
            ENDPOINTS, {"url": "https://hooks.example.com/x", "event_types": types}, format="json"
        )
        assert response.status_code == 400, types


def test_update_reenable_and_delete(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    endpoint_id = client.post(
        ENDPOINTS, {"url": "https://hooks.example.com/x", "event_types": ["call.ended"]}, format="json"
    ).json()["id"]
    WebhookEndpoint.objects.filter(public_id=endpoint_id).update(
        is_active=False, consecutive_failures=40, disabled_reason="The endpoint answered 410 Gone."
    )
    body = client.patch(
        f"{ENDPOINTS}/{endpoint_id}", {"is_active": True, "event_types": ["tool.invoked"]}, format="json"
    ).json()
    assert body["is_active"] is True and body["consecutive_failures"] == 0 and body["disabled_reason"] == ""
    assert body["event_types"] == ["tool.invoked"]
    assert (
        api(keys.read_a).patch(f"{ENDPOINTS}/{endpoint_id}", {"is_active": False}, format="json").status_code
        == 403
    )
    assert client.delete(f"{ENDPOINTS}/{endpoint_id}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_delivery_list_filters(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    first = client.post(
        ENDPOINTS, {"url": "https://a.example.com/", "event_types": ["call.ended"]}, format="json"
    )
    second = client.post(
        ENDPOINTS,
        {"url": "https://b.example.com/", "event_types": ["call.ended", "call.started"]},
        format="json",
    )
    tenant_id = telephony.cast.tenant_a.pk
    webhooks_emit(tenant_id=tenant_id, event_type="call.ended", payload={"n": 1}, dedup_key="e1")
    webhooks_emit(tenant_id=tenant_id, event_type="call.started", payload={"n": 2}, dedup_key="s1")
    assert WebhookDelivery.objects.count() == 3
    rows = client.get(DELIVERIES).json()["results"]
    assert len(rows) == 3 and {r["status"] for r in rows} == {"pending"}
    started = client.get(DELIVERIES, {"event_type": "call.started"}).json()["results"]
    assert [(r["endpoint"], r["payload"]) for r in started] == [(second.json()["id"], {"n": 2})]
    of_first = client.get(DELIVERIES, {"endpoint": first.json()["id"]}).json()["results"]
    assert len(of_first) == 1 and of_first[0]["webhook_id"].startswith("msg_")
    assert api(keys.write_b).get(DELIVERIES).json()["results"] == []
