"""REST API for the tenant's telephony: Twilio accounts (the auth token is write-only) and phone
numbers (whose account and agent must be the tenant's own)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from agents.models import Agent
from tenants import services
from tenants.access import access_phone_number_by_public_id, access_telephony_account_by_public_id
from tenants.api import TenantRelatedField, request_tenant
from tenants.models import PhoneNumber, TelephonyAccount

_WRITE_METHODS = ["get", "post", "patch", "delete", "head", "options"]


class TelephonyAccountSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    auth_token = serializers.CharField(
        write_only=True,
        max_length=200,
        trim_whitespace=True,
        help_text="The account's auth token. Stored encrypted; never returned.",
    )
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = TelephonyAccount
        fields = ("id", "provider", "label", "account_sid", "auth_token", "created_at")
        read_only_fields = ("provider",)
        extra_kwargs = {
            "label": {"help_text": "A name for the account."},
            "account_sid": {"help_text": "Twilio account SID: AC followed by 32 hex digits."},
        }

    def create(self, validated_data: dict[str, Any]) -> TelephonyAccount:
        return services.telephony_account_create(
            tenant=request_tenant(self.context["request"]), **validated_data
        )

    def update(self, instance: TelephonyAccount, validated_data: dict[str, Any]) -> TelephonyAccount:
        return services.telephony_account_update(
            tenant=request_tenant(self.context["request"]), account=instance, **validated_data
        )


@extend_schema_view(
    list=extend_schema(summary="List telephony accounts"),
    create=extend_schema(summary="Connect a Twilio account"),
    retrieve=extend_schema(summary="Get a telephony account"),
    partial_update=extend_schema(summary="Update a telephony account", description="E.g. a new auth token."),
    destroy=extend_schema(summary="Remove a telephony account", description="409 while numbers use it."),
)
class TelephonyAccountViewSet(viewsets.ModelViewSet):
    serializer_class = TelephonyAccountSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    http_method_names = _WRITE_METHODS

    def get_queryset(self) -> QuerySet[TelephonyAccount]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return TelephonyAccount.objects.none()
        return TelephonyAccount.objects.filter(tenant=request_tenant(self.request))

    def get_object(self) -> TelephonyAccount:
        return access_telephony_account_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )


class PhoneNumberSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    telephony_account = TenantRelatedField(
        TelephonyAccount, help_text="The id of the tenant's telephony account the number belongs to."
    )
    agent = TenantRelatedField(
        Agent, required=False, allow_null=True, help_text="The id of the agent that answers it, or null."
    )
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = PhoneNumber
        fields = ("id", "number", "label", "telephony_account", "agent", "is_active", "created_at")
        extra_kwargs = {
            "number": {"help_text": "E.164, e.g. +15551230000. A number belongs to one tenant only."},
            "label": {"help_text": "A name for the number."},
            "is_active": {"help_text": "Inactive numbers answer callers with a polite message."},
        }

    def create(self, validated_data: dict[str, Any]) -> PhoneNumber:
        return services.phone_number_create(tenant=request_tenant(self.context["request"]), **validated_data)

    def update(self, instance: PhoneNumber, validated_data: dict[str, Any]) -> PhoneNumber:
        return services.phone_number_update(
            tenant=request_tenant(self.context["request"]), phone_number=instance, **validated_data
        )


@extend_schema_view(
    list=extend_schema(summary="List phone numbers"),
    create=extend_schema(summary="Connect a phone number"),
    retrieve=extend_schema(summary="Get a phone number"),
    partial_update=extend_schema(summary="Update a phone number", description="E.g. assign another agent."),
    destroy=extend_schema(summary="Remove a phone number"),
)
class PhoneNumberViewSet(viewsets.ModelViewSet):
    serializer_class = PhoneNumberSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    http_method_names = _WRITE_METHODS

    def get_queryset(self) -> QuerySet[PhoneNumber]:
        if getattr(self, "swagger_fake_view", False):
            return PhoneNumber.objects.none()
        return PhoneNumber.objects.filter(tenant=request_tenant(self.request)).select_related(
            "telephony_account", "agent"
        )

    def get_object(self) -> PhoneNumber:
        return access_phone_number_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )
