"""Pages outside a tenant: the workspace picker and accepting an invitation."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from tenants.dashboard.base import AuthedRequest
from tenants.dashboard.invitations import invitation_accept, invitation_from_token
from tenants.forms import InvitationSignupForm
from tenants.models import Invitation, Membership


@login_required
def home(request: AuthedRequest) -> HttpResponse:
    memberships = list(
        Membership.objects.select_related("tenant")
        .filter(user=request.user, tenant__is_active=True)
        .order_by("tenant__name")
    )
    if len(memberships) == 1:
        return redirect("dashboard:overview", slug=memberships[0].tenant.slug)
    return render(request, "dashboard/tenant_picker.html", {"memberships": memberships})


def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation: a signed-in user joins with one click; someone without an account
    creates one (its email is the invited address); an existing account is asked to sign in."""
    invitation = invitation_from_token(token)
    if invitation is None:
        return render(request, "dashboard/team/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        assert isinstance(request.user, User)
        if request.method == "POST":
            return _join(request, invitation, request.user)
        return _accept_page(request, invitation, form=None)
    if User.objects.filter(email__iexact=invitation.email).exists():
        return _accept_page(request, invitation, form=None, sign_in=True)
    form = InvitationSignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # no account is left behind if the invitation was just used
                user = form.save(commit=False)
                user.email = invitation.email
                user.save()
                invitation_accept(invitation=invitation, user=user)
        except ValidationError:
            return render(request, "dashboard/team/invitation_invalid.html", status=404)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard:overview", slug=invitation.tenant.slug)
    return _accept_page(request, invitation, form=form)


def _join(request: HttpRequest, invitation: Invitation, user: User) -> HttpResponse:
    try:
        invitation_accept(invitation=invitation, user=user)
    except ValidationError:
        return render(request, "dashboard/team/invitation_invalid.html", status=404)
    return redirect("dashboard:overview", slug=invitation.tenant.slug)


def _accept_page(
    request: HttpRequest, invitation: Invitation, *, form: InvitationSignupForm | None, sign_in: bool = False
) -> HttpResponse:
    context = {
        "invitation": invitation,
        "form": form,
        "sign_in": sign_in,
        "login_url": f"{reverse('dashboard:login')}?next={request.path}",
    }
    return render(request, "dashboard/team/invitation_accept.html", context)
