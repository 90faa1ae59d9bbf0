"""The team page: members and their roles, pending invitations."""

from __future__ import annotations

import logging
import smtplib

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from tenants.access import access_invitation_by_public_id, access_membership_by_public_id
from tenants.dashboard import invitations
from tenants.dashboard.base import AuthedRequest, Workspace, no_store, page, tenant_page
from tenants.forms import InvitationForm, RoleForm
from tenants.models import Invitation, Membership, Role

log = logging.getLogger(__name__)


def _team_page(
    request: AuthedRequest,
    ws: Workspace,
    form: InvitationForm | None = None,
    *,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    members = Membership.objects.filter(tenant=ws.tenant).select_related("user").order_by("user__username")
    pending = (
        Invitation.objects.filter(tenant=ws.tenant, accepted_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-created_at")
    )
    context = {
        "members": members,
        "invitations": pending,
        "form": form or InvitationForm(actor=ws.membership),
        "role_choices": [(v, label) for v, label in Role.choices],
        **extra,
    }
    return page(request, ws, "dashboard/team/list.html", context, section="team", status=status)


@require_safe
@tenant_page()
def team(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    return _team_page(request, ws)


@require_POST
@tenant_page(write=Role.ADMIN)
def invite(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = InvitationForm(request.POST, actor=ws.membership)
    if not form.is_valid():
        return _team_page(request, ws, form, status=400)
    try:
        created = invitations.invitation_create(
            tenant=ws.tenant,
            actor=ws.membership,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
    except ValidationError as exc:
        form.add_error("email", exc.message_dict.get("email", exc.messages))
        return _team_page(request, ws, form, status=400)
    try:
        invitations.invitation_send(created=created)
    except (OSError, smtplib.SMTPException):
        log.exception("could not email the invitation of tenant %s", ws.tenant.pk)
        messages.warning(request, "The invitation email could not be sent. Send the link below yourself.")
    else:
        messages.success(request, f"Invitation sent to {created.invitation.email}.")
    # The link is shown once, for teams without working email; the page must not be cached.
    return no_store(_team_page(request, ws, created_link=created.url, created_email=created.invitation.email))


@require_POST
@tenant_page(write=Role.ADMIN)
def invitation_revoke(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    invitation = access_invitation_by_public_id(tenant=ws.tenant, public_id=public_id)
    invitations.invitation_revoke(tenant=ws.tenant, invitation=invitation)
    messages.success(request, f"The invitation of {invitation.email} is revoked.")
    return redirect("dashboard:team", slug=ws.tenant.slug)


@require_POST
@tenant_page(write=Role.ADMIN)
def member_role(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    membership = access_membership_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = RoleForm(request.POST, actor=ws.membership)
    if not form.is_valid():
        messages.error(request, "Choose a role you may grant.")
        return redirect("dashboard:team", slug=ws.tenant.slug)
    try:
        invitations.membership_change_role(
            tenant=ws.tenant, actor=ws.membership, membership=membership, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.get_username()} is now {membership.get_role_display()}.")
    return redirect("dashboard:team", slug=ws.tenant.slug)


@require_POST
@tenant_page(write=Role.ADMIN)
def member_remove(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    membership = access_membership_by_public_id(tenant=ws.tenant, public_id=public_id)
    try:
        invitations.membership_remove(tenant=ws.tenant, actor=ws.membership, membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("dashboard:team", slug=ws.tenant.slug)
    messages.success(request, f"{membership.user.get_username()} was removed from {ws.tenant.name}.")
    if membership.pk == ws.membership.pk:
        return redirect("dashboard:home")
    return redirect("dashboard:team", slug=ws.tenant.slug)
