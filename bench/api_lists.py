"""Every GET endpoint of the REST API with 100,000 calls per tenant, through a real server process.

Run from the repository root (~12 minutes: seeding ~1.6 million rows is half of it):

    .venv/bin/python bench/api_lists.py
    .venv/bin/python bench/api_lists.py --calls 20000 --requests 20       # quicker
    .venv/bin/python bench/api_lists.py --database-url postgres://postgres@127.0.0.1:5432/postgres

What runs:

- a throwaway PostgreSQL database ``voxsaas_bench_<pid>`` (created on the server of
  ``--database-url``, a postgres ``DATABASE_URL`` or 127.0.0.1:5432, dropped at the end),
  migrated with ``migrate``, bulk-loaded with two tenants of ``--calls`` calls each over 90 days
  (summaries, usage, outbound records, transcripts and events for a sample, one long call),
  agents with revisions and tools, numbers, 30,000 contacts, knowledge bases, scheduling,
  webhook endpoints with one delivery (and its attempts) per event, then ``VACUUM ANALYZE`` and
  ``CHECKPOINT``;
- the product's web process, ``python -m voxsaas.serve`` (daphne) on 127.0.0.1 with DEBUG off,
  Redis (``--redis-url``, a key prefix of its own) as the cache behind API throttling like in
  production, the throttle raised so it never refuses, and ``SERVER_TIMING=true``;
- a client in this process: one keep-alive connection, requests one after another, an API key
  of the measured tenant (``Authorization: Bearer``; a key is pinned to its tenant, so no
  ``X-Tenant`` header is involved).

Every GET route under /api/v1/ is enumerated from the URL resolver and must be covered by at
least one case (a route without one is reported). Per case: ``--warmup`` untimed requests, then
``--requests`` timed ones; printed are p50/p95/p99/max of the *server time* (the
``Server-Timing: app`` figure: Django from its first middleware to the rendered body, queries
and connection set-up included, not daphne's HTTP parsing), the client's round trip p50/p95
over loopback, the SQL time and the number of queries per request. Cursor pages are then walked
to the end with ``next`` links (every page timed, the last page reported), and the calls list is
checked to cost the same number of queries at page sizes 10, 50 and 200.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pgdb import io_stall_total_us, server_url, throwaway_database  # noqa: E402 - bench/ is not a package

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 100.0
BATCH = 2000
DAYS = 90
CONTACTS = 30_000
SAMPLE_WITH_TRANSCRIPT = 0.03  # share of answered calls whose transcript and events are stored
SERVER_TIMING = re.compile(r'app;dur=([\d.]+), cpu;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) queries"')


# ------------------------------------------------------------------------------------ Django


def _django_env(database_url: str, redis_url: str | None, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="voxsaas.settings",
        DEBUG="false",
        SECRET_KEY="api-lists-bench-" + secrets.token_hex(24),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PUBLIC_BASE_URL="https://voice.example.test",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
        DATABASE_URL=database_url,
        API_THROTTLE_RATE="1000000/minute",  # the throttle still runs (a cache round trip); never refuses
        CHANNELS_PREFIX=prefix,
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()


# ------------------------------------------------------------------------------------ seeding


@dataclass
class World:
    """What the cases need to build their URLs: the measured tenant's objects and key."""

    key: str = ""
    other_key: str = ""
    calls: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def _bulk(model: Any, rows: list[Any]) -> list[Any]:
    return list(model.objects.bulk_create(rows, batch_size=BATCH))


def _interleaved(model: Any, *per_tenant: list[Any], key: Any = None) -> None:
    """Insert both tenants' rows in time order, as production writes them: tenants' rows share
    the table's pages, so a tenant's scan cannot ride on its rows being stored together."""
    rows = [row for rows in per_tenant for row in rows]
    rows.sort(key=key or (lambda row: row.created_at))
    for start in range(0, len(rows), 20 * BATCH):
        _bulk(model, rows[start : start + 20 * BATCH])


FIRST = ["Ana", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kate", "Liam"]
LAST = ["Smith", "Garcia", "Nguyen", "Muller", "Rossi", "Kowalski", "Okafor", "Tanaka", "Silva", "Dubois"]
SENTENCES = [
    "Hi, I'm calling about my order, it hasn't arrived yet.",
    "Sure, can you give me the order number please?",
    "It's one two three four, placed last Tuesday.",
    "Thanks. I can see it left our warehouse yesterday and should arrive on Friday.",
    "Great, and can I change the delivery address?",
    "I can't change it once shipped, but I can transfer you to the carrier's line.",
]


class TenantSeed:
    """One tenant, realistic in shape: the small tables are created at once, the big ones are
    built here as unsaved rows and inserted by ``seed`` interleaved with the other tenant's."""

    def __init__(self, slug: str, calls: int, rng: random.Random, now: datetime, area: int) -> None:
        from agents.knowledge.models import Corpus
        from agents.models import AgentCorpus, Contact, ContactPhone, Tool
        from agents.models.agent import Agent
        from agents.scheduling.models import BusinessHours, Resource
        from agents.services import agent_publish, agent_tool_enable
        from calls.webhooks.models import WebhookEndpoint
        from calls.webhooks.signing import generate_secret
        from tenants.models import ApiKeyScope, PhoneNumber, TelephonyAccount
        from tenants.services import api_key_create, tenant_create

        self.slug, self.n_calls, self.rng, self.now = slug, calls, rng, now
        self.tenant = tenant_create(slug=slug, name=f"{slug.capitalize()} Services", monthly_minutes=50_000)
        self.key = api_key_create(tenant=self.tenant, name="bench", scope=ApiKeyScope.READ).secret
        for i in range(5):
            api_key_create(tenant=self.tenant, name=f"integration {i}")
        self.accounts = [
            TelephonyAccount.objects.create(
                tenant=self.tenant,
                account_sid="AC" + secrets.token_hex(16),
                auth_token="tok",
                label=f"Twilio {i}",
            )
            for i in range(2)
        ]
        self.tools = [
            Tool.objects.create(
                tenant=self.tenant,
                name=f"lookup_{i}",
                description="Look up an order by its number.",
                parameters={"type": "object", "properties": {"order": {"type": "string"}}},
                url=f"https://hooks.example.test/{slug}/{i}",
                signing_secret="s",
            )
            for i in range(12)
        ]
        self.corpora = [
            Corpus.objects.create(tenant=self.tenant, name=f"{slug} help {i}", description="Help pages")
            for i in range(4)
        ]
        # Agents (the last one takes 0.5% of the calls: a selective filter), 3 revisions each.
        self.agents: list[tuple[Any, list[Any]]] = []
        for i in range(6):
            agent = Agent.objects.create(
                tenant=self.tenant,
                name=f"{slug} agent {i}",
                engine="echo",
                main_prompt="Help the caller with their order. " * 20,
                verification_prompt="Verify the caller." if i == 0 else "",
                summary_prompt="Summarise the call.",
            )
            for tool in self.tools[i : i + 4]:
                agent_tool_enable(tenant=self.tenant, agent=agent, tool=tool)
            AgentCorpus.objects.create(tenant=self.tenant, agent=agent, corpus=self.corpora[i % 4])
            revisions = [agent_publish(tenant=self.tenant, agent=agent, note=f"v{n}") for n in range(3)]
            self.agents.append((agent, revisions))
        self.numbers = [  # the last number takes 0.5% of the calls
            PhoneNumber.objects.create(
                tenant=self.tenant,
                number=f"+1{area}{i:07d}",
                label=f"Line {i}",
                telephony_account=self.accounts[i % 2],
                agent=self.agents[i % 6][0],
            )
            for i in range(8)
        ]
        # Contacts: the tenant's customers, who are also the callers.
        self.customers = [
            f"+1{rng.randint(201, 989)}{rng.randint(0, 9_999_999):07d}" for _ in range(CONTACTS)
        ]
        self.frequent = self.customers[:200]  # repeat callers: 20% of the calls
        self.contacts = _bulk(
            Contact,
            [
                Contact(
                    tenant=self.tenant,
                    name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    email=f"customer{i}@example.com",
                    account_number=f"AC-{i:06d}",
                    custom_fields={"tier": rng.choice(["gold", "silver", "bronze"])},
                    created_at=now - timedelta(seconds=rng.randint(0, 400 * 86400)),
                )
                for i in range(CONTACTS)
            ],
        )
        phones = [
            ContactPhone(tenant=self.tenant, contact=c, number=self.customers[i])
            for i, c in enumerate(self.contacts)
        ]
        phones += [
            ContactPhone(tenant=self.tenant, contact=c, number=f"+1{area + 100}{i:07d}")
            for i, c in enumerate(self.contacts)
            if i % 3 == 0
        ]
        _bulk(ContactPhone, phones)
        self.resources = [
            Resource.objects.create(tenant=self.tenant, name=f"Technician {i}", time_zone="America/New_York")
            for i in range(6)
        ]
        _bulk(
            BusinessHours,
            [
                BusinessHours(tenant=self.tenant, resource=r, weekday=d, opens=clock(8), closes=clock(18))
                for r in self.resources
                for d in range(5)
            ],
        )
        self.endpoints = [
            WebhookEndpoint.objects.create(
                tenant=self.tenant,
                url=f"https://crm.example.test/{slug}/{kind}",
                event_types=[event_type],
                secret=generate_secret(),
            )
            for kind, event_type in (("calls", "call.ended"), ("bookings", "booking.created"))
        ]
        self.calls: list[Any] = []
        self.bookings: list[Any] = []

    def call_rows(self) -> list[Any]:
        """Calls over DAYS days: statuses, end reasons, directions in realistic shares."""
        from calls.models import STATUS_RANK, Call, CallStatus, Direction

        rng, now = self.rng, self.now
        statuses = [CallStatus.COMPLETED] * 90 + [CallStatus.NO_ANSWER] * 4 + [CallStatus.BUSY] * 3
        statuses += [CallStatus.FAILED] * 3
        reasons = ["caller_hangup"] * 55 + ["agent_hangup"] * 25 + ["transferred"] * 10
        reasons += ["silence_timeout"] * 5 + ["max_duration"] * 3 + ["engine_error"] * 2
        rows = []
        for _ in range(self.n_calls):
            agent, revisions = self.agents[5] if rng.random() < 0.005 else rng.choice(self.agents[:5])
            number = self.numbers[7] if rng.random() < 0.005 else rng.choice(self.numbers[:7])
            status = rng.choice(statuses)
            roll = rng.random()
            direction = (
                Direction.OUTBOUND if roll < 0.10 else Direction.WEB if roll < 0.12 else Direction.INBOUND
            )
            customer = rng.choice(self.frequent) if rng.random() < 0.2 else rng.choice(self.customers)
            created = now - timedelta(seconds=rng.randint(0, DAYS * 86400))
            answered = status == CallStatus.COMPLETED
            duration = rng.randint(8, 900) if answered else None
            latency = rng.randint(250, 1600) if answered else None
            rows.append(
                Call(
                    tenant=self.tenant,
                    agent=agent,
                    agent_revision=revisions[-1],
                    phone_number=None if direction == Direction.WEB else number,
                    direction=direction,
                    from_number=number.number if direction == Direction.OUTBOUND else customer,
                    to_number=customer if direction == Direction.OUTBOUND else number.number,
                    status=status,
                    status_rank=STATUS_RANK[status],
                    end_reason=("protocol_error" if rng.random() < 0.0005 else rng.choice(reasons))
                    if answered
                    else f"twilio_{status}",
                    engine="echo",
                    twilio_call_sid="CA" + uuid.UUID(int=rng.getrandbits(128)).hex,
                    created_at=created,
                    answered_at=created + timedelta(seconds=3) if answered else None,
                    ended_at=created + timedelta(seconds=3 + (duration or 0)),
                    duration_s=duration,
                    latency_avg_ms=latency,
                    latency_p50_ms=latency,
                    latency_max_ms=latency * 2 if latency else None,
                    turn_count=rng.randint(1, 30) if answered else 0,
                    contact_public_id=self.contacts[rng.randrange(CONTACTS)].public_id
                    if answered and rng.random() < 0.7
                    else None,
                    usage={"engine_seconds": duration or 0},
                )
            )
        self.calls = rows
        return rows

    @property
    def answered(self) -> list[Any]:
        return [c for c in self.calls if c.status == "completed"]

    def outbound_rows(self) -> list[Any]:
        from calls.outbound.models import AnsweredBy, OutboundCall

        return [
            OutboundCall(
                tenant=self.tenant,
                call=c,
                variables={"order": f"#{self.rng.randint(1000, 99999)}"},
                answered_by=AnsweredBy.HUMAN if c.status == "completed" else "",
                created_at=c.created_at,
            )
            for c in self.calls
            if c.direction == "outbound"
        ]

    def summary_rows(self) -> list[Any]:
        from calls.postcall.models import CallSummary, FieldsStatus, SummarySource

        return [
            CallSummary(
                tenant=self.tenant,
                call=c,
                source=SummarySource.LLM,
                text="The caller asked about their order and the agent gave the delivery date. " * 2,
                model="gpt-4o-mini",
                structured_fields={"order": f"#{self.rng.randint(1000, 99999)}", "resolved": True},
                fields_status=FieldsStatus.VALID,
                created_at=c.ended_at,
            )
            for c in self.answered
        ]

    def usage_rows(self) -> list[Any]:
        from calls.postcall.models import CallUsage

        return [
            CallUsage(
                tenant=self.tenant,
                call=c,
                month=c.ended_at.date().replace(day=1),
                billable_seconds=c.duration_s or 0,
                billed_minutes=-(-(c.duration_s or 0) // 60),
                created_at=c.ended_at,
            )
            for c in self.answered
        ]

    def transcript_rows(self) -> tuple[list[Any], list[Any]]:
        """Segments and events for a sample of answered calls, and one long call."""
        from calls.models import CallEvent, TranscriptSegment

        rng = self.rng
        self.sample = [c for c in self.answered if rng.random() < SAMPLE_WITH_TRANSCRIPT]
        self.long_call = max(self.answered, key=lambda c: c.created_at)
        segments, events = [], []
        for call in [*self.sample, self.long_call]:
            for i in range(400 if call is self.long_call else rng.randint(10, 80)):
                segments.append(
                    TranscriptSegment(
                        tenant=self.tenant,
                        call=call,
                        speaker="caller" if i % 2 else "agent",
                        text=rng.choice(SENTENCES),
                        ordinal=i,
                        start_ms=i * 3000,
                        end_ms=i * 3000 + 2500,
                    )
                )
            for i in range(300 if call is self.long_call else rng.randint(5, 40)):
                kind = rng.choice(["turn_latency", "turn_latency", "tool_call", "interruption", "stage"])
                events.append(
                    CallEvent(
                        tenant=self.tenant,
                        call=call,
                        type=kind,
                        payload={"name": "lookup_0", "arguments": {"order": "#1234"}, "result": '{"ok":true}'}
                        if kind == "tool_call"
                        else {"ms": rng.randint(200, 1500)},
                        at=call.created_at + timedelta(seconds=i * 4),
                        at_ms=i * 4000 + 1000,
                        seq=i,
                    )
                )
        return segments, events

    def document_rows(self) -> list[Any]:
        """1,500 knowledge documents, most in the first knowledge base."""
        from agents.knowledge.models import Document, DocumentStatus

        rng, now = self.rng, self.now
        return [
            Document(
                tenant=self.tenant,
                corpus=self.corpora[0] if i < 1000 else self.corpora[1 + i % 3],
                title=f"Help page {i}",
                source_kind="text",
                text="How to track an order. " * 30,
                mime_type="text/plain",
                size_bytes=690,
                content_hash=f"{i:064x}",
                status=DocumentStatus.FAILED if i % 97 == 0 else DocumentStatus.READY,
                chunk_count=3,
                processed_at=now - timedelta(days=rng.randint(0, 300)),
                created_at=now - timedelta(days=rng.randint(0, 300), seconds=i),
            )
            for i in range(1500)
        ]

    def booking_rows(self) -> list[Any]:
        """A one-hour booking in about half of the 90-minute slots of opening time, for DAYS days
        back and 60 ahead, 8% cancelled."""
        from agents.scheduling.models import Booking

        rng = self.rng
        first_day = (self.now - timedelta(days=DAYS)).replace(hour=13, minute=0, second=0, microsecond=0)
        rows = []
        for day in range(DAYS + 60):
            for resource in self.resources:
                for slot in range(0, 10 * 60, 90):
                    if rng.random() < 0.5:
                        continue
                    start = first_day + timedelta(days=day, minutes=slot)
                    cancelled = rng.random() < 0.08
                    rows.append(
                        Booking(
                            tenant=self.tenant,
                            resource=resource,
                            start=start,
                            end=start + timedelta(minutes=60),
                            status="cancelled" if cancelled else "confirmed",
                            customer_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                            customer_phone=rng.choice(self.customers),
                            cancelled_at=start - timedelta(days=1) if cancelled else None,
                            created_at=start - timedelta(days=rng.randint(1, 20)),
                        )
                    )
        self.bookings = rows
        return rows

    def time_off_rows(self) -> list[Any]:
        from agents.scheduling.models import TimeOff

        return [
            TimeOff(
                tenant=self.tenant,
                resource=self.resources[i % 6] if i % 4 else None,
                starts_on=(self.now + timedelta(days=i * 7 - 90)).date(),
                ends_on=(self.now + timedelta(days=i * 7 - 89)).date(),
                reason="Holiday",
            )
            for i in range(30)
        ]

    def message_rows(self) -> list[Any]:
        """One webhook message per call.ended and booking.created event."""
        from calls.webhooks.models import WebhookMessage

        rows = []
        for c in self.calls:
            payload = {
                "id": str(c.public_id),
                "direction": c.direction,
                "status": c.status,
                "from": c.from_number,
                "to": c.to_number,
                "duration_s": c.duration_s,
                "end_reason": c.end_reason,
                "summary": "The caller asked about their order and the agent gave the delivery date.",
            }
            rows.append(
                WebhookMessage(
                    tenant=self.tenant,
                    event_type="call.ended",
                    payload=payload,
                    dedup_key=f"call.ended:{c.public_id}",
                    created_at=c.ended_at,
                )
            )
        for b in self.bookings:
            payload = {"id": str(b.public_id), "start": b.start.isoformat(), "customer_name": b.customer_name}
            rows.append(
                WebhookMessage(
                    tenant=self.tenant,
                    event_type="booking.created",
                    payload=payload,
                    dedup_key=f"booking.created:{b.public_id}",
                    created_at=b.created_at,
                )
            )
        self.messages = rows
        return rows

    def delivery_rows(self) -> list[Any]:
        """One delivery per message: ~95% succeeded at once, ~4% after retries, 0.3% failed after
        11 attempts, 0.3% still pending."""
        from calls.webhooks.models import DeliveryStatus, WebhookDelivery

        rows = []
        self.fates: dict[int, str] = {}
        for message in self.messages:
            roll = self.rng.random()
            fate = (
                "failed"
                if roll < 0.003
                else "pending"
                if roll < 0.006
                else "retried"
                if roll < 0.05
                else "ok"
            )
            attempts = 11 if fate == "failed" else self.rng.randint(2, 4) if fate != "ok" else 1
            delivery = WebhookDelivery(
                tenant=self.tenant,
                endpoint=self.endpoints[0 if message.event_type == "call.ended" else 1],
                message=message,
                status={"failed": DeliveryStatus.FAILED, "pending": DeliveryStatus.PENDING}.get(
                    fate, DeliveryStatus.SUCCEEDED
                ),
                attempt_count=attempts,
                next_attempt_at=self.now + timedelta(minutes=10) if fate == "pending" else None,
                last_status_code=500 if fate in ("failed", "pending") else 200,
                last_error="HTTP 500" if fate in ("failed", "pending") else "",
                completed_at=None
                if fate == "pending"
                else message.created_at + timedelta(seconds=attempts * 30),
                created_at=message.created_at,
            )
            self.fates[id(delivery)] = fate
            rows.append(delivery)
        self.deliveries = rows
        return rows

    def attempt_rows(self) -> list[Any]:
        from calls.webhooks.models import AttemptTrigger, WebhookAttempt

        rows = []
        for delivery in self.deliveries:
            fate = self.fates[id(delivery)]
            for n in range(1, delivery.attempt_count + 1):
                ok = fate in ("ok", "retried") and n == delivery.attempt_count
                rows.append(
                    WebhookAttempt(
                        tenant=self.tenant,
                        delivery=delivery,
                        number=n,
                        trigger=AttemptTrigger.AUTOMATIC,
                        succeeded=ok,
                        status_code=200 if ok else 500,
                        response_snippet='{"received": true}' if ok else "Internal Server Error",
                        error="" if ok else "HTTP 500",
                        duration_ms=self.rng.randint(20, 400),
                        at=delivery.created_at + timedelta(seconds=30 * (n - 1)),
                    )
                )
        return rows

    def describe(self, world: World) -> None:
        """The measured tenant's ids and filter values, for the cases."""
        from agents.knowledge.models import Document
        from agents.scheduling.models import TimeOff
        from calls.webhooks.models import DeliveryStatus, WebhookDelivery

        now = self.now
        by_sample = max(self.sample, key=lambda c: c.created_at) if self.sample else self.long_call
        failed = WebhookDelivery.objects.filter(tenant=self.tenant, status=DeliveryStatus.FAILED).first()
        documents = Document.objects.filter(tenant=self.tenant).order_by("pk")
        world.key = self.key
        world.calls = self.n_calls
        world.ids.update(
            call=str(by_sample.public_id),
            long_call=str(self.long_call.public_id),
            agent=str(self.agents[0][0].public_id),
            rare_agent=str(self.agents[5][0].public_id),
            number=str(self.numbers[0].public_id),
            rare_number=str(self.numbers[7].public_id),
            account=str(self.accounts[0].public_id),
            tool=str(self.tools[0].public_id),
            contact=str(self.contacts[17].public_id),
            corpus=str(self.corpora[0].public_id),
            document=str(documents.values_list("public_id", flat=True)[3]),
            endpoint=str(self.endpoints[0].public_id),
            booking_endpoint=str(self.endpoints[1].public_id),
            delivery=str(failed.public_id if failed else self.deliveries[0].public_id),
            resource=str(self.resources[0].public_id),
            booking=str(self.bookings[len(self.bookings) // 2].public_id),
            time_off=str(
                TimeOff.objects.filter(tenant=self.tenant).values_list("public_id", flat=True).first()
            ),
        )
        world.values.update(
            number_e164=self.numbers[0].number,
            repeat_caller=self.frequent[0],  # ~0.1% of the calls
            contact_phone=self.customers[17],
            contact_name=self.contacts[17].name.split()[0][:4].lower(),
            account_number="AC-000017",
            month=f"{now:%Y-%m}",
            day_start=(now - timedelta(days=45)).replace(microsecond=0).isoformat(),
            day_end=(now - timedelta(days=44)).replace(microsecond=0).isoformat(),
            week_ago=(now - timedelta(days=7)).replace(microsecond=0).isoformat(),
            old=(now - timedelta(days=80)).replace(microsecond=0).isoformat(),
            today=now.replace(microsecond=0).isoformat(),
            in_a_week=(now + timedelta(days=7)).replace(microsecond=0).isoformat(),
        )


def seed(calls: int, other_calls: int, seed_value: int) -> World:
    """Both tenants; their big tables written interleaved in time order."""
    from django.db import connection
    from django.utils import timezone

    from agents.knowledge.models import Document
    from agents.scheduling.models import Booking, TimeOff
    from calls.models import Call, CallEvent, TranscriptSegment
    from calls.outbound.models import OutboundCall
    from calls.postcall.models import CallSummary, CallUsage
    from calls.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookMessage

    rng = random.Random(seed_value)
    now = timezone.now()
    a = TenantSeed("bench", calls, rng, now, area=555)
    b = TenantSeed("other", other_calls, rng, now, area=556)
    _interleaved(Call, a.call_rows(), b.call_rows())
    _interleaved(OutboundCall, a.outbound_rows(), b.outbound_rows())
    _interleaved(CallSummary, a.summary_rows(), b.summary_rows())
    _interleaved(CallUsage, a.usage_rows(), b.usage_rows())
    (a_segments, a_events), (b_segments, b_events) = a.transcript_rows(), b.transcript_rows()
    by_call = lambda row: (row.call.created_at, row.call.pk)  # noqa: E731 - a sort key
    _interleaved(TranscriptSegment, a_segments, b_segments, key=by_call)
    _interleaved(CallEvent, a_events, b_events, key=by_call)
    _interleaved(Document, a.document_rows(), b.document_rows())
    _interleaved(Booking, a.booking_rows(), b.booking_rows())
    _interleaved(TimeOff, a.time_off_rows(), b.time_off_rows(), key=lambda row: row.starts_on)
    _interleaved(WebhookMessage, a.message_rows(), b.message_rows())
    _interleaved(WebhookDelivery, a.delivery_rows(), b.delivery_rows())
    _interleaved(WebhookAttempt, a.attempt_rows(), b.attempt_rows(), key=lambda row: row.at)
    world = World()
    a.describe(world)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # steady state, as autovacuum leaves it
        # Write the loaded data out now: otherwise the checkpoints flushing ~1 GB of new pages
        # run during the measurement and stall its reads (seen as seconds-long SQL in the walks).
        cursor.execute("CHECKPOINT")
    connection.close()
    return world


# ------------------------------------------------------------------------------------ server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def web_server(env: dict[str, str], log_path: Path) -> Iterator[int]:
    port = _free_port()
    argv = [sys.executable, "-m", "voxsaas.serve", "-b", "127.0.0.1", "-p", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**env, "SERVER_TIMING": "true"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise SystemExit(
                        f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                    )
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not listen within 60 s") from None
                    time.sleep(0.1)  # not listening yet; nothing to wait on across processes
            yield port
            log_path.unlink(missing_ok=True)  # kept only when something went wrong
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)  # SIGINT stops voxsaas.serve at once
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


# ------------------------------------------------------------------------------------ client


@dataclass
class Sample:
    app_ms: float
    cpu_ms: float
    db_ms: float
    queries: int
    rtt_ms: float
    status: int
    body: bytes


class Client:
    """One keep-alive HTTP/1.1 connection to the server, requests one after another."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> Sample:
        for attempt in (1, 2):
            try:
                started = time.perf_counter()
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
                rtt = (time.perf_counter() - started) * 1000
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed an idle keep-alive connection: reconnect once
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        timing = SERVER_TIMING.search(response.getheader("Server-Timing") or "")
        if timing is None:
            raise SystemExit(f"no Server-Timing header on {path}: is SERVER_TIMING on?")
        return Sample(
            float(timing[1]), float(timing[2]), float(timing[3]), int(timing[4]), rtt, response.status, body
        )


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Result:
    name: str
    route: str
    samples: list[Sample]

    def row(self) -> dict[str, Any]:
        app = [s.app_ms for s in self.samples]
        rtt = [s.rtt_ms for s in self.samples]
        queries = sorted({s.queries for s in self.samples})
        return {
            "name": self.name,
            "route": self.route,
            "n": len(app),
            "p50": _pct(app, 0.50),
            "p95": _pct(app, 0.95),
            "p99": _pct(app, 0.99),
            "max": max(app),
            "rtt_p50": _pct(rtt, 0.50),
            "rtt_p95": _pct(rtt, 0.95),
            "cpu_p50": _pct([s.cpu_ms for s in self.samples], 0.50),
            "cpu_p95": _pct([s.cpu_ms for s in self.samples], 0.95),
            "db_p50": _pct([s.db_ms for s in self.samples], 0.50),
            "queries": queries,
            # The slowest request's split: SQL (database), CPU (this thread: work, GC) or neither
            # (waiting for a CPU, a connection, Redis).
            "slowest": max(
                ({"app": x.app_ms, "cpu": x.cpu_ms, "db": x.db_ms} for x in self.samples),
                key=lambda split: split["app"],
            ),
            "items": _items(self.samples[-1].body),
            "bytes": len(self.samples[-1].body),
        }


def _items(body: bytes) -> int | None:
    with suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return len(data["results"])
        if isinstance(data, list):
            return len(data)
    return None


def cases(world: World) -> list[tuple[str, str, str]]:
    """(name, route name, path) for every case measured."""
    i, v = world.ids, world.values
    calls = "/api/v1/calls"

    def q(path: str, **params: str) -> str:
        return f"{path}?{urlencode(params)}"

    return [
        ("calls", "call-list", calls),
        ("calls page_size=200", "call-list", q(calls, page_size="200")),
        ("calls status=completed (90%)", "call-list", q(calls, status="completed")),
        ("calls status=failed (3%)", "call-list", q(calls, status="failed")),
        ("calls status=busy+failed", "call-list", f"{calls}?status=busy&status=failed"),
        ("calls direction=outbound (10%)", "call-list", q(calls, direction="outbound")),
        ("calls direction=web (2%)", "call-list", q(calls, direction="web")),
        ("calls created_after 7 days", "call-list", q(calls, created_after=v["week_ago"])),
        ("calls created_before 80 days", "call-list", q(calls, created_before=v["old"])),
        (
            "calls one day 45 days ago",
            "call-list",
            q(calls, created_after=v["day_start"], created_before=v["day_end"]),
        ),
        ("calls agent", "call-list", q(calls, agent=i["agent"])),
        ("calls agent rare (0.5%)", "call-list", q(calls, agent=i["rare_agent"])),
        ("calls phone_number", "call-list", q(calls, phone_number=i["number"])),
        ("calls phone_number rare (0.5%)", "call-list", q(calls, phone_number=i["rare_number"])),
        ("calls number (E.164)", "call-list", q(calls, number=v["number_e164"])),
        ("calls customer_number", "call-list", q(calls, customer_number=v["repeat_caller"])),
        ("calls customer_number unknown", "call-list", q(calls, customer_number="+19999999999")),
        ("calls end_reason=transferred (9%)", "call-list", q(calls, end_reason="transferred")),
        ("calls end_reason rare (0.05%)", "call-list", q(calls, end_reason="protocol_error")),
        ("calls verified=true", "call-list", q(calls, verified="true")),
        ("calls verified=false", "call-list", q(calls, verified="false")),
        (
            "calls agent+status+after",
            "call-list",
            q(calls, agent=i["agent"], status="completed", created_after=v["week_ago"]),
        ),
        ("call detail", "call-detail", f"{calls}/{i['call']}"),
        ("call transcript (~45 segments)", "call-transcript", f"{calls}/{i['call']}/transcript"),
        ("call transcript (400 segments)", "call-transcript", f"{calls}/{i['long_call']}/transcript"),
        ("call events (~20)", "call-events", f"{calls}/{i['call']}/events"),
        ("call events (300)", "call-events", f"{calls}/{i['long_call']}/events"),
        ("call summary", "call-summary", f"{calls}/{i['call']}/summary"),
        ("call recording", "call-recording", f"{calls}/{i['call']}/recording"),
        ("usage (all months)", "usage", "/api/v1/usage"),
        ("usage month", "usage", q("/api/v1/usage", month=v["month"])),
        ("webhook deliveries", "webhook-delivery-list", "/api/v1/webhook-deliveries"),
        (
            "deliveries page_size=200",
            "webhook-delivery-list",
            q("/api/v1/webhook-deliveries", page_size="200"),
        ),
        (
            "deliveries status=failed (0.3%)",
            "webhook-delivery-list",
            q("/api/v1/webhook-deliveries", status="failed"),
        ),
        (
            "deliveries status=pending",
            "webhook-delivery-list",
            q("/api/v1/webhook-deliveries", status="pending"),
        ),
        (
            "deliveries event_type=booking (5%)",
            "webhook-delivery-list",
            q("/api/v1/webhook-deliveries", event_type="booking.created"),
        ),
        (
            "deliveries endpoint",
            "webhook-delivery-list",
            q("/api/v1/webhook-deliveries", endpoint=i["endpoint"]),
        ),
        (
            "delivery detail (11 attempts)",
            "webhook-delivery-detail",
            f"/api/v1/webhook-deliveries/{i['delivery']}",
        ),
        ("webhook endpoints", "webhook-endpoint-list", "/api/v1/webhook-endpoints"),
        ("webhook endpoint detail", "webhook-endpoint-detail", f"/api/v1/webhook-endpoints/{i['endpoint']}"),
        ("agents", "agent-list", "/api/v1/agents"),
        ("agent detail", "agent-detail", f"/api/v1/agents/{i['agent']}"),
        ("agent revisions", "agent-revisions", f"/api/v1/agents/{i['agent']}/revisions"),
        ("agent revision detail", "agent-revision-detail", f"/api/v1/agents/{i['agent']}/revisions/2"),
        ("agent tools", "agent-tools", f"/api/v1/agents/{i['agent']}/tools"),
        ("agent corpora", "agent-corpora", f"/api/v1/agents/{i['agent']}/corpora"),
        ("tools", "tool-list", "/api/v1/tools"),
        ("tool detail", "tool-detail", f"/api/v1/tools/{i['tool']}"),
        ("contacts (30,000)", "contact-list", "/api/v1/contacts"),
        ("contacts page_size=200", "contact-list", q("/api/v1/contacts", page_size="200")),
        ("contacts phone=", "contact-list", q("/api/v1/contacts", phone=v["contact_phone"])),
        ("contacts name~", "contact-list", q("/api/v1/contacts", name=v["contact_name"])),
        (
            "contacts account_number=",
            "contact-list",
            q("/api/v1/contacts", account_number=v["account_number"]),
        ),
        ("contact detail", "contact-detail", f"/api/v1/contacts/{i['contact']}"),
        ("corpora", "corpus-list", "/api/v1/corpora"),
        ("corpus detail", "corpus-detail", f"/api/v1/corpora/{i['corpus']}"),
        ("corpus documents (1,000)", "corpus-documents", f"/api/v1/corpora/{i['corpus']}/documents"),
        ("document detail", "document-detail", f"/api/v1/documents/{i['document']}"),
        ("phone numbers", "phone-number-list", "/api/v1/phone-numbers"),
        ("phone number detail", "phone-number-detail", f"/api/v1/phone-numbers/{i['number']}"),
        ("telephony accounts", "telephony-account-list", "/api/v1/telephony-accounts"),
        (
            "telephony account detail",
            "telephony-account-detail",
            f"/api/v1/telephony-accounts/{i['account']}",
        ),
        ("scheduling resources", "api-resource-list", "/api/v1/scheduling/resources"),
        ("resource detail", "scheduling-resource-detail", f"/api/v1/scheduling/resources/{i['resource']}"),
        (
            "resource hours",
            "scheduling-resource-hours",
            f"/api/v1/scheduling/resources/{i['resource']}/hours",
        ),
        ("bookings", "api-booking-list", "/api/v1/scheduling/bookings"),
        (
            "bookings from today, one resource",
            "api-booking-list",
            q("/api/v1/scheduling/bookings", resource=i["resource"], **{"from": v["today"]}),
        ),
        (
            "bookings next week, cancelled",
            "api-booking-list",
            q(
                "/api/v1/scheduling/bookings",
                status="cancelled",
                **{"from": v["today"], "to": v["in_a_week"]},
            ),
        ),
        ("booking detail", "api-booking-detail", f"/api/v1/scheduling/bookings/{i['booking']}"),
        ("time off", "scheduling-time-off-list", "/api/v1/scheduling/time-off"),
        ("time off detail", "scheduling-time-off-detail", f"/api/v1/scheduling/time-off/{i['time_off']}"),
    ]


def get_routes() -> dict[str, str]:
    """Route name -> pattern of every GET endpoint under /api/v1/ (from the URL resolver)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern), p

    routes = {}
    for route, pattern in walk(get_resolver().url_patterns, ""):
        if "api/v1" not in route:
            continue
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        gets = "get" in actions if actions is not None else hasattr(view_class, "get")
        if gets:
            routes[str(pattern.name)] = route
    return routes


def measure(client: Client, name: str, route: str, path: str, requests: int, warmup: int) -> Result:
    for _ in range(warmup):
        client.get(path)
    samples = []
    for _ in range(requests):
        sample = client.get(path)
        if sample.status != 200:
            raise SystemExit(f"{name}: {path} answered {sample.status}: {sample.body[:300]!r}")
        samples.append(sample)
    return Result(name, route, samples)


def walk_pages(client: Client, name: str, route: str, path: str) -> tuple[Result, Sample, int, int]:
    """Follow ``next`` from the first page to the last; every page timed. Returns the result,
    the last page's sample, the number of items seen and the number of distinct ids."""
    samples, seen, ids = [], 0, set[str]()
    url: str | None = path
    while url:
        sample = client.get(url)
        if sample.status != 200:
            raise SystemExit(f"{name}: {url} answered {sample.status}")
        samples.append(sample)
        data = json.loads(sample.body)
        seen += len(data["results"])
        ids.update(str(r.get("id")) for r in data["results"])
        following = data.get("next")
        url = None
        if following:
            parts = urlsplit(following)
            url = f"{parts.path}?{parts.query}"
    return Result(name, route, samples), samples[-1], seen, len(ids)


def _fmt_row(row: dict[str, Any]) -> str:
    queries = "/".join(str(q) for q in row["queries"])
    items = "" if row["items"] is None else str(row["items"])
    flag = " <-- over" if row["p95"] >= BUDGET_MS else ""
    return (
        f"{row['name'][:38]:38} {row['p50']:7.1f} {row['p95']:7.1f} {row['p99']:7.1f} {row['max']:7.1f} "
        f"{row['cpu_p50']:6.1f} {row['cpu_p95']:6.1f} {row['db_p50']:6.1f} {row['rtt_p50']:7.1f} "
        f"{row['rtt_p95']:7.1f} {queries:>5} {items:>5}{flag}"
    )


HEADER = (
    f"{'case':38} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'cpu50':>6} {'cpu95':>6} {'db50':>6} "
    f"{'rtt50':>7} {'rtt95':>7} {'qry':>5} {'items':>5}"
)


@contextmanager
def prepared_database(args: argparse.Namespace, other_calls: int) -> Iterator[tuple[dict[str, str], World]]:
    """A migrated, seeded database and the environment to reach it: a new throwaway one, or with
    ``--reuse-db`` one an earlier ``--keep-db`` run left (and described in a file next to it)."""
    if args.reuse_db:
        saved = json.loads(Path(f"/tmp/{args.reuse_db}.world.json").read_text())
        env, world = saved["env"], World(**saved["world"])
        _setup_django(env)
        print(
            f"PostgreSQL {args.reuse_db} (kept by an earlier run): {world.calls:,} calls per tenant",
            flush=True,
        )
        yield env, world
        return
    with throwaway_database(server_url(args.database_url), keep=args.keep_db) as database_url:
        env = _django_env(database_url, args.redis_url or None, f"apibench{os.getpid()}")
        _setup_django(env)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        migrated = time.perf_counter()
        world = seed(args.calls, other_calls, args.seed)
        seeded = time.perf_counter()
        name = database_url.rsplit("/", 1)[-1]
        print(
            f"PostgreSQL {name}: migrated in {migrated - started:.0f} s, "
            f"seeded {args.calls:,} + {other_calls:,} calls (two tenants) in {seeded - migrated:.0f} s",
            flush=True,
        )
        if args.keep_db:
            Path(f"/tmp/{name}.world.json").write_text(json.dumps({"env": env, "world": world.__dict__}))
        yield env, world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls of the measured tenant")
    parser.add_argument("--other-calls", type=int, default=None, help="calls of the other tenant (= --calls)")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="postgres:// server to create the database on")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="'' to run without Redis")
    parser.add_argument("--no-walk", action="store_true", help="skip walking the cursor pages to the end")
    parser.add_argument("--only", default="", help="only cases whose name contains this")
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the seeded database (for EXPLAIN, --reuse-db)"
    )
    parser.add_argument("--reuse-db", default=None, help="measure a database kept by --keep-db (its name)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    other_calls = args.calls if args.other_calls is None else args.other_calls

    load_before = os.getloadavg()
    with prepared_database(args, other_calls) as (env, world):
        routes = get_routes()
        all_cases = cases(world)
        uncovered = sorted(set(routes) - {route for _, route, _ in all_cases})
        log_path = Path(f"/tmp/api_lists_server_{os.getpid()}.log")
        results: list[dict[str, Any]] = []
        extra: dict[str, Any] = {}
        with web_server(env, log_path) as port:
            measuring_since, io_since = time.monotonic(), io_stall_total_us()
            client = Client(port, world.key)
            print(
                f"server: voxsaas.serve (daphne) on 127.0.0.1:{port}, "
                f"cache {'Redis' if args.redis_url else 'local memory'}; "
                f"{args.requests} timed requests per case after {args.warmup} warm-up; "
                f"server time = Server-Timing app (ms)\n"
            )
            print(HEADER)
            for name, route, path in all_cases:
                if args.only and args.only not in name:
                    continue
                row = measure(client, name, route, path, args.requests, args.warmup).row()
                results.append(row)
                print(_fmt_row(row), flush=True)

            # Queries must not grow with the page size.
            sizes = {}
            client.get("/api/v1/calls")  # (the key's last_used_at is written once a minute)
            for size in (10, 50, 200):
                sample = client.get(f"/api/v1/calls?page_size={size}")
                sizes[size] = sample.queries
            extra["queries_by_page_size"] = sizes
            print(f"\ncalls list queries at page_size 10/50/200: {sizes[10]}/{sizes[50]}/{sizes[200]}")

            if not args.no_walk:
                print("\nwalking every page with `next` (page_size=200):")
                print(HEADER)
                walks = [
                    ("walk calls", "call-list", "/api/v1/calls?page_size=200", world.calls),
                    (
                        "walk calls status=completed",
                        "call-list",
                        "/api/v1/calls?page_size=200&status=completed",
                        None,
                    ),
                    (
                        "walk webhook deliveries",
                        "webhook-delivery-list",
                        "/api/v1/webhook-deliveries?page_size=200",
                        None,
                    ),
                    ("walk contacts", "contact-list", "/api/v1/contacts?page_size=200", CONTACTS),
                    ("walk bookings", "api-booking-list", "/api/v1/scheduling/bookings?page_size=200", None),
                ]
                for name, route, path, expected in walks:
                    result, last, seen, distinct = walk_pages(client, name, route, path)
                    row = result.row()
                    row["pages"] = len(result.samples)
                    row["last_page_ms"] = last.app_ms
                    row["seen"] = seen
                    row["distinct"] = distinct
                    results.append(row)
                    print(_fmt_row(row), flush=True)
                    check = (
                        ""
                        if expected is None
                        else (" (all of the tenant's)" if seen == expected else f" EXPECTED {expected:,}")
                    )
                    dup = "" if distinct == seen else f", {seen - distinct} DUPLICATES"
                    slowest = row["slowest"]
                    print(
                        f"    {len(result.samples)} pages, {seen:,} items{check}{dup}; last page "
                        f"{last.app_ms:.1f} ms ({last.queries} queries, {_items(last.body)} items); slowest "
                        f"page {slowest['app']:.0f} ms, of which CPU {slowest['cpu']:.0f}, "
                        f"SQL {slowest['db']:.0f}"
                    )
        load_after = os.getloadavg()
        io_now = io_stall_total_us()
        if io_since is not None and io_now is not None:
            extra["io_stalled_share"] = (io_now - io_since) / 1e6 / (time.monotonic() - measuring_since)

    if not results:
        return
    worst = max(results, key=lambda r: r["p95"])
    over = [r for r in results if r["p95"] >= BUDGET_MS]
    print(
        f"\nworst p95: {worst['p95']:.1f} ms ({worst['name']}); "
        + (
            f"{len(over)} case(s) at or over {BUDGET_MS:.0f} ms"
            if over
            else f"every case under {BUDGET_MS:.0f} ms"
        )
    )
    grows = len(set(extra["queries_by_page_size"].values())) > 1
    print("queries per request: " + ("GROW with page size" if grows else "independent of page size"))
    if uncovered:
        print(f"GET routes not measured: {', '.join(uncovered)}")
    else:
        print(f"all {len(routes)} GET routes under /api/v1/ measured")
    print(
        f"load average (1/5/15 min): before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; {os.cpu_count()} CPUs"
    )
    if "io_stalled_share" in extra:
        print(
            f"I/O pressure while measuring: some task of this machine waited for the disk "
            f"{extra['io_stalled_share']:.0%} of the time (/proc/pressure/io)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "calls": args.calls,
                    "other_calls": other_calls,
                    "results": results,
                    **extra,
                    "load": [load_before, load_after],
                    "at": datetime.now(UTC).isoformat(),
                },
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
