"""Writes behind the agent and tool editors. Keyword-only, atomic, tenant explicit: each row is
re-selected with the tenant in the query before it changes.

(They sit here rather than in ``agents.services`` only because that module is being changed in
parallel; they follow its conventions and can move there as they are.)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from agents.models import Agent, AgentTool, Tool
from agents.services import agent_tool_enable
from tenants.models import Tenant


@transaction.atomic
def agent_create(*, tenant: Tenant, fields: Mapping[str, Any]) -> Agent:
    agent = Agent(tenant=tenant, **fields)
    agent.full_clean(exclude=["tenant", "published_revision"])
    agent.save()
    return agent


@transaction.atomic
def agent_update(*, tenant: Tenant, agent: Agent, changes: Mapping[str, Any]) -> Agent:
    row = Agent.objects.select_for_update().get(tenant=tenant, pk=agent.pk)
    for name, value in changes.items():
        setattr(row, name, value)
    row.full_clean(exclude=["tenant", "published_revision"])
    row.save()
    return row


@transaction.atomic
def agent_tools_set(
    *,
    tenant: Tenant,
    agent: Agent,
    builtins: Mapping[str, tuple[bool, bool]],
    tools: Mapping[Tool, tuple[bool, bool]],
) -> None:
    """Make the agent's tools exactly these: (in_verification, in_main) per built-in and per
    webhook tool; a tool offered in neither stage is disabled."""
    row = Agent.objects.select_for_update().get(tenant=tenant, pk=agent.pk)
    for name, (in_verification, in_main) in builtins.items():
        if in_verification or in_main:
            agent_tool_enable(
                tenant=tenant, agent=row, builtin=name, in_verification=in_verification, in_main=in_main
            )
        else:
            AgentTool.objects.filter(tenant=tenant, agent=row, builtin=name).delete()
    for tool, (in_verification, in_main) in tools.items():
        if in_verification or in_main:
            agent_tool_enable(
                tenant=tenant, agent=row, tool=tool, in_verification=in_verification, in_main=in_main
            )
        else:
            AgentTool.objects.filter(tenant=tenant, agent=row, tool=tool).delete()


@dataclass(frozen=True)
class SavedTool:
    tool: Tool
    generated_secret: str | None  # a new random signing secret: shown to the user once


@transaction.atomic
def tool_create(
    *, tenant: Tenant, fields: Mapping[str, Any], signing_secret: str, secret_headers: str
) -> SavedTool:
    generated = "" if signing_secret else secrets.token_urlsafe(32)
    tool = Tool(
        tenant=tenant, **fields, signing_secret=signing_secret or generated, secret_headers=secret_headers
    )
    tool.full_clean(exclude=["tenant"])
    tool.save()
    return SavedTool(tool, generated or None)


@transaction.atomic
def tool_update(
    *,
    tenant: Tenant,
    tool: Tool,
    changes: Mapping[str, Any],
    signing_secret: str = "",
    secret_headers: str | None = None,
) -> Tool:
    """Change the tool; a secret only changes when a new value is given (``secret_headers=""``
    removes the stored headers, ``None`` keeps them)."""
    row = Tool.objects.select_for_update().get(tenant=tenant, pk=tool.pk)
    for name, value in changes.items():
        setattr(row, name, value)
    if signing_secret:
        row.signing_secret = signing_secret
    if secret_headers is not None:
        row.secret_headers = secret_headers
    row.full_clean(exclude=["tenant"])
    row.save()
    return row


@transaction.atomic
def tool_delete(*, tenant: Tenant, tool: Tool) -> None:
    """Delete the tool and its agent links; published revisions that name it answer the model
    with "no longer available" until they are republished."""
    Tool.objects.filter(tenant=tenant, pk=tool.pk).delete()
