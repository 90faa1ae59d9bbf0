"""The call list: filtered, newest first, keyset-paginated (``voxsaas.keyset``: page 1 and
page 2,000 cost the same)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet

from calls.dashboard.stats import local_midnight, tenant_zone
from calls.models import Call
from tenants.models import Tenant
from voxsaas.keyset import Cursor, keyset_page

__all__ = ["PAGE_SIZE", "CallPage", "Cursor", "call_page", "filtered_calls"]

PAGE_SIZE = 50


@dataclass(frozen=True)
class CallPage:
    calls: list[Call]
    newer: str | None  # cursor for the page of newer calls, if there is one
    older: str | None  # cursor for the page of older calls, if there is one


def filtered_calls(*, tenant: Tenant, filters: dict[str, Any]) -> QuerySet[Call]:
    """The tenant's calls matching the (validated) filter form's data."""
    calls = Call.objects.filter(tenant=tenant)
    if filters.get("status"):
        calls = calls.filter(status=filters["status"])
    if filters.get("direction"):
        calls = calls.filter(direction=filters["direction"])
    if filters.get("agent") is not None:
        calls = calls.filter(agent=filters["agent"])
    if filters.get("number") is not None:
        calls = calls.filter(phone_number=filters["number"])
    if filters.get("end_reason"):
        calls = calls.filter(end_reason=filters["end_reason"])
    zone = tenant_zone(tenant)
    if filters.get("date_from"):
        calls = calls.filter(created_at__gte=local_midnight(filters["date_from"], zone))
    if filters.get("date_to"):
        calls = calls.filter(created_at__lt=local_midnight(filters["date_to"] + timedelta(days=1), zone))
    return calls


def call_page(
    calls: QuerySet[Call], *, after: Cursor | None = None, before: Cursor | None = None, size: int = PAGE_SIZE
) -> CallPage:
    """One page of ``calls``: the newest, or the ones just older than ``after``, or just newer
    than ``before``. Rows come with their agent and number (one query in all)."""
    rows_with = calls.select_related("agent", "phone_number").only(
        "public_id",
        "created_at",
        "direction",
        "from_number",
        "to_number",
        "status",
        "end_reason",
        "duration_s",
        "latency_avg_ms",
        "agent__public_id",
        "agent__name",
        "phone_number__number",
        "phone_number__label",
    )
    page = keyset_page(rows_with, after=after, before=before, size=size)
    return CallPage(page.rows, page.newer, page.older)
