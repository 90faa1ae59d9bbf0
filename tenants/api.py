"""API building blocks: the tenant of a request, role/scope permissions and per-key throttling.

Two kinds of callers:

- an integrator with an API key (``Authorization: Bearer vx_live_...``): the key is pinned to
  its tenant; a ``read`` key may only read, a ``write`` key may do everything;
- a signed-in dashboard user (session cookie + CSRF token), who names the tenant with the
  ``X-Tenant: <slug>`` header; the membership is looked up through ``tenants.access`` (not a
  member: 404, like a missing tenant); viewers may only read, editors and above may write.

The tenant is resolved once per request and cached on it; views take it from
``request_tenant()``, never from the URL or the body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, permissions, serializers, throttling
from rest_framework.request import Request

from tenants.access import access_membership_by_tenant_slug
from tenants.authentication import ApiKeyPrincipal
from tenants.models import ROLE_RANK, Membership, Role, Tenant

TENANT_HEADER = "X-Tenant"
_CACHE_ATTRIBUTE = "_voxsaas_tenant_access"


class TenantRequired(exceptions.APIException):
    status_code = 400
    default_detail = f"Signed-in users name the tenant with the {TENANT_HEADER} header (its slug)."
    default_code = "tenant_required"


@dataclass(frozen=True)
class TenantAccess:
    tenant: Tenant
    api_key_scope: str | None = None  # for API keys
    membership: Membership | None = None  # for dashboard users

    def may(self, *, write: bool, minimum_role: str) -> bool:
        if not write:
            return True
        if self.membership is not None:
            return ROLE_RANK[self.membership.role] >= ROLE_RANK[minimum_role]
        return self.api_key_scope == "write"


def request_access(request: Request) -> TenantAccess:
    """Who acts for which tenant. Raises 401/400/404 as API exceptions."""
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    principal = request.user
    if isinstance(principal, ApiKeyPrincipal):
        access = TenantAccess(tenant=principal.tenant, api_key_scope=principal.api_key.scope)
    elif isinstance(principal, AbstractBaseUser) and principal.is_authenticated:
        slug = request.headers.get(TENANT_HEADER, "").strip()
        if not slug:
            raise TenantRequired
        membership = access_membership_by_tenant_slug(user=principal, slug=slug)
        access = TenantAccess(tenant=membership.tenant, membership=membership)
    else:
        raise exceptions.NotAuthenticated("Use an API key: Authorization: Bearer <key>.")
    setattr(request, _CACHE_ATTRIBUTE, access)
    return access


def request_tenant(request: Request) -> Tenant:
    """The tenant an API request acts for: the API key's, or the one the user named."""
    return request_access(request).tenant


class TenantPermission(permissions.BasePermission):
    """Reads for everyone with access to the tenant; writes for ``write`` keys and members whose
    role is at least the view's ``write_role`` (default: editor)."""

    message = "Your API key or role may only read."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        access = request_access(request)
        minimum = getattr(view, "write_role", Role.EDITOR)
        return access.may(write=request.method not in permissions.SAFE_METHODS, minimum_role=minimum)


# Earlier name, kept for views written against it.
ApiKeyScopePermission = TenantPermission


class TenantRateThrottle(throttling.SimpleRateThrottle):
    """Per API key (or per member and tenant for the dashboard). The rate is the
    ``API_THROTTLE_RATE`` setting, read at request time so it can be changed without a restart
    of the class. DRF answers 429 with ``Retry-After``."""

    scope = "api"

    def get_rate(self) -> str | None:
        return str(settings.API_THROTTLE_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        principal = request.user
        if isinstance(principal, ApiKeyPrincipal):
            ident = f"key:{principal.api_key.public_id}"
        elif principal is not None and principal.is_authenticated:
            access: TenantAccess | None = getattr(request, _CACHE_ATTRIBUTE, None)
            membership = access.membership if access is not None else None
            ident = f"member:{membership.public_id}" if membership is not None else f"user:{principal.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


@extend_schema_field(OpenApiTypes.UUID)
class TenantRelatedField(serializers.Field):
    """A reference to another of the tenant's objects by its public id. Only the request's
    tenant's rows are candidates, so another tenant's id is "unknown" exactly like a made-up one."""

    default_error_messages = {
        "does_not_exist": "Unknown {model_name}.",
        "invalid": "Must be an id (UUID).",
    }

    def __init__(self, model: type[models.Model], **kwargs: Any) -> None:
        self.model = model
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            public_id = uuid.UUID(str(data))
        except (TypeError, ValueError, AttributeError):
            self.fail("invalid")
        tenant = request_tenant(self.context["request"])
        row = self.model._default_manager.filter(tenant=tenant, public_id=public_id).first()
        if row is None:
            self.fail("does_not_exist", model_name=self.model._meta.verbose_name)
        return row

    def to_representation(self, value: Any) -> str:
        return str(value.public_id)
