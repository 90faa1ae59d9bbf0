"""Usage: billed minutes per month against the plan's included minutes."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_safe

from calls.dashboard.stats import monthly_usage
from tenants.dashboard.base import AuthedRequest, Workspace, page, tenant_page


@require_safe
@tenant_page()
def usage(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    months = monthly_usage(tenant=ws.tenant)
    context = {"months": months, "current": months[0]}
    return page(request, ws, "dashboard/usage.html", context, section="usage")
