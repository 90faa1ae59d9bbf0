"""What every tenant page shares: the membership resolved once per request, the role gate, and
the page context (tenant, role flags, navigation, workspace switcher).

A page is a function ``view(request, ws, **kwargs)`` decorated with ``@tenant_page(...)``: the
decorator requires a signed-in user, resolves ``/t/<slug>/`` to the user's membership through
``tenants.access`` (another tenant, or one the user is not in, is a 404) and checks the role:
``read`` for GET/HEAD, ``write`` for everything else (a viewer's forged POST is a 403).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from tenants.access import access_membership_by_tenant_slug
from tenants.models import Membership, Role, Tenant

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
P = ParamSpec("P")


class AuthedRequest(HttpRequest):
    user: User  # login_required guarantees a signed-in user


@dataclass(frozen=True)
class Workspace:
    """The tenant of this request and what the signed-in member may do in it."""

    membership: Membership

    @property
    def tenant(self) -> Tenant:
        return self.membership.tenant

    @property
    def user(self) -> User:
        return self.membership.user

    @property
    def can_edit(self) -> bool:
        return self.membership.has_role(Role.EDITOR)

    @property
    def can_admin(self) -> bool:
        return self.membership.has_role(Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.membership.has_role(Role.OWNER)


PageView = Callable[Concatenate[AuthedRequest, Workspace, P], HttpResponseBase]


def tenant_page(
    *, read: str = Role.VIEWER, write: str = Role.EDITOR
) -> Callable[[PageView[P]], Callable[..., HttpResponseBase]]:
    """Gate a tenant page: membership of ``slug`` (else 404), then ``read``/``write`` role (else 403)."""

    def decorate(view: PageView[P]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: AuthedRequest, slug: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            membership = access_membership_by_tenant_slug(user=request.user, slug=slug)
            needed = read if request.method in SAFE_METHODS else write
            if not membership.has_role(needed):
                raise PermissionDenied("Your role in this workspace may not do this.")
            return view(request, Workspace(membership), *args, **kwargs)

        return login_required(wrapper)

    return decorate


def is_htmx(request: HttpRequest) -> bool:
    """An htmx partial request (the page then answers with a fragment, not the whole shell)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def page(
    request: AuthedRequest,
    ws: Workspace,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    section: str,
    status: int = 200,
) -> HttpResponse:
    """Render a tenant page with the shell's context: tenant, role flags, active navigation
    section and the user's other workspaces for the switcher."""
    full: dict[str, Any] = {
        "ws": ws,
        "tenant": ws.tenant,
        "membership": ws.membership,
        "section": section,
        # Lazy: evaluated only where the shell renders the switcher (one query).
        "other_memberships": Membership.objects.select_related("tenant")
        .filter(user_id=ws.membership.user_id, tenant__is_active=True)
        .exclude(pk=ws.membership.pk)
        .order_by("tenant__name"),
        "public_base_url": settings.PUBLIC_BASE_URL,
    }
    full.update(context or {})
    return render(request, template, full, status=status)


def form_errors_from(form: BaseForm, exc: ValidationError) -> None:
    """Attach a service's ValidationError to ``form``: per field where the form has that field,
    the rest as non-field errors (``add_error`` refuses unknown field names)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store, private"
    return response
