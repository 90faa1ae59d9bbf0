"""Team: invitations by signed, expiring, single-use link; role changes; removal; owner rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.dashboard.invitations import invitation_token
from tenants.models import Invitation, Membership, Role
from tests.conftest import Cast, make_user
from tests.dashboard.conftest import World, signed_in

INVITE = reverse("dashboard:team-invite", args=["acme"])


def _invite(client: Client, email: str, role: str = "editor") -> str:
    response = client.post(INVITE, {"email": email, "role": role})
    assert response.status_code == 200, response.content[:400]
    assert response["Cache-Control"] == "no-store, private"
    found = re.search(r"https://voice\.example\.test(/invite/[^/\s]+/)", str(mail.outbox[-1].body))
    assert found is not None
    assert found.group(0) in response.content.decode()  # also shown once to the inviter
    return found.group(1)


def test_invite_a_new_person_who_creates_an_account(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    path = _invite(client, "New.Person@Example.com")
    assert mail.outbox[-1].to == ["new.person@example.com"]
    assert "Acme Plumbing" in mail.outbox[-1].subject

    guest = Client()
    page = guest.get(path).content.decode()
    assert "Join Acme Plumbing" in page and "Create account and join" in page
    mismatch = guest.post(
        path, {"username": "newbie", "password1": "long passphrase 1", "password2": "other"}
    )
    assert mismatch.status_code == 200 and "didn’t match" in mismatch.content.decode()
    joined = guest.post(
        path, {"username": "newbie", "password1": "long passphrase 1", "password2": "long passphrase 1"}
    )
    assert joined.status_code == 302 and joined["Location"] == reverse("dashboard:overview", args=["acme"])
    user = User.objects.get(username="newbie")
    assert user.email == "new.person@example.com"
    assert Membership.objects.get(tenant=cast.tenant_a, user=user).role == Role.EDITOR
    assert guest.get(reverse("dashboard:overview", args=["acme"])).status_code == 200

    # Single use: the same link now fails.
    assert Client().get(path).status_code == 404


def test_an_existing_account_is_asked_to_sign_in_then_joins(client: Client, cast: Cast) -> None:
    signed_in(client, cast.owner_a)
    path = _invite(client, "owner_b@example.com", role="viewer")
    guest = Client()
    assert "Sign in to accept" in guest.get(path).content.decode()
    assert guest.post(path, {"username": "x", "password1": "y", "password2": "y"}).status_code == 200
    assert not User.objects.filter(username="x").exists()
    guest.force_login(cast.owner_b)
    assert guest.post(path).status_code == 302
    assert Membership.objects.get(tenant=cast.tenant_a, user=cast.owner_b).role == Role.VIEWER


def test_accepting_never_lowers_an_existing_role(client: Client, cast: Cast) -> None:
    signed_in(client, cast.owner_a)
    path = _invite(client, "somebody@example.com", role="viewer")
    other = Client()
    other.force_login(cast.admin_a)  # already an admin of acme
    assert other.post(path).status_code == 302
    assert Membership.objects.get(tenant=cast.tenant_a, user=cast.admin_a).role == Role.ADMIN


@pytest.mark.parametrize("tamper", ["expired", "forged", "revoked"])
def test_bad_links_are_refused(client: Client, cast: Cast, tamper: str) -> None:
    signed_in(client, cast.owner_a)
    path = _invite(client, "late@example.com")
    invitation = Invitation.objects.get(email="late@example.com")
    if tamper == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif tamper == "forged":
        path = path.replace(path.split("/")[2][-6:], "AAAAAA")
    else:
        assert (
            client.post(
                reverse("dashboard:invitation-revoke", args=["acme", invitation.public_id])
            ).status_code
            == 302
        )
        assert not Invitation.objects.filter(pk=invitation.pk).exists()
    guest = Client()
    assert guest.get(path).status_code == 404
    assert (
        guest.post(
            path, {"username": "late", "password1": "long passphrase 1", "password2": "long passphrase 1"}
        ).status_code
        == 404
    )
    assert not User.objects.filter(username="late").exists()


def test_a_token_signed_for_another_purpose_is_refused(client: Client, world: World) -> None:
    foreign = signing.dumps(str(world.a.invitation.public_id), salt="something-else")
    assert client.get(reverse("dashboard:invitation-accept", args=[foreign])).status_code == 404
    assert (
        client.get(
            reverse("dashboard:invitation-accept", args=[invitation_token(world.a.invitation)])
        ).status_code
        == 200
    )


def test_invite_form_validates(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    bad = client.post(INVITE, {"email": "not-an-email", "role": "editor"})
    assert bad.status_code == 400 and "Enter a valid email address." in bad.content.decode()
    member = client.post(INVITE, {"email": "viewer_a@example.com", "role": "editor"})
    assert member.status_code == 400 and "already a member" in member.content.decode()
    owner = client.post(INVITE, {"email": "boss@example.com", "role": "owner"})
    assert owner.status_code == 400 and "Select a valid choice" in owner.content.decode()
    assert mail.outbox == []


def test_reinviting_refreshes_the_pending_invitation(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    _invite(client, "twice@example.com", role="viewer")
    _invite(client, "twice@example.com", role="editor")
    assert Invitation.objects.filter(tenant=cast.tenant_a, email="twice@example.com").count() == 1
    assert Invitation.objects.get(email="twice@example.com").role == Role.EDITOR


def _membership(cast: Cast, user: User) -> Membership:
    return Membership.objects.get(tenant=cast.tenant_a, user=user)


def test_admin_changes_roles_but_not_an_owners(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    viewer = _membership(cast, cast.viewer_a)
    client.post(reverse("dashboard:member-role", args=["acme", viewer.public_id]), {"role": "editor"})
    assert _membership(cast, cast.viewer_a).role == Role.EDITOR
    owner = _membership(cast, cast.owner_a)
    assert (
        client.post(
            reverse("dashboard:member-role", args=["acme", owner.public_id]), {"role": "viewer"}
        ).status_code
        == 403
    )
    assert client.post(reverse("dashboard:member-remove", args=["acme", owner.public_id])).status_code == 403
    response = client.post(
        reverse("dashboard:member-role", args=["acme", viewer.public_id]), {"role": "owner"}, follow=True
    )
    assert "Choose a role you may grant." in response.content.decode()
    assert _membership(cast, cast.viewer_a).role == Role.EDITOR


def test_the_last_owner_cannot_be_demoted_or_removed(client: Client, cast: Cast) -> None:
    signed_in(client, cast.owner_a)
    owner = _membership(cast, cast.owner_a)
    demote = client.post(
        reverse("dashboard:member-role", args=["acme", owner.public_id]), {"role": "admin"}, follow=True
    )
    assert "The last owner cannot be demoted" in demote.content.decode()
    remove = client.post(reverse("dashboard:member-remove", args=["acme", owner.public_id]), follow=True)
    assert "The last owner cannot be removed" in remove.content.decode()
    assert _membership(cast, cast.owner_a).role == Role.OWNER

    # With a second owner, the first may step down.
    second = make_user("second_owner")
    Membership.objects.create(tenant=cast.tenant_a, user=second, role=Role.OWNER)
    client.post(reverse("dashboard:member-role", args=["acme", owner.public_id]), {"role": "admin"})
    assert _membership(cast, cast.owner_a).role == Role.ADMIN


def test_remove_a_member(client: Client, cast: Cast) -> None:
    signed_in(client, cast.admin_a)
    editor = _membership(cast, cast.editor_a)
    response = client.post(reverse("dashboard:member-remove", args=["acme", editor.public_id]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=editor.pk).exists()
    other = Client()
    other.force_login(cast.editor_a)
    assert other.get(reverse("dashboard:overview", args=["acme"])).status_code == 404


def test_when_email_fails_the_link_is_still_shown(client: Client, cast: Cast, settings: object) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # type: ignore[attr-defined]
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # type: ignore[attr-defined]  # nothing listens
    signed_in(client, cast.admin_a)
    response = client.post(INVITE, {"email": "offline@example.com", "role": "viewer"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "could not be sent" in html
    assert re.search(r"https://voice\.example\.test/invite/[^/\s]+/", html)
    assert Invitation.objects.filter(tenant=cast.tenant_a, email="offline@example.com").exists()
