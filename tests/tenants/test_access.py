"""Tenant isolation at the access layer: own rows come back, other tenants' rows are not found."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from calls.models import Call
from calls.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from tenants import access
from tenants.models import ApiKey, PhoneNumber, ProviderCredential, TelephonyAccount, Tenant
from tenants.services import api_key_create
from tests.conftest import Cast

ACCOUNT_SID = "AC" + "0" * 32


def _rows(tenant: Tenant, suffix: str, agent: Any) -> dict[str, Any]:
    account = TelephonyAccount.objects.create(
        tenant=tenant, account_sid=ACCOUNT_SID, auth_token="tok-" + suffix
    )
    number = PhoneNumber.objects.create(
        tenant=tenant, number="+1555000000" + suffix, telephony_account=account, agent=agent
    )
    key = api_key_create(tenant=tenant, name="k" + suffix).api_key
    ProviderCredential.objects.create(tenant=tenant, provider="ultravox", api_key="uv-" + suffix)
    call = Call.objects.create(tenant=tenant, agent=agent, phone_number=number)
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant, url="https://hooks.example.com/" + suffix, event_types=["call.ended"], secret="s"
    )
    message = WebhookMessage.objects.create(
        tenant=tenant, event_type="call.ended", payload={}, dedup_key=suffix
    )
    delivery = WebhookDelivery.objects.create(tenant=tenant, endpoint=endpoint, message=message)
    return {
        "agent": agent,
        "account": account,
        "number": number,
        "key": key,
        "call": call,
        "endpoint": endpoint,
        "delivery": delivery,
    }


ACCESSORS: list[tuple[str, Callable[..., Any]]] = [
    ("agent", lambda tenant, row: access.access_agent_by_public_id(tenant=tenant, public_id=row.public_id)),
    (
        "account",
        lambda tenant, row: access.access_telephony_account_by_public_id(
            tenant=tenant, public_id=row.public_id
        ),
    ),
    (
        "number",
        lambda tenant, row: access.access_phone_number_by_public_id(tenant=tenant, public_id=row.public_id),
    ),
    ("key", lambda tenant, row: access.access_api_key_by_public_id(tenant=tenant, public_id=row.public_id)),
    ("call", lambda tenant, row: access.access_call_by_public_id(tenant=tenant, public_id=row.public_id)),
    (
        "endpoint",
        lambda tenant, row: access.access_webhook_endpoint_by_public_id(
            tenant=tenant, public_id=row.public_id
        ),
    ),
    (
        "delivery",
        lambda tenant, row: access.access_webhook_delivery_by_public_id(
            tenant=tenant, public_id=row.public_id
        ),
    ),
]


@pytest.mark.parametrize(("kind", "accessor"), ACCESSORS, ids=[a[0] for a in ACCESSORS])
def test_access_returns_own_row_and_hides_the_other_tenants(
    cast: Cast, kind: str, accessor: Callable[..., Any]
) -> None:
    rows_a = _rows(cast.tenant_a, "1", cast.agent_a)
    rows_b = _rows(cast.tenant_b, "2", cast.agent_b)

    assert accessor(cast.tenant_a, rows_a[kind]).pk == rows_a[kind].pk
    assert accessor(cast.tenant_b, rows_b[kind]).pk == rows_b[kind].pk
    with pytest.raises(access.TenantObjectNotFound):
        accessor(cast.tenant_a, rows_b[kind])
    with pytest.raises(access.TenantObjectNotFound):
        accessor(cast.tenant_b, rows_a[kind])


def test_missing_and_malformed_ids_look_exactly_like_foreign_ones(cast: Cast) -> None:
    for public_id in (uuid.uuid4(), "not-a-uuid", ""):
        with pytest.raises(access.TenantObjectNotFound) as missing:
            access.access_agent_by_public_id(tenant=cast.tenant_a, public_id=public_id)
        assert str(missing.value) == "No agent found."
    with pytest.raises(access.TenantObjectNotFound) as foreign:
        access.access_agent_by_public_id(tenant=cast.tenant_a, public_id=cast.agent_b.public_id)
    assert str(foreign.value) == "No agent found."


def test_credential_by_provider_is_scoped(cast: Cast) -> None:
    _rows(cast.tenant_a, "1", cast.agent_a)
    own = access.access_credential_by_provider(tenant=cast.tenant_a, provider="ultravox")
    assert own.api_key == "uv-1"
    with pytest.raises(access.TenantObjectNotFound):
        access.access_credential_by_provider(tenant=cast.tenant_b, provider="ultravox")


def test_membership_by_slug(cast: Cast) -> None:
    assert access.access_membership_by_tenant_slug(user=cast.viewer_a, slug="acme").role == "viewer"
    with pytest.raises(access.TenantObjectNotFound):
        access.access_membership_by_tenant_slug(user=cast.viewer_a, slug="globex")
    cast.tenant_a.is_active = False
    cast.tenant_a.save()
    with pytest.raises(access.TenantObjectNotFound):
        access.access_membership_by_tenant_slug(user=cast.owner_a, slug="acme")


def test_every_access_function_is_covered() -> None:
    """A new access function must be added to this module's tests."""
    names = {name for name in dir(access) if name.startswith("access_")}
    tested = {
        "access_agent_by_public_id",
        "access_telephony_account_by_public_id",
        "access_phone_number_by_public_id",
        "access_api_key_by_public_id",
        "access_credential_by_provider",
        "access_membership_by_tenant_slug",
        "access_membership_by_public_id",
        "access_call_by_public_id",
        "access_webhook_endpoint_by_public_id",
        "access_webhook_delivery_by_public_id",
        "access_invitation_by_public_id",
    }
    assert names == tested


def test_membership_by_public_id_is_scoped(cast: Cast) -> None:
    from tenants.models import Membership

    membership_b = Membership.objects.get(tenant=cast.tenant_b)
    with pytest.raises(access.TenantObjectNotFound):
        access.access_membership_by_public_id(tenant=cast.tenant_a, public_id=membership_b.public_id)
    assert (
        access.access_membership_by_public_id(tenant=cast.tenant_b, public_id=membership_b.public_id)
        == membership_b
    )
    assert ApiKey.objects.count() == 0


def test_invitation_by_public_id_is_scoped(cast: Cast) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from tenants.models import Invitation

    invitation = Invitation.objects.create(
        tenant=cast.tenant_b, email="new@example.com", expires_at=timezone.now() + timedelta(days=7)
    )
    assert (
        access.access_invitation_by_public_id(tenant=cast.tenant_b, public_id=invitation.public_id)
        == invitation
    )
    with pytest.raises(access.TenantObjectNotFound):
        access.access_invitation_by_public_id(tenant=cast.tenant_a, public_id=invitation.public_id)
