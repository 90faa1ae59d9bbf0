"""The calls API: filters, details, transcript, events, summary, recording metadata, usage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone

from calls.models import CallStatus, Direction
from calls.postcall.services import call_summary_create, call_usage_record
from tests.api.conftest import Keys, api, make_call
from tests.calls.conftest import Telephony

CALLS = "/api/v1/calls"


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_list_filters(telephony: Telephony, keys: Keys) -> None:
    cast = telephony.cast
    now = timezone.now()
    old = make_call(
        cast.tenant_a, agent=cast.agent_a, number=telephony.number_a, created_at=now - timedelta(days=10)
    )
    failed = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a, status=CallStatus.FAILED)
    live = make_call(cast.tenant_a, agent=None, number=telephony.number_a, status=CallStatus.IN_PROGRESS)
    outbound = make_call(
        cast.tenant_a,
        agent=cast.agent_a,
        number=telephony.number_a,
        direction=Direction.OUTBOUND,
        caller="+15559990000",
    )
    make_call(cast.tenant_b, agent=cast.agent_b, number=telephony.number_b)  # never listed for A
    every = {str(c.public_id) for c in (old, failed, live, outbound)}
    client = api(keys.read_a)

    assert ids(client.get(CALLS)) == every
    assert ids(client.get(CALLS, {"status": "failed"})) == {str(failed.public_id)}
    assert ids(client.get(f"{CALLS}?status=failed&status=in-progress")) == {
        str(failed.public_id),
        str(live.public_id),
    }
    after = (now - timedelta(days=1)).isoformat()
    assert ids(client.get(CALLS, {"created_after": after})) == every - {str(old.public_id)}
    assert ids(client.get(CALLS, {"created_before": after})) == {str(old.public_id)}
    assert ids(client.get(CALLS, {"agent": str(cast.agent_a.public_id)})) == every - {str(live.public_id)}
    assert ids(client.get(CALLS, {"number": telephony.number_a.number})) == every
    assert ids(client.get(CALLS, {"phone_number": str(telephony.number_a.public_id)})) == every
    assert ids(client.get(CALLS, {"direction": "outbound"})) == {str(outbound.public_id)}
    assert ids(client.get(CALLS, {"customer_number": "+15559990000"})) == {str(outbound.public_id)}
    # Another tenant's ids filter to nothing (no error that would reveal they exist).
    assert ids(client.get(CALLS, {"agent": str(cast.agent_b.public_id)})) == set()
    assert ids(client.get(CALLS, {"number": telephony.number_b.number})) == set()

    bad = client.get(CALLS, {"status": "exploded"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "#/status"


def test_list_is_newest_first_and_paginated(telephony: Telephony, keys: Keys) -> None:
    cast = telephony.cast
    now = timezone.now()
    calls = [
        make_call(
            cast.tenant_a, agent=cast.agent_a, number=telephony.number_a, created_at=now - timedelta(hours=i)
        )
        for i in range(5)
    ]
    client = api(keys.read_a)
    first = client.get(CALLS, {"page_size": 3}).json()
    second = client.get(first["next"]).json()
    order = [row["id"] for row in first["results"] + second["results"]]
    assert order == [str(c.public_id) for c in calls]
    assert second["next"] is None


def test_retrieve_transcript_and_events(telephony: Telephony, keys: Keys) -> None:
    cast = telephony.cast
    call = make_call(
        cast.tenant_a,
        agent=cast.agent_a,
        number=telephony.number_a,
        transcript=[("agent", "Acme Plumbing, how can I help?"), ("caller", "My sink is leaking.")],
        events=[("call_started", {"stage": "main"}), ("tool_call", {"name": "book", "outcome": "ok"})],
    )
    client = api(keys.read_a)
    body = client.get(f"{CALLS}/{call.public_id}").json()
    assert body["id"] == str(call.public_id)
    assert body["from"] == "+15552223333" and body["to"] == telephony.number_a.number
    assert body["customer_number"] == "+15552223333"
    assert body["agent"] == str(cast.agent_a.public_id)
    assert body["phone_number_e164"] == telephony.number_a.number
    assert body["duration_s"] == 75 and body["status"] == "completed"

    transcript = client.get(f"{CALLS}/{call.public_id}/transcript").json()
    assert [s["speaker"] for s in transcript["segments"]] == ["agent", "caller"]
    assert transcript["text"] == "Agent: Acme Plumbing, how can I help?\nCaller: My sink is leaking."

    events = client.get(f"{CALLS}/{call.public_id}/events").json()["events"]
    assert [e["type"] for e in events] == ["call_started", "tool_call"]
    assert events[1]["payload"] == {"name": "book", "outcome": "ok"}


def test_summary_appears_after_post_call_processing(telephony: Telephony, keys: Keys) -> None:
    cast = telephony.cast
    call = make_call(
        cast.tenant_a,
        agent=cast.agent_a,
        number=telephony.number_a,
        transcript=[("caller", "I need a plumber today.")],
    )
    client = api(keys.read_a)
    before = client.get(f"{CALLS}/{call.public_id}/summary")
    assert before.status_code == 404 and before.json()["code"] == "summary_not_ready"
    call_summary_create(tenant_id=cast.tenant_a.pk, call_pk=call.pk, allow_private=False)
    after = client.get(f"{CALLS}/{call.public_id}/summary").json()
    assert after["source"] == "extractive"
    assert "plumber" in after["text"]
    assert after["fields_status"] == "not_requested"


def test_recording_metadata(telephony: Telephony, keys: Keys, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    cast = telephony.cast
    recorded = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a)
    recorded.recording.save(f"{recorded.public_id}.wav", ContentFile(b"RIFF" + b"\0" * 996), save=True)
    silent = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a)
    client = api(keys.read_a)
    meta = client.get(f"{CALLS}/{recorded.public_id}/recording").json()
    assert meta["available"] is True and meta["size_bytes"] == 1000 and meta["content_type"] == "audio/wav"
    assert client.get(f"{CALLS}/{recorded.public_id}").json()["has_recording"] is True
    none = client.get(f"{CALLS}/{silent.public_id}/recording").json()
    assert none["available"] is False and none["size_bytes"] is None


def test_usage_per_month(telephony: Telephony, keys: Keys) -> None:
    cast = telephony.cast
    for seconds in (60, 61, 5):
        call = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a, duration_s=seconds)
        call_usage_record(tenant_id=cast.tenant_a.pk, call_pk=call.pk, price_per_minute=Decimal("0.05"))
    other = make_call(cast.tenant_b, agent=cast.agent_b, number=telephony.number_b, duration_s=600)
    call_usage_record(tenant_id=cast.tenant_b.pk, call_pk=other.pk, price_per_minute=Decimal("0.05"))

    rows = api(keys.read_a).get("/api/v1/usage").json()
    assert len(rows) == 1
    month = rows[0]
    assert month["month"] == f"{timezone.now():%Y-%m}"
    assert month["calls"] == 3
    assert month["billable_seconds"] == 126
    assert month["billed_minutes"] == 1 + 2 + 1  # each call rounded up to the started minute
    assert Decimal(month["cost"]) == Decimal("0.20")
    assert month["included_minutes"] == cast.tenant_a.monthly_minutes and month["overage_minutes"] == 0
    assert api(keys.read_a).get("/api/v1/usage", {"month": "1999-01"}).json() == []
    assert api(keys.read_a).get("/api/v1/usage", {"month": "soon"}).status_code == 400


def test_date_filters_accept_any_iso_offset(telephony: Telephony, keys: Keys) -> None:
    # Found by Schemathesis on PostgreSQL: an offset beyond +/-15:59 must not reach the database.
    cast = telephony.cast
    call = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a)
    client = api(keys.read_a)
    far_east = (timezone.now() + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%S+22:19")
    assert ids(client.get(CALLS, {"created_before": far_east})) == {str(call.public_id)}
    assert ids(client.get(CALLS, {"created_after": "0001-01-01T00:00:00+22:00"})) == {str(call.public_id)}
    assert ids(client.get(CALLS, {"created_before": "0001-01-01T00:00:00+22:00"})) == set()
    assert ids(client.get(CALLS, {"created_after": "9999-12-31T23:00:00-05:00"})) == set()


def test_stage_outcome_filter(telephony: Telephony, keys: Keys) -> None:
    import uuid

    cast = telephony.cast
    verified = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a)
    verified.contact_public_id = uuid.uuid4()
    verified.save(update_fields=["contact_public_id"])
    unverified = make_call(cast.tenant_a, agent=cast.agent_a, number=telephony.number_a)
    client = api(keys.read_a)
    assert ids(client.get(CALLS, {"verified": "true"})) == {str(verified.public_id)}
    assert ids(client.get(CALLS, {"verified": "false"})) == {str(unverified.public_id)}
