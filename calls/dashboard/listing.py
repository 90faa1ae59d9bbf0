"""The call list: filtered, newest first, keyset-paginated.

Keyset ("seek") pagination instead of OFFSET: a page is "the 50 calls just older (or newer) than
this (created_at, id)", which the ``(tenant, created_at)`` indexes answer by reading 51 index
entries, on page 1 or page 2,000 alike. The cursor is opaque to the user but not secret: it only
narrows a query that is already inside the tenant.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from calls.dashboard.stats import local_midnight, tenant_zone
from calls.models import Call
from tenants.models import Tenant

PAGE_SIZE = 50


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    pk: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        """The cursor in ``value``, or None for anything malformed (which shows the first page)."""
        if not value or len(value) > 100:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            stamp, pk = raw.rsplit("|", 1)
            created_at = datetime.fromisoformat(stamp)
            if created_at.tzinfo is None:
                return None
            return cls(created_at, int(pk))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None

    @classmethod
    def of(cls, call: Call) -> Cursor:
        return cls(call.created_at, call.pk)


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
    if before is not None:
        # (created_at, id) > before, written so an index range on created_at can serve it.
        newer_rows = list(
            rows_with.filter(created_at__gte=before.created_at)
            .exclude(created_at=before.created_at, pk__lte=before.pk)
            .order_by("created_at", "pk")[: size + 1]
        )
        if newer_rows:
            more_newer = len(newer_rows) > size
            page = newer_rows[:size][::-1]
            return CallPage(
                page, Cursor.of(page[0]).encode() if more_newer else None, Cursor.of(page[-1]).encode()
            )
        after = None  # nothing newer (a stale or forged cursor): show the first page
    query = rows_with
    if after is not None:
        query = query.filter(created_at__lte=after.created_at).exclude(
            created_at=after.created_at, pk__gte=after.pk
        )
    rows = list(query.order_by("-created_at", "-pk")[: size + 1])
    page = rows[:size]
    older = Cursor.of(page[-1]).encode() if len(rows) > size else None
    newer = Cursor.of(page[0]).encode() if after is not None and page else None
    return CallPage(page, newer, older)
