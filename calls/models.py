"""Calls, their transcript segments and events. Every row carries its own tenant."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class CallStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    INITIATED = "initiated", "Initiated"
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in-progress", "In progress"
    COMPLETED = "completed", "Completed"
    BUSY = "busy", "Busy"
    FAILED = "failed", "Failed"
    NO_ANSWER = "no-answer", "No answer"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Rejected"


TERMINAL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
        CallStatus.REJECTED,
    }
)
ACTIVE_STATUSES = frozenset(
    {CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS}
)
# Status callbacks can arrive out of order: a status only replaces one of lower rank.
STATUS_RANK: dict[str, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    **{status: 4 for status in TERMINAL_STATUSES},
}


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    WEB = "web", "Web test call"


class Call(TenantOwned):
    phone_number = models.ForeignKey(
        "tenants.PhoneNumber", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.RINGING)
    end_reason = models.CharField(max_length=40, blank=True)
    engine = models.CharField(max_length=24, blank=True)
    # The published agent revision the call ran with, so a call can always be explained later
    # even after the agent changes.
    agent_revision = models.ForeignKey(
        "agents.AgentRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="calls"
    )
    contact_public_id = models.UUIDField(null=True, blank=True, help_text="The verified caller, if any.")
    twilio_call_sid = models.CharField(max_length=64, blank=True, db_index=True)
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    stream_sid = models.CharField(max_length=64, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_s = models.PositiveIntegerField(null=True, blank=True)
    turn_count = models.PositiveIntegerField(default=0)
    latency_avg_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_max_ms = models.PositiveIntegerField(null=True, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    recording = models.FileField(upload_to="recordings/%Y/%m/", blank=True)
    status_rank = models.PositiveSmallIntegerField(default=2, editable=False)
    # While a media stream is bridged: the worker process bridging it, and when that worker last
    # proved it is alive. A call whose heartbeat is older than CALL_HEARTBEAT_TIMEOUT_S lost its
    # worker: it no longer counts against the tenant's limit and the reaper ends it (worker_lost).
    worker_id = models.CharField(max_length=64, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-created_at"], name="call_tenant_recent"),
            models.Index(fields=["tenant", "status"], name="call_tenant_status"),
            # The reaper's sweep reads only live calls. heartbeat_at is deliberately not indexed:
            # heartbeat UPDATEs then stay heap-only (HOT) on PostgreSQL, touching no index.
            models.Index(
                fields=["tenant"], condition=models.Q(status="in-progress"), name="call_in_progress"
            ),
            # Covers the dashboard's aggregates (overview, usage) and its status / end-reason
            # filters: they read a (tenant, created_at) range from this index alone, without
            # visiting the table. Holds no column a live call updates often (heartbeats stay HOT).
            models.Index(
                fields=[
                    "tenant",
                    "created_at",
                    "status",
                    "end_reason",
                    "duration_s",
                    "latency_avg_ms",
                    "contact_public_id",
                    "agent_revision",
                ],
                name="call_tenant_stats",
            ),
            # The call list's filters, newest first: a page is the first 51 entries of one of
            # these, however rare the agent, number or end reason is among the tenant's calls.
            models.Index(fields=["tenant", "agent", "-created_at"], name="call_tenant_agent_recent"),
            models.Index(fields=["tenant", "phone_number", "-created_at"], name="call_tenant_number_recent"),
            models.Index(fields=["tenant", "end_reason", "-created_at"], name="call_tenant_reason_recent"),
            # The API's customer_number filter: the caller of an inbound call, the callee of an
            # outbound one (bench/api_lists.py: without them the filter read all the tenant's calls).
            models.Index(fields=["tenant", "from_number", "-created_at"], name="call_tenant_from_recent"),
            models.Index(fields=["tenant", "to_number", "-created_at"], name="call_tenant_to_recent"),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["twilio_call_sid"],
                condition=~models.Q(twilio_call_sid=""),
                name="call_unique_twilio_sid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.direction} call {self.public_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Speaker(models.TextChoices):
    CALLER = "caller", "Caller"
    AGENT = "agent", "Agent"


class TranscriptSegment(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    speaker = models.CharField(max_length=8, choices=Speaker.choices)
    text = models.TextField()
    ordinal = models.PositiveIntegerField()
    start_ms = models.PositiveIntegerField(default=0)
    end_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("call", "ordinal", "start_ms")
        constraints: ClassVar = [
            # Flushes may be retried after a failure: the same segment must never be stored twice.
            models.UniqueConstraint(fields=["call", "speaker", "ordinal"], name="segment_unique_per_call")
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:40]}"


class CallEvent(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)
    at_ms = models.PositiveIntegerField(default=0, help_text="Milliseconds since the stream started.")
    # The live session's per-call sequence number (flushes are retried); null for events
    # written outside a session (webhooks, transfer callbacks).
    seq = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("call", "at_ms", "pk")
        indexes: ClassVar = [models.Index(fields=["call", "type"], name="event_call_type")]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["call", "seq"],
                condition=models.Q(seq__isnull=False),
                name="event_unique_seq_per_call",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.at_ms} ms"
