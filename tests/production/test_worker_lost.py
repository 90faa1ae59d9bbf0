"""Crash recovery: a worker killed mid-call (-9) leaves a call the reaper ends as ``worker_lost``,
with what was flushed kept, its concurrency slot released and ``call.ended`` sent exactly once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from django.utils import timezone

from calls import services
from calls.models import Call, CallEvent, CallStatus, Direction, TranscriptSegment
from calls.tasks import postcall_run, reap_lost_calls
from calls.webhooks.models import EventType, WebhookMessage
from calls.webhooks.services import webhook_endpoint_create
from tenants.models import ProviderCredential, Tenant
from tests.api.conftest import Keys, api
from tests.calls.conftest import ACCOUNT_A, CALLER, NUMBER_A, TOKEN_A, Telephony
from tests.e2e.conftest import place_inbound_call
from tests.e2e.server import live_server
from tests.fakes.background import BackgroundLoop
from tests.fakes.twilio import FakeTwilioRest, new_sid
from tests.fakes.ultravox import FakeUltravox, Script
from tests.fakes.webhook_receiver import FakeWebhookReceiver
from tests.production.conftest import connect_caller, wait_db

UV_KEY = "uv-tenant-a-key"
GREETING = "Thanks for calling Acme Plumbing. How can I help?"


def _admit(telephony: Telephony, call_sid: str | None = None) -> services.Admission:
    return services.call_admit_inbound(
        tenant=telephony.cast.tenant_a,
        number=telephony.number_a,
        call_sid=call_sid or new_sid("CA"),
        account_sid=ACCOUNT_A,
        from_number=CALLER,
        to_number=NUMBER_A,
    )


def _age_heartbeat(call_pk: int, seconds: int) -> None:
    """The worker's last sign of life was ``seconds`` ago (what a killed worker leaves behind)."""
    Call.objects.filter(pk=call_pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def _set_limit(tenant: Tenant, limit: int) -> None:
    tenant.max_concurrent_calls = limit
    tenant.save(update_fields=["max_concurrent_calls"])


def _call_ended_requests(receiver: FakeWebhookReceiver) -> list[dict[str, Any]]:
    bodies = [json.loads(request.body) for request in receiver.requests]
    return [body for body in bodies if body["type"] == EventType.CALL_ENDED]


# ------------------------------------------------------------------ the real thing: kill -9


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery", "allow_private")
async def test_killed_worker_call_is_reaped_once_with_its_transcript_and_slot(
    telephony: Telephony, configure_agent: Callable[..., Any], receiver: FakeWebhookReceiver
) -> None:
    tenant = telephony.cast.tenant_a
    await sync_to_async(ProviderCredential.objects.create)(tenant=tenant, provider="ultravox", api_key=UV_KEY)
    await sync_to_async(configure_agent)(engine="ultravox", greeting=GREETING)
    await sync_to_async(_set_limit)(tenant, 1)
    await sync_to_async(webhook_endpoint_create)(
        tenant=tenant, url=receiver.url, event_types=[EventType.CALL_ENDED]
    )

    async with (
        FakeUltravox(api_key=UV_KEY, script=Script(playback_speed=20)) as ultravox,
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(ULTRAVOX_API_BASE_URL=ultravox.url, TWILIO_API_BASE_URL=rest.base_url) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        await ultravox.wait_for_call(0, within_s=10)
        # The greeting's transcript has been flushed to the database: the call is well under way.
        await wait_db(lambda: TranscriptSegment.objects.filter(text=GREETING).exists())
        call = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
        assert call.heartbeat_at is not None and call.worker_id
        # The limit of 1 is taken by the live call: another caller is turned away.
        assert (await sync_to_async(_admit)(telephony)).rejected_reason == services.REJECT_OVER_CAPACITY

        server.process.kill()  # kill -9: no drain, no last flush, no call_end
        await server.process.wait()
        await caller.aclose()

    call = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert call.ended_at is None and call.status == CallStatus.IN_PROGRESS  # nobody ended it
    assert await sync_to_async(reap_lost_calls)() == 0  # its heartbeat is still fresh

    # The reaper runs after CALL_HEARTBEAT_TIMEOUT_S: age the heartbeat instead of waiting.
    await sync_to_async(_age_heartbeat)(call.pk, 120)
    assert await sync_to_async(reap_lost_calls)() == 1
    assert await sync_to_async(reap_lost_calls)() == 0  # a second sweep finds nothing
    await sync_to_async(postcall_run)(tenant_id=tenant.pk, call_pk=call.pk)  # a re-run changes nothing

    call = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert call.end_reason == services.WORKER_LOST
    assert call.ended_at is not None and call.status == CallStatus.COMPLETED
    # Everything flushed before the crash is kept.
    texts = await sync_to_async(
        lambda: list(TranscriptSegment.objects.filter(call=call).values_list("text", flat=True))
    )()
    assert GREETING in texts
    kinds = await sync_to_async(
        lambda: set(CallEvent.objects.filter(call=call).values_list("type", flat=True))
    )()
    assert {"call_started", "worker_lost"} <= kinds
    # call.ended: one message, delivered once, saying why the call ended.
    messages = WebhookMessage.objects.filter(tenant=tenant, event_type=EventType.CALL_ENDED)
    assert await sync_to_async(messages.count)() == 1
    delivered = _call_ended_requests(receiver)
    assert len(delivered) == 1
    assert delivered[0]["data"]["id"] == str(call.public_id)
    assert delivered[0]["data"]["end_reason"] == services.WORKER_LOST
    # The slot is free again.
    assert (await sync_to_async(_admit)(telephony)).rejected_reason == ""


# ---------------------------------------------------------------- the reaper's rules, directly


def _bridged_call(
    telephony: Telephony, *, heartbeat_age_s: int, stream_sid: str = "MZ1", **fields: Any
) -> Call:
    now = timezone.now()
    return Call.objects.create(
        tenant=telephony.cast.tenant_a,
        phone_number=telephony.number_a,
        agent=telephony.cast.agent_a,
        agent_revision=telephony.cast.agent_a.published_revision,
        from_number=CALLER,
        to_number=NUMBER_A,
        twilio_call_sid="CA" + uuid.uuid4().hex,
        status=fields.pop("status", CallStatus.IN_PROGRESS),
        stream_sid=stream_sid,
        answered_at=now - timedelta(seconds=heartbeat_age_s + 60),
        heartbeat_at=now - timedelta(seconds=heartbeat_age_s),
        worker_id="web-1:4242",
        **fields,
    )


@override_settings(CALL_HEARTBEAT_TIMEOUT_S=30)
def test_only_bridged_calls_with_a_stale_heartbeat_are_reaped(telephony: Telephony) -> None:
    lost = _bridged_call(telephony, heartbeat_age_s=45)
    alive = _bridged_call(telephony, heartbeat_age_s=5)
    # Transferred to a human: the stream is released, Twilio's status callback ends it.
    with_human = _bridged_call(telephony, heartbeat_age_s=600, stream_sid="", end_reason="transferred")
    ringing = _bridged_call(telephony, heartbeat_age_s=600, stream_sid="", status=CallStatus.RINGING)

    assert reap_lost_calls() == 1

    lost.refresh_from_db()
    assert lost.end_reason == services.WORKER_LOST and lost.ended_at is not None
    assert lost.duration_s == 60  # answered 60 s before its last heartbeat
    event = CallEvent.objects.get(call=lost, type="worker_lost")
    assert event.payload["worker"] == "web-1:4242"
    for call in (alive, with_human, ringing):
        call.refresh_from_db()
        assert call.ended_at is None


def test_a_heartbeat_that_lands_before_the_reaper_locks_the_row_keeps_the_call(telephony: Telephony) -> None:
    call = _bridged_call(telephony, heartbeat_age_s=45)
    stale_before = services.heartbeat_cutoff(30)
    assert services.lost_calls(stale_before=stale_before) == [(call.tenant_id, call.pk)]
    assert services.call_heartbeat(
        tenant_id=call.tenant_id, call_pk=call.pk
    )  # the session is alive after all
    assert (
        services.call_reap_lost(tenant_id=call.tenant_id, call_pk=call.pk, stale_before=stale_before) is None
    )
    call.refresh_from_db()
    assert call.ended_at is None


def test_a_heartbeat_never_revives_a_reaped_call(telephony: Telephony) -> None:
    call = _bridged_call(telephony, heartbeat_age_s=45)
    assert services.call_reap_lost(
        tenant_id=call.tenant_id, call_pk=call.pk, stale_before=services.heartbeat_cutoff(30)
    )
    assert not services.call_heartbeat(tenant_id=call.tenant_id, call_pk=call.pk)
    call.refresh_from_db()
    assert call.end_reason == services.WORKER_LOST


def test_reaping_is_tenant_scoped(telephony: Telephony) -> None:
    call = _bridged_call(telephony, heartbeat_age_s=45)
    other = telephony.cast.tenant_b.pk
    assert (
        services.call_reap_lost(tenant_id=other, call_pk=call.pk, stale_before=services.heartbeat_cutoff(30))
        is None
    )
    call.refresh_from_db()
    assert call.ended_at is None


@override_settings(CALL_HEARTBEAT_TIMEOUT_S=30)
def test_a_crashed_workers_calls_stop_counting_against_the_limit_before_the_reaper_runs(
    telephony: Telephony,
) -> None:
    _set_limit(telephony.cast.tenant_a, 2)
    _bridged_call(telephony, heartbeat_age_s=5)
    crashed = _bridged_call(telephony, heartbeat_age_s=5)
    # A web test call never counts; a call still ringing (no stream yet) always does.
    _bridged_call(telephony, heartbeat_age_s=600, direction=Direction.WEB)
    assert services.tenant_active_call_count(tenant=telephony.cast.tenant_a) == 2
    assert _admit(telephony).rejected_reason == services.REJECT_OVER_CAPACITY

    _age_heartbeat(crashed.pk, 45)  # its worker died 45 s ago; the reaper has not run yet
    assert services.tenant_active_call_count(tenant=telephony.cast.tenant_a) == 1
    admitted = _admit(telephony)
    assert admitted.rejected_reason == "" and admitted.call.status == CallStatus.RINGING
    assert services.tenant_active_call_count(tenant=telephony.cast.tenant_a) == 2  # the new call counts


@pytest.fixture
def twilio_rest(settings: Any, telephony: Telephony) -> Iterator[FakeTwilioRest]:
    with BackgroundLoop() as loop:
        fake = FakeTwilioRest(ACCOUNT_A, TOKEN_A)
        settings.TWILIO_API_BASE_URL = loop.run(fake.start())
        yield fake
        loop.run(fake.stop())


@override_settings(CALL_HEARTBEAT_TIMEOUT_S=30)
def test_outbound_calls_are_admitted_by_the_same_count(
    telephony: Telephony, keys: Keys, twilio_rest: FakeTwilioRest
) -> None:
    _set_limit(telephony.cast.tenant_a, 1)
    crashed = _bridged_call(telephony, heartbeat_age_s=5)
    client = api(keys.write_a)
    request = {"to": "+15557654321", "from": telephony.number_a.number}
    refused = client.post("/api/v1/calls", request, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "concurrent_call_limit"
    _age_heartbeat(crashed.pk, 45)
    assert client.post("/api/v1/calls", request, format="json").status_code == 201
