"""Dashboard forms of the calls app."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms

from agents.models import Agent
from calls.models import CallStatus, Direction
from tenants.models import PhoneNumber, Tenant

KNOWN_END_REASONS = (
    "caller_hangup",
    "agent_hangup",
    "transferred",
    "max_duration",
    "silence_timeout",
    "engine_error",
    "protocol_error",
    "internal_error",
    "twilio_busy",
    "twilio_no-answer",
    "twilio_failed",
    "twilio_canceled",
    "twilio_completed",
)


if TYPE_CHECKING:
    _NumberChoiceBase = forms.ModelChoiceField[PhoneNumber]
else:  # django-stubs' generics aren't subscriptable at run time
    _NumberChoiceBase = forms.ModelChoiceField


class PhoneNumberChoiceField(_NumberChoiceBase):
    def label_from_instance(self, obj: PhoneNumber) -> str:
        return f"{obj.number} {obj.label}".strip()


class CallFilterForm(forms.Form):
    """The call list's filters (a GET form). Agent and number choices are the tenant's own rows,
    so another tenant's id is simply not a valid choice."""

    status = forms.ChoiceField(choices=[("", "Any status"), *CallStatus.choices], required=False)
    direction = forms.ChoiceField(choices=[("", "Any direction"), *Direction.choices], required=False)
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(), to_field_name="public_id", required=False, empty_label="Any agent"
    )
    number = PhoneNumberChoiceField(
        queryset=PhoneNumber.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label="Any number",
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    end_reason = forms.CharField(
        required=False,
        max_length=40,
        label="End reason",
        widget=forms.TextInput(attrs={"list": "end-reasons", "placeholder": "Any end reason"}),
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent_field = self.fields["agent"]
        number_field = self.fields["number"]
        assert isinstance(agent_field, forms.ModelChoiceField)
        assert isinstance(number_field, forms.ModelChoiceField)
        agent_field.queryset = Agent.objects.filter(tenant=tenant).order_by("name").only("public_id", "name")
        number_field.queryset = (
            PhoneNumber.objects.filter(tenant=tenant).order_by("number").only("public_id", "number", "label")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: date | None = data.get("date_from")
        end: date | None = data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)
