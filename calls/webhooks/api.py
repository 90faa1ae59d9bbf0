"""REST API for webhook endpoints and their deliveries (with the attempt log and replay)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from calls.webhooks import services
from calls.webhooks.models import (
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tenants.access import access_webhook_delivery_by_public_id, access_webhook_endpoint_by_public_id
from tenants.api import request_tenant
from tenants.models import Role

LOOKUP = OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
DELIVERY_LIST_COLUMNS = (
    "public_id",
    "tenant_id",
    "status",
    "attempt_count",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "completed_at",
    "created_at",
    "endpoint__public_id",
    "message__public_id",
    "message__event_type",
    "message__payload",
)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    created_secret = ""  # set by create(): the new endpoint's secret, for the one response showing it
    id = serializers.UUIDField(source="public_id", read_only=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        min_length=1,
        help_text="The event types sent to this endpoint.",
    )
    is_active = serializers.BooleanField(
        required=False, help_text="Set false to pause; true re-enables an auto-disabled endpoint."
    )

    class Meta:
        model = WebhookEndpoint
        fields: tuple[str, ...] = (
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "consecutive_failures",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "disabled_at",
            "disabled_reason",
            "consecutive_failures",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {"url": {"help_text": "http(s) URL events are POSTed to."}}

    def create(self, validated_data: dict[str, Any]) -> WebhookEndpoint:
        validated_data.pop("is_active", None)
        created = services.webhook_endpoint_create(
            tenant=request_tenant(self.context["request"]), **validated_data
        )
        self.created_secret = created.secret
        return created.endpoint

    def update(self, instance: WebhookEndpoint, validated_data: dict[str, Any]) -> WebhookEndpoint:
        return services.webhook_endpoint_update(
            tenant=request_tenant(self.context["request"]), endpoint=instance, **validated_data
        )


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The signing secret (whsec_...). Returned only now: store it. Verify deliveries with "
        "any Standard Webhooks library."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = (*WebhookEndpointSerializer.Meta.fields, "secret")

    def get_secret(self, endpoint: WebhookEndpoint) -> str:
        return str(self.context["secret"])


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints"),
    retrieve=extend_schema(summary="Get a webhook endpoint", parameters=[LOOKUP]),
    partial_update=extend_schema(summary="Update a webhook endpoint", parameters=[LOOKUP]),
    destroy=extend_schema(summary="Delete a webhook endpoint", parameters=[LOOKUP]),
)
class WebhookEndpointViewSet(viewsets.ModelViewSet):
    serializer_class = WebhookEndpointSerializer
    # An endpoint receives call data and holds a signing secret: managed like API keys, by
    # admins (the dashboard's rule too); any write API key may, as keys are made by admins.
    write_role = Role.ADMIN
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        # The secret is never shown after creation: not decrypted for a list either.
        return WebhookEndpoint.objects.filter(tenant=request_tenant(self.request)).defer("secret")

    def get_object(self) -> WebhookEndpoint:
        return access_webhook_endpoint_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    @extend_schema(
        summary="Create a webhook endpoint",
        description="The response carries the signing secret, once.",
        responses={201: WebhookEndpointWithSecretSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save()
        body = WebhookEndpointWithSecretSerializer(
            endpoint, context={"secret": serializer.created_secret}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rotate the signing secret",
        description="A new secret replaces the old one at once; the response carries it, once.",
        request=None,
        parameters=[LOOKUP],
        responses={200: WebhookEndpointWithSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", pagination_class=None)
    def rotate_secret(self, request: Request, public_id: str) -> Response:
        created = services.webhook_endpoint_rotate_secret(
            tenant=request_tenant(request), endpoint=self.get_object()
        )
        return Response(
            WebhookEndpointWithSecretSerializer(created.endpoint, context={"secret": created.secret}).data
        )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = (
            "number",
            "trigger",
            "succeeded",
            "status_code",
            "response_snippet",
            "error",
            "duration_ms",
            "at",
        )
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    endpoint = serializers.UUIDField(source="endpoint.public_id", read_only=True, help_text="Endpoint id.")
    webhook_id = serializers.CharField(
        source="message.webhook_id", read_only=True, help_text="webhook-id header."
    )
    event_type = serializers.CharField(source="message.event_type", read_only=True)
    payload = serializers.JSONField(source="message.payload", read_only=True, help_text="The event's data.")

    class Meta:
        model = WebhookDelivery
        fields: tuple[str, ...] = (
            "id",
            "endpoint",
            "webhook_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "completed_at",
            "created_at",
            "payload",
        )
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    attempts = WebhookAttemptSerializer(
        many=True, read_only=True, help_text="The delivery log, oldest first."
    )

    class Meta(WebhookDeliverySerializer.Meta):
        fields = (*WebhookDeliverySerializer.Meta.fields, "attempts")
        read_only_fields = fields


class WebhookDeliveryFilter(django_filters.FilterSet):
    endpoint = django_filters.UUIDFilter(field_name="endpoint__public_id", help_text="Endpoint id.")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.ChoiceFilter(field_name="message__event_type", choices=EventType.choices)

    class Meta:
        model = WebhookDelivery
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries", description="Newest first."),
    retrieve=extend_schema(summary="Get a delivery with its attempt log", parameters=[LOOKUP]),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = WebhookDeliverySerializer
    write_role = Role.ADMIN  # replay, like the endpoints
    filterset_class = WebhookDeliveryFilter
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        # Only what the list shows: in particular the endpoint's encrypted secret is neither
        # loaded nor decrypted for every row of a page.
        return (
            WebhookDelivery.objects.filter(tenant=request_tenant(self.request))
            .select_related("endpoint", "message")
            .only(*DELIVERY_LIST_COLUMNS)
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return WebhookDeliveryDetailSerializer if self.action == "retrieve" else WebhookDeliverySerializer

    def get_object(self) -> WebhookDelivery:
        return access_webhook_delivery_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    @extend_schema(
        summary="Replay a delivery",
        description="Sends the message again now, whatever the delivery's state (same webhook-id).",
        request=None,
        parameters=[LOOKUP],
        responses={202: OpenApiResponse(description="The replay is queued.")},
    )
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def replay(self, request: Request, public_id: str) -> Response:
        services.webhook_delivery_replay(tenant=request_tenant(request), delivery=self.get_object())
        return Response(status=status.HTTP_202_ACCEPTED)
