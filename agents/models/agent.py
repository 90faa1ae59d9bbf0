"""Agents: what answers a tenant's calls, and the immutable revisions calls run with."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned, e164_validator


class Engine(models.TextChoices):
    LOCAL = "local", "Local (offline demo engine)"
    ULTRAVOX = "ultravox", "Ultravox"
    OPENAI_REALTIME = "openai_realtime", "OpenAI Realtime"
    PIPELINE = "pipeline", "AssemblyAI + LLM + ElevenLabs"
    ECHO = "echo", "Echo (audio path test: repeats the caller)"


class Agent(TenantOwned):
    name = models.CharField(max_length=120)
    engine = models.CharField(max_length=24, choices=Engine.choices, default=Engine.LOCAL)
    model = models.CharField(
        max_length=100, blank=True, help_text="Engine model; empty uses the engine default."
    )
    voice = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=16, default="en")
    temperature = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    greeting = models.TextField(
        blank=True, help_text="What the agent says first. Empty: the caller speaks first."
    )
    verification_enabled = models.BooleanField(default=True)
    verification_prompt = models.TextField(blank=True)
    main_prompt = models.TextField()
    summary_prompt = models.TextField(blank=True)
    max_duration_s = models.PositiveIntegerField(default=900, validators=[MinValueValidator(30)])
    silence_timeout_s = models.PositiveIntegerField(default=20, validators=[MinValueValidator(5)])
    silence_reminder = models.CharField(max_length=300, default="Are you still there?")
    transfer_number = models.CharField(max_length=16, blank=True, validators=[e164_validator])
    recording_enabled = models.BooleanField(default=False)
    summary_schema = models.JSONField(
        default=dict,
        blank=True,
        help_text="JSON Schema (type object) of structured fields extracted after each call, "
        "e.g. reason for call, appointment booked, follow-up needed.",
    )
    llm_base_url = models.URLField(
        blank=True, help_text="OpenAI-compatible endpoint for the pipeline/local engine."
    )
    llm_model = models.CharField(max_length=100, blank=True)
    recording_announcement = models.CharField(
        max_length=300, blank=True, default="This call may be recorded for quality purposes."
    )
    verification_max_attempts = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    verification_failure_action = models.CharField(
        max_length=16,
        choices=[("end", "End the call politely"), ("transfer", "Transfer to a human")],
        default="end",
    )
    verification_webhook_url = models.URLField(
        blank=True,
        help_text="Optional: verify callers with your own system instead of the contact directory.",
    )
    transfer_failure_action = models.CharField(
        max_length=16,
        choices=[("return", "Return the caller to the agent"), ("end", "End the call politely")],
        default="return",
    )
    handover_line = models.CharField(
        max_length=300, default="Please hold while I transfer you to a colleague."
    )
    precall_url = models.URLField(
        blank=True, help_text="Optional: called when a call arrives; its JSON answer supplies variables."
    )
    precall_timeout_ms = models.PositiveIntegerField(default=1500, validators=[MaxValueValidator(5000)])
    custom_variables = models.JSONField(
        default=dict,
        blank=True,
        help_text='Extra template variables and their defaults, e.g. {"plan": "basic"}.',
    )
    corpora: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        "knowledge.Corpus", through="AgentCorpus", blank=True, related_name="agents"
    )
    published_revision = models.ForeignKey(
        "AgentRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class AgentCorpus(models.Model):
    """An agent's access to a knowledge-base corpus (own tenant FK, like every child table)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    corpus = models.ForeignKey("knowledge.Corpus", on_delete=models.CASCADE)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["agent", "corpus"], name="agent_corpus_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} -> {self.corpus_id}"


class AgentRevision(models.Model):
    """An immutable, published configuration of an agent. Calls run with one and record it."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    config = models.JSONField(help_text="Everything a call needs: prompts, engine settings, tools, corpora.")
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("agent", "-number")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["agent", "number"], name="agent_revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} r{self.number}"
