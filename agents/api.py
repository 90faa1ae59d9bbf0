"""REST API for agents: list, create, retrieve, update, delete.

The serializer names every field it exposes (no ``__all__``): ``tenant``, ids, timestamps and the
published revision can never be written through it. To expose a new agent field, add it to
``AgentSerializer.Meta.fields``; revision and publish endpoints plug in as extra ``@action``s on
``AgentViewSet`` (its ``get_object`` already resolves the agent within the tenant).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response

from agents import services
from agents.access import access_agent_revision_by_number
from agents.api_agent_parts import (
    AgentCorporaSerializer,
    AgentRevisionDetailSerializer,
    AgentRevisionSerializer,
    AgentToolsSerializer,
    PublishSerializer,
    RevisionPagination,
    agent_corpora_body,
    agent_tools_body,
)
from agents.models import Agent, AgentRevision
from tenants.access import access_agent_by_public_id
from tenants.api import request_tenant

LOOKUP = OpenApiParameter(
    "public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The agent's id."
)


class AgentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True, help_text="The agent's id.")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    published_revision = serializers.SerializerMethodField(
        help_text="The number of the revision calls run with; null until the agent is published."
    )

    class Meta:
        model = Agent
        fields = (
            "id",
            "name",
            "engine",
            "model",
            "voice",
            "language",
            "temperature",
            "greeting",
            "verification_enabled",
            "verification_prompt",
            "main_prompt",
            "summary_prompt",
            "summary_schema",
            "llm_base_url",
            "llm_model",
            "max_duration_s",
            "silence_timeout_s",
            "silence_reminder",
            "transfer_number",
            "recording_enabled",
            "recording_announcement",
            "published_revision",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "name": {"help_text": "Shown in the dashboard and in call records."},
            "engine": {"help_text": "The speech engine that runs the conversation."},
            "language": {"help_text": "BCP 47 language code, e.g. en or en-US."},
            "temperature": {"help_text": "Sampling temperature, 0 to 1."},
            "verification_enabled": {"help_text": "Verify the caller before the main stage."},
            "verification_prompt": {"help_text": "System prompt of the verification stage."},
            "main_prompt": {"help_text": "System prompt of the main stage."},
            "summary_prompt": {"help_text": "Prompt of the post-call summary; empty uses a default."},
            "max_duration_s": {"help_text": "A call is ended politely after this many seconds."},
            "silence_timeout_s": {"help_text": "Seconds of silence before the agent checks in."},
            "silence_reminder": {"help_text": "What the agent says after a silence."},
            "transfer_number": {"help_text": "E.164 number calls are transferred to, if any."},
            "recording_enabled": {"help_text": "Record calls (the announcement is played first)."},
            "recording_announcement": {"help_text": "Played before a recorded call."},
        }

    def get_published_revision(self, agent: Agent) -> int | None:
        revision = agent.published_revision
        return revision.number if revision is not None else None

    def validate_summary_schema(self, value: Any) -> Any:
        if value in ({}, None):
            return {}
        if not isinstance(value, dict) or value.get("type") != "object":
            raise serializers.ValidationError('A JSON Schema with "type": "object" (or {} for none).')
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise serializers.ValidationError(f"Invalid JSON Schema: {exc.message}") from None
        return value


@extend_schema_view(
    list=extend_schema(summary="List agents", description="The tenant's agents, newest first."),
    create=extend_schema(summary="Create an agent"),
    retrieve=extend_schema(summary="Get an agent"),
    partial_update=extend_schema(summary="Update an agent", description="Change some fields of the draft."),
    destroy=extend_schema(
        summary="Delete an agent", description="409 if calls still refer to its revisions."
    ),
    update=extend_schema(exclude=True),
)
class AgentViewSet(viewsets.ModelViewSet):
    serializer_class = AgentSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    # PUT only for the tools and corpora sub-resources; the agent itself changes with PATCH.
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Agent]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Agent.objects.none()
        return Agent.objects.filter(tenant=request_tenant(self.request)).select_related("published_revision")

    def get_object(self) -> Agent:
        return access_agent_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    def perform_create(self, serializer: serializers.BaseSerializer[Agent]) -> None:
        serializer.save(tenant=request_tenant(self.request))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not kwargs.get("partial"):
            raise MethodNotAllowed("PUT")
        return super().update(request, *args, **kwargs)

    @transaction.atomic
    def perform_destroy(self, instance: Agent) -> None:
        Agent.objects.filter(tenant=request_tenant(self.request), pk=instance.pk).delete()

    # ------------------------------------------------------------------ revisions and publishing
    @extend_schema(
        summary="List an agent's published revisions",
        description="Newest first. Each revision is an immutable snapshot calls run with.",
        parameters=[LOOKUP],
        responses=AgentRevisionSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="revisions",
        pagination_class=RevisionPagination,
        filter_backends=[],
    )
    def revisions(self, request: Request, public_id: str) -> Response:
        agent = self.get_object()
        rows = AgentRevision.objects.filter(tenant=agent.tenant, agent=agent).select_related("published_by")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(AgentRevisionSerializer(page, many=True).data)

    @extend_schema(
        summary="Get one revision of an agent",
        description="With the complete frozen configuration.",
        parameters=[LOOKUP, OpenApiParameter("number", int, OpenApiParameter.PATH)],
        responses=AgentRevisionDetailSerializer,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"revisions/(?P<number>[0-9]{1,9})",
        url_name="revision-detail",
        pagination_class=None,
        filter_backends=[],
    )
    def revision_detail(self, request: Request, public_id: str, number: str) -> Response:
        agent = self.get_object()
        revision = access_agent_revision_by_number(tenant=agent.tenant, agent=agent, number=number)
        return Response(AgentRevisionDetailSerializer(revision).data)

    @extend_schema(
        summary="Publish the agent",
        description="Freezes the current configuration (tools and knowledge bases included) as the "
        "next revision; new calls use it at once. Templates that name unknown variables are refused "
        "with 400 and a pointer to each field.",
        parameters=[LOOKUP],
        request=PublishSerializer,
        responses={201: AgentRevisionDetailSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def publish(self, request: Request, public_id: str) -> Response:
        agent = self.get_object()
        body = PublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user if isinstance(request.user, User) else None
        revision = services.agent_publish(
            tenant=request_tenant(request), agent=agent, user=user, note=body.validated_data["note"]
        )
        return Response(AgentRevisionDetailSerializer(revision).data, status=status.HTTP_201_CREATED)

    # ------------------------------------------------------------------ tools and knowledge bases
    @extend_schema(
        methods=["GET"],
        summary="List the agent's enabled tools",
        parameters=[LOOKUP],
        responses=AgentToolsSerializer,
    )
    @extend_schema(
        methods=["PUT"],
        summary="Set the agent's enabled tools",
        description="Replaces the whole list: tools left out are disabled. Calls see the change "
        "after the next publish.",
        parameters=[LOOKUP],
        request=AgentToolsSerializer,
        responses=AgentToolsSerializer,
    )
    @action(detail=True, methods=["get", "put"], url_path="tools", pagination_class=None, filter_backends=[])
    def tools(self, request: Request, public_id: str) -> Response:
        agent = self.get_object()
        tenant = request_tenant(request)
        if request.method == "PUT":
            body = AgentToolsSerializer(data=request.data, context={"request": request})
            body.is_valid(raise_exception=True)
            services.agent_tools_replace(tenant=tenant, agent=agent, choices=body.choices())
        return Response(agent_tools_body(tenant=tenant, agent=agent))

    @extend_schema(
        methods=["GET"],
        summary="List the agent's knowledge bases",
        parameters=[LOOKUP],
        responses=AgentCorporaSerializer,
    )
    @extend_schema(
        methods=["PUT"],
        summary="Set the agent's knowledge bases",
        description="Replaces the whole list. Calls see the change after the next publish.",
        parameters=[LOOKUP],
        request=AgentCorporaSerializer,
        responses=AgentCorporaSerializer,
    )
    @action(
        detail=True, methods=["get", "put"], url_path="corpora", pagination_class=None, filter_backends=[]
    )
    def corpora(self, request: Request, public_id: str) -> Response:
        agent = self.get_object()
        tenant = request_tenant(request)
        if request.method == "PUT":
            body = AgentCorporaSerializer(data=request.data, context={"request": request})
            body.is_valid(raise_exception=True)
            services.agent_corpora_set(
                tenant=tenant, agent=agent, corpus_ids=[str(c) for c in body.validated_data["corpus_ids"]]
            )
        return Response(agent_corpora_body(tenant=tenant, agent=agent))
