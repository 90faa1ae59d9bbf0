"""Team writes: invitations (signed, expiring, single-use links) and role changes.

Rules: admins and owners manage the team; only an owner may make someone an owner or change or
remove an owner; a workspace always keeps at least one owner.

The invitation link carries ``signing.dumps(public_id)`` with a timestamp (forging one needs the
SECRET_KEY) and is checked against the row: it must exist (revoking deletes it), be unaccepted
and unexpired, so a link works once and never after ``INVITATION_TTL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from tenants.models import ROLE_RANK, Invitation, Membership, Role, Tenant

INVITATION_TTL = timedelta(days=7)
_SALT = "voxsaas.tenants.invitation"


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    url: str  # the link to send: shown to the inviter once, and emailed


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(str(invitation.public_id), salt=_SALT)


def invitation_url(invitation: Invitation) -> str:
    path = reverse("dashboard:invitation-accept", args=[invitation_token(invitation)])
    return settings.PUBLIC_BASE_URL + path


def invitation_from_token(token: str) -> Invitation | None:
    """The pending invitation a link names, or None (tampered, expired, used, revoked)."""
    try:
        public_id = signing.loads(token, salt=_SALT, max_age=INVITATION_TTL)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(
            public_id=public_id,
            accepted_at__isnull=True,
            expires_at__gt=timezone.now(),
            tenant__is_active=True,
        )
        .first()
    )


def _check_may_grant(actor: Membership, role: str) -> None:
    if not actor.has_role(Role.ADMIN) or ROLE_RANK[role] > ROLE_RANK[actor.role]:
        raise PermissionDenied("Your role may not grant this role.")


@transaction.atomic
def invitation_create(*, tenant: Tenant, actor: Membership, email: str, role: str) -> CreatedInvitation:
    """Invite ``email`` (or refresh its pending invitation: new role, new expiry, new link)."""
    _check_may_grant(actor, role)
    email = email.strip().lower()
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ValidationError({"email": "Someone with this email address is already a member."})
    invitation, _ = Invitation.objects.select_for_update().update_or_create(
        tenant=tenant,
        email=email,
        accepted_at__isnull=True,
        defaults={
            "role": role,
            "invited_by_id": actor.user_id,
            "expires_at": timezone.now() + INVITATION_TTL,
        },
    )
    return CreatedInvitation(invitation, invitation_url(invitation))


def invitation_send(*, created: CreatedInvitation) -> None:
    invitation = created.invitation
    context = {
        "invitation": invitation,
        "tenant": invitation.tenant,
        "url": created.url,
        "days": INVITATION_TTL.days,
    }
    send_mail(
        subject=f"You are invited to {invitation.tenant.name} on VoxSaaS",
        message=render_to_string("dashboard/team/invitation_email.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_revoke(*, tenant: Tenant, invitation: Invitation) -> None:
    Invitation.objects.filter(tenant=tenant, pk=invitation.pk, accepted_at__isnull=True).delete()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Make ``user`` a member with the invited role (an existing member keeps a higher role)."""
    row = Invitation.objects.select_for_update().filter(pk=invitation.pk, accepted_at__isnull=True).first()
    if row is None or not row.is_pending():
        raise ValidationError("This invitation is no longer valid.")
    membership, created = Membership.objects.get_or_create(
        tenant_id=row.tenant_id, user=user, defaults={"role": row.role}
    )
    if not created and ROLE_RANK[row.role] > ROLE_RANK[membership.role]:
        membership.role = row.role
        membership.save(update_fields=["role"])
    row.accepted_at = timezone.now()
    row.accepted_by = user
    row.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def _lock_owners(tenant: Tenant) -> int:
    return len(
        list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.OWNER).values("pk"))
    )


@transaction.atomic
def membership_change_role(
    *, tenant: Tenant, actor: Membership, membership: Membership, role: str
) -> Membership:
    if role not in ROLE_RANK:
        raise ValidationError({"role": "Unknown role."})
    _check_may_grant(actor, role)
    if membership.role == Role.OWNER and not actor.has_role(Role.OWNER):
        raise PermissionDenied("Only an owner may change an owner's role.")
    if membership.role == Role.OWNER and role != Role.OWNER and _lock_owners(tenant) <= 1:
        raise ValidationError("The last owner cannot be demoted. Make someone else an owner first.")
    Membership.objects.filter(tenant=tenant, pk=membership.pk).update(role=role)
    membership.role = role
    return membership


@transaction.atomic
def membership_remove(*, tenant: Tenant, actor: Membership, membership: Membership) -> None:
    if not actor.has_role(Role.ADMIN):
        raise PermissionDenied("Your role may not remove members.")
    if membership.role == Role.OWNER and not actor.has_role(Role.OWNER):
        raise PermissionDenied("Only an owner may remove an owner.")
    if membership.role == Role.OWNER and _lock_owners(tenant) <= 1:
        raise ValidationError("The last owner cannot be removed. Make someone else an owner first.")
    Membership.objects.filter(tenant=tenant, pk=membership.pk).delete()
