"""Calls API views: thin, every object resolved inside the request's tenant."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, QuerySet, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls.api import serializers as s
from calls.api.filters import CallFilter
from calls.api.outbound import IDEMPOTENCY_HEADER, outbound_call_response
from calls.models import Call, CallEvent, TranscriptSegment
from calls.postcall.models import CallSummary, CallUsage
from tenants.access import access_call_by_public_id
from tenants.api import request_tenant

CALL_LOOKUP = OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Call id.")
# What a page of the list reads: the serializer's columns and nothing else (no usage JSON, no
# agent prompts or phone-number rows beyond their ids), so a page costs one narrow query.
CALL_LIST_COLUMNS = (
    "public_id",
    "tenant_id",
    "direction",
    "status",
    "from_number",
    "to_number",
    "end_reason",
    "engine",
    "created_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "turn_count",
    "latency_avg_ms",
    "latency_p50_ms",
    "latency_max_ms",
    "recording",
    "phone_number__public_id",
    "phone_number__number",
    "agent__public_id",
    "outbound__answered_by",
)


@extend_schema_view(
    list=extend_schema(summary="List calls", description="Newest first; filter by status, date range, etc."),
    retrieve=extend_schema(summary="Get a call", parameters=[CALL_LOOKUP]),
)
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.CallSerializer
    filterset_class = CallFilter
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"

    def get_queryset(self) -> QuerySet[Call]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return Call.objects.none()
        return (
            Call.objects.filter(tenant=request_tenant(self.request))
            .select_related("phone_number", "agent", "outbound")
            .only(*CALL_LIST_COLUMNS)
        )

    def get_object(self) -> Call:
        return access_call_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    @extend_schema(
        summary="Place an outbound call",
        description="Dials `to` from one of the tenant's numbers and connects the agent. Send an "
        "`Idempotency-Key` header to make retries safe: the same key and body within 24 h return the "
        "first response without dialling again; the same key with another body is a 422.",
        request=s.OutboundCallRequestSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Up to 255 characters.",
            )
        ],
        responses={
            201: s.CallSerializer,
            409: OpenApiResponse(description="A request with this Idempotency-Key is still in progress."),
            422: OpenApiResponse(description="Idempotency-Key reused with another body, or Twilio refused."),
            502: OpenApiResponse(description="Twilio could not be reached."),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return outbound_call_response(request, request_tenant(request))

    @extend_schema(summary="A call's transcript", parameters=[CALL_LOOKUP], responses=s.TranscriptSerializer)
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def transcript(self, request: Request, public_id: str) -> Response:
        call = self.get_object()
        segments = list(
            TranscriptSegment.objects.filter(tenant=call.tenant_id, call=call).order_by(
                "start_ms", "ordinal", "pk"
            )
        )
        text = "\n".join(f"{seg.speaker.capitalize()}: {seg.text}" for seg in segments)
        data = {"call_id": call.public_id, "segments": segments, "text": text}
        return Response(s.TranscriptSerializer(data).data)

    @extend_schema(summary="A call's events", parameters=[CALL_LOOKUP], responses=s.CallEventsSerializer)
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def events(self, request: Request, public_id: str) -> Response:
        call = self.get_object()
        events = CallEvent.objects.filter(tenant=call.tenant_id, call=call).order_by("at_ms", "pk")
        return Response(s.CallEventsSerializer({"call_id": call.public_id, "events": events}).data)

    @extend_schema(
        summary="A call's summary and structured fields",
        description="404 until post-call processing has stored it.",
        parameters=[CALL_LOOKUP],
        responses=s.CallSummarySerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def summary(self, request: Request, public_id: str) -> Response:
        call = self.get_object()
        summary = CallSummary.objects.filter(tenant=call.tenant_id, call=call).select_related("call").first()
        if summary is None:
            raise exceptions.NotFound("The summary of this call is not ready.", code="summary_not_ready")
        return Response(s.CallSummarySerializer(summary).data)

    @extend_schema(
        summary="A call's recording metadata", parameters=[CALL_LOOKUP], responses=s.RecordingSerializer
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def recording(self, request: Request, public_id: str) -> Response:
        call = self.get_object()
        available = bool(call.recording)
        size = None
        if available:
            try:
                size = call.recording.size
            except OSError:
                available = False
        data = {
            "call_id": call.public_id,
            "available": available,
            "content_type": "audio/wav" if available else None,
            "size_bytes": size,
            "duration_s": call.duration_s if available else None,
            "created_at": call.ended_at if available else None,
        }
        return Response(s.RecordingSerializer(data).data)


class UsageView(APIView):
    """Billable usage per month, from the per-call usage records post-call processing stores."""

    @extend_schema(
        summary="Usage per month",
        parameters=[
            OpenApiParameter("month", OpenApiTypes.STR, description="Only this month, YYYY-MM."),
        ],
        responses=s.UsageMonthSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        rows = CallUsage.objects.filter(tenant=tenant)
        month = request.query_params.get("month")
        if month is not None:
            try:
                year, number = (int(part) for part in month.split("-"))
                # ``month`` holds the month's first day: an equality the index can seek to.
                rows = rows.filter(month=date(year, number, 1))
            except ValueError:
                raise exceptions.ValidationError({"month": "Use YYYY-MM."}) from None
        totals = (
            rows.values("month")
            .annotate(
                calls=Count("*"),  # not Count("pk"): the covering index has no id, the table stays unread
                billable_seconds=Sum("billable_seconds"),
                billed_minutes=Sum("billed_minutes"),
                cost=Sum("cost"),
            )
            .order_by("-month")[:36]
        )
        result = [
            {
                "month": f"{row['month']:%Y-%m}",
                "calls": row["calls"],
                "billable_seconds": row["billable_seconds"] or 0,
                "billed_minutes": row["billed_minutes"] or 0,
                "included_minutes": tenant.monthly_minutes,
                "overage_minutes": max(0, (row["billed_minutes"] or 0) - tenant.monthly_minutes),
                "cost": row["cost"] or 0,
                "currency": "USD",
            }
            for row in totals
        ]
        return Response(s.UsageMonthSerializer(result, many=True).data)
