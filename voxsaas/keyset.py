"""Keyset ("seek") pagination, newest first, for the dashboard's long lists.

A page is "the N rows just older (or newer) than this (created_at, id)", which a
``(tenant, created_at)`` index answers by reading N+1 index entries, on page 1 or page 2,000
alike (OFFSET would read and throw away every row before the page). The cursor is opaque to the
user but not secret: it only narrows a query that is already inside the tenant.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)  # a model with a ``created_at`` field


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
    def of(cls, row: Any) -> Cursor:
        """The cursor of a row with ``created_at``."""
        return cls(row.created_at, row.pk)


@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    rows: list[M]  # newest first
    newer: str | None  # cursor for the page of newer rows, if there is one
    older: str | None  # cursor for the page of older rows, if there is one


def keyset_page(
    rows: QuerySet[M], *, after: Cursor | None = None, before: Cursor | None = None, size: int
) -> KeysetPage[M]:
    """One page of ``rows`` (already filtered, with their ``select_related``/``only``), newest
    first: the newest, those just older than ``after``, or those just newer than ``before``. One
    query. A stale or forged ``before`` with nothing newer shows the first page."""
    if before is not None:
        # (created_at, id) > before, written so an index range on created_at can serve it.
        newer_rows = list(
            rows.filter(created_at__gte=before.created_at)
            .exclude(created_at=before.created_at, pk__lte=before.pk)
            .order_by("created_at", "pk")[: size + 1]
        )
        if newer_rows:
            page = newer_rows[:size][::-1]
            more_newer = len(newer_rows) > size
            return KeysetPage(
                page, Cursor.of(page[0]).encode() if more_newer else None, Cursor.of(page[-1]).encode()
            )
        after = None
    query = rows
    if after is not None:
        query = query.filter(created_at__lte=after.created_at).exclude(
            created_at=after.created_at, pk__gte=after.pk
        )
    found = list(query.order_by("-created_at", "-pk")[: size + 1])
    page = found[:size]
    older = Cursor.of(page[-1]).encode() if len(found) > size else None
    newer = Cursor.of(page[0]).encode() if after is not None and page else None
    return KeysetPage(page, newer, older)
