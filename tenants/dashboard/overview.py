"""The tenant overview: the week at a glance."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpResponse
from django.views.decorators.http import require_safe

from agents.models import Agent
from calls.dashboard.stats import overview_stats
from tenants.dashboard.base import AuthedRequest, Workspace, page, tenant_page


@require_safe
@tenant_page()
def overview(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    stats = overview_stats(tenant=ws.tenant)
    agents = (
        Agent.objects.filter(tenant=ws.tenant)
        .select_related("published_revision")
        .only("public_id", "name", "engine", "verification_enabled", "published_revision__number")
        .annotate(numbers=Count("phone_numbers"))
        .order_by("name")[:20]
    )
    return page(
        request, ws, "dashboard/overview.html", {"stats": stats, "agents": agents}, section="overview"
    )
