"""Writes for tenants, memberships and API keys. Every function is keyword-only and atomic."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.models import ApiKey, ApiKeyScope, Membership, PhoneNumber, Role, TelephonyAccount, Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from agents.models import Agent

API_KEY_PREFIX = "vx_live_"
VISIBLE_LENGTH = len(API_KEY_PREFIX) + 8  # prefix + 8 hex characters


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str  # the full key: shown to the user once, never stored


@transaction.atomic
def tenant_create(*, slug: str, name: str, owner: User | None = None, **limits: int) -> Tenant:
    tenant = Tenant.objects.create(slug=slug, name=name, **limits)
    if owner is not None:
        Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    return tenant


@transaction.atomic
def membership_set(*, tenant: Tenant, user: User, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scope: str = ApiKeyScope.READ,
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> CreatedApiKey:
    """Create a key ``vx_live_<8 id chars>_<43 secret chars>``; only a hash of it is stored."""
    visible = API_KEY_PREFIX + secrets.token_hex(4)
    full = f"{visible}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=visible,
        secret_hash=hash_api_secret(full),
        last4=full[-4:],
        scope=scope,
        created_by=created_by,
        expires_at=expires_at,
    )
    return CreatedApiKey(api_key=api_key, secret=full)


@transaction.atomic
def api_key_revoke(*, tenant: Tenant, api_key: ApiKey) -> ApiKey:
    # Re-select inside the tenant so a key object of another tenant can never be revoked here.
    row = ApiKey.objects.select_for_update().get(tenant=tenant, pk=api_key.pk)
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    return row


def api_key_authenticate(*, presented: str) -> ApiKey | None:
    """The usable key matching ``presented``, or None. Constant-time on the hash comparison."""
    # The visible prefix has a fixed length; the secret after it may itself contain "_".
    visible, separator = presented[:VISIBLE_LENGTH], presented[VISIBLE_LENGTH : VISIBLE_LENGTH + 1]
    if separator != "_" or not visible.startswith(API_KEY_PREFIX):
        return None
    key = ApiKey.objects.select_related("tenant").filter(prefix=visible).first()
    if key is None or not secrets.compare_digest(key.secret_hash, hash_api_secret(presented)):
        return None
    if not key.is_usable() or not key.tenant.is_active:
        return None
    now = timezone.now()
    # Update at most once a minute: a busy integrator shouldn't turn every request into a write.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# ------------------------------------------------------------------ telephony accounts, numbers


@transaction.atomic
def telephony_account_create(
    *, tenant: Tenant, account_sid: str, auth_token: str, label: str = "Twilio"
) -> TelephonyAccount:
    account = TelephonyAccount(tenant=tenant, account_sid=account_sid, auth_token=auth_token, label=label)
    account.full_clean(exclude=["tenant"])
    account.save()
    return account


@transaction.atomic
def telephony_account_update(
    *, tenant: Tenant, account: TelephonyAccount, **changes: str
) -> TelephonyAccount:
    row = TelephonyAccount.objects.select_for_update().get(tenant=tenant, pk=account.pk)
    for name in ("label", "account_sid", "auth_token"):
        if name in changes:
            setattr(row, name, changes[name])
    row.full_clean(exclude=["tenant"])
    row.save()
    return row


def _own_account(tenant: Tenant, account: TelephonyAccount) -> TelephonyAccount:
    # Re-selected with the tenant in the query: an account object of another tenant is refused.
    row = TelephonyAccount.objects.filter(tenant=tenant, pk=account.pk).first()
    if row is None:
        raise ValidationError({"telephony_account": "Unknown telephony account."})
    return row


def _own_agent(tenant: Tenant, agent: Agent | None) -> Agent | None:
    if agent is None:
        return None
    from agents.models import Agent

    row = Agent.objects.filter(tenant=tenant, pk=agent.pk).first()
    if row is None:
        raise ValidationError({"agent": "Unknown agent."})
    return row


@transaction.atomic
def phone_number_create(
    *,
    tenant: Tenant,
    number: str,
    telephony_account: TelephonyAccount,
    agent: Agent | None = None,
    label: str = "",
    is_active: bool = True,
) -> PhoneNumber:
    phone = PhoneNumber(
        tenant=tenant,
        number=number,
        label=label,
        telephony_account=_own_account(tenant, telephony_account),
        agent=_own_agent(tenant, agent),
        is_active=is_active,
    )
    phone.full_clean(exclude=["tenant"])
    phone.save()
    return phone


@transaction.atomic
def phone_number_update(*, tenant: Tenant, phone_number: PhoneNumber, **changes: Any) -> PhoneNumber:
    row = PhoneNumber.objects.select_for_update().get(tenant=tenant, pk=phone_number.pk)
    if "telephony_account" in changes:
        row.telephony_account = _own_account(tenant, changes["telephony_account"])
    if "agent" in changes:
        row.agent = _own_agent(tenant, changes["agent"])
    for name in ("number", "label", "is_active"):
        if name in changes:
            setattr(row, name, changes[name])
    row.full_clean(exclude=["tenant"])
    row.save()
    return row
