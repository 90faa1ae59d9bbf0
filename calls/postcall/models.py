"""What post-call processing stores: one summary and one usage record per call (unique, so a
re-run of the task updates nothing twice and creates nothing twice)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from tenants.models import TenantOwned


class SummarySource(models.TextChoices):
    LLM = "llm", "The agent's language model"
    EXTRACTIVE = "extractive", "Extractive (sentences picked from the transcript)"


class FieldsStatus(models.TextChoices):
    VALID = "valid", "Extracted and valid against the agent's schema"
    INVALID = "invalid", "Extracted but not valid against the schema (see errors)"
    NOT_REQUESTED = "not_requested", "The agent defines no structured fields"
    UNAVAILABLE = "unavailable", "No language model to extract them with, or it failed"


class CallSummary(TenantOwned):
    call = models.OneToOneField("calls.Call", on_delete=models.CASCADE, related_name="summary")
    source = models.CharField(max_length=12, choices=SummarySource.choices)
    text = models.TextField(blank=True)
    model = models.CharField(max_length=100, blank=True, help_text="The LLM model used, if any.")
    structured_fields = models.JSONField(default=dict, blank=True)
    fields_status = models.CharField(max_length=16, choices=FieldsStatus.choices)
    fields_errors = models.JSONField(default=list, blank=True)
    fields_raw = models.TextField(blank=True, help_text="The model's answer when it was not valid.")
    error = models.CharField(max_length=300, blank=True, help_text="Why the LLM was not used, if it failed.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"summary of call {self.call_id}"


class CallUsage(TenantOwned):
    """Billable figures of one call. ``billed_minutes`` rounds each call up to the started
    minute (how carriers bill); monthly totals sum these rows."""

    call = models.OneToOneField("calls.Call", on_delete=models.CASCADE, related_name="billing")
    month = models.DateField(help_text="First day of the (UTC) month the call ended in.")
    billable_seconds = models.PositiveIntegerField(default=0)
    billed_minutes = models.PositiveIntegerField(default=0)
    price_per_minute = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    currency = models.CharField(max_length=3, default="USD")
    engine_usage = models.JSONField(default=dict, blank=True, help_text="Engine figures (tokens, seconds).")

    class Meta:
        indexes: ClassVar = [
            # Covers the monthly totals (GET /usage): an index-only scan, the table is not read.
            models.Index(
                fields=["tenant", "month"],
                include=["billable_seconds", "billed_minutes", "cost"],
                name="call_usage_tenant_month_totals",
            )
        ]

    def __str__(self) -> str:
        return f"usage of call {self.call_id}"
