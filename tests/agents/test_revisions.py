"""Drafts and immutable revisions: calls run with the published revision, not the draft."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.models import AgentRevision, BuiltinTool
from agents.services import agent_publish, agent_tool_enable
from tests.conftest import Cast


def test_publish_freezes_the_configuration(cast: Cast) -> None:
    agent = cast.agent_a
    first = agent.published_revision
    assert first is not None and first.number == 1
    agent.main_prompt = "A new draft prompt."
    agent.save()
    first.refresh_from_db()
    assert first.config["main_prompt"] == "Help Acme callers."  # the draft doesn't leak in

    agent_tool_enable(
        tenant=cast.tenant_a, agent=agent, builtin=BuiltinTool.TRANSFER_TO_HUMAN, in_verification=True
    )
    second = agent_publish(tenant=cast.tenant_a, agent=agent, user=cast.owner_a, note="new prompt")
    assert second.number == 2
    assert second.config["main_prompt"] == "A new draft prompt."
    tool = next(t for t in second.config["tools"] if t["name"] == "transfer_to_human")
    assert tool["kind"] == "builtin" and tool["in_verification"] is True
    assert tool["parameters"]["additionalProperties"] is False
    agent.refresh_from_db()
    assert agent.published_revision_id == second.pk
    assert list(AgentRevision.objects.filter(agent=agent).values_list("number", flat=True)) == [2, 1]


def test_unknown_template_variable_blocks_publishing(cast: Cast) -> None:
    agent = cast.agent_a
    agent.greeting = "Hello {{ custmer_name }}"
    agent.save()
    with pytest.raises(ValidationError) as error:
        agent_publish(tenant=cast.tenant_a, agent=agent)
    assert "greeting" in error.value.message_dict
    assert AgentRevision.objects.filter(agent=agent).count() == 1


def test_custom_variables_make_templates_valid(cast: Cast) -> None:
    agent = cast.agent_a
    agent.custom_variables = {"customer_name": "there"}
    agent.greeting = "Hello {{ customer_name }}"
    agent.save()
    assert agent_publish(tenant=cast.tenant_a, agent=agent).number == 2


def test_publishing_in_the_wrong_tenant_is_refused(cast: Cast) -> None:
    from agents.models import Agent

    with pytest.raises(Agent.DoesNotExist):
        agent_publish(tenant=cast.tenant_b, agent=cast.agent_a)


def test_another_tenants_tool_cannot_be_enabled(cast: Cast) -> None:
    from agents.models import AgentTool, Tool

    tool_b = Tool.objects.create(
        tenant=cast.tenant_b,
        name="crm",
        description="B's CRM",
        url="https://b.example.com/crm",
        signing_secret="s",
        parameters={"type": "object", "properties": {}},
    )
    with pytest.raises(ValidationError):
        agent_tool_enable(tenant=cast.tenant_a, agent=cast.agent_a, tool=tool_b)
    with pytest.raises(ValidationError):  # nor enable anything on another tenant's agent
        agent_tool_enable(tenant=cast.tenant_a, agent=cast.agent_b, builtin=BuiltinTool.END_CALL)
    assert not AgentTool.objects.exists()
