"""Tenants, memberships, API keys and the tenant's third-party credentials."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from tenants.crypto import EncryptedTextField

e164_validator = RegexValidator(
    r"^\+[1-9]\d{6,14}$", "Enter a phone number in E.164 form, like +15551230000."
)


class Tenant(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    max_concurrent_calls = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    monthly_minutes = models.PositiveIntegerField(default=1000, help_text="Included call minutes per month.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.name


class TenantOwned(models.Model):
    """Base for every tenant-owned table: its own tenant FK and a public UUID for URLs/API."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


# Higher rank may do everything a lower rank may.
ROLE_RANK: dict[str, int] = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Membership(TenantOwned):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiKey(TenantOwned):
    """An integrator's key. The secret is shown once at creation; only its SHA-256 is stored
    (the secret is 256 bits of randomness, so a slow password hash adds nothing)."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=24, unique=True, help_text="Visible part, e.g. vx_live_ab12cd34.")
    secret_hash = models.CharField(max_length=64, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last4})"

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class TelephonyAccount(TenantOwned):
    """A tenant's Twilio account. The auth token signs Twilio's webhooks and authenticates our
    REST calls, so it is encrypted at rest and never shown again after it is saved."""

    PROVIDER_TWILIO = "twilio"
    provider = models.CharField(max_length=16, choices=[(PROVIDER_TWILIO, "Twilio")], default=PROVIDER_TWILIO)
    label = models.CharField(max_length=100, default="Twilio")
    account_sid = models.CharField(
        max_length=34,
        validators=[RegexValidator(r"^AC[0-9a-fA-F]{32}$", "A Twilio account SID is AC + 32 hex.")],
    )
    auth_token = EncryptedTextField()

    def __str__(self) -> str:
        return f"{self.label} ({self.account_sid})"


class ProviderCredential(TenantOwned):
    """An API key for a speech/LLM provider (Ultravox, OpenAI, AssemblyAI, ElevenLabs, or an
    OpenAI-compatible endpoint), encrypted at rest."""

    class Provider(models.TextChoices):
        ULTRAVOX = "ultravox", "Ultravox"
        OPENAI = "openai", "OpenAI"
        ASSEMBLYAI = "assemblyai", "AssemblyAI"
        ELEVENLABS = "elevenlabs", "ElevenLabs"
        LLM = "llm", "OpenAI-compatible LLM"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    api_key = EncryptedTextField()
    base_url = models.URLField(blank=True, help_text="Only for self-hosted or compatible endpoints.")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "provider"], name="credential_one_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} credential"


class PhoneNumber(TenantOwned):
    """A number a tenant connected. A number belongs to exactly one tenant (unique E.164)."""

    number = models.CharField(max_length=16, unique=True, validators=[e164_validator])
    label = models.CharField(max_length=100, blank=True)
    telephony_account = models.ForeignKey(TelephonyAccount, on_delete=models.PROTECT, related_name="numbers")
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="phone_numbers"
    )
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.number


class Invitation(TenantOwned):
    """An emailed invitation to join a tenant with a role. The link carries a signed, expiring
    token naming this row; accepting it once creates (or attaches) the user's membership."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes: ClassVar = [models.Index(fields=["tenant", "-created_at"], name="invitation_tenant_recent")]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=models.Q(accepted_at__isnull=True),
                name="invitation_one_pending_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.tenant_id} ({self.role})"

    def is_pending(self, now: datetime | None = None) -> bool:
        return self.accepted_at is None and self.expires_at > (now or timezone.now())
