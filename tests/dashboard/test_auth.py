"""Sign in, sign out, password reset by email, the workspace switcher."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from tenants.models import Membership
from tests.conftest import PASSWORD, Cast


def test_sign_in_page_links_to_password_reset(client: Client) -> None:
    html = client.get(reverse("dashboard:login")).content.decode()
    assert 'for="id_username"' in html and 'for="id_password"' in html
    assert reverse("dashboard:password_reset") in html


def test_sign_out_ends_the_session(client: Client, cast: Cast) -> None:
    client.force_login(cast.viewer_a)
    response = client.post(reverse("dashboard:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:login")
    assert client.get(reverse("dashboard:overview", args=["acme"])).status_code == 302


def test_password_reset_by_email_link(client: Client, cast: Cast, settings: object) -> None:
    response = client.post(reverse("dashboard:password_reset"), {"email": "viewer_a@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["viewer_a@example.com"]
    assert "Reset your VoxSaaS password" in message.subject
    link = re.search(r"https://voice\.example\.test(/password-reset/\S+/\S+/)", str(message.body))
    assert link is not None, message.body

    # The link swaps its token for a session-held one and redirects to the form.
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200 and "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    weak = client.post(set_url, {"new_password1": "123", "new_password2": "123"})
    assert "too short" in weak.content.decode()
    done = client.post(
        set_url, {"new_password1": "a brand new passphrase 42", "new_password2": "a brand new passphrase 42"}
    )
    assert done.status_code == 302 and done["Location"] == reverse("dashboard:password_reset_complete")

    assert User.objects.get(username="viewer_a").check_password("a brand new passphrase 42")
    again = client.get(link.group(1), follow=True).content.decode()
    assert "does not work any more" in again


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(
    client: Client, cast: Cast
) -> None:
    response = client.post(reverse("dashboard:password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_switcher_lists_only_my_other_workspaces(client: Client, cast: Cast) -> None:
    Membership.objects.create(tenant=cast.tenant_b, user=cast.editor_a, role="viewer")
    client.force_login(cast.editor_a)
    html = client.get(reverse("dashboard:calls", args=["acme"])).content.decode()
    assert 'href="/t/globex/"' in html and "Globex Dental" in html
    client.force_login(cast.viewer_a)
    html = client.get(reverse("dashboard:calls", args=["acme"])).content.decode()
    assert "Globex" not in html and "You are in one workspace." in html


def test_login_redirects_to_the_picker_for_members_of_several(client: Client, cast: Cast) -> None:
    Membership.objects.create(tenant=cast.tenant_b, user=cast.viewer_a, role="viewer")
    response = client.post(
        reverse("dashboard:login"), {"username": "viewer_a", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard:home")
    html = response.content.decode()
    assert "Choose a workspace" in html and "Acme Plumbing" in html and "Globex Dental" in html
