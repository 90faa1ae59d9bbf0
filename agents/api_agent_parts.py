"""Serializers of an agent's sub-resources in the REST API: published revisions, the tools it
offers per stage and the knowledge bases it may search. The views are actions on
``agents.api.AgentViewSet``; writes go through ``agents.services``."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import CursorPagination

from agents.knowledge.models import Corpus
from agents.models import Agent, AgentRevision, AgentTool, BuiltinTool, Tool
from agents.services import AgentToolChoice
from tenants.api import request_tenant
from tenants.models import Tenant


class RevisionPagination(CursorPagination):
    """Newest revision first."""

    ordering = ("-number", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AgentRevisionSerializer(serializers.ModelSerializer):
    published_by = serializers.SerializerMethodField(help_text="Who published it (dashboard user), if known.")

    class Meta:
        model = AgentRevision
        fields: tuple[str, ...] = ("number", "published_at", "published_by", "note")
        read_only_fields: tuple[str, ...] = fields

    def get_published_by(self, revision: AgentRevision) -> str | None:
        user = revision.published_by
        return user.get_username() if user is not None else None


class AgentRevisionDetailSerializer(AgentRevisionSerializer):
    config = serializers.SerializerMethodField(
        help_text="The frozen configuration: prompts, engine settings, tools and knowledge bases."
    )

    class Meta(AgentRevisionSerializer.Meta):
        fields = (*AgentRevisionSerializer.Meta.fields, "config")
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_config(self, revision: AgentRevision) -> dict[str, Any]:
        return dict(revision.config)


class PublishSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="What changed."
    )


class AgentToolEntrySerializer(serializers.Serializer):
    builtin = serializers.ChoiceField(
        choices=BuiltinTool.choices,
        required=False,
        allow_null=True,
        help_text="A built-in tool by name; or give tool_id.",
    )
    tool_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="The id of one of the tenant's webhook tools."
    )
    name = serializers.CharField(read_only=True)
    in_verification = serializers.BooleanField(
        default=False, help_text="Offered before the caller is verified."
    )
    in_main = serializers.BooleanField(default=True, help_text="Offered in the main stage.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("builtin")) == bool(attrs.get("tool_id")):
            raise serializers.ValidationError("Give exactly one of builtin and tool_id.")
        return attrs


class AgentToolsSerializer(serializers.Serializer):
    tools = AgentToolEntrySerializer(many=True, help_text="The tools the agent offers; others are disabled.")

    def validate_tools(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tenant = request_tenant(self.context["request"])
        wanted_ids = {entry["tool_id"] for entry in entries if entry.get("tool_id")}
        known = {t.public_id: t for t in Tool.objects.filter(tenant=tenant, public_id__in=wanted_ids)}
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for entry in entries:
            key = entry.get("builtin") or str(entry.get("tool_id"))
            problem: dict[str, Any] = {}
            if key in seen:
                problem["non_field_errors"] = ["This tool is listed twice."]
            elif entry.get("tool_id") and entry["tool_id"] not in known:
                problem["tool_id"] = ["Unknown tool."]
            seen.add(key)
            entry["tool"] = known.get(entry["tool_id"]) if entry.get("tool_id") else None
            errors.append(problem)
        if any(errors):
            raise serializers.ValidationError(errors)
        return entries

    def choices(self) -> list[AgentToolChoice]:
        return [
            AgentToolChoice(
                builtin=entry.get("builtin") or "",
                tool=entry["tool"],
                in_verification=entry["in_verification"],
                in_main=entry["in_main"],
            )
            for entry in self.validated_data["tools"]
        ]


def agent_tools_body(*, tenant: Tenant, agent: Agent) -> dict[str, Any]:
    rows = AgentTool.objects.filter(tenant=tenant, agent=agent).select_related("tool").order_by("pk")
    return {
        "tools": [
            {
                "builtin": row.builtin or None,
                "tool_id": str(row.tool.public_id) if row.tool is not None else None,
                "name": row.name,
                "in_verification": row.in_verification,
                "in_main": row.in_main,
            }
            for row in rows
        ]
    }


class AgentCorporaSerializer(serializers.Serializer):
    corpus_ids = serializers.ListField(
        child=serializers.UUIDField(),
        max_length=100,
        help_text="Ids of the tenant's knowledge bases the agent may search; others are removed.",
    )

    def validate_corpus_ids(self, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        tenant = request_tenant(self.context["request"])
        wanted = set(ids)
        known = set(
            Corpus.objects.filter(tenant=tenant, public_id__in=wanted).values_list("public_id", flat=True)
        )
        if wanted - known:
            raise serializers.ValidationError("Unknown knowledge base.")
        return list(wanted)


def agent_corpora_body(*, tenant: Tenant, agent: Agent) -> dict[str, Any]:
    ids = Corpus.objects.filter(tenant=tenant, agentcorpus__agent=agent, agentcorpus__tenant=tenant)
    return {
        "corpus_ids": [
            str(public_id) for public_id in ids.order_by("name").values_list("public_id", flat=True)
        ]
    }
