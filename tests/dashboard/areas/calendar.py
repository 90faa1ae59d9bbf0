"""The calendar: bookings, resources, business hours."""

from __future__ import annotations

from typing import Any

from tests.dashboard.conftest import Side
from tests.dashboard.pagekit import Action, Page

PAGES: dict[str, Page] = {}
ACTIONS: dict[str, Action] = {}


def populate(side: Side, suffix: str) -> dict[str, Any]:
    """Rows of this area in ``side.tenant``; returned into ``side.extra``."""
    return {}


def snapshot() -> dict[str, list[Any]]:
    """Every row a write of this area could change."""
    return {}
