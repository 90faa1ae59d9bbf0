"""Webhook tools through the API: CRUD, JSON Schema and URL validation, write-only secrets."""

from __future__ import annotations

import json

from agents.models import Tool
from tests.api.conftest import Keys, api
from tests.conftest import Cast

LIST = "/api/v1/tools"
VALID = {
    "name": "lookup_order",
    "description": "Look up an order by number.",
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]},
    "url": "https://hooks.example.com/orders",
    "headers": {"X-Shop": "acme"},
    "secret_headers": {"Authorization": "Bearer top-secret-token"},
}


def test_crud_and_secrets_are_shown_once(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(LIST, VALID, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["signing_secret"]
    assert len(secret) >= 32
    assert "secret_headers" not in body and body["has_secret_headers"] is True
    tool = Tool.objects.get(public_id=body["id"])
    assert tool.tenant == cast.tenant_a and tool.signing_secret == secret
    assert json.loads(tool.secret_headers) == {"Authorization": "Bearer top-secret-token"}

    fetched = client.get(f"{LIST}/{body['id']}")
    assert fetched.status_code == 200
    text = fetched.content.decode()
    assert secret not in text and "top-secret-token" not in text and "signing_secret" not in fetched.json()
    listed = client.get(LIST)
    assert secret not in listed.content.decode() and "top-secret-token" not in listed.content.decode()

    patched = client.patch(f"{LIST}/{body['id']}", {"timeout_s": 2.5, "secret_headers": {}}, format="json")
    assert patched.status_code == 200 and "signing_secret" not in patched.json()
    tool.refresh_from_db()
    assert tool.timeout_s == 2.5 and tool.secret_headers == "" and tool.signing_secret == secret

    assert client.delete(f"{LIST}/{body['id']}").status_code == 204
    assert not Tool.objects.filter(pk=tool.pk).exists()


def test_given_signing_secret_is_kept(keys: Keys) -> None:
    created = api(keys.write_a).post(LIST, {**VALID, "signing_secret": "m" * 40}, format="json")
    assert created.status_code == 201
    assert Tool.objects.get(public_id=created.json()["id"]).signing_secret == "m" * 40


def test_validation_errors(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    for change, pointer in (
        ({"parameters": {"type": "array"}}, "#/parameters"),
        ({"parameters": {"type": "object", "properties": {"x": {"type": "not-a-type"}}}}, "#/parameters"),
        ({"url": "ftp://hooks.example.com/x"}, "#/url"),
        ({"url": "https://127.0.0.1/x"}, "#/url"),
        ({"name": "has space"}, "#/name"),
        ({"headers": {"X-Bad": 5}}, "#/headers"),
        ({"timeout_s": 100}, "#/timeout_s"),
    ):
        response = client.post(LIST, {**VALID, **change}, format="json")
        assert response.status_code == 400, (change, response.content)
        assert pointer in [e["pointer"] for e in response.json()["errors"]], response.json()
    assert not Tool.objects.exists()
    assert client.post(LIST, VALID, format="json").status_code == 201
    duplicate = client.post(LIST, VALID, format="json")
    assert duplicate.status_code == 400 and duplicate.json()["errors"][0]["pointer"] == "#/name"


def test_mass_assignment_and_scopes(cast: Cast, keys: Keys) -> None:
    response = api(keys.write_a).post(
        LIST,
        {**VALID, "tenant": cast.tenant_b.pk, "id": "00000000-0000-0000-0000-000000000001"},
        format="json",
    )
    assert response.status_code == 201
    tool = Tool.objects.get(public_id=response.json()["id"])
    assert tool.tenant == cast.tenant_a and str(tool.public_id) != "00000000-0000-0000-0000-000000000001"
    assert api(keys.read_a).post(LIST, {**VALID, "name": "other"}, format="json").status_code == 403
    assert api(keys.read_a).get(LIST).status_code == 200
    assert api(keys.write_b).get(LIST).json()["results"] == []
