"""The only doors into tenant-owned rows.

Every function takes the tenant explicitly and puts it IN the query, so another tenant's row is
indistinguishable from a missing one: both raise ``TenantObjectNotFound`` (a 404 in views and
the API). Never fetch by id and compare tenants afterwards.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.http import Http404

from tenants.models import (
    ApiKey,
    Invitation,
    Membership,
    PhoneNumber,
    ProviderCredential,
    TelephonyAccount,
    Tenant,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from agents.models import Agent
    from calls.models import Call
    from calls.webhooks.models import WebhookDelivery, WebhookEndpoint

M = TypeVar("M", bound=models.Model)


class TenantObjectNotFound(Http404):
    """Missing, or owned by another tenant: the caller cannot tell which."""


def _one(queryset: models.QuerySet[M], what: str) -> M:
    row = queryset.first()
    if row is None:
        raise TenantObjectNotFound(f"No {what} found.")
    return row


def _uuid(value: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise TenantObjectNotFound(f"No {what} found.") from None


def access_membership_by_tenant_slug(*, user: User | AnonymousUser, slug: str) -> Membership:
    """The user's membership in an active tenant (the dashboard's entry point)."""
    if not user.is_authenticated:
        raise TenantObjectNotFound("No tenant found.")
    return _one(
        Membership.objects.select_related("tenant").filter(
            user=user, tenant__slug=slug, tenant__is_active=True
        ),
        "tenant",
    )


def access_agent_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Agent:
    from agents.models import Agent

    return _one(Agent.objects.filter(tenant=tenant, public_id=_uuid(public_id, "agent")), "agent")


def access_api_key_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> ApiKey:
    return _one(ApiKey.objects.filter(tenant=tenant, public_id=_uuid(public_id, "API key")), "API key")


def access_phone_number_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> PhoneNumber:
    return _one(
        PhoneNumber.objects.filter(tenant=tenant, public_id=_uuid(public_id, "phone number")), "phone number"
    )


def access_telephony_account_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> TelephonyAccount:
    return _one(
        TelephonyAccount.objects.filter(tenant=tenant, public_id=_uuid(public_id, "telephony account")),
        "telephony account",
    )


def access_credential_by_provider(*, tenant: Tenant, provider: str) -> ProviderCredential:
    return _one(ProviderCredential.objects.filter(tenant=tenant, provider=provider), "credential")


def access_membership_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Membership:
    return _one(
        Membership.objects.select_related("user").filter(
            tenant=tenant, public_id=_uuid(public_id, "membership")
        ),
        "membership",
    )


def access_call_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Call:
    from calls.models import Call

    return _one(
        Call.objects.select_related("phone_number", "agent").filter(
            tenant=tenant, public_id=_uuid(public_id, "call")
        ),
        "call",
    )


def access_webhook_endpoint_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> WebhookEndpoint:
    from calls.webhooks.models import WebhookEndpoint

    return _one(
        WebhookEndpoint.objects.filter(tenant=tenant, public_id=_uuid(public_id, "webhook endpoint")),
        "webhook endpoint",
    )


def access_webhook_delivery_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> WebhookDelivery:
    from calls.webhooks.models import WebhookDelivery

    return _one(
        WebhookDelivery.objects.select_related("endpoint", "message").filter(
            tenant=tenant, public_id=_uuid(public_id, "webhook delivery")
        ),
        "webhook delivery",
    )


def access_invitation_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Invitation:
    return _one(
        Invitation.objects.filter(tenant=tenant, public_id=_uuid(public_id, "invitation")), "invitation"
    )
