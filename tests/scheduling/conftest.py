"""Scheduling fixtures: one resource per tenant of the standard cast, on New York time.

Reference moment: Monday 2026-03-02 08:00 in New York (the week before the US goes to daylight
saving time on Sunday 2026-03-08). Hours: Monday-Friday 9-12 and 13-17, 30-minute slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.scheduling.models import Resource
from agents.scheduling.services import hours_set, resource_create
from tenants.models import Tenant
from tests.conftest import Cast

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=NY)
OFFICE_HOURS = {weekday: [(time(9), time(12)), (time(13), time(17))] for weekday in range(5)}


def at(day: date, clock: str, zone: ZoneInfo = NY) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


@dataclass
class Desk:
    tenant: Tenant
    resource: Resource
    other_tenant: Tenant
    other_resource: Resource


def make_resource(tenant: Tenant, name: str) -> Resource:
    resource = resource_create(tenant=tenant, name=name)
    hours_set(tenant=tenant, resource=resource, week=OFFICE_HOURS)
    return resource


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The cast's users are created per test; these tests never check a password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def desk(cast: Cast) -> Desk:
    for tenant in (cast.tenant_a, cast.tenant_b):
        tenant.time_zone = "America/New_York"
        tenant.save(update_fields=["time_zone"])
    return Desk(
        tenant=cast.tenant_a,
        resource=make_resource(cast.tenant_a, "Dr. Ada"),
        other_tenant=cast.tenant_b,
        other_resource=make_resource(cast.tenant_b, "Dr. Bob"),
    )
