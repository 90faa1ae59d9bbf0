"""Flushes from a live call are at-least-once: storing the same batch twice stores it once."""

from __future__ import annotations

from calls.bridge.ports import EventEntry, TranscriptEntry
from calls.models import Call, CallEvent, TranscriptSegment
from calls.services import call_record_batch
from tests.calls.conftest import Telephony


def test_a_retried_flush_stores_nothing_twice(telephony: Telephony) -> None:
    call = Call.objects.create(
        tenant=telephony.cast.tenant_a, phone_number=telephony.number_a, twilio_call_sid="CA1"
    )
    segments = [
        TranscriptEntry("agent", "Hello.", 0, 0, 900),
        TranscriptEntry("caller", "Hi.", 1, 1200, 1600),
    ]
    events = [EventEntry("call_started", {}, 0, seq=1), EventEntry("tool_call", {"name": "x"}, 1500, seq=2)]
    for _ in range(2):
        call_record_batch(tenant_id=call.tenant_id, call_pk=call.pk, segments=segments, events=events)
    assert TranscriptSegment.objects.filter(call=call).count() == 2
    assert list(CallEvent.objects.filter(call=call).values_list("seq", flat=True)) == [1, 2]
    # A later flush with new entries still lands.
    call_record_batch(
        tenant_id=call.tenant_id,
        call_pk=call.pk,
        segments=[],
        events=[EventEntry("call_ended", {}, 2000, seq=3)],
    )
    assert CallEvent.objects.filter(call=call).count() == 3


def test_tool_calls_and_transfers_reach_subscribed_webhooks_once(telephony: Telephony) -> None:
    from calls.webhooks.models import WebhookEndpoint, WebhookMessage

    tenant = telephony.cast.tenant_a
    WebhookEndpoint.objects.create(
        tenant=tenant, url="https://hooks.example.com/x", event_types=["tool.invoked"], secret="whsec_x"
    )
    call = Call.objects.create(tenant=tenant, phone_number=telephony.number_a, twilio_call_sid="CA9")
    events = [EventEntry("tool_call", {"name": "current_time", "outcome": "ok"}, 10, seq=1)]
    for _ in range(2):  # a retried flush
        call_record_batch(tenant_id=tenant.pk, call_pk=call.pk, segments=[], events=events)
    message = WebhookMessage.objects.get(tenant=tenant)
    assert message.event_type == "tool.invoked"
    assert message.payload["tool"]["name"] == "current_time"
    assert message.payload["call_id"] == str(call.public_id)
    # Tenant B has no subscription and gets nothing.
    assert not WebhookMessage.objects.filter(tenant=telephony.cast.tenant_b).exists()
