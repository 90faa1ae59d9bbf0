"""The tenant's contact directory, used to verify callers. Secrets are stored hashed."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from tenants.models import TenantOwned, e164_validator


class Contact(TenantOwned):
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    account_number = models.CharField(max_length=64, blank=True, db_index=True)
    # Django password hashes (PBKDF2): a leaked table doesn't give away PINs or birth dates.
    pin_hash = models.CharField(max_length=256, blank=True, editable=False)
    dob_hash = models.CharField(max_length=256, blank=True, editable=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["tenant", "name"], name="contact_tenant_name"),
            # The API's list order (newest first, cursor pages): no sort of the whole directory.
            models.Index(fields=["tenant", "-created_at"], name="contact_tenant_recent"),
        ]

    def __str__(self) -> str:
        return self.name


class ContactPhone(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(max_length=16, validators=[e164_validator])

    class Meta:
        indexes: ClassVar = [models.Index(fields=["tenant", "number"], name="contact_phone_lookup")]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["contact", "number"], name="contact_phone_unique")
        ]

    def __str__(self) -> str:
        return self.number
