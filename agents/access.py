"""Doors into the agents app's tenant-owned rows that the dashboard needs (see tenants/access.py:
the tenant is always IN the query, and another tenant's row is indistinguishable from a missing one)."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch

from agents.models import Agent, AgentRevision, Contact, ContactPhone, Tool
from tenants.access import TenantObjectNotFound, _one, _uuid
from tenants.models import Tenant


def access_tool_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Tool:
    return _one(Tool.objects.filter(tenant=tenant, public_id=_uuid(public_id, "tool")), "tool")


def access_agent_revision_by_number(*, tenant: Tenant, agent: Agent, number: int | str) -> AgentRevision:
    """Revision ``number`` of ``agent``; the agent must already have been fetched in ``tenant``."""
    try:
        wanted = int(number)
    except (TypeError, ValueError):
        raise TenantObjectNotFound("No revision found.") from None
    return _one(
        AgentRevision.objects.select_related("published_by").filter(
            tenant=tenant, agent_id=agent.pk, number=wanted
        ),
        "revision",
    )


def access_contact_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Contact:
    """A contact of the directory, with its phone numbers (sorted) prefetched."""
    phones = Prefetch("phones", queryset=ContactPhone.objects.filter(tenant=tenant).order_by("number"))
    return _one(
        Contact.objects.filter(tenant=tenant, public_id=_uuid(public_id, "contact")).prefetch_related(phones),
        "contact",
    )
