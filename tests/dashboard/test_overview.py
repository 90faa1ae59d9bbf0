"""Overview figures and usage, computed in the tenant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import Client
from django.urls import reverse

from agents.models import AgentRevision
from calls.dashboard.stats import monthly_usage, overview_stats
from calls.models import Call, CallStatus
from tests.dashboard.conftest import World, make_call, signed_in

# A Wednesday afternoon in the middle of a month.
NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)


def _seed(world: World) -> None:
    tenant, agent, number = world.a.tenant, world.a.agent, world.a.number
    Call.objects.filter(tenant=tenant).delete()  # the world's own call is at the real "now"
    verifying = world.a.revision
    verifying.config = {**verifying.config, "verification_enabled": True, "verification_prompt": "Verify."}
    AgentRevision.objects.filter(pk=verifying.pk).update(config=verifying.config)
    plain = AgentRevision.objects.get(agent=agent, number=2)
    AgentRevision.objects.filter(pk=plain.pk).update(config={**plain.config, "verification_enabled": False})

    def call(at: datetime, **kw: object) -> None:
        make_call(tenant, agent=agent, number=number, created_at=at, **kw)  # type: ignore[arg-type]

    call(
        NOW - timedelta(hours=1), duration_s=61, latency_avg_ms=400, revision=verifying, verified=True
    )  # today: 2 min
    call(
        NOW - timedelta(hours=2),
        duration_s=30,
        latency_avg_ms=600,
        revision=verifying,
        end_reason="transferred",
    )
    call(
        NOW - timedelta(days=1), duration_s=120, latency_avg_ms=800, revision=verifying, verified=True
    )  # Tuesday
    call(NOW - timedelta(days=3), duration_s=10, latency_avg_ms=2000, revision=plain)  # Sunday: last week
    call(
        NOW - timedelta(days=2),
        status=CallStatus.NO_ANSWER,
        duration_s=None,
        latency_avg_ms=None,
        end_reason="",
        revision=verifying,
    )
    call(NOW - timedelta(days=20), duration_s=600, latency_avg_ms=None)  # last month
    make_call(world.b.tenant, agent=world.b.agent, number=world.b.number, created_at=NOW - timedelta(hours=1))


def test_overview_stats(world: World) -> None:
    _seed(world)
    stats = overview_stats(tenant=world.a.tenant, now=NOW)
    assert stats.calls_today == 2
    assert stats.calls_week == 4  # Monday 16 March onwards
    # This month, billed by the started minute: 61 s -> 2, 30 s -> 1, 120 s -> 2, 10 s -> 1.
    assert stats.minutes_month == 6
    assert stats.latency_avg_ms == round((400 + 600 + 800 + 2000) / 4)
    assert stats.latency_p95_ms == 2000
    assert (stats.verification_passed, stats.verification_attempts, stats.verification_rate) == (2, 3, 67)
    assert stats.transfers == 1
    days = {d.day.isoformat(): d.calls for d in stats.calls_per_day}
    assert len(days) == 30 and days["2026-03-18"] == 2 and days["2026-03-17"] == 1 and days["2026-02-26"] == 1
    outcomes = {o.key: o.calls for o in stats.outcomes}
    assert outcomes == {"caller_hangup": 4, "transferred": 1, "no-answer": 1}


def test_days_follow_the_tenant_time_zone(world: World) -> None:
    world.a.tenant.time_zone = "America/Los_Angeles"
    world.a.tenant.save()
    Call.objects.filter(tenant=world.a.tenant).delete()
    # 02:00 UTC on the 18th is still the 17th in Los Angeles.
    make_call(world.a.tenant, agent=None, number=None, created_at=datetime(2026, 3, 18, 2, 0, tzinfo=UTC))
    stats = overview_stats(tenant=world.a.tenant, now=NOW)
    days = {d.day.isoformat(): d.calls for d in stats.calls_per_day}
    assert days["2026-03-17"] == 1 and days["2026-03-18"] == 0
    assert stats.calls_today == 0


def test_usage_per_month_against_the_plan(world: World) -> None:
    _seed(world)
    world.a.tenant.monthly_minutes = 4
    months = monthly_usage(tenant=world.a.tenant, now=NOW)
    assert len(months) == 12 and months[0].month.isoformat() == "2026-03-01"
    march, february = months[0], months[1]
    assert (march.calls, march.seconds, march.billed_minutes) == (5, 221, 6)
    assert march.overage_minutes == 2 and march.percent == 150
    assert (february.calls, february.billed_minutes) == (1, 10)


def test_overview_page_shows_the_figures_and_chart_data(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(reverse("dashboard:overview", args=["acme"])).content.decode()
    assert "Calls today" in html and "Verification pass rate" in html and "Answer latency" in html
    assert '<script id="calls-per-day" type="application/json">' in html
    assert "Caller hung up" in html  # the outcome breakdown
    assert "Acme desk" in html  # the agents card
    usage = client.get(reverse("dashboard:usage", args=["acme"])).content.decode()
    assert "Billed minutes" in usage and "of included minutes" in usage
