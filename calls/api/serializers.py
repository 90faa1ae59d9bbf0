"""Serializers of the calls API. All read-only except the outbound-call request."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Agent
from calls.models import Call, CallEvent, TranscriptSegment
from calls.outbound.models import MachineDetection
from calls.postcall.models import CallSummary
from calls.webhooks.payloads import customer_number
from tenants.api import TenantRelatedField
from tenants.models import e164_validator

MAX_VARIABLES = 50


class CallSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    phone_number = serializers.SerializerMethodField(help_text="Id of the tenant's number the call used.")
    phone_number_e164 = serializers.SerializerMethodField(help_text="That number, E.164.")
    agent = serializers.SerializerMethodField(help_text="Id of the agent that took the call.")
    customer_number = serializers.SerializerMethodField(
        help_text="The caller (inbound) or callee (outbound)."
    )
    answered_by = serializers.SerializerMethodField(
        help_text="Answering-machine detection result (outbound)."
    )
    has_recording = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = (
            "id",
            "direction",
            "status",
            "from_number",
            "to_number",
            "customer_number",
            "phone_number",
            "phone_number_e164",
            "agent",
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
            "answered_by",
            "has_recording",
        )
        read_only_fields = fields
        extra_kwargs = {
            "end_reason": {"help_text": "Why the call ended, e.g. caller_hangup, agent_hangup, dial_failed."},
            "duration_s": {"help_text": "Connected duration in seconds."},
        }

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword: the fields are renamed here, in place.
        renamed = {
            "from_number": ("from", "The calling number."),
            "to_number": ("to", "The called number."),
        }
        fields: dict[str, serializers.Field] = {}
        for name, field in super().get_fields().items():
            if name in renamed:
                key, help_text = renamed[name]
                fields[key] = serializers.CharField(source=name, read_only=True, help_text=help_text)
            else:
                fields[name] = field
        return fields

    @extend_schema_field(OpenApiTypes.UUID)
    def get_phone_number(self, call: Call) -> str | None:
        return str(call.phone_number.public_id) if call.phone_number else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_phone_number_e164(self, call: Call) -> str | None:
        return call.phone_number.number if call.phone_number else None

    @extend_schema_field(OpenApiTypes.UUID)
    def get_agent(self, call: Call) -> str | None:
        return str(call.agent.public_id) if call.agent else None

    def get_customer_number(self, call: Call) -> str:
        return customer_number(call)

    @extend_schema_field(OpenApiTypes.STR)
    def get_answered_by(self, call: Call) -> str | None:
        outbound = getattr(call, "outbound", None)
        return (outbound.answered_by or None) if outbound is not None else None

    def get_has_recording(self, call: Call) -> bool:
        return bool(call.recording)


class TranscriptSegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = TranscriptSegment
        fields = ("speaker", "text", "start_ms", "end_ms")
        read_only_fields = fields


class TranscriptSerializer(serializers.Serializer):
    call_id = serializers.UUIDField()
    segments = TranscriptSegmentSerializer(many=True)
    text = serializers.CharField(help_text="The whole transcript as 'Speaker: text' lines.")


class CallEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallEvent
        fields = ("type", "payload", "at", "at_ms")
        read_only_fields = fields


class CallEventsSerializer(serializers.Serializer):
    call_id = serializers.UUIDField()
    events = CallEventSerializer(many=True)


class CallSummarySerializer(serializers.ModelSerializer):
    call_id = serializers.UUIDField(source="call.public_id", read_only=True)

    class Meta:
        model = CallSummary
        fields = (
            "call_id",
            "source",
            "text",
            "model",
            "structured_fields",
            "fields_status",
            "fields_errors",
            "error",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class RecordingSerializer(serializers.Serializer):
    call_id = serializers.UUIDField()
    available = serializers.BooleanField(help_text="Whether the call was recorded.")
    content_type = serializers.CharField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True)
    duration_s = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True, help_text="When the recording was stored.")


class OutboundCallRequestSerializer(serializers.Serializer):
    """``from`` is a Python keyword, so the field is added under that name in ``get_fields``."""

    to = serializers.CharField(validators=[e164_validator], help_text="Number to call, E.164.")
    agent = TenantRelatedField(
        Agent, required=False, allow_null=True, help_text="Agent id; default: the from-number's agent."
    )
    variables = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        default=dict,
        help_text="Template variables for the agent's prompts and greeting (string values).",
    )
    machine_detection = serializers.ChoiceField(
        choices=MachineDetection.choices,
        default=MachineDetection.OFF,
        help_text="Answering-machine detection; the result is stored as answered_by.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.CharField(
            validators=[e164_validator], help_text="One of the tenant's active numbers, E.164."
        )
        return fields

    def validate_variables(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_VARIABLES:
            raise serializers.ValidationError(f"At most {MAX_VARIABLES} variables.")
        for name in value:
            if not name or len(name) > 64 or not name.replace("_", "").isalnum():
                raise serializers.ValidationError(
                    f"Variable names are letters, digits and _ ({name[:64]!r})."
                )
        return value


class UsageMonthSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM (UTC).")
    calls = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()
    billed_minutes = serializers.IntegerField(help_text="Each call rounded up to the started minute.")
    included_minutes = serializers.IntegerField(help_text="Minutes included in the tenant's plan.")
    overage_minutes = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=4)
    currency = serializers.CharField()
