"""Agents: create, the editor's validation, tools per stage, publish, history and diffs."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from agents.models import Agent, AgentRevision, AgentTool
from tests.dashboard.catalogue import _agent_form
from tests.dashboard.conftest import World, signed_in


def _editor(world: World) -> str:
    return reverse("dashboard:agent", args=["acme", world.a.agent.public_id])


def _form(world: World, **changes: Any) -> dict[str, Any]:
    data = _agent_form(world.a)
    data.update({"name": "Acme desk", "main_prompt": "Help Acme callers."})
    data.update(changes)
    return data


def test_create_an_agent(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    url = reverse("dashboard:agent-new", args=["acme"])
    bad = client.post(url, {"name": "", "engine": "local", "main_prompt": "Hi {{ callr_number }}"})
    assert "This field is required." in bad.content.decode()
    assert "Unknown variable &#x27;callr_number&#x27;" in bad.content.decode()
    response = client.post(
        url, {"name": "Night line", "engine": "echo", "main_prompt": "Say hi to {{ caller_number }}."}
    )
    agent = Agent.objects.get(tenant=world.a.tenant, name="Night line")
    assert response.status_code == 302 and response["Location"] == reverse(
        "dashboard:agent", args=["acme", agent.public_id]
    )
    assert agent.engine == "echo" and agent.published_revision is None


def test_the_editor_shows_every_group_prompts_side_by_side_and_hints(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    html = client.get(_editor(world)).content.decode()
    for label in (
        "Engine and voice",
        "Stage prompts",
        "Verification",
        "Transfer",
        "Timeouts",
        "Advanced",
        "Tools",
        "History",
    ):
        assert label in html
    assert (
        html.index('name="verification_prompt"')
        < html.index('name="main_prompt"')
        < html.index('name="summary_prompt"')
    )
    assert "{{ caller_number }}" in html and "{{ contact.name }}" in html
    assert 'for="id_transfer_number"' in html and 'name="max_duration_s"' in html


def test_save_the_draft_with_validation(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    bad = client.post(
        _editor(world),
        _form(
            world,
            greeting="Hi {{ nope }}",
            transfer_number="12345",
            temperature="3",
            custom_variables='{"Bad Name": 1}',
            summary_schema='{"type": "string"}',
            silence_timeout_s="1",
        ),
    )
    html = bad.content.decode()
    assert bad.status_code == 200
    assert "Unknown variable &#x27;nope&#x27;" in html
    assert "E.164" in html
    assert "less than or equal to 1.0" in html
    assert "is not a variable name" in html
    assert "&quot;type&quot;: &quot;object&quot;" in html
    assert "greater than or equal to 5" in html
    assert 'aria-invalid="true"' in html
    world.a.agent.refresh_from_db()
    assert world.a.agent.greeting == "Hello from {{ tenant_name }}!"

    good = client.post(
        _editor(world),
        _form(
            world,
            greeting="Hi, {{ plan }} customer",
            custom_variables='{"plan": "gold"}',
            transfer_number="+15550009999",
        ),
    )
    assert good.status_code == 302
    world.a.agent.refresh_from_db()
    assert world.a.agent.greeting == "Hi, {{ plan }} customer"
    assert world.a.agent.custom_variables == {"plan": "gold"}
    assert world.a.agent.transfer_number == "+15550009999"
    assert "Unpublished changes" in client.get(_editor(world)).content.decode()


def test_tools_per_stage(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    key = f"tool_{world.a.tool.public_id.hex}"
    url = reverse("dashboard:agent-tools", args=["acme", world.a.agent.public_id])
    client.post(url, {"verify_caller__verification": "on", f"{key}__main": "on", "end_call__main": "on"})
    links = {t.name: (t.in_verification, t.in_main) for t in AgentTool.objects.filter(agent=world.a.agent)}
    assert links == {
        "verify_caller": (True, False),
        world.a.tool.name: (False, True),
        "end_call": (False, True),
    }
    html = client.get(_editor(world)).content.decode()
    assert f'name="{key}__main" id="id_{key}__main" checked' in html
    client.post(url, {"end_call__main": "on"})
    assert list(AgentTool.objects.filter(agent=world.a.agent).values_list("builtin", flat=True)) == [
        "end_call"
    ]


def test_publish_creates_a_revision_and_refuses_broken_templates(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    publish = reverse("dashboard:agent-publish", args=["acme", world.a.agent.public_id])
    response = client.post(publish, {"note": "Third"}, follow=True)
    assert "Published revision 3" in response.content.decode()
    revision = AgentRevision.objects.get(agent=world.a.agent, number=3)
    assert revision.note == "Third" and revision.published_by == world.cast.editor_a
    Agent.objects.filter(pk=world.a.agent.pk).update(
        main_prompt="Hi {{ broken }}"
    )  # e.g. written through the API
    refused = client.post(publish, {}, follow=True).content.decode()
    assert "Not published" in refused and "broken" in refused
    assert not AgentRevision.objects.filter(agent=world.a.agent, number=4).exists()


def test_history_and_a_readable_diff(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    history = client.get(
        reverse("dashboard:agent-revisions", args=["acme", world.a.agent.public_id])
    ).content.decode()
    assert "r1" in history and "r2" in history and "Greeting" in history and "owner_a" in history
    diff_url = reverse("dashboard:agent-diff", args=["acme", world.a.agent.public_id])
    diff = client.get(diff_url, {"left": "1", "right": "2"}).content.decode()
    assert "Revision 1 → Revision 2" in diff
    assert "<ins>Hello from {{ tenant_name }}!</ins>" in diff
    assert "Main prompt" not in diff  # unchanged fields are not listed
    same = client.get(diff_url, {"left": "2", "right": "draft"}).content.decode()
    assert "No differences" in same
    bad = client.get(diff_url, {"left": "one", "right": "draft"})
    assert bad.status_code == 400 and "Choose a revision number or the draft." in bad.content.decode()


def test_diff_of_structured_values_is_line_by_line(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    client.post(
        reverse("dashboard:agent-tools", args=["acme", world.a.agent.public_id]), {"end_call__main": "on"}
    )
    client.post(_editor(world), _form(world, main_prompt="Help Acme callers quickly."))
    diff = client.get(
        reverse("dashboard:agent-diff", args=["acme", world.a.agent.public_id]),
        {"left": "2", "right": "draft"},
    ).content.decode()
    assert "Help Acme <del>callers.</del><ins>callers quickly.</ins>" in diff
    added = '<div class="add"><span class="sr-only">added: </span>'
    assert added + "    &quot;name&quot;: &quot;end_call&quot;,</div>" in diff


def test_revision_page_shows_the_frozen_configuration(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(
        reverse("dashboard:agent-revision", args=["acme", world.a.agent.public_id, 2])
    ).content.decode()
    assert "Revision 2" in html and "&quot;greeting&quot;: &quot;Hello from {{ tenant_name }}!&quot;" in html


def test_knowledge_bases_are_the_tenants_own(client: Client, world: World) -> None:
    from agents.knowledge.models import Corpus

    own = Corpus.objects.create(tenant=world.a.tenant, name="Price list")
    foreign = Corpus.objects.create(tenant=world.b.tenant, name="Globex secrets")
    signed_in(client, world.cast.editor_a)
    html = client.get(_editor(world)).content.decode()
    assert "Price list" in html and "Globex secrets" not in html
    url = reverse("dashboard:agent-corpora", args=["acme", world.a.agent.public_id])
    refused = client.post(url, {"corpora": [str(own.public_id), str(foreign.public_id)]}, follow=True)
    assert "Choose knowledge bases from this workspace." in refused.content.decode()
    assert list(world.a.agent.corpora.all()) == []
    client.post(url, {"corpora": [str(own.public_id)]})
    assert list(world.a.agent.corpora.all()) == [own]
    client.post(url, {})
    assert list(world.a.agent.corpora.all()) == []
