"""API lists cost a fixed number of queries, however many rows a page shows and however the rows
relate (no N+1), and a page reads no column it does not show (bench/api_lists.py measures the
time; these pin the query counts it relies on)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent
from agents.services import contact_create
from calls.models import Call, Direction
from calls.outbound.models import AnsweredBy, OutboundCall
from calls.webhooks.models import DeliveryStatus, WebhookDelivery
from calls.webhooks.services import webhook_endpoint_create, webhooks_emit
from tenants import crypto
from tenants.models import PhoneNumber
from tests.api.conftest import Keys, api, make_call
from tests.calls.conftest import Telephony
from voxsaas.servertiming import ServerTimingMiddleware

_serial = itertools.count()


def _count(client: APIClient, url: str) -> tuple[int, Any]:
    client.get(url)  # the API key's last_used_at is written at most once a minute: not per page
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured), response.json()


def _calls(telephony: Telephony, n: int) -> list[Call]:
    """Calls spread over several agents and numbers, some outbound with an answering-machine
    result, some without agent or number (web test calls)."""
    tenant = telephony.cast.tenant_a
    made = []
    for i in range(n):
        serial = next(_serial)
        agent = Agent.objects.create(tenant=tenant, name=f"Agent {serial}", main_prompt="Hi.")
        number = PhoneNumber.objects.create(
            tenant=tenant,
            number=f"+1555700{serial:04d}",
            telephony_account=telephony.account_a,
            agent=agent,
        )
        if i % 3 == 2:
            made.append(make_call(tenant, agent=None, number=None, direction=Direction.WEB))
            continue
        outbound = i % 3 == 1
        call = make_call(
            tenant,
            agent=agent,
            number=number,
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        )
        if outbound:
            OutboundCall.objects.create(tenant=tenant, call=call, answered_by=AnsweredBy.HUMAN)
        made.append(call)
    return made


def test_calls_list_is_one_query_whatever_the_page_size(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.read_a)
    _calls(telephony, 3)
    make_call(telephony.cast.tenant_b, agent=telephony.cast.agent_b, number=telephony.number_b)
    few, body = _count(client, "/api/v1/calls")
    assert len(body["results"]) == 3
    _calls(telephony, 12)
    many, body = _count(client, "/api/v1/calls?page_size=200")
    assert len(body["results"]) == 15
    small_page, body = _count(client, "/api/v1/calls?page_size=5")
    assert len(body["results"]) == 5 and body["next"]
    # The API key (1) and the page (1): related rows come in the same query.
    assert few == many == small_page == 2
    # ... and the joined values are right, not lazily loaded ones.
    rows = {row["id"]: row for row in api(keys.read_a).get("/api/v1/calls?page_size=200").json()["results"]}
    for call in Call.objects.filter(tenant=telephony.cast.tenant_a).select_related("agent", "phone_number"):
        row = rows[str(call.public_id)]
        assert row["agent"] == (str(call.agent.public_id) if call.agent else None)
        assert row["phone_number_e164"] == (call.phone_number.number if call.phone_number else None)
        assert row["answered_by"] == ("human" if call.direction == Direction.OUTBOUND else None)


def test_calls_filters_cost_no_extra_query(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.read_a)
    calls = _calls(telephony, 6)
    agent = calls[0].agent
    assert agent is not None
    for query in (
        f"agent={agent.public_id}",
        f"phone_number={calls[0].phone_number.public_id}" if calls[0].phone_number else "",
        "status=completed&status=failed",
        "customer_number=%2B15552223333",
        "verified=false",
        f"created_after={timezone.now().date().isoformat()}T00:00:00Z",
    ):
        count, _ = _count(client, f"/api/v1/calls?{query}")
        assert count == 2, query


def test_webhook_lists_read_no_secret(
    telephony: Telephony, keys: Keys, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = False
    tenant = telephony.cast.tenant_a
    for i in range(3):
        webhook_endpoint_create(
            tenant=tenant, url=f"https://hooks.example.com/{i}", event_types=["call.ended", "call.started"]
        )
    client = api(keys.read_a)

    def emit(n: int) -> None:
        for _ in range(n):
            webhooks_emit(
                tenant_id=tenant.pk,
                event_type="call.ended",
                payload={"n": next(_serial)},
                dedup_key=f"call.ended:{next(_serial)}",
            )

    emit(2)  # 2 events x 3 endpoints
    decrypted: list[str] = []
    real = crypto.decrypt_str

    def counting_decrypt(stored: str) -> str:
        decrypted.append(stored)
        return real(stored)

    monkeypatch.setattr(crypto, "decrypt_str", counting_decrypt)
    few, body = _count(client, "/api/v1/webhook-deliveries")
    assert len(body["results"]) == 6
    emit(10)
    WebhookDelivery.objects.filter(tenant=tenant).update(status=DeliveryStatus.SUCCEEDED)
    many, body = _count(client, "/api/v1/webhook-deliveries?page_size=200")
    assert len(body["results"]) == 36
    assert {row["webhook_id"][:4] for row in body["results"]} == {"msg_"}
    assert all(row["payload"]["n"] >= 0 and row["endpoint"] for row in body["results"])
    assert few == many == 2
    endpoints, body = _count(client, "/api/v1/webhook-endpoints")
    assert len(body["results"]) == 3 and endpoints == 2
    assert decrypted == []  # neither list decrypted an endpoint's signing secret


def test_contacts_list_is_bounded(telephony: Telephony, keys: Keys) -> None:
    tenant = telephony.cast.tenant_a
    client = api(keys.read_a)
    for i in range(2):
        contact_create(tenant=tenant, name=f"Contact {i}", phones=[f"+1555800{i:04d}"])
    few, _ = _count(client, "/api/v1/contacts")
    for i in range(2, 12):
        contact_create(tenant=tenant, name=f"Contact {i}", phones=[f"+1555800{i:04d}", f"+1555900{i:04d}"])
    many, body = _count(client, "/api/v1/contacts?page_size=200")
    assert len(body["results"]) == 12
    assert few == many == 3  # the key, the page, the page's phone numbers


def test_server_timing_header_reports_the_queries(telephony: Telephony, keys: Keys, settings: Any) -> None:
    """SERVER_TIMING=true puts this middleware first; the bench reads its header."""
    settings.MIDDLEWARE = ["voxsaas.servertiming.ServerTimingMiddleware", *settings.MIDDLEWARE]
    _calls(telephony, 2)
    client = api(keys.read_a)
    client.get("/api/v1/calls")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/calls")
    header = response.headers["Server-Timing"]
    match = re.fullmatch(r'app;dur=([\d.]+), cpu;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) queries"', header)
    assert match is not None, header
    app_ms, cpu_ms, db_ms, queries = float(match[1]), float(match[2]), float(match[3]), int(match[4])
    assert queries == len(captured) == 2
    assert 0 < db_ms <= app_ms and cpu_ms > 0
    assert ServerTimingMiddleware.async_capable is False  # runs in the views' thread: sees their queries


def test_server_timing_is_off_by_default(telephony: Telephony, keys: Keys) -> None:
    assert "Server-Timing" not in api(keys.read_a).get("/api/v1/calls").headers
