"""Doors into the calls app's tenant-owned rows for the dashboard (see tenants/access.py: the
tenant is always IN the query; another tenant's call is indistinguishable from a missing one)."""

from __future__ import annotations

import uuid

from calls.models import Call
from tenants.access import _one, _uuid
from tenants.models import Tenant


def access_call_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Call:
    """The call with what its detail page shows next to it (agent, number, revision) in one query."""
    return _one(
        Call.objects.select_related("agent", "phone_number", "agent_revision").filter(
            tenant=tenant, public_id=_uuid(public_id, "call")
        ),
        "call",
    )
