"""Django admin for platform staff. Encrypted secrets and key hashes are never displayed:
they are excluded from forms, and a new secret can only be set, not read."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from tenants.models import ApiKey, Membership, PhoneNumber, ProviderCredential, TelephonyAccount, Tenant


class SecretWriteOnlyForm(forms.ModelForm):
    """Shows an empty password input for the secret field; leaving it empty keeps the old value."""

    secret_field = ""
    new_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text="Leave empty to keep."
    )

    def save(self, commit: bool = True) -> Any:
        instance = super().save(commit=False)
        if self.cleaned_data.get("new_secret"):
            setattr(instance, self.secret_field, self.cleaned_data["new_secret"])
        elif not instance.pk:
            raise forms.ValidationError("A secret is required.")
        if commit:
            instance.save()
        return instance


class TelephonyAccountForm(SecretWriteOnlyForm):
    secret_field = "auth_token"  # noqa: S105 - a field name, not a secret

    class Meta:
        model = TelephonyAccount
        fields = ("tenant", "label", "provider", "account_sid")


class ProviderCredentialForm(SecretWriteOnlyForm):
    secret_field = "api_key"  # noqa: S105 - a field name, not a secret

    class Meta:
        model = ProviderCredential
        fields = ("tenant", "provider", "base_url")


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "tenant"
    extra = 0
    fields = ("user", "role")
    raw_id_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "max_concurrent_calls", "monthly_minutes", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("is_active",)
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role")
    list_filter = ("role",)
    raw_id_fields = ("user", "tenant")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "prefix", "last4", "scope", "expires_at", "revoked_at", "last_used_at")
    fields = ("tenant", "name", "prefix", "last4", "scope", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("tenant", "prefix", "last4", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by tenants, so the secret is shown to its owner only


@admin.register(TelephonyAccount)
class TelephonyAccountAdmin(admin.ModelAdmin):
    form = TelephonyAccountForm
    list_display = ("label", "tenant", "account_sid")


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    form = ProviderCredentialForm
    list_display = ("provider", "tenant", "base_url")


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "tenant", "agent", "is_active")
    raw_id_fields = ("tenant", "agent", "telephony_account")
