"""The dashboard's entry: sign in, land on your tenant, never see another tenant."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tenants.models import Membership
from tests.conftest import PASSWORD, Cast


def test_login_page_renders(client: Client) -> None:
    response = client.get(reverse("dashboard:login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(reverse("dashboard:overview", args=["acme"]))
    assert response.status_code == 302
    assert reverse("dashboard:login") in response["Location"]


def test_sign_in_lands_on_the_single_tenant_overview(client: Client, cast: Cast) -> None:
    response = client.post(
        reverse("dashboard:login"), {"username": "viewer_a", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("dashboard:overview", args=["acme"])
    assert b"Acme Plumbing" in response.content
    assert b"Acme desk" in response.content
    assert b"Globex" not in response.content


def test_wrong_password_is_refused(client: Client, cast: Cast) -> None:
    response = client.post(reverse("dashboard:login"), {"username": "viewer_a", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


@pytest.mark.parametrize("user", ["owner_a", "admin_a", "editor_a", "viewer_a"])
def test_other_tenant_is_404_for_every_role(client: Client, cast: Cast, user: str) -> None:
    client.force_login(getattr(cast, user))
    assert client.get(reverse("dashboard:overview", args=["acme"])).status_code == 200
    assert client.get(reverse("dashboard:overview", args=["globex"])).status_code == 404
    assert client.get(reverse("dashboard:overview", args=["no-such-tenant"])).status_code == 404


def test_user_in_two_tenants_gets_a_picker_and_a_switcher(client: Client, cast: Cast) -> None:
    Membership.objects.create(tenant=cast.tenant_b, user=cast.viewer_a, role="viewer")
    client.force_login(cast.viewer_a)
    picker = client.get(reverse("dashboard:home"))
    assert picker.status_code == 200
    assert b"Acme Plumbing" in picker.content and b"Globex Dental" in picker.content
    overview = client.get(reverse("dashboard:overview", args=["globex"]))
    assert overview.status_code == 200
    assert reverse("dashboard:overview", args=["acme"]).encode() in overview.content


def test_seed_demo_is_idempotent_and_its_credentials_work(client: Client, db: None) -> None:
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    assert out.getvalue().count("Password:   voxsaas-demo") == 2
    assert Membership.objects.filter(tenant__slug="demo", role="owner").count() == 1
    response = client.post(
        reverse("dashboard:login"), {"username": "demo", "password": "voxsaas-demo"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard:overview", args=["demo"])
    assert b"Receptionist" in response.content
    # The demo agent answers from its FAQ and can book: both are seeded and published.
    from agents.models import Agent

    revision = Agent.objects.get(tenant__slug="demo").published_revision
    assert revision is not None
    config = revision.config
    assert len(config["corpus_ids"]) == 1
    assert {"query_knowledge_base", "schedule_meeting"} <= {tool["name"] for tool in config["tools"]}


def test_healthz(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
