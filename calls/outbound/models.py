"""Outbound-call details and API idempotency records. Every row carries its own tenant."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class MachineDetection(models.TextChoices):
    OFF = "off", "No answering-machine detection"
    DETECT = "detect", "Detect human or machine (Twilio MachineDetection=Enable)"
    DETECT_MESSAGE_END = "detect_message_end", "Detect, and wait for a voicemail greeting to end"


# Twilio's MachineDetection values for ours.
TWILIO_MACHINE_DETECTION = {
    MachineDetection.DETECT: "Enable",
    MachineDetection.DETECT_MESSAGE_END: "DetectMessageEnd",
}


class AnsweredBy(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    HUMAN = "human", "Human"
    MACHINE_START = "machine_start", "Machine (greeting started)"
    MACHINE_END_BEEP = "machine_end_beep", "Machine (greeting ended with a beep)"
    MACHINE_END_SILENCE = "machine_end_silence", "Machine (greeting ended with silence)"
    MACHINE_END_OTHER = "machine_end_other", "Machine (greeting ended)"
    FAX = "fax", "Fax"


class OutboundCall(TenantOwned):
    call = models.OneToOneField("calls.Call", on_delete=models.CASCADE, related_name="outbound")
    variables = models.JSONField(default=dict, blank=True, help_text="Template variables for the agent.")
    machine_detection = models.CharField(
        max_length=20, choices=MachineDetection.choices, default=MachineDetection.OFF
    )
    answered_by = models.CharField(max_length=20, choices=AnsweredBy.choices, blank=True)
    machine_detection_ms = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"outbound {self.call_id}"


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyRecord(models.Model):
    """The first response to a request made with an ``Idempotency-Key``: the same key and body
    within the retention window get it again; the same key with another body is refused."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(
        max_length=12, choices=IdempotencyState.choices, default=IdempotencyState.IN_PROGRESS
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_unique_key_per_tenant")
        ]
        indexes: ClassVar = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"idempotency {self.key[:40]}"
