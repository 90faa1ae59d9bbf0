"""Webhook endpoints, the messages sent to them, deliveries and the log of every attempt.

Every row carries its own tenant. A message is stored once per event (``dedup_key`` is unique
per tenant, so re-running the producer never duplicates it) and has one delivery per subscribed
endpoint (unique per endpoint and message).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from tenants.crypto import EncryptedTextField
from tenants.models import TenantOwned


class EventType(models.TextChoices):
    CALL_STARTED = "call.started", "A call was connected to an agent"
    CALL_ENDED = "call.ended", "A call ended (with transcript, summary and structured fields)"
    CALL_SUMMARIZED = "call.summarized", "A call's summary and structured fields are ready"
    TOOL_INVOKED = "tool.invoked", "An agent invoked a tool during a call"
    BOOKING_CREATED = "booking.created", "A booking was created"
    TRANSFER_COMPLETED = "transfer.completed", "A transfer to a human ended"


class WebhookEndpoint(TenantOwned):
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="Event types this endpoint receives.")
    # "whsec_" + base64 of 32 random bytes (Standard Webhooks); shown once at creation.
    secret = EncryptedTextField()
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    # The outcome of the latest attempt (automatic or replay), kept here so a list of endpoints
    # shows it without reading the delivery log.
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_succeeded = models.BooleanField(null=True, blank=True)
    last_attempt_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_attempt_error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["tenant", "is_active"], name="webhook_endpoint_active")]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        return event_type in self.event_types


class WebhookMessage(TenantOwned):
    """One event, as sent to every endpoint subscribed to its type."""

    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    dedup_key = models.CharField(max_length=200)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "dedup_key"], name="webhook_message_unique_event")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.public_id}"

    @property
    def webhook_id(self) -> str:
        """The ``webhook-id`` header: the same for every attempt, so receivers can deduplicate."""
        return f"msg_{self.public_id.hex}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (an attempt is due or running)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (retries exhausted, endpoint gone or disabled)"


class WebhookDelivery(TenantOwned):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # While pending: when the next automatic attempt is due (also a lease while one is running).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["endpoint", "message"], name="webhook_delivery_unique")
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["tenant", "-created_at"], name="webhook_delivery_recent"),
            # The API's status filter, newest first: failed and pending deliveries are rare.
            models.Index(fields=["tenant", "status", "-created_at"], name="webhook_delivery_status_recent"),
            # One endpoint's deliveries, newest first (the endpoint page's log).
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.public_id} ({self.status})"


class AttemptTrigger(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic (first try or scheduled retry)"
    REPLAY = "replay", "Manual replay"


class WebhookAttempt(models.Model):
    """The delivery log: one row per HTTP request made (or refused) for a delivery."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    trigger = models.CharField(
        max_length=10, choices=AttemptTrigger.choices, default=AttemptTrigger.AUTOMATIC
    )
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_snippet = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("delivery", "number")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_unique_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
