"""The only doors into scheduling rows, following ``tenants.access``: the tenant is IN the query
and another tenant's row raises ``TenantObjectNotFound`` (404) exactly like a missing one."""

from __future__ import annotations

import uuid

from agents.scheduling.models import Booking, Resource, TimeOff
from tenants.access import TenantObjectNotFound
from tenants.models import Tenant

__all__ = [
    "TenantObjectNotFound",
    "access_booking_by_public_id",
    "access_resource_by_public_id",
    "access_time_off_by_public_id",
]


def _uuid(value: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise TenantObjectNotFound(f"No {what} found.") from None


def access_resource_by_public_id(
    *, tenant: Tenant, public_id: uuid.UUID | str, active_only: bool = False
) -> Resource:
    rows = Resource.objects.filter(tenant=tenant, public_id=_uuid(public_id, "resource"))
    if active_only:
        rows = rows.filter(is_active=True)
    row = rows.first()
    if row is None:
        raise TenantObjectNotFound("No resource found.")
    return row


def access_booking_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Booking:
    row = (
        Booking.objects.select_related("resource")
        .filter(tenant=tenant, public_id=_uuid(public_id, "booking"))
        .first()
    )
    if row is None:
        raise TenantObjectNotFound("No booking found.")
    return row


def access_time_off_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> TimeOff:
    row = TimeOff.objects.filter(tenant=tenant, public_id=_uuid(public_id, "time off")).first()
    if row is None:
        raise TenantObjectNotFound("No time off found.")
    return row
