"""REST API for scheduling: resources (list, create, update, delete, opening hours), time off,
bookings (list, detail) and cancelling a booking.

The tenant is always the API key's; an id of another tenant answers 404 like a missing one.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.scheduling.access import (
    access_booking_by_public_id,
    access_resource_by_public_id,
    access_time_off_by_public_id,
)
from agents.scheduling.feeds import feed_path
from agents.scheduling.models import MIDNIGHT, Booking, BookingStatus, Resource, TimeOff
from agents.scheduling.selectors import booking_list, hours_for, resource_list
from agents.scheduling.services import (
    booking_cancel,
    hours_set,
    resource_create,
    resource_update,
    time_off_add,
    time_off_remove,
)
from tenants.api import TenantPermission, request_tenant


class ResourceSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    calendar_feed_url = serializers.SerializerMethodField(
        help_text="Subscribe to it in a calendar app. Anyone with this URL can read the bookings."
    )

    class Meta:
        model = Resource
        fields = (
            "id",
            "name",
            "description",
            "time_zone",
            "slot_minutes",
            "buffer_minutes",
            "min_notice_minutes",
            "horizon_days",
            "is_active",
            "calendar_feed_url",
            "created_at",
        )
        read_only_fields = ("calendar_feed_url", "created_at")
        extra_kwargs = {
            "time_zone": {
                "required": False,
                "help_text": "IANA name, e.g. Europe/Paris; default: the tenant's.",
            },
            "slot_minutes": {"help_text": "Length of a booking, 5 to 480 minutes."},
            "buffer_minutes": {"help_text": "Kept free after each booking."},
            "min_notice_minutes": {"help_text": "How soon a slot can be booked."},
            "horizon_days": {"help_text": "How far ahead a slot can be booked."},
            "is_active": {"help_text": "Inactive resources take no bookings."},
        }

    def create(self, validated_data: dict[str, Any]) -> Resource:
        return resource_create(tenant=request_tenant(self.context["request"]), **validated_data)

    def update(self, instance: Resource, validated_data: dict[str, Any]) -> Resource:
        return resource_update(
            tenant=request_tenant(self.context["request"]), resource=instance, **validated_data
        )

    def get_calendar_feed_url(self, resource: Resource) -> str:
        return settings.PUBLIC_BASE_URL.rstrip("/") + feed_path(resource)


class BookingSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    resource = serializers.UUIDField(source="resource.public_id", read_only=True)
    resource_name = serializers.CharField(source="resource.name", read_only=True)
    contact_id = serializers.UUIDField(source="contact_public_id", read_only=True)
    call_id = serializers.UUIDField(source="source_call_id", read_only=True)

    class Meta:
        model = Booking
        fields = (
            "id",
            "resource",
            "resource_name",
            "start",
            "end",
            "status",
            "customer_name",
            "customer_phone",
            "contact_id",
            "notes",
            "call_id",
            "created_at",
            "cancelled_at",
        )
        read_only_fields = fields


class BookingPagination(CursorPagination):
    """Soonest first (a calendar reads forwards); stable under inserts like the other lists."""

    ordering = ("start", "pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _instant(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise ValidationError({name: "Use an ISO 8601 date-time with an offset, e.g. 2026-03-03T15:00:00Z."})
    return value


class ResourceList(generics.ListCreateAPIView):
    serializer_class = ResourceSerializer
    permission_classes = (TenantPermission,)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Resource.objects.none()
        return resource_list(tenant=request_tenant(self.request), active_only=False)


@extend_schema(
    parameters=[
        OpenApiParameter("resource", OpenApiTypes.UUID, description="Only this resource's bookings."),
        OpenApiParameter("from", OpenApiTypes.DATETIME, description="Starting at or after (with offset)."),
        OpenApiParameter("to", OpenApiTypes.DATETIME, description="Starting before (with offset)."),
        OpenApiParameter("status", str, enum=BookingStatus.values),
    ]
)
class BookingList(generics.ListAPIView):
    """Bookings by start time. Filters: resource (id), from / to (ISO date-times), status."""

    serializer_class = BookingSerializer
    permission_classes = (TenantPermission,)
    pagination_class = BookingPagination

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        request: Request = self.request
        tenant = request_tenant(request)
        resource_id = request.query_params.get("resource")
        booking_status = request.query_params.get("status")
        if booking_status is not None and booking_status not in BookingStatus.values:
            raise ValidationError({"status": f"One of {', '.join(BookingStatus.values)}."})
        return booking_list(
            tenant=tenant,
            resource=access_resource_by_public_id(tenant=tenant, public_id=resource_id)
            if resource_id
            else None,
            start_from=_instant(request, "from"),
            start_to=_instant(request, "to"),
            status=booking_status,
        )


class BookingDetail(generics.RetrieveAPIView):
    serializer_class = BookingSerializer
    permission_classes = (TenantPermission,)

    def get_object(self) -> Booking:
        return access_booking_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )


class BookingCancel(APIView):
    permission_classes = (TenantPermission,)

    @extend_schema(request=None, responses=BookingSerializer)
    def post(self, request: Request, public_id: str) -> Response:
        tenant = request_tenant(request)
        booking = access_booking_by_public_id(tenant=tenant, public_id=public_id)
        cancelled = booking_cancel(tenant=tenant, booking=booking)
        return Response(BookingSerializer(cancelled).data, status=status.HTTP_200_OK)


# ------------------------------------------------------------------------ resources: writes
class ResourceDetail(generics.RetrieveUpdateDestroyAPIView):
    """One resource. DELETE answers 409 while bookings refer to it: deactivate it instead."""

    serializer_class = ResourceSerializer
    permission_classes = (TenantPermission,)
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Resource:
        return access_resource_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    def perform_destroy(self, instance: Resource) -> None:
        # Bookings protect their resource: a ProtectedError becomes a 409 problem.
        Resource.objects.filter(tenant=request_tenant(self.request), pk=instance.pk).delete()


class OpeningIntervalSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday ... 6 = Sunday.")
    opens = serializers.TimeField(format="%H:%M", help_text="Local time, e.g. 09:00.")
    closes = serializers.TimeField(format="%H:%M", help_text="Local time; 00:00 means midnight.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs["opens"] < attrs["closes"] or attrs["closes"] == MIDNIGHT):
            raise serializers.ValidationError({"closes": "Must be after opens (00:00 means midnight)."})
        return attrs


class OpeningHoursSerializer(serializers.Serializer):
    intervals = OpeningIntervalSerializer(
        many=True, help_text="The whole week; weekdays without intervals are closed."
    )


def _hours_body(*, tenant: Any, resource: Resource) -> dict[str, Any]:
    week = hours_for(tenant=tenant, resource=resource)
    intervals = [
        {"weekday": weekday, "opens": opens, "closes": closes}
        for weekday in sorted(week)
        for opens, closes in week[weekday]
    ]
    return OpeningHoursSerializer({"intervals": intervals}).data


class ResourceHours(APIView):
    permission_classes = (TenantPermission,)

    @extend_schema(summary="Get a resource's opening hours", responses=OpeningHoursSerializer)
    def get(self, request: Request, public_id: str) -> Response:
        tenant = request_tenant(request)
        resource = access_resource_by_public_id(tenant=tenant, public_id=public_id)
        return Response(_hours_body(tenant=tenant, resource=resource))

    @extend_schema(
        summary="Set a resource's opening hours",
        description="Replaces the whole week. Intervals of one day may not overlap.",
        request=OpeningHoursSerializer,
        responses=OpeningHoursSerializer,
    )
    def put(self, request: Request, public_id: str) -> Response:
        tenant = request_tenant(request)
        resource = access_resource_by_public_id(tenant=tenant, public_id=public_id)
        body = OpeningHoursSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        week: dict[int, list[Any]] = {}
        for interval in body.validated_data["intervals"]:
            week.setdefault(interval["weekday"], []).append((interval["opens"], interval["closes"]))
        hours_set(tenant=tenant, resource=resource, week=week)
        return Response(_hours_body(tenant=tenant, resource=resource))


class TimeOffSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    resource = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The resource closed on these days; null (or left out) closes every resource.",
    )

    class Meta:
        model = TimeOff
        fields = ("id", "resource", "starts_on", "ends_on", "reason", "created_at")
        read_only_fields = ("created_at",)
        extra_kwargs = {
            "starts_on": {"help_text": "First closed day (local date)."},
            "ends_on": {"help_text": "Last closed day, inclusive."},
        }

    def to_representation(self, instance: TimeOff) -> dict[str, Any]:
        body = super().to_representation(instance)
        body["resource"] = str(instance.resource.public_id) if instance.resource is not None else None
        return body

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["ends_on"] < attrs["starts_on"]:
            raise serializers.ValidationError({"ends_on": "Must be on or after starts_on."})
        return attrs

    def create(self, validated_data: dict[str, Any]) -> TimeOff:
        tenant = request_tenant(self.context["request"])
        resource_id = validated_data.pop("resource", None)
        resource = None
        if resource_id is not None:
            resource = Resource.objects.filter(tenant=tenant, public_id=resource_id).first()
            if resource is None:
                raise ValidationError({"resource": "Unknown resource."})
        return time_off_add(tenant=tenant, resource=resource, **validated_data)


@extend_schema(
    parameters=[OpenApiParameter("resource", OpenApiTypes.UUID, description="Only this resource's time off.")]
)
class TimeOffList(generics.ListCreateAPIView):
    """Closed days, for one resource or for the whole business."""

    serializer_class = TimeOffSerializer
    permission_classes = (TenantPermission,)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return TimeOff.objects.none()
        tenant = request_tenant(self.request)
        rows = TimeOff.objects.filter(tenant=tenant).select_related("resource")
        resource_id = self.request.query_params.get("resource")
        if resource_id:
            rows = rows.filter(resource=access_resource_by_public_id(tenant=tenant, public_id=resource_id))
        return rows


class TimeOffDetail(generics.RetrieveDestroyAPIView):
    serializer_class = TimeOffSerializer
    permission_classes = (TenantPermission,)

    def get_object(self) -> TimeOff:
        return access_time_off_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    def perform_destroy(self, instance: TimeOff) -> None:
        time_off_remove(tenant=request_tenant(self.request), time_off=instance)
