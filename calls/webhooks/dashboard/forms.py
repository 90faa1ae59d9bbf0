"""Forms of the webhook pages: the endpoint editor, the test event, the delivery filters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from calls.webhooks.models import EventType, WebhookEndpoint
from calls.webhooks.selectors import DeliveryState, endpoint_choices
from tenants.models import Tenant

EVENT_TYPE_HELP = "Only these events are sent to this endpoint."
URL_HELP = (
    "Where events are POSTed (https recommended). It must be reachable from the internet: "
    "local, private and cloud-metadata addresses are refused."
)


if TYPE_CHECKING:
    _EndpointChoiceBase = forms.ModelChoiceField[WebhookEndpoint]
else:  # django-stubs' generics aren't subscriptable at run time
    _EndpointChoiceBase = forms.ModelChoiceField


class EndpointChoiceField(_EndpointChoiceBase):
    def label_from_instance(self, obj: WebhookEndpoint) -> str:
        return obj.url


class EndpointForm(forms.Form):
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        label="Endpoint URL",
        help_text=URL_HELP,
        widget=forms.URLInput(
            attrs={"placeholder": "https://example.com/webhooks/voxsaas", "spellcheck": "false"}
        ),
    )
    description = forms.CharField(
        max_length=200,
        required=False,
        help_text="Optional: what receives these events (e.g. “CRM sync”, “n8n workflow”).",
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        help_text=EVENT_TYPE_HELP,
        error_messages={"required": "Choose at least one event type."},
    )

    @classmethod
    def for_endpoint(cls, endpoint: WebhookEndpoint) -> EndpointForm:
        return cls(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "event_types": list(endpoint.event_types),
            }
        )


class TestEventForm(forms.Form):
    event_type = forms.ChoiceField(
        choices=[(value, value) for value in EventType.values],
        label="Event type",
    )


class DeliveryFilterForm(forms.Form):
    """The delivery list's filters (a GET form). The endpoint menu lists the tenant's own
    endpoints, so another tenant's id is simply not a valid choice."""

    status = forms.ChoiceField(choices=[("", "Any status"), *DeliveryState.choices], required=False)
    event_type = forms.ChoiceField(
        choices=[("", "Any event"), *((value, value) for value in EventType.values)],
        required=False,
        label="Event",
    )
    endpoint = EndpointChoiceField(
        queryset=WebhookEndpoint.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label="Any endpoint",
    )

    def __init__(self, *args: Any, tenant: Tenant, with_endpoint: bool = True, **kwargs: Any) -> None:
        # Ids of their own: the endpoint page also has the test event's "event_type" field.
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        if with_endpoint:
            field = self.fields["endpoint"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = endpoint_choices(tenant=tenant)
        else:
            del self.fields["endpoint"]

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)

    def filters(self) -> dict[str, Any]:
        """The validated filters (none when the form is unbound)."""
        if not self.is_bound:
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}
