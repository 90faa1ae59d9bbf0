"""Agents through the HTTP API: CRUD, mass assignment, validation, pagination, auth rules."""

from __future__ import annotations

import uuid

from django.test import Client
from django.urls import reverse

from agents.models import Agent
from tests.api.conftest import Keys, api
from tests.conftest import PASSWORD, Cast

LIST = "/api/v1/agents"


def detail(agent: Agent) -> str:
    return f"/api/v1/agents/{agent.public_id}"


def test_create_read_update_delete(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(
        LIST,
        {"name": "Night desk", "main_prompt": "Help callers at night.", "summary_schema": {"type": "object"}},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    agent = Agent.objects.get(public_id=body["id"])
    assert agent.tenant == cast.tenant_a
    assert body["name"] == "Night desk" and body["engine"] == "local"

    fetched = client.get(f"{LIST}/{body['id']}")
    assert fetched.status_code == 200 and fetched.json()["main_prompt"] == "Help callers at night."

    patched = client.patch(f"{LIST}/{body['id']}", {"greeting": "Hello, night desk."}, format="json")
    assert patched.status_code == 200
    agent.refresh_from_db()
    assert agent.greeting == "Hello, night desk."

    assert client.delete(f"{LIST}/{body['id']}").status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert client.get(f"{LIST}/{body['id']}").status_code == 404


def test_tenant_ids_and_timestamps_cannot_be_assigned(cast: Cast, keys: Keys) -> None:
    forced_id = str(uuid.uuid4())
    response = api(keys.write_a).post(
        LIST,
        {
            "name": "Sneaky",
            "main_prompt": "x",
            "tenant": cast.tenant_b.pk,
            "tenant_id": cast.tenant_b.pk,
            "id": forced_id,
            "public_id": forced_id,
            "created_at": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    agent = Agent.objects.get(name="Sneaky")
    assert agent.tenant == cast.tenant_a
    assert str(agent.public_id) != forced_id
    assert agent.created_at.year != 2001

    patched = api(keys.write_a).patch(
        detail(cast.agent_a), {"tenant": cast.tenant_b.pk, "id": forced_id}, format="json"
    )
    assert patched.status_code == 200
    cast.agent_a.refresh_from_db()
    assert cast.agent_a.tenant == cast.tenant_a and str(cast.agent_a.public_id) != forced_id


def test_validation_errors_are_problem_details(keys: Keys) -> None:
    response = api(keys.write_a).post(
        LIST, {"name": "", "temperature": 3, "summary_schema": {"type": "array"}}, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid" and body["title"] == "Bad Request"
    pointers = {error["pointer"] for error in body["errors"]}
    assert {"#/name", "#/main_prompt", "#/temperature", "#/summary_schema"} <= pointers


def test_cursor_pagination_walks_every_agent_once(cast: Cast, keys: Keys) -> None:
    for index in range(5):
        Agent.objects.create(tenant=cast.tenant_a, name=f"Agent {index}", main_prompt="x")
    Agent.objects.create(tenant=cast.tenant_b, name="Not mine", main_prompt="x")
    client = api(keys.read_a)
    seen: list[str] = []
    url: str | None = f"{LIST}?page_size=2"
    pages = 0
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(["Acme desk", *(f"Agent {i}" for i in range(5))])


def test_read_key_reads_but_cannot_write(cast: Cast, keys: Keys) -> None:
    client = api(keys.read_a)
    assert client.get(LIST).status_code == 200
    for response in (
        client.post(LIST, {"name": "x", "main_prompt": "x"}, format="json"),
        client.patch(detail(cast.agent_a), {"name": "x"}, format="json"),
        client.delete(detail(cast.agent_a)),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    cast.agent_a.refresh_from_db()
    assert cast.agent_a.name == "Acme desk"


def test_no_or_bad_credentials_are_401_problems(keys: Keys) -> None:
    for client in (api(None), api("vx_live_00000000_nope")):
        response = client.get(LIST)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 401
        assert response.has_header("WWW-Authenticate")


def _session(cast: Cast, username: str) -> Client:
    client = Client(enforce_csrf_checks=False)
    assert client.login(username=username, password=PASSWORD)
    return client


def test_session_users_name_the_tenant_and_roles_decide_writes(cast: Cast) -> None:
    viewer = _session(cast, "viewer_a")
    assert viewer.get(LIST, HTTP_X_TENANT="acme").status_code == 200
    refused = viewer.post(
        LIST, {"name": "x", "main_prompt": "x"}, content_type="application/json", HTTP_X_TENANT="acme"
    )
    assert refused.status_code == 403

    editor = _session(cast, "editor_a")
    created = editor.post(
        LIST, {"name": "By editor", "main_prompt": "x"}, content_type="application/json", HTTP_X_TENANT="acme"
    )
    assert created.status_code == 201
    assert Agent.objects.get(name="By editor").tenant == cast.tenant_a

    missing = editor.get(LIST)
    assert missing.status_code == 400 and missing.json()["code"] == "tenant_required"
    # Not a member of globex: exactly like a tenant that does not exist.
    foreign = editor.get(LIST, HTTP_X_TENANT="globex")
    nowhere = editor.get(LIST, HTTP_X_TENANT="no-such-tenant")
    assert foreign.status_code == nowhere.status_code == 404
    assert foreign.json() == nowhere.json()


def test_session_writes_need_the_csrf_token(cast: Cast) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="owner_a", password=PASSWORD)
    response = client.post(
        LIST, {"name": "x", "main_prompt": "x"}, content_type="application/json", HTTP_X_TENANT="acme"
    )
    assert response.status_code == 403
    assert not Agent.objects.filter(name="x").exists()


def test_existing_url_names_still_resolve() -> None:
    assert reverse("api:agent-list") == LIST
    assert reverse("api:agent-detail", args=["abc"]) == f"{LIST}/abc"
