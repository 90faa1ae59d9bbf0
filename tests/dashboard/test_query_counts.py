"""List pages cost a bounded number of queries, however many rows they show (no N+1)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.knowledge.models import Chunk, Corpus, Document, DocumentStatus
from agents.models import Agent, AgentCorpus, Tool
from agents.services import agent_publish, agent_tool_enable
from calls.models import CallEvent, TranscriptSegment
from tenants.models import Invitation, Membership, PhoneNumber, TelephonyAccount
from tenants.services import api_key_create
from tests.conftest import make_user
from tests.dashboard.areas import calendar as calendar_area
from tests.dashboard.areas import contacts as contacts_area
from tests.dashboard.areas import webhooks
from tests.dashboard.conftest import World, make_call, signed_in

_serial = itertools.count()  # unique names across the two seeding rounds of a test


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def _calls(world: World, n: int) -> None:
    for _ in range(n):
        make_call(world.a.tenant, agent=world.a.agent, number=world.a.number, revision=world.a.revision)


def _agents(world: World, n: int) -> None:
    for i in itertools.islice(_serial, n):
        agent = Agent.objects.create(tenant=world.a.tenant, name=f"Agent {i:03d}", main_prompt="Hi.")
        agent_publish(tenant=world.a.tenant, agent=agent)


def _tools(world: World, n: int) -> None:
    for i in itertools.islice(_serial, n):
        tool = Tool.objects.create(
            tenant=world.a.tenant,
            name=f"tool_{i:03d}",
            description="d",
            parameters={"type": "object"},
            url="https://hooks.example.test/t",
            signing_secret="s",
        )
        agent_tool_enable(tenant=world.a.tenant, agent=world.a.agent, tool=tool)


def _numbers(world: World, n: int) -> None:
    for i in itertools.islice(_serial, n):
        account = TelephonyAccount.objects.create(
            tenant=world.a.tenant, account_sid="AC" + "d" * 32, auth_token="t"
        )
        PhoneNumber.objects.create(
            tenant=world.a.tenant, number=f"+1555{i:07d}", telephony_account=account, agent=world.a.agent
        )


def _team(world: World, n: int) -> None:
    for i in itertools.islice(_serial, n):
        Membership.objects.create(tenant=world.a.tenant, user=make_user(f"member{i:03d}"), role="viewer")
        Invitation.objects.create(
            tenant=world.a.tenant,
            email=f"guest{i:03d}@example.com",
            expires_at=timezone.now() + timedelta(days=1),
        )


def _keys(world: World, n: int) -> None:
    for i in itertools.islice(_serial, n):
        api_key_create(tenant=world.a.tenant, name=f"Key {i:03d}", created_by=world.cast.owner_a)


def _revisions(world: World, n: int) -> None:
    for _ in range(n):
        agent_publish(tenant=world.a.tenant, agent=world.a.agent, user=world.cast.editor_a)


def _timeline(world: World, n: int) -> None:
    call = world.a.call
    base = TranscriptSegment.objects.filter(call=call).count()
    for i in itertools.islice(_serial, n):
        TranscriptSegment.objects.create(
            tenant=world.a.tenant,
            call=call,
            speaker="caller",
            text=f"line {i}",
            ordinal=base + i,
            start_ms=20000 + i * 100,
        )
        CallEvent.objects.create(
            tenant=world.a.tenant,
            call=call,
            type="tool_call",
            payload={"name": "x", "arguments": {}},
            at_ms=20000 + i * 100,
        )


def _corpora(world: World, n: int) -> None:
    tenant = world.a.tenant
    for i in itertools.islice(_serial, n):
        corpus = Corpus.objects.create(tenant=tenant, name=f"Corpus {i:03d}")
        for status in (DocumentStatus.READY, DocumentStatus.PENDING, DocumentStatus.FAILED):
            Document.objects.create(
                tenant=tenant, corpus=corpus, title=f"Doc {i} {status}", source_kind="text", status=status
            )
        AgentCorpus.objects.create(tenant=tenant, agent=world.a.agent, corpus=corpus)


def _documents(world: World, n: int) -> None:
    corpus = world.a.extra["corpus"]
    for i in itertools.islice(_serial, n):
        Document.objects.create(
            tenant=world.a.tenant,
            corpus=corpus,
            title=f"Doc {i:03d}",
            source_kind="upload",
            original_filename=f"doc-{i:03d}.md",
            mime_type="text/markdown",
            status=DocumentStatus.READY if i % 2 else DocumentStatus.PROCESSING,
            chunk_count=3,
        )


def _chunks(world: World, n: int) -> None:
    document = world.a.extra["document"]
    base = Chunk.objects.filter(document=document).count()
    for i in itertools.islice(_serial, n):
        Chunk.objects.create(
            tenant=world.a.tenant,
            corpus_id=document.corpus_id,
            document=document,
            ordinal=base + i,
            heading="Extra",
            text=f"Passage {i}.",
            word_count=2,
        )


Seed = Callable[[World, int], None]
CASES: list[tuple[str, Callable[[World], str], Seed, int]] = [
    ("calls", lambda w: reverse("dashboard:calls", args=["acme"]), _calls, 10),
    (
        "calls-filtered",
        lambda w: (
            reverse("dashboard:calls", args=["acme"]) + f"?agent={w.a.agent.public_id}&status=completed"
        ),
        _calls,
        10,
    ),
    ("overview", lambda w: reverse("dashboard:overview", args=["acme"]), _calls, 12),
    ("usage", lambda w: reverse("dashboard:usage", args=["acme"]), _calls, 8),
    ("call", lambda w: reverse("dashboard:call", args=["acme", w.a.call.public_id]), _timeline, 10),
    ("agents", lambda w: reverse("dashboard:agents", args=["acme"]), _agents, 8),
    ("agent", lambda w: reverse("dashboard:agent", args=["acme", w.a.agent.public_id]), _tools, 14),
    (
        "agent-revisions",
        lambda w: reverse("dashboard:agent-revisions", args=["acme", w.a.agent.public_id]),
        _revisions,
        8,
    ),
    ("tools", lambda w: reverse("dashboard:tools", args=["acme"]), _tools, 8),
    ("numbers", lambda w: reverse("dashboard:numbers", args=["acme"]), _numbers, 9),
    ("team", lambda w: reverse("dashboard:team", args=["acme"]), _team, 9),
    ("api-keys", lambda w: reverse("dashboard:api-keys", args=["acme"]), _keys, 8),
    ("webhooks", lambda w: reverse("dashboard:webhooks", args=["acme"]), webhooks.seed_endpoints, 6),
    (
        "webhook-deliveries",
        lambda w: reverse("dashboard:webhook-deliveries", args=["acme"]),
        webhooks.seed_deliveries,
        6,
    ),
    (
        "webhook-deliveries-filtered",
        lambda w: (
            reverse("dashboard:webhook-deliveries", args=["acme"])
            + f"?status=retrying&event_type=call.ended&endpoint={w.a.extra['webhook_endpoint'].public_id}"
        ),
        webhooks.seed_deliveries,
        7,
    ),
    (
        "webhook",
        lambda w: reverse("dashboard:webhook", args=["acme", w.a.extra["webhook_endpoint"].public_id]),
        webhooks.seed_deliveries,
        6,
    ),
    (
        "webhook-delivery",
        lambda w: reverse(
            "dashboard:webhook-delivery", args=["acme", w.a.extra["webhook_delivery"].public_id]
        ),
        webhooks.seed_attempts,
        6,
    ),
    ("knowledge", lambda w: reverse("dashboard:knowledge", args=["acme"]), _corpora, 8),
    (
        "corpus",
        lambda w: reverse("dashboard:corpus", args=["acme", w.a.extra["corpus"].public_id]),
        _documents,
        9,
    ),
    (
        "corpus-documents",
        lambda w: reverse("dashboard:corpus-documents", args=["acme", w.a.extra["corpus"].public_id]),
        _documents,
        7,
    ),
    (
        "document",
        lambda w: reverse("dashboard:document", args=["acme", w.a.extra["document"].public_id]),
        _chunks,
        7,
    ),
    # Contacts and calendar (tests/dashboard/areas/contacts.py and calendar.py seed them).
    ("contacts", lambda w: reverse("dashboard:contacts", args=["acme"]), contacts_area.seed_contacts, 8),
    (
        "contacts-search",
        lambda w: reverse("dashboard:contacts", args=["acme"]) + "?q=seed&sort=recent",
        contacts_area.seed_contacts,
        8,
    ),
    (
        "calendar-week",
        lambda w: (
            reverse("dashboard:calendar", args=["acme"])
            + f"?week={calendar_area.tomorrow_in(w.a.extra['resource'].zone)}"
        ),
        calendar_area.seed_bookings,
        8,
    ),
    (
        "calendar-week-resource",
        lambda w: (
            reverse("dashboard:calendar", args=["acme"])
            + f"?resource={w.a.extra['resource'].public_id}"
            + f"&week={calendar_area.tomorrow_in(w.a.extra['resource'].zone)}"
        ),
        calendar_area.seed_bookings,
        12,
    ),
    (
        "calendar-agenda",
        lambda w: reverse("dashboard:calendar-agenda", args=["acme"]),
        calendar_area.seed_bookings,
        8,
    ),
    (
        "calendar-resources",
        lambda w: reverse("dashboard:calendar-resources", args=["acme"]),
        calendar_area.seed_resources,
        9,
    ),
    (
        "calendar-resource",
        lambda w: reverse("dashboard:calendar-resource", args=["acme", w.a.extra["resource"].public_id]),
        calendar_area.seed_time_off,
        9,
    ),
]


@pytest.mark.parametrize(("name", "url", "seed", "cap"), CASES, ids=[c[0] for c in CASES])
def test_query_count_is_bounded_and_flat(
    client: Client,
    world: World,
    django_assert_max_num_queries: Callable[[int], object],
    name: str,
    url: Callable[[World], str],
    seed: Seed,
    cap: int,
) -> None:
    signed_in(client, world.cast.owner_a)
    seed(world, 2)
    few = _count(client, url(world))
    seed(world, 40)
    many = _count(client, url(world))
    assert many == few, f"{name}: {few} queries with few rows, {many} with many"
    with django_assert_max_num_queries(cap):  # type: ignore[attr-defined]
        assert client.get(url(world)).status_code == 200
