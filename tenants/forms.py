"""Dashboard forms of the tenants app: phone numbers and Twilio accounts, team, API keys.

Choices that reference rows (agents, accounts) are the tenant's own rows, keyed by public id:
another tenant's id is simply not a valid choice. Secrets (auth tokens) are write-only: their
inputs never render a value back.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth.forms import UserCreationForm, UsernameField
from django.contrib.auth.models import User
from django.utils import timezone

from agents.models import Agent
from tenants.models import ROLE_RANK, ApiKeyScope, Membership, PhoneNumber, Role, TelephonyAccount, Tenant

SECRET_WIDGET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"})


def _agent_field(tenant: Tenant, *, label: str = "Answering agent") -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Agent.objects.filter(tenant=tenant).order_by("name"),
        to_field_name="public_id",
        required=False,
        empty_label="— None (calls are refused) —",
        label=label,
        help_text="The agent that answers calls to this number.",
    )


def _account_field(tenant: Tenant, *, required: bool, empty_label: str | None) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=TelephonyAccount.objects.filter(tenant=tenant).order_by("label", "account_sid"),
        to_field_name="public_id",
        required=required,
        empty_label=empty_label,
        label="Account",
    )


class PhoneNumberConnectForm(forms.Form):
    number = forms.CharField(
        max_length=16,
        label="Phone number",
        help_text="E.164, like +15551230000.",
        widget=forms.TextInput(
            attrs={"placeholder": "+15551230000", "inputmode": "tel", "autocomplete": "off"}
        ),
    )
    label = forms.CharField(max_length=100, required=False, help_text="Optional, e.g. Main line.")
    account_label = forms.CharField(max_length=100, required=False, label="Account label", initial="Twilio")
    account_sid = forms.CharField(
        max_length=34,
        required=False,
        label="Account SID",
        help_text="AC followed by 32 characters, from the Twilio console.",
    )
    auth_token = forms.CharField(
        max_length=128,
        required=False,
        label="Auth token",
        widget=SECRET_WIDGET,
        help_text="Stored encrypted and never shown again.",
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent"] = _agent_field(tenant)
        has_accounts = TelephonyAccount.objects.filter(tenant=tenant).exists()
        self.fields["account"] = _account_field(
            tenant, required=False, empty_label="Connect a new Twilio account…" if has_accounts else None
        )
        self.has_accounts = has_accounts
        self.order_fields(
            ["number", "label", "agent", "account", "account_label", "account_sid", "auth_token"]
        )

    def clean_number(self) -> str:
        return str(self.cleaned_data["number"]).replace(" ", "").replace("-", "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("account") is None and "account" not in self.errors:
            if not data.get("account_sid"):
                self.add_error("account_sid", "Enter the account SID of the Twilio account to connect.")
            if not data.get("auth_token"):
                self.add_error("auth_token", "Enter the auth token of the Twilio account to connect.")
        return data


class PhoneNumberEditForm(forms.Form):
    label = forms.CharField(max_length=100, required=False)
    is_active = forms.BooleanField(
        required=False, label="Active", help_text="Inactive numbers refuse calls politely."
    )

    def __init__(self, *args: Any, tenant: Tenant, phone_number: PhoneNumber, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "label": phone_number.label,
                "is_active": phone_number.is_active,
                "agent": phone_number.agent.public_id if phone_number.agent else None,
                "telephony_account": phone_number.telephony_account.public_id,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["agent"] = _agent_field(tenant)
        self.fields["telephony_account"] = _account_field(tenant, required=True, empty_label=None)
        self.order_fields(["label", "agent", "telephony_account", "is_active"])


class TelephonyAccountForm(forms.Form):
    label = forms.CharField(max_length=100)
    account_sid = forms.CharField(max_length=34, label="Account SID")
    auth_token = forms.CharField(
        max_length=128,
        required=False,
        label="New auth token",
        widget=SECRET_WIDGET,
        help_text="Leave empty to keep the current token. Paste a new one after rotating it in Twilio.",
    )


def _allowed_roles(actor: Membership) -> list[tuple[str, str]]:
    """Roles ``actor`` may hand out: an owner any, an admin up to admin."""
    return [(value, label) for value, label in Role.choices if ROLE_RANK[value] <= ROLE_RANK[actor.role]]


class InvitationForm(forms.Form):
    email = forms.EmailField(
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@example.com"})
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args: Any, actor: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        role.choices = _allowed_roles(actor)

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args: Any, actor: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        role.choices = _allowed_roles(actor)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses this key, e.g. CRM sync.")
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.READ)
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The key stops working at the start of this day (UTC).",
    )

    def clean_expires_on(self) -> date | None:
        value: date | None = self.cleaned_data.get("expires_on")
        if value is not None and value <= timezone.now().date():
            raise forms.ValidationError("Choose a date in the future.")
        return value


if TYPE_CHECKING:
    _SignupBase = UserCreationForm[User]
else:  # django-stubs' generic isn't subscriptable at run time (no django_stubs_ext monkeypatch)
    _SignupBase = UserCreationForm


class InvitationSignupForm(_SignupBase):
    """A new account for someone accepting an invitation; the email is the invited address."""

    class Meta:
        model = User
        fields = ("username",)
        field_classes = {"username": UsernameField}
