"""Tools an agent may call: built-ins and the tenant's own HTTP webhooks."""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from tenants.crypto import EncryptedTextField
from tenants.models import TenantOwned

tool_name_validator = RegexValidator(
    r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$", "Letters, digits, _ and -, starting with a letter (max 64)."
)


class BuiltinTool(models.TextChoices):
    VERIFY_CALLER = "verify_caller", "Verify the caller"
    QUERY_KNOWLEDGE_BASE = "query_knowledge_base", "Search the knowledge base"
    CHECK_AVAILABILITY = "check_availability", "Check calendar availability"
    SCHEDULE_MEETING = "schedule_meeting", "Book an appointment"
    CANCEL_MEETING = "cancel_meeting", "Cancel an appointment"
    TRANSFER_TO_HUMAN = "transfer_to_human", "Transfer to a human"
    END_CALL = "end_call", "End the call"
    CURRENT_TIME = "current_time", "Current local date and time"


class Tool(TenantOwned):
    """A tenant's HTTP webhook tool. Built-in tools are platform code and need no row."""

    name = models.CharField(max_length=64, validators=[tool_name_validator])
    description = models.TextField(help_text="What the tool does and when to use it; the model reads this.")
    parameters = models.JSONField(default=dict, help_text="JSON Schema (type object) of the arguments.")
    url = models.URLField(max_length=500)
    method = models.CharField(max_length=6, choices=[("POST", "POST"), ("GET", "GET")], default="POST")
    headers = models.JSONField(
        default=dict, blank=True, help_text="Non-secret headers sent with each request."
    )
    secret_headers = EncryptedTextField(blank=True, help_text="JSON object of secret headers (encrypted).")
    signing_secret = EncryptedTextField(help_text="HMAC-SHA256 key for the X-VoxSaaS-Signature header.")
    timeout_s = models.FloatField(default=5.0, validators=[MinValueValidator(0.5), MaxValueValidator(30.0)])
    max_response_bytes = models.PositiveIntegerField(default=16384, validators=[MaxValueValidator(262144)])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "name"], name="tool_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class AgentTool(models.Model):
    """A tool enabled on an agent, per stage. Exactly one of ``builtin`` / ``tool`` is set."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="agent_tools")
    builtin = models.CharField(max_length=32, choices=BuiltinTool.choices, blank=True)
    tool = models.ForeignKey(
        Tool, null=True, blank=True, on_delete=models.CASCADE, related_name="agent_tools"
    )
    in_verification = models.BooleanField(default=False, help_text="Offered before the caller is verified.")
    in_main = models.BooleanField(default=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(models.Q(builtin="") & models.Q(tool__isnull=False))
                | (~models.Q(builtin="") & models.Q(tool__isnull=True)),
                name="agent_tool_builtin_xor_tool",
            ),
            models.UniqueConstraint(
                fields=["agent", "builtin"], condition=~models.Q(builtin=""), name="agent_tool_builtin_once"
            ),
            models.UniqueConstraint(
                fields=["agent", "tool"], condition=models.Q(tool__isnull=False), name="agent_tool_once"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.builtin or (self.tool.name if self.tool else "")
