"""REST API for the tenant's HTTP webhook tools.

Secrets are write-only: ``secret_headers`` (a JSON object, stored encrypted) is never returned,
and ``signing_secret`` (generated when not given) appears once, in the create response. Writes go
through the tool services shared with the dashboard editor.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from agents.access import access_tool_by_public_id
from agents.dashboard import services as tool_services
from agents.models import Tool
from agents.services import tool_schema_errors
from calls.webhooks.services import webhook_url_errors
from tenants.api import request_tenant

MAX_HEADERS = 20
_FIELDS_SAVED = (
    "name",
    "description",
    "parameters",
    "url",
    "method",
    "headers",
    "timeout_s",
    "max_response_bytes",
)


def _header_errors(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "A JSON object of header names to string values."
    if len(value) > MAX_HEADERS:
        return f"At most {MAX_HEADERS} headers."
    for name, header in value.items():
        if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name) or not isinstance(header, str):
            return f"Header {name!r}: names are printable ASCII without ':'; values are strings."
        if "\r" in header or "\n" in header:
            return f"Header {name!r}: line breaks are not allowed."
    return None


class ToolSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    parameters = serializers.JSONField(
        help_text='JSON Schema of the arguments; "type": "object". Arguments are validated against it.'
    )
    headers = serializers.JSONField(
        required=False, help_text="Non-secret headers sent with each request (JSON object)."
    )
    secret_headers = serializers.JSONField(
        write_only=True,
        required=False,
        help_text="Secret headers (JSON object), stored encrypted and never returned. {} removes them.",
    )
    has_secret_headers = serializers.SerializerMethodField()
    signing_secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=16,
        max_length=200,
        help_text="HMAC-SHA256 key of the X-VoxSaaS-Signature header. Generated on create if not "
        "given; returned only in the create response.",
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Tool
        fields = (
            "id",
            "name",
            "description",
            "parameters",
            "url",
            "method",
            "headers",
            "secret_headers",
            "has_secret_headers",
            "signing_secret",
            "timeout_s",
            "max_response_bytes",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "name": {"help_text": "What the model calls it: letters, digits, _ and -."},
            "url": {"help_text": "The http(s) URL the tool's requests go to."},
            "timeout_s": {"help_text": "Seconds before the model is told the tool timed out (0.5-30)."},
            "max_response_bytes": {"help_text": "Longer responses are cut to this size."},
        }

    def get_has_secret_headers(self, tool: Tool) -> bool:
        return bool(tool.secret_headers)

    def validate_name(self, value: str) -> str:
        tenant = request_tenant(self.context["request"])
        others = Tool.objects.filter(tenant=tenant, name=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A tool with this name already exists.")
        return value

    def validate_parameters(self, value: Any) -> Any:
        error = tool_schema_errors(value)
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate_url(self, value: str) -> str:
        error = webhook_url_errors(value, allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES)
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate_headers(self, value: Any) -> Any:
        error = _header_errors(value)
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate_secret_headers(self, value: Any) -> Any:
        return self.validate_headers(value)

    def _split(self, data: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
        fields = {name: data[name] for name in _FIELDS_SAVED if name in data}
        secret_headers = data.get("secret_headers")
        encoded = None if secret_headers is None else (json.dumps(secret_headers) if secret_headers else "")
        return fields, str(data.get("signing_secret") or ""), encoded

    def create(self, validated_data: dict[str, Any]) -> Tool:
        fields, signing_secret, secret_headers = self._split(validated_data)
        saved = tool_services.tool_create(
            tenant=request_tenant(self.context["request"]),
            fields=fields,
            signing_secret=signing_secret,
            secret_headers=secret_headers or "",
        )
        self.context["shown_secret"] = signing_secret or saved.generated_secret
        return saved.tool

    def update(self, instance: Tool, validated_data: dict[str, Any]) -> Tool:
        fields, signing_secret, secret_headers = self._split(validated_data)
        return tool_services.tool_update(
            tenant=request_tenant(self.context["request"]),
            tool=instance,
            changes=fields,
            signing_secret=signing_secret,
            secret_headers=secret_headers,
        )


class ToolCreatedSerializer(ToolSerializer):
    """The create response: the only one that carries the signing secret."""

    signing_secret = serializers.SerializerMethodField(  # type: ignore[assignment]
        help_text="Verify requests with it. Returned only now: store it."
    )

    def get_signing_secret(self, tool: Tool) -> str:
        return str(self.context.get("shown_secret") or "")


@extend_schema_view(
    list=extend_schema(summary="List webhook tools"),
    retrieve=extend_schema(summary="Get a webhook tool"),
    partial_update=extend_schema(
        summary="Update a webhook tool",
        description="Secrets change only when given. Published agents see changes at their next publish.",
    ),
    destroy=extend_schema(summary="Delete a webhook tool", description="Agents stop offering it."),
)
class ToolViewSet(viewsets.ModelViewSet):
    serializer_class = ToolSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Tool]:
        if getattr(self, "swagger_fake_view", False):
            return Tool.objects.none()
        return Tool.objects.filter(tenant=request_tenant(self.request))

    def get_object(self) -> Tool:
        return access_tool_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    @extend_schema(
        summary="Create a webhook tool",
        description="The response carries the signing secret, once.",
        responses={201: ToolCreatedSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ToolSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        tool = serializer.save()
        body = ToolCreatedSerializer(tool, context={"request": request, **serializer.context}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Tool) -> None:
        tool_services.tool_delete(tenant=request_tenant(self.request), tool=instance)
