"""Reads for calls and the call path."""

from __future__ import annotations

from calls.models import Call
from tenants.models import PhoneNumber


def phone_number_for_inbound(*, to_number: str) -> PhoneNumber | None:
    """The number a webhook was sent for, with everything the webhook needs in one query."""
    return (
        PhoneNumber.objects.select_related("tenant", "telephony_account", "agent")
        .filter(number=to_number)
        .first()
    )


def call_for_status_callback(*, call_sid: str) -> Call | None:
    """The call a status callback is about, with the account that signs it. The tenant is
    established by validating the signature with that account's token before anything is
    written."""
    if not call_sid:
        return None
    return (
        Call.objects.select_related("phone_number__telephony_account")
        .filter(twilio_call_sid=call_sid)
        .first()
    )


def call_for_dial_action(*, tenant_id: int, call_public_id: str) -> Call | None:
    return (
        Call.objects.select_related("phone_number__telephony_account", "agent_revision")
        .filter(tenant_id=tenant_id, public_id=call_public_id)
        .first()
    )
