"""Agent revisions, publishing, enabled tools and knowledge bases through the API."""

from __future__ import annotations

from agents.knowledge.services import corpus_create
from agents.models import AgentRevision, AgentTool, Tool
from tests.api.conftest import Keys, api
from tests.conftest import Cast


def agent_url(cast: Cast, suffix: str = "") -> str:
    return f"/api/v1/agents/{cast.agent_a.public_id}{suffix}"


def make_tool(cast: Cast, name: str = "lookup_order") -> Tool:
    return Tool.objects.create(
        tenant=cast.tenant_a,
        name=name,
        description="Look up an order.",
        parameters={"type": "object"},
        url="https://hooks.example.com/order",
        signing_secret="s" * 32,
    )


def test_publish_creates_the_next_revision_and_lists_it_first(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    client.patch(agent_url(cast), {"greeting": "Hello from Acme."}, format="json")
    published = client.post(agent_url(cast, "/publish"), {"note": "New greeting"}, format="json")
    assert published.status_code == 201, published.content
    body = published.json()
    assert body["number"] == 2 and body["note"] == "New greeting"
    assert body["config"]["greeting"] == "Hello from Acme."
    assert AgentRevision.objects.filter(agent=cast.agent_a).count() == 2
    assert client.get(agent_url(cast)).json()["published_revision"] == 2

    listed = client.get(agent_url(cast, "/revisions")).json()["results"]
    assert [r["number"] for r in listed] == [2, 1]
    assert "config" not in listed[0]

    one = client.get(agent_url(cast, "/revisions/1"))
    assert one.status_code == 200 and one.json()["number"] == 1 and "main_prompt" in one.json()["config"]
    assert client.get(agent_url(cast, "/revisions/99")).status_code == 404


def test_publish_refuses_template_errors_with_field_pointers(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    assert (
        client.patch(agent_url(cast), {"greeting": "Hi {{ no_such_variable }}"}, format="json").status_code
        == 200
    )
    refused = client.post(agent_url(cast, "/publish"), {}, format="json")
    assert refused.status_code == 400, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    assert [e["pointer"] for e in refused.json()["errors"]] == ["#/greeting"]
    assert AgentRevision.objects.filter(agent=cast.agent_a).count() == 1


def test_read_key_and_viewer_cannot_publish(cast: Cast, keys: Keys) -> None:
    assert api(keys.read_a).post(agent_url(cast, "/publish"), {}, format="json").status_code == 403
    assert api(keys.read_a).get(agent_url(cast, "/revisions")).status_code == 200
    viewer = api()
    viewer.force_login(cast.viewer_a)
    viewer.credentials(HTTP_X_TENANT="acme")
    assert viewer.post(agent_url(cast, "/publish"), {}, format="json").status_code == 403
    assert AgentRevision.objects.filter(agent=cast.agent_a).count() == 1


def test_tools_are_replaced_and_frozen_at_publish(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    tool = make_tool(cast)
    put = client.put(
        agent_url(cast, "/tools"),
        {
            "tools": [
                {"builtin": "end_call", "in_verification": True, "in_main": True},
                {"tool_id": str(tool.public_id), "in_main": True},
            ]
        },
        format="json",
    )
    assert put.status_code == 200, put.content
    names = {entry["name"] for entry in put.json()["tools"]}
    assert names == {"end_call", "lookup_order"}
    assert client.get(agent_url(cast, "/tools")).json() == put.json()

    # A smaller list disables the rest.
    client.put(agent_url(cast, "/tools"), {"tools": [{"builtin": "end_call"}]}, format="json")
    assert list(AgentTool.objects.filter(agent=cast.agent_a).values_list("builtin", flat=True)) == [
        "end_call"
    ]
    revision = client.post(agent_url(cast, "/publish"), {}, format="json").json()
    assert [t["name"] for t in revision["config"]["tools"]] == ["end_call"]


def test_tools_validation(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    foreign = Tool.objects.create(
        tenant=cast.tenant_b,
        name="b_tool",
        description="x",
        parameters={"type": "object"},
        url="https://b.example.com",
        signing_secret="x" * 32,
    )
    for body, pointer in (
        ({"tools": [{"tool_id": str(foreign.public_id)}]}, "#/tools/0/tool_id"),
        ({"tools": [{"builtin": "no_such_tool"}]}, "#/tools/0/builtin"),
        ({"tools": [{}]}, "#/tools/0"),
        ({"tools": [{"builtin": "end_call"}, {"builtin": "end_call"}]}, "#/tools/1"),
    ):
        response = client.put(agent_url(cast, "/tools"), body, format="json")
        assert response.status_code == 400, body
        assert pointer in [e["pointer"] for e in response.json()["errors"]], response.json()
    assert not AgentTool.objects.filter(agent=cast.agent_a).exists()


def test_corpora_are_set_within_the_tenant(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    mine = corpus_create(tenant=cast.tenant_a, name="FAQ")
    theirs = corpus_create(tenant=cast.tenant_b, name="Secret")
    put = client.put(agent_url(cast, "/corpora"), {"corpus_ids": [str(mine.public_id)]}, format="json")
    assert put.status_code == 200 and put.json() == {"corpus_ids": [str(mine.public_id)]}
    refused = client.put(agent_url(cast, "/corpora"), {"corpus_ids": [str(theirs.public_id)]}, format="json")
    assert refused.status_code == 400
    assert client.get(agent_url(cast, "/corpora")).json() == {"corpus_ids": [str(mine.public_id)]}
    assert client.put(agent_url(cast, "/corpora"), {"corpus_ids": []}, format="json").json() == {
        "corpus_ids": []
    }


def test_put_on_the_agent_itself_is_not_allowed(cast: Cast, keys: Keys) -> None:
    response = api(keys.write_a).put(agent_url(cast), {"name": "x", "main_prompt": "y"}, format="json")
    assert response.status_code == 405
