"""Per-key throttling (429 + Retry-After), problem details for every kind of API error, and the
OpenAPI schema and docs page."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.api.conftest import Keys, api

LIST = "/api/v1/agents"


def test_throttle_answers_429_with_retry_after_per_key(keys: Keys, settings: Any) -> None:
    settings.API_THROTTLE_RATE = "3/minute"
    limited = api(keys.read_a)
    assert [limited.get(LIST).status_code for _ in range(3)] == [200, 200, 200]
    refused = limited.get(LIST)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # The count is per key: another key of the same tenant is not affected.
    assert api(keys.write_a).get(LIST).status_code == 200


def test_unknown_api_url_and_wrong_method_are_problems(keys: Keys) -> None:
    nowhere = api(keys.read_a).get("/api/v1/nothing-here")
    assert nowhere.status_code == 404
    assert nowhere["Content-Type"] == "application/problem+json"
    assert nowhere.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "There is nothing at this URL.",
        "code": "not_found",
    }
    wrong = api(keys.write_a).put(LIST, {}, format="json")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    malformed = api(keys.write_a).post(LIST, b"{not json", content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["code"] == "parse_error"


def test_schema_documents_every_operation(client: Client) -> None:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    ours = ("/api/v1/agents", "/api/v1/phone-numbers", "/api/v1/telephony-accounts", "/api/v1/calls",
            "/api/v1/webhook-endpoints", "/api/v1/webhook-deliveries", "/api/v1/usage")  # fmt: skip
    operations = [
        (path, method, op)
        for path, ops in schema["paths"].items()
        if path.startswith(ours)
        for method, op in ops.items()
    ]
    assert len(operations) >= 25
    for path, method, op in operations:
        assert op.get("summary"), f"{method} {path} has no summary"
        assert "401" in op["responses"] and "429" in op["responses"], f"{method} {path}"
    outbound = schema["paths"]["/api/v1/calls"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in outbound["parameters"])
    request_schema = schema["components"]["schemas"]["OutboundCallRequestRequest"]
    assert {"to", "from"} <= set(request_schema["required"])
    assert schema["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "code",
    ]


def test_docs_page_is_served_from_our_own_static_files(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn.jsdelivr.net" not in page  # self-hosted: Swagger UI comes from our static files
    # Its start-up script is a file of its own (nothing inline under the CSP), pointing at the schema.
    assert 'src="/api/docs/?script="' in page
    assert "/api/schema/" in client.get("/api/docs/?script=").content.decode()
