"""Another tenant's anything is a 404, exactly like a missing one; the refused request changes nothing."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import AgentTool
from calls.models import Call
from tenants.models import PhoneNumber
from tests.dashboard.catalogue import ACTIONS, DETAIL_ACTIONS, DETAIL_PAGES, PAGES, snapshot
from tests.dashboard.conftest import World, signed_in


@pytest.mark.parametrize("name", DETAIL_PAGES)
def test_other_tenants_ids_under_my_slug_are_404(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.owner_a)
    assert client.get(PAGES[name].url("acme", world.a)).status_code == 200
    assert client.get(PAGES[name].url("acme", world.b)).status_code == 404


@pytest.mark.parametrize("name", list(PAGES))
def test_a_tenant_i_am_not_in_is_404_on_every_page(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.owner_a)
    assert client.get(PAGES[name].url("globex", world.b)).status_code == 404


@pytest.mark.parametrize("name", DETAIL_ACTIONS)
def test_forged_posts_with_other_tenants_ids_are_404(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.owner_a)
    action = ACTIONS[name]
    before = snapshot()
    response = client.post(action.url("acme", world.b), action.data(world.b))
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("name", ["call", "agent", "tool", "number"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", str(uuid.UUID(int=7))])
def test_malformed_and_unknown_ids_look_the_same(
    client: Client, world: World, name: str, bad_id: str
) -> None:
    signed_in(client, world.cast.owner_a)
    assert client.get(reverse(f"dashboard:{name}", args=["acme", bad_id])).status_code == 404


def test_a_revision_number_the_agent_does_not_have_is_404(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    assert (
        client.get(
            reverse("dashboard:agent-revision", args=["acme", world.a.agent.public_id, 99])
        ).status_code
        == 404
    )
    diff = reverse("dashboard:agent-diff", args=["acme", world.a.agent.public_id]) + "?left=99&right=draft"
    assert client.get(diff).status_code == 404


def test_connecting_a_number_to_another_tenants_account_is_refused(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    response = client.post(
        reverse("dashboard:number-connect", args=["acme"]),
        {
            "number": "+15559990000",
            "account": str(world.b.account.public_id),
            "agent": str(world.b.agent.public_id),
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not PhoneNumber.objects.filter(number="+15559990000").exists()


def test_pointing_a_number_at_another_tenants_agent_is_refused(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    response = client.post(
        reverse("dashboard:number", args=["acme", world.a.number.public_id]),
        {
            "label": "x",
            "agent": str(world.b.agent.public_id),
            "telephony_account": str(world.a.account.public_id),
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    world.a.number.refresh_from_db()
    assert world.a.number.agent_id == world.a.agent.pk


def test_another_tenants_tool_cannot_be_enabled_on_my_agent(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    key = f"tool_{world.b.tool.public_id.hex}"
    response = client.post(
        reverse("dashboard:agent-tools", args=["acme", world.a.agent.public_id]),
        {f"{key}__main": "on", f"{key}__verification": "on", "end_call__main": "on"},
    )
    assert response.status_code == 302
    assert not AgentTool.objects.filter(tool=world.b.tool).exists()
    assert AgentTool.objects.filter(agent=world.a.agent, builtin="end_call").exists()


def test_filtering_calls_by_another_tenants_agent_shows_nothing(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    response = client.get(reverse("dashboard:calls", args=["acme"]), {"agent": str(world.b.agent.public_id)})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Select a valid choice" in html
    assert str(world.a.call.public_id) not in html and str(world.b.call.public_id) not in html
    assert Call.objects.filter(tenant=world.b.tenant).exists()
