"""An agent's published revisions: history, one revision's configuration, a diff of two."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_safe

from agents.access import access_agent_revision_by_number
from agents.dashboard.diff import config_diff
from agents.forms import RevisionCompareForm
from agents.models import Agent, AgentRevision
from agents.services import agent_config
from tenants.access import access_agent_by_public_id
from tenants.dashboard.base import AuthedRequest, Workspace, page, tenant_page

HISTORY_LIMIT = 200


def _revisions(ws: Workspace, agent: Agent) -> list[AgentRevision]:
    return list(
        AgentRevision.objects.filter(tenant=ws.tenant, agent_id=agent.pk)
        .select_related("published_by")
        .defer("config")
        .order_by("-number")[:HISTORY_LIMIT]
    )


@require_safe
@tenant_page()
def revision_list(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    revisions = _revisions(ws, agent)
    left = (
        str(revisions[1].number)
        if len(revisions) > 1
        else (str(revisions[0].number) if revisions else "draft")
    )
    compare = RevisionCompareForm(initial={"left": left, "right": "draft"})
    context = {"agent": agent, "revisions": revisions, "compare": compare}
    return page(request, ws, "dashboard/agents/revisions.html", context, section="agents")


@require_safe
@tenant_page()
def revision_detail(request: AuthedRequest, ws: Workspace, public_id: str, number: int) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    revision = access_agent_revision_by_number(tenant=ws.tenant, agent=agent, number=number)
    context = {
        "agent": agent,
        "revision": revision,
        "config_json": json.dumps(revision.config, indent=2, sort_keys=True, ensure_ascii=False),
    }
    return page(request, ws, "dashboard/agents/revision.html", context, section="agents")


def _config(ws: Workspace, agent: Agent, ref: str) -> tuple[str, dict[str, Any]]:
    if ref == "draft":
        return "Draft", agent_config(agent)
    revision = access_agent_revision_by_number(tenant=ws.tenant, agent=agent, number=ref)
    return f"Revision {revision.number}", revision.config


@require_safe
@tenant_page()
def revision_diff(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = RevisionCompareForm(request.GET)
    context: dict[str, Any] = {"agent": agent, "compare": form, "revisions": _revisions(ws, agent)}
    if form.is_valid():
        left_label, left = _config(ws, agent, form.cleaned_data["left"])
        right_label, right = _config(ws, agent, form.cleaned_data["right"])
        context.update(
            {"left_label": left_label, "right_label": right_label, "diffs": config_diff(left, right)}
        )
    return page(
        request,
        ws,
        "dashboard/agents/diff.html",
        context,
        section="agents",
        status=200 if form.is_valid() else 400,
    )
