"""REST API for the tenant's contact directory (used to verify callers), and its CSV import.

PINs and dates of birth are write-only: stored as password hashes, answered only as
``has_pin`` / ``has_date_of_birth``. Writes go through ``agents.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from agents import services
from agents.contacts_import import ImportRejected, contacts_import_csv
from agents.models import Contact, ContactPhone
from tenants.access import _one, _uuid
from tenants.api import request_tenant
from tenants.models import Tenant, e164_validator


def access_contact_by_public_id(*, tenant: Tenant, public_id: str) -> Contact:
    return _one(
        Contact.objects.filter(tenant=tenant, public_id=_uuid(public_id, "contact")).prefetch_related(
            "phones"
        ),
        "contact",
    )


class PhoneListField(serializers.ListField):
    """The contact's numbers, sorted: those a list page attached (``phone_numbers``), else the
    prefetched ``phones`` rows."""

    def get_attribute(self, instance: Contact) -> list[str]:
        attached: list[str] | None = getattr(instance, "phone_numbers", None)
        if attached is not None:
            return attached
        return sorted(phone.number for phone in instance.phones.all())


def attach_phone_numbers(*, tenant: Tenant, contacts: Sequence[Contact]) -> None:
    """One query for a page's numbers, as plain strings on each contact. A prefetch would build a
    queryset per contact and tie every phone row back to its contact: reference cycles only the
    full garbage collection frees, which showed as 100+ ms stalls in bench/api_lists.py."""
    numbers: dict[int, list[str]] = {contact.pk: [] for contact in contacts}
    rows = ContactPhone.objects.filter(tenant=tenant, contact_id__in=list(numbers))
    for contact_id, number in rows.values_list("contact_id", "number"):
        numbers[contact_id].append(number)
    for contact in contacts:
        contact.phone_numbers = sorted(numbers[contact.pk])  # type: ignore[attr-defined]


class ContactSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    phones = PhoneListField(
        child=serializers.CharField(max_length=16),
        required=False,
        max_length=20,
        help_text="E.164 numbers the contact calls from, e.g. +15551230000. A PATCH replaces the list.",
    )
    custom_fields = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        help_text="Extra fields the agent may use once the caller is verified (strings).",
    )
    pin = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="4-12 digits, stored hashed, never returned. An empty string removes it.",
    )
    date_of_birth = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="E.g. 1990-03-14; stored hashed, never returned. An empty string removes it.",
    )
    has_pin = serializers.SerializerMethodField()
    has_date_of_birth = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Contact
        fields = (
            "id",
            "name",
            "email",
            "account_number",
            "phones",
            "custom_fields",
            "notes",
            "pin",
            "date_of_birth",
            "has_pin",
            "has_date_of_birth",
            "created_at",
            "updated_at",
        )

    def get_has_pin(self, contact: Contact) -> bool:
        return bool(contact.pin_hash)

    def get_has_date_of_birth(self, contact: Contact) -> bool:
        return bool(contact.dob_hash)

    def validate_phones(self, value: list[str]) -> list[str]:
        numbers = [number.strip() for number in value]
        if len(set(numbers)) != len(numbers):
            raise serializers.ValidationError("A number is listed twice.")
        for number in numbers:
            try:
                e164_validator(number)
            except DjangoValidationError:
                raise serializers.ValidationError(
                    f"{number!r} is not an E.164 number like +15551230000."
                ) from None
        return numbers

    def create(self, validated_data: dict[str, Any]) -> Contact:
        tenant = request_tenant(self.context["request"])
        notes = validated_data.pop("notes", "")
        with transaction.atomic():
            contact = services.contact_create(tenant=tenant, **validated_data)
            if notes:
                contact = services.contact_update(tenant=tenant, contact=contact, changes={"notes": notes})
        return contact

    def update(self, instance: Contact, validated_data: dict[str, Any]) -> Contact:
        phones = validated_data.pop("phones", None)
        pin = validated_data.pop("pin", None)
        date_of_birth = validated_data.pop("date_of_birth", None)
        return services.contact_update(
            tenant=request_tenant(self.context["request"]),
            contact=instance,
            changes=validated_data,
            phones=phones,
            pin=pin,
            date_of_birth=date_of_birth,
        )


class ContactFilter(django_filters.FilterSet):
    phone = django_filters.CharFilter(
        method="filter_phone", help_text="Contacts with this exact E.164 number."
    )
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Name contains (any case).")
    account_number = django_filters.CharFilter(help_text="Exact account number.")

    class Meta:
        model = Contact
        fields = ("phone", "name", "account_number")

    def filter_phone(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        if not value:
            return queryset
        # The phone row's own tenant in the join lets PostgreSQL use (tenant, number): without it
        # every tenant's phone numbers were read (bench/api_lists.py).
        return queryset.filter(phones__number=value, phones__tenant=F("tenant"))


class ContactImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (UTF-8) with a header row: name, phone, email, account_number, pin, date_of_birth. "
        "Several phone numbers are separated by ';'."
    )


class ContactImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line of the file (the header is line 1).")
    field = serializers.CharField(help_text="The column, or empty for the whole row.")
    message = serializers.CharField()


ContactImportResultSerializer = inline_serializer(
    name="ContactImportResult",
    fields={
        "created": serializers.IntegerField(help_text="Contacts created."),
        "created_ids": serializers.ListField(child=serializers.UUIDField()),
        "failed": serializers.IntegerField(help_text="Rows refused."),
        "errors": ContactImportErrorSerializer(many=True, help_text="Why (at most 200 listed)."),
    },
)


@extend_schema_view(
    list=extend_schema(summary="List contacts", description="Filter by phone, name or account_number."),
    create=extend_schema(summary="Create a contact"),
    retrieve=extend_schema(summary="Get a contact"),
    partial_update=extend_schema(summary="Update a contact"),
    destroy=extend_schema(summary="Delete a contact"),
)
class ContactViewSet(viewsets.ModelViewSet):
    serializer_class = ContactSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    filterset_class = ContactFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Contact]:
        if getattr(self, "swagger_fake_view", False):
            return Contact.objects.none()
        return Contact.objects.filter(tenant=request_tenant(self.request))

    def paginate_queryset(self, queryset: QuerySet[Any] | Sequence[Any]) -> Sequence[Any] | None:
        page = super().paginate_queryset(queryset)
        if page is not None:
            attach_phone_numbers(tenant=request_tenant(self.request), contacts=list(page))
        return page

    def get_object(self) -> Contact:
        return access_contact_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    def perform_destroy(self, instance: Contact) -> None:
        services.contact_delete(tenant=request_tenant(self.request), contact=instance)

    @extend_schema(
        summary="Import contacts from CSV",
        description="Valid rows are created; each invalid row is reported with its line and column. "
        "A file that cannot be read at all (too big, not UTF-8, unknown columns) is refused with 400.",
        request={"multipart/form-data": ContactImportSerializer},
        responses={200: ContactImportResultSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser],
        pagination_class=None,
        filter_backends=[],
    )
    def import_csv(self, request: Request) -> Response:
        body = ContactImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = contacts_import_csv(tenant=request_tenant(request), upload=body.validated_data["file"])
        except ImportRejected as exc:
            raise ValidationError({"file": [exc.message]}) from None
        payload = {
            "created": len(result.created),
            "created_ids": [str(contact.public_id) for contact in result.created],
            "failed": result.error_rows,
            "errors": [{"line": e.line, "field": e.field, "message": e.message} for e in result.errors],
        }
        return Response(payload, status=status.HTTP_200_OK)
