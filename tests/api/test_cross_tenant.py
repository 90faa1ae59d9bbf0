"""Every detail URL of the API answers 404 for another tenant's object, exactly like for a
missing one, for every method, and changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import pytest
from django.urls import URLPattern, URLResolver, reverse

from agents.knowledge.models import Corpus, Document
from agents.knowledge.services import corpus_create, document_add_text
from agents.models import Contact, Tool
from agents.scheduling.models import Resource, TimeOff
from agents.scheduling.services import resource_create, time_off_add
from agents.services import contact_create
from calls.postcall.services import call_summary_create
from calls.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from calls.webhooks.services import webhook_endpoint_create
from tests.api.conftest import Keys, api, make_call
from tests.calls.conftest import Telephony
from voxsaas.urls import api_v1


@dataclass(frozen=True)
class Case:
    route: str  # URL name in the "api" namespace
    owner: str  # which of tenant B's objects the URL names
    methods: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)  # other URL kwargs


CRUD = ("get", "patch", "delete")
CASES = [
    Case("agent-detail", "agent", CRUD),
    Case("phone-number-detail", "number", CRUD),
    Case("telephony-account-detail", "account", CRUD),
    Case("call-detail", "call", ("get",)),
    Case("call-transcript", "call", ("get",)),
    Case("call-events", "call", ("get",)),
    Case("call-summary", "call", ("get",)),
    Case("call-recording", "call", ("get",)),
    Case("webhook-endpoint-detail", "endpoint", CRUD),
    Case("webhook-endpoint-rotate-secret", "endpoint", ("post",)),
    Case("webhook-delivery-detail", "delivery", ("get",)),
    Case("webhook-delivery-replay", "delivery", ("post",)),
    Case("agent-revisions", "agent", ("get",)),
    Case("agent-revision-detail", "agent", ("get",), {"number": "1"}),
    Case("agent-publish", "agent", ("post",)),
    Case("agent-tools", "agent", ("get", "put")),
    Case("agent-corpora", "agent", ("get", "put")),
    Case("tool-detail", "tool", CRUD),
    Case("contact-detail", "contact", CRUD),
    Case("corpus-detail", "corpus", CRUD),
    Case("corpus-documents", "corpus", ("get", "post")),
    Case("corpus-query", "corpus", ("post",)),
    Case("document-detail", "document", ("get", "delete")),
    Case("document-reingest", "document", ("post",)),
    Case("scheduling-resource-detail", "resource", CRUD),
    Case("scheduling-resource-hours", "resource", ("get", "put")),
    Case("scheduling-time-off-detail", "time_off", ("get", "delete")),
]


def detail_routes() -> set[str]:
    names = set()
    for entry in api_v1:
        patterns = entry.url_patterns if isinstance(entry, URLResolver) else [entry]
        for pattern in patterns:
            if isinstance(pattern, URLPattern) and "public_id" in str(pattern.pattern):
                names.add(str(pattern.name))
    return names


def test_every_detail_route_is_covered() -> None:
    assert detail_routes() == {case.route for case in CASES}


@pytest.fixture
def objects_of_b(telephony: Telephony) -> dict[str, uuid.UUID]:
    cast = telephony.cast
    call = make_call(
        cast.tenant_b, agent=cast.agent_b, number=telephony.number_b, transcript=[("caller", "Hi there.")]
    )
    call_summary_create(tenant_id=cast.tenant_b.pk, call_pk=call.pk, allow_private=False)
    endpoint = webhook_endpoint_create(
        tenant=cast.tenant_b, url="https://hooks.example.com/b", event_types=["call.ended"]
    ).endpoint
    message = WebhookMessage.objects.create(
        tenant=cast.tenant_b, event_type="call.ended", payload={}, dedup_key="x"
    )
    delivery = WebhookDelivery.objects.create(tenant=cast.tenant_b, endpoint=endpoint, message=message)
    tool = Tool.objects.create(
        tenant=cast.tenant_b,
        name="b_tool",
        description="B's tool.",
        parameters={"type": "object"},
        url="https://hooks.example.com/b-tool",
        signing_secret="b" * 32,
    )
    corpus = corpus_create(tenant=cast.tenant_b, name="B knowledge")
    document = document_add_text(
        tenant=cast.tenant_b, corpus=corpus, title="B doc", text="Globex opens at nine."
    )
    resource = resource_create(tenant=cast.tenant_b, name="B chair")
    time_off = time_off_add(
        tenant=cast.tenant_b, resource=resource, starts_on=date(2030, 1, 1), ends_on=date(2030, 1, 2)
    )
    return {
        "tool": tool.public_id,
        "contact": contact_create(tenant=cast.tenant_b, name="B customer", phones=["+15557770000"]).public_id,
        "corpus": corpus.public_id,
        "document": document.document.public_id,
        "resource": resource.public_id,
        "time_off": time_off.public_id,
        "agent": cast.agent_b.public_id,
        "number": telephony.number_b.public_id,
        "account": telephony.account_b.public_id,
        "call": call.public_id,
        "endpoint": endpoint.public_id,
        "delivery": delivery.public_id,
    }


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.route)
def test_another_tenants_object_is_404(case: Case, objects_of_b: dict[str, uuid.UUID], keys: Keys) -> None:
    foreign_url = reverse(f"api:{case.route}", kwargs={"public_id": objects_of_b[case.owner], **case.extra})
    missing_url = reverse(f"api:{case.route}", kwargs={"public_id": uuid.uuid4(), **case.extra})
    garbage_url = reverse(f"api:{case.route}", kwargs={"public_id": "not-a-uuid", **case.extra})
    client_a = api(keys.write_a)
    for method in case.methods:
        foreign = getattr(client_a, method)(foreign_url, {"name": "hijack"}, format="json")
        missing = getattr(client_a, method)(missing_url, {"name": "hijack"}, format="json")
        garbage = getattr(client_a, method)(garbage_url, {"name": "hijack"}, format="json")
        assert foreign.status_code == missing.status_code == garbage.status_code == 404, (
            method,
            foreign.content,
        )
        assert foreign.json() == missing.json() == garbage.json()
        assert foreign["Content-Type"] == "application/problem+json"
    # The owner still sees it, untouched.
    owner = api(keys.write_b).get(
        reverse(f"api:{case.route}", kwargs={"public_id": objects_of_b[case.owner], **case.extra})
    )
    assert owner.status_code in (200, 405), owner.content
    assert WebhookEndpoint.objects.filter(public_id=objects_of_b["endpoint"]).exists()
    for model, name in ((Tool, "tool"), (Contact, "contact"), (Corpus, "corpus"), (Document, "document")):
        assert model.objects.filter(public_id=objects_of_b[name]).exists(), name
    assert Resource.objects.filter(public_id=objects_of_b["resource"]).exists()
    assert TimeOff.objects.filter(public_id=objects_of_b["time_off"]).exists()
