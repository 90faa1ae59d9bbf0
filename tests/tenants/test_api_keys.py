"""API keys: shown once, stored hashed, revocable, expiring, pinned to their tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiKey
from tenants.services import api_key_create, api_key_revoke
from tests.conftest import Cast


def _client(secret: str | None) -> APIClient:
    client = APIClient()
    if secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_created_secret_authenticates_and_lists_only_own_agents(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_a, name="CRM")
    assert created.secret.startswith(created.api_key.prefix + "_")
    assert created.api_key.last4 == created.secret[-4:]

    response = _client(created.secret).get(reverse("api:agent-list"))
    assert response.status_code == 200
    names = (
        [row["name"] for row in response.json()["results"]]
        if "results" in response.json()
        else [row["name"] for row in response.json()]
    )
    assert names == ["Acme desk"]
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_secret_is_never_stored_in_clear(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_a, name="CRM")
    secret_part = created.secret[len(created.api_key.prefix) + 1 :]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_apikey")
        stored_rows = cursor.fetchall()
    flat = " ".join(str(value) for row in stored_rows for value in row)
    assert created.secret not in flat
    assert secret_part not in flat


@pytest.mark.parametrize(
    "header",
    ["Bearer vx_live_deadbeef_wrongsecret", "Bearer nonsense", "Bearer", "Bearer a b", "Token abc"],
)
def test_wrong_keys_get_401(cast: Cast, header: str) -> None:
    api_key_create(tenant=cast.tenant_a, name="CRM")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(reverse("api:agent-list")).status_code == 401


def test_no_key_gets_401() -> None:
    assert _client(None).get(reverse("api:agent-list")).status_code == 401


def test_tampered_secret_with_valid_prefix_gets_401(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_a, name="CRM")
    tampered = created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")
    assert _client(tampered).get(reverse("api:agent-list")).status_code == 401


def test_revoked_key_gets_401(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_a, name="CRM")
    assert _client(created.secret).get(reverse("api:agent-list")).status_code == 200
    api_key_revoke(tenant=cast.tenant_a, api_key=created.api_key)
    assert _client(created.secret).get(reverse("api:agent-list")).status_code == 401


def test_revoke_refuses_another_tenants_key(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_b, name="B")
    with pytest.raises(ApiKey.DoesNotExist):
        api_key_revoke(tenant=cast.tenant_a, api_key=created.api_key)
    created.api_key.refresh_from_db()
    assert created.api_key.revoked_at is None


def test_expired_key_gets_401(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_a, name="CRM", expires_at=timezone.now() + timedelta(hours=1))
    assert _client(created.secret).get(reverse("api:agent-list")).status_code == 200
    ApiKey.objects.filter(pk=created.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(created.secret).get(reverse("api:agent-list")).status_code == 401


def test_key_of_inactive_tenant_gets_401(cast: Cast) -> None:
    created = api_key_create(tenant=cast.tenant_a, name="CRM")
    cast.tenant_a.is_active = False
    cast.tenant_a.save()
    assert _client(created.secret).get(reverse("api:agent-list")).status_code == 401


def test_key_of_tenant_a_cannot_read_tenant_b(cast: Cast) -> None:
    key_a = api_key_create(tenant=cast.tenant_a, name="A").secret
    key_b = api_key_create(tenant=cast.tenant_b, name="B").secret
    url_b = reverse("api:agent-detail", args=[cast.agent_b.public_id])
    assert _client(key_b).get(url_b).status_code == 200
    foreign = _client(key_a).get(url_b)
    missing = _client(key_a).get(reverse("api:agent-detail", args=["00000000-0000-0000-0000-000000000000"]))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_read_only_key_cannot_write(cast: Cast) -> None:
    read_key = api_key_create(tenant=cast.tenant_a, name="ro").secret
    response = _client(read_key).post(reverse("api:agent-list"), {"name": "x"}, format="json")
    assert response.status_code == 403
