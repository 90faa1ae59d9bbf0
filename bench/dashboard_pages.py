"""Server time of the main dashboard pages with 100,000 calls in one tenant.

Run from the repository root:

    .venv/bin/python bench/dashboard_pages.py                      # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/dashboard_pages.py
    .venv/bin/python bench/dashboard_pages.py --calls 20000 --requests 10   # quicker

Like the test runner, it creates a throwaway test database (``test_<name>`` on PostgreSQL, a
temporary file on SQLite), seeds it with bulk_create — the measured tenant with ``--calls`` calls
over the last 120 days, a second tenant with a fifth as many, a call with a long transcript — then
requests each page with Django's test Client: a few warm-up requests, then ``--requests`` timed
ones. Prints p50/p95/max server time (the whole request/response cycle in-process: middleware,
session, queries, template rendering; no network) and the query count of each page, then drops
the database.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH = 5000
BUDGET_MS = 300.0


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    # Whitenoise looks for collected static files, which a bench run has no use for.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxsaas.settings")
    os.environ.setdefault("DEBUG", "false")  # production template caching, no debug toolbar overhead
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "ZmVybmV0LXRlc3Qta2V5LTAwMDAwMDAwMDAwMDAwMDA=")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def _seed(calls: int, seed: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from agents.models import Agent, Tool
    from agents.services import agent_publish, agent_tool_enable
    from calls.models import STATUS_RANK, Call, CallEvent, CallStatus, Direction, TranscriptSegment
    from tenants.models import Membership, PhoneNumber, Role, TelephonyAccount, Tenant
    from tenants.services import api_key_create

    rng = random.Random(seed)
    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password-0123")
    tenants: list[tuple[Any, list[Any], list[Any]]] = []
    for slug in ("bench", "other"):
        tenant = Tenant.objects.create(slug=slug, name=slug.capitalize(), monthly_minutes=50_000)
        Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER)
        account = TelephonyAccount.objects.create(
            tenant=tenant, account_sid="AC" + "e" * 32, auth_token="tok"
        )
        agents, numbers = [], []
        for i in range(4):  # the fourth agent takes 0.5% of the calls: a selective filter
            agent = Agent.objects.create(
                tenant=tenant,
                name=f"{slug} agent {i}",
                main_prompt="Help the caller.",
                verification_prompt="Verify the caller." if i == 0 else "",
            )
            tool = Tool.objects.create(
                tenant=tenant,
                name=f"lookup_{i}",
                description="Look something up.",
                parameters={"type": "object"},
                url="https://hooks.example.test/x",
                signing_secret="s",
            )
            agent_tool_enable(tenant=tenant, agent=agent, tool=tool)
            agents.append((agent, agent_publish(tenant=tenant, agent=agent)))
            numbers.append(
                PhoneNumber.objects.create(
                    tenant=tenant,
                    number=f"+1555{len(tenants)}{i:06d}",
                    telephony_account=account,
                    agent=agent,
                )
            )
        for i in range(10):
            api_key_create(tenant=tenant, name=f"key {i}")
        tenants.append((tenant, agents, numbers))

    now = timezone.now()
    statuses = (
        [CallStatus.COMPLETED] * 90
        + [CallStatus.NO_ANSWER] * 4
        + [CallStatus.BUSY] * 3
        + [CallStatus.FAILED] * 3
    )
    reasons = ["caller_hangup"] * 55 + ["agent_hangup"] * 25 + ["transferred"] * 10 + ["silence_timeout"] * 5
    reasons += ["max_duration"] * 3 + ["engine_error"] * 2
    for (tenant, agents, numbers), count in zip(tenants, (calls, calls // 5), strict=True):
        rows = []
        for _ in range(count):
            agent, revision = agents[3] if rng.random() < 0.005 else rng.choice(agents[:3])
            status = rng.choice(statuses)
            created = now - timedelta(seconds=rng.randint(0, 120 * 86400))
            answered = status == CallStatus.COMPLETED
            duration = rng.randint(8, 900) if answered else None
            latency = rng.randint(250, 1600) if answered else None
            rows.append(
                Call(
                    tenant=tenant,
                    agent=agent,
                    agent_revision=revision,
                    phone_number=rng.choice(numbers),
                    direction=Direction.OUTBOUND if rng.random() < 0.1 else Direction.INBOUND,
                    from_number=f"+1555{rng.randint(0, 9_999_999):07d}",
                    to_number=numbers[0].number,
                    status=status,
                    status_rank=STATUS_RANK[status],
                    end_reason=("protocol_error" if rng.random() < 0.0005 else rng.choice(reasons))
                    if answered
                    else f"twilio_{status}",
                    created_at=created,
                    answered_at=created + timedelta(seconds=3) if answered else None,
                    ended_at=created + timedelta(seconds=3 + (duration or 0)),
                    duration_s=duration,
                    latency_avg_ms=latency,
                    latency_p50_ms=latency,
                    latency_max_ms=latency * 2 if latency else None,
                    turn_count=rng.randint(1, 30),
                    contact_public_id="6f1c3a52-3f57-4d7e-9a55-44f1d0a7c001"
                    if answered and rng.random() < 0.7
                    else None,
                )
            )
            if len(rows) == BATCH:
                Call.objects.bulk_create(rows)
                rows = []
        Call.objects.bulk_create(rows)

    tenant, agents, numbers = tenants[0]
    long_call = (
        Call.objects.filter(tenant=tenant, status=CallStatus.COMPLETED).order_by("-created_at").first()
    )
    assert long_call is not None
    TranscriptSegment.objects.bulk_create(
        TranscriptSegment(
            tenant=tenant,
            call=long_call,
            speaker="caller" if i % 2 else "agent",
            text="A sentence of a realistic length said during the call, give or take. " * 2,
            ordinal=i,
            start_ms=i * 3000,
            end_ms=i * 3000 + 2500,
        )
        for i in range(200)
    )
    CallEvent.objects.bulk_create(
        CallEvent(
            tenant=tenant,
            call=long_call,
            type="tool_call" if i % 3 == 0 else "turn_latency",
            payload={"name": "lookup_0", "arguments": {"q": "x"}, "result": '{"ok": true}'}
            if i % 3 == 0
            else {"ms": 400 + i},
            at_ms=i * 4000 + 1000,
            seq=i,
        )
        for i in range(150)
    )
    return {
        "user": user,
        "tenant": tenant,
        "agent": agents[0][0],
        "rare_agent": agents[3][0],
        "number": numbers[0],
        "call": long_call,
    }


def _pages(world: dict[str, Any]) -> list[tuple[str, str]]:
    from django.urls import reverse

    from calls.dashboard.listing import Cursor
    from calls.models import Call

    slug = world["tenant"].slug
    calls = reverse("dashboard:calls", args=[slug])
    newest_first = Call.objects.filter(tenant=world["tenant"]).order_by("-created_at", "-pk")
    deep = newest_first[min(50_000, newest_first.count() - 1)]
    week_ago = (world["call"].created_at - timedelta(days=7)).date().isoformat()
    return [
        ("overview", reverse("dashboard:overview", args=[slug])),
        ("calls: first page", calls),
        ("calls: page at row 50,000", f"{calls}?after={Cursor.of(deep).encode()}"),
        ("calls: agent filter", f"{calls}?agent={world['agent'].public_id}"),
        ("calls: number + status", f"{calls}?number={world['number'].public_id}&status=completed"),
        ("calls: rare status (failed)", f"{calls}?status=failed"),
        ("calls: rare agent (0.5%)", f"{calls}?agent={world['rare_agent'].public_id}"),
        ("calls: end reason (2%)", f"{calls}?end_reason=engine_error"),
        ("calls: end reason (0.05%)", f"{calls}?end_reason=protocol_error"),
        ("calls: last 7 days", f"{calls}?date_from={week_ago}"),
        ("call detail (350 rows)", reverse("dashboard:call", args=[slug, world["call"].public_id])),
        ("usage (12 months)", reverse("dashboard:usage", args=[slug])),
        ("agents", reverse("dashboard:agents", args=[slug])),
        ("agent editor", reverse("dashboard:agent", args=[slug, world["agent"].public_id])),
        ("tools", reverse("dashboard:tools", args=[slug])),
        ("numbers", reverse("dashboard:numbers", args=[slug])),
        ("team", reverse("dashboard:team", args=[slug])),
        ("api keys", reverse("dashboard:api-keys", args=[slug])),
    ]


def _time(get: Callable[[], Any], requests: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        get()
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = get()
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return timings


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    _setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import (
        CaptureQueriesContext,
        override_settings,
        setup_databases,
        teardown_databases,
    )

    # No setup_test_environment(): it instruments template rendering, which is part of what we time.
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        with override_settings(
            STORAGES={
                "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            },
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ):
            started = time.perf_counter()
            world = _seed(args.calls, args.seed)
            seeded_s = time.perf_counter() - started
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "VACUUM ANALYZE"
                    )  # steady state: visibility map set, like autovacuum leaves it
            client = Client()
            client.force_login(world["user"])
            print(
                f"{connection.vendor}: {args.calls:,} calls in the measured tenant "
                f"(+{args.calls // 5:,} in another), seeded in {seeded_s:.0f} s; "
                f"{args.requests} timed requests per page after {args.warmup} warm-up"
            )
            print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
            worst = 0.0
            for name, url in _pages(world):
                with CaptureQueriesContext(connection) as captured:
                    client.get(url)
                queries = len(captured)  # now: later requests reset the connection's query log
                timings = _time(partial(client.get, url), args.requests, args.warmup)
                p50, p95 = statistics.median(timings), _percentile(timings, 0.95)
                worst = max(worst, p95)
                print(f"{name:32} {p50:8.1f} {p95:8.1f} {max(timings):8.1f} {queries:8d}")
            verdict = "within" if worst <= BUDGET_MS else "OVER"
            print(f"worst p95 {worst:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    finally:
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
