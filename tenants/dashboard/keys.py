"""API keys: list, create (the secret is shown once, in the response to the POST), revoke."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from tenants.access import access_api_key_by_public_id
from tenants.dashboard.base import AuthedRequest, Workspace, no_store, page, tenant_page
from tenants.forms import ApiKeyForm
from tenants.models import ApiKey, Role
from tenants.services import CreatedApiKey, api_key_create, api_key_revoke


def _keys_page(
    request: AuthedRequest,
    ws: Workspace,
    form: ApiKeyForm | None = None,
    *,
    created: CreatedApiKey | None = None,
    status: int = 200,
) -> HttpResponse:
    keys = ApiKey.objects.filter(tenant=ws.tenant).select_related("created_by").order_by("-created_at")
    context = {"keys": keys, "form": form or ApiKeyForm(), "created": created, "now": timezone.now()}
    return page(request, ws, "dashboard/api_keys/list.html", context, section="api_keys", status=status)


@require_safe
@tenant_page()
def api_keys(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    return _keys_page(request, ws)


@require_POST
@tenant_page(write=Role.ADMIN)
def api_key_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, ws, form, status=400)
    expires_on = form.cleaned_data["expires_on"]
    created = api_key_create(
        tenant=ws.tenant,
        name=form.cleaned_data["name"],
        scope=form.cleaned_data["scope"],
        created_by=request.user,
        expires_at=datetime.combine(expires_on, time.min, tzinfo=UTC) if expires_on else None,
    )
    return no_store(_keys_page(request, ws, created=created))


@require_POST
@tenant_page(write=Role.ADMIN)
def api_key_revoke_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    key = access_api_key_by_public_id(tenant=ws.tenant, public_id=public_id)
    api_key_revoke(tenant=ws.tenant, api_key=key)
    messages.success(request, f"The key {key.prefix}… is revoked; requests with it now fail.")
    return redirect("dashboard:api-keys", slug=ws.tenant.slug)
