"""API keys: the secret is shown once, only its hash is stored; revoking stops it."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from tenants.models import ApiKey
from tenants.services import api_key_authenticate, hash_api_secret
from tests.conftest import Cast
from tests.dashboard.conftest import signed_in

KEYS = reverse("dashboard:api-keys", args=["acme"])
NEW = reverse("dashboard:api-key-new", args=["acme"])


def test_the_secret_is_shown_once(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    response = client.post(NEW, {"name": "CRM sync", "scope": "write"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    secret = re.search(r'value="(vx_live_[0-9a-f]{8}_[A-Za-z0-9_-]+)"', response.content.decode())
    assert secret is not None
    key = ApiKey.objects.get(tenant=cast.tenant_a, name="CRM sync")
    assert key.secret_hash == hash_api_secret(secret.group(1))
    assert key.created_by == cast.admin_a and key.scope == "write"
    assert api_key_authenticate(presented=secret.group(1)) == key

    listing = client.get(KEYS).content.decode()
    assert secret.group(1) not in listing
    assert f"{key.prefix}…{key.last4}" in listing


def test_create_validates(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    response = client.post(NEW, {"name": "", "scope": "root", "expires_on": "2000-01-01"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in html
    assert "Select a valid choice" in html
    assert "Choose a date in the future." in html
    assert not ApiKey.objects.filter(tenant=cast.tenant_a).exists()


def test_revoke(client: Client, cast: Cast) -> None:
    signed_in(client, cast.owner_a)
    client.post(NEW, {"name": "Old", "scope": "read"})
    key = ApiKey.objects.get(tenant=cast.tenant_a, name="Old")
    response = client.post(reverse("dashboard:api-key-revoke", args=["acme", key.public_id]), follow=True)
    assert "is revoked" in response.content.decode() and "Revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None and not key.is_usable()
