"""Aggregate reads behind the overview and usage pages.

Everything is computed by a few aggregate queries over ``(tenant, created_at)`` ranges that the
``call_tenant_stats`` index covers, so the database reads index entries only, never the table.
Per-day and per-month figures are windows whose boundaries are computed here in the tenant's time
zone, aggregated in ONE query (a UNION ALL of one range aggregate per window): no per-row date
function (SQLite would run it in Python) and no per-row CASE for every bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Aggregate, Avg, Count, F, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.expressions import CombinedExpression, ExpressionWrapper
from django.utils import timezone

from agents.models import AgentRevision
from calls.models import Call, CallStatus
from tenants.models import Tenant

TRANSFERRED = "transferred"
CHART_DAYS = 30
USAGE_MONTHS = 12

# Each call is billed by the started minute, as carriers do: ceil(duration / 60), in integers
# (integer division on both SQLite and PostgreSQL).
BILLED_MINUTES: CombinedExpression | ExpressionWrapper = ExpressionWrapper(
    (F("duration_s") + 59) / 60, output_field=IntegerField()
)

OUTCOME_LABELS: dict[str, str] = {
    "caller_hangup": "Caller hung up",
    "agent_hangup": "Agent ended the call",
    "transferred": "Transferred",
    "max_duration": "Time limit reached",
    "silence_timeout": "Silence timeout",
    "engine_error": "Engine error",
    "protocol_error": "Telephony error",
    "internal_error": "Internal error",
    CallStatus.NO_ANSWER: "No answer",
    CallStatus.BUSY: "Busy",
    CallStatus.FAILED: "Failed",
    CallStatus.CANCELED: "Canceled",
    CallStatus.REJECTED: "Rejected",
    "in_progress": "In progress",
    CallStatus.COMPLETED: "Completed",
}


def tenant_zone(tenant: Tenant) -> tzinfo:
    try:
        return ZoneInfo(tenant.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def first_of_month(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + (day.month - 1) - months_back
    return date(index // 12, index % 12 + 1, 1)


def outcome_key(status: str, end_reason: str) -> str:
    """What happened, in one word: the end reason when the call ran, else its final status."""
    if end_reason:
        return end_reason.removeprefix("twilio_")
    if status in (CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS):
        return "in_progress"
    return status


def outcome_label(key: str) -> str:
    return OUTCOME_LABELS.get(key, key.replace("_", " ").replace("-", " ").capitalize())


@dataclass(frozen=True)
class DayCount:
    day: date
    calls: int


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    calls: int
    percent: int


@dataclass(frozen=True)
class OverviewStats:
    calls_today: int
    calls_week: int
    minutes_month: int
    minutes_included: int
    latency_avg_ms: int | None
    latency_p95_ms: int | None
    verification_attempts: int
    verification_passed: int
    transfers: int
    calls_per_day: list[DayCount]
    outcomes: list[Outcome]

    @property
    def minutes_percent(self) -> int:
        if not self.minutes_included:
            return 0
        return min(100, round(100 * self.minutes_month / self.minutes_included))

    @property
    def verification_rate(self) -> int | None:
        if not self.verification_attempts:
            return None
        return round(100 * self.verification_passed / self.verification_attempts)

    @property
    def chart_data(self) -> dict[str, list[Any]]:
        """For the chart script (json_script): x as Unix seconds, y as counts."""
        return {
            "x": [int(datetime.combine(d.day, time.min, tzinfo=UTC).timestamp()) for d in self.calls_per_day],
            "y": [d.calls for d in self.calls_per_day],
        }


def _tenant_calls(tenant: Tenant) -> QuerySet[Call]:
    return Call.objects.filter(tenant=tenant)


def window_totals(
    calls: QuerySet[Call], bounds: list[datetime], /, **aggregates: Aggregate
) -> list[dict[str, Any]]:
    """``aggregates`` of ``calls`` in each window ``[bounds[i], bounds[i + 1])``, in one query."""
    parts = [
        calls.filter(created_at__gte=start, created_at__lt=end)
        .annotate(window=Value(i, output_field=IntegerField()))
        .values("window")
        .annotate(**aggregates)
        .order_by()
        for i, (start, end) in enumerate(pairwise(bounds))
    ]
    rows = {row["window"]: row for row in parts[0].union(*parts[1:], all=True)}
    return [rows[i] for i in range(len(parts))]


def _verifying_revisions(tenant: Tenant) -> QuerySet[AgentRevision, Any]:
    """Revisions whose calls start with the verification stage (see calls.config_snapshot)."""
    return (
        AgentRevision.objects.filter(tenant=tenant, config__verification_enabled=True)
        .exclude(config__verification_prompt="")
        .values("pk")
    )


def overview_stats(*, tenant: Tenant, now: datetime | None = None) -> OverviewStats:
    zone = tenant_zone(tenant)
    local_now = (now or timezone.now()).astimezone(zone)
    today = local_now.date()
    today_start = local_midnight(today, zone)
    week_start = local_midnight(today - timedelta(days=today.weekday()), zone)
    month_start = local_midnight(first_of_month(today), zone)
    last7 = local_now - timedelta(days=7)
    since = min(week_start, month_start, last7)
    recent = Q(created_at__gte=last7)
    answered = Q(status=CallStatus.COMPLETED)  # status, not answered_at: the stats index covers it
    verifying = Q(agent_revision__in=_verifying_revisions(tenant))

    totals = (
        _tenant_calls(tenant)
        .filter(created_at__gte=since)
        .aggregate(
            today=Count("id", filter=Q(created_at__gte=today_start)),
            week=Count("id", filter=Q(created_at__gte=week_start)),
            minutes=Sum(BILLED_MINUTES, filter=Q(created_at__gte=month_start)),
            latency_avg=Avg("latency_avg_ms", filter=recent),
            latency_n=Count("latency_avg_ms", filter=recent),
            transfers=Count("id", filter=recent & Q(end_reason=TRANSFERRED)),
            # Answered calls whose revision starts with verification, and those that passed it.
            attempts=Count("id", filter=recent & answered & verifying),
            passed=Count("id", filter=recent & answered & verifying & Q(contact_public_id__isnull=False)),
        )
    )
    return OverviewStats(
        calls_today=totals["today"],
        calls_week=totals["week"],
        minutes_month=totals["minutes"] or 0,
        minutes_included=tenant.monthly_minutes,
        latency_avg_ms=round(totals["latency_avg"]) if totals["latency_avg"] is not None else None,
        latency_p95_ms=_latency_p95(tenant, since=last7, count=totals["latency_n"]),
        verification_attempts=totals["attempts"],
        verification_passed=totals["passed"],
        transfers=totals["transfers"],
        calls_per_day=calls_per_day(tenant=tenant, today=today, zone=zone),
        outcomes=outcomes(tenant=tenant, since=local_midnight(today - timedelta(days=CHART_DAYS - 1), zone)),
    )


def _latency_p95(tenant: Tenant, *, since: datetime, count: int) -> int | None:
    """The 95th percentile (nearest rank) of the calls' average answer latency since ``since``."""
    if not count:
        return None
    rank = math.ceil(0.95 * count) - 1
    value = (
        _tenant_calls(tenant)
        .filter(created_at__gte=since, latency_avg_ms__isnull=False)
        .order_by("latency_avg_ms")
        .values_list("latency_avg_ms", flat=True)[rank : rank + 1]
    )
    found = list(value)
    return found[0] if found else None


def calls_per_day(*, tenant: Tenant, today: date, zone: tzinfo, days: int = CHART_DAYS) -> list[DayCount]:
    first = today - timedelta(days=days - 1)
    bounds = [local_midnight(first + timedelta(days=i), zone) for i in range(days + 1)]
    totals = window_totals(_tenant_calls(tenant), bounds, calls=Count("id"))
    return [DayCount(first + timedelta(days=i), row["calls"]) for i, row in enumerate(totals)]


def outcomes(*, tenant: Tenant, since: datetime) -> list[Outcome]:
    rows = (
        _tenant_calls(tenant)
        .filter(created_at__gte=since)
        .values("status", "end_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    merged: dict[str, int] = {}
    for row in rows:
        key = outcome_key(row["status"], row["end_reason"])
        merged[key] = merged.get(key, 0) + row["n"]
    total = sum(merged.values()) or 1
    ranked = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    return [Outcome(key, outcome_label(key), n, round(100 * n / total)) for key, n in ranked]


@dataclass(frozen=True)
class MonthUsage:
    month: date
    calls: int
    seconds: int
    billed_minutes: int
    included_minutes: int

    @property
    def percent(self) -> int:
        if not self.included_minutes:
            return 0
        return round(100 * self.billed_minutes / self.included_minutes)

    @property
    def overage_minutes(self) -> int:
        return max(0, self.billed_minutes - self.included_minutes)

    @property
    def talk_time(self) -> str:
        """Talk time for people: "37 h 43 min", "12 min", "40 s"."""
        minutes, seconds = divmod(self.seconds, 60)
        hours, minutes = divmod(minutes, 60)
        if hours:
            return f"{hours} h {minutes} min"
        return f"{minutes} min" if minutes else f"{seconds} s"


def monthly_usage(
    *, tenant: Tenant, months: int = USAGE_MONTHS, now: datetime | None = None
) -> list[MonthUsage]:
    """Calls, talk time and billed minutes per local calendar month, newest first."""
    zone = tenant_zone(tenant)
    today = (now or timezone.now()).astimezone(zone).date()
    starts = [local_midnight(first_of_month(today, back), zone) for back in range(months - 1, -1, -1)]
    bounds = [*starts, local_midnight(first_of_month(today, -1), zone)]
    totals = window_totals(
        _tenant_calls(tenant),
        bounds,
        calls=Count("id"),
        seconds=Sum("duration_s"),
        minutes=Sum(BILLED_MINUTES),
    )
    rows = [
        MonthUsage(
            month=start.date(),
            calls=row["calls"],
            seconds=row["seconds"] or 0,
            billed_minutes=row["minutes"] or 0,
            included_minutes=tenant.monthly_minutes,
        )
        for start, row in zip(starts, totals, strict=True)
    ]
    return rows[::-1]
