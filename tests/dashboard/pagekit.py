"""The building blocks of the page catalogue: a page (the lowest role that may read it), an action
(the lowest role that may post it), and URL builders from one tenant's slug and one side's rows.
Each area of the dashboard lists its pages in ``tests/dashboard/areas/``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from tests.dashboard.conftest import Side


@dataclass(frozen=True)
class Page:
    read: str  # the lowest role that may GET it
    url: Callable[[str, Side], str]
    detail: bool = False  # names a row by id (so another tenant's id must be a 404)
    html: bool = True  # a dashboard page (False: a download, e.g. CSV or JSON)


@dataclass(frozen=True)
class Action:
    write: str  # the lowest role that may POST it
    url: Callable[[str, Side], str]
    data: Callable[[Side], dict[str, Any]]
    detail: bool = True


def _u(name: str, *ids: Callable[[Side], Any]) -> Callable[[str, Side], str]:
    return lambda slug, side: reverse(f"dashboard:{name}", args=[slug, *(get(side) for get in ids)])


def extra(key: str, attr: str = "public_id") -> Callable[[Side], Any]:
    """An id accessor for a row an area added to ``Side.extra``."""
    return lambda side: getattr(side.extra[key], attr)
