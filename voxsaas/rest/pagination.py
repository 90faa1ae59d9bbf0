"""Cursor pagination: stable under inserts (a new call does not shift the next page) and cheap
on large tables (no OFFSET)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
