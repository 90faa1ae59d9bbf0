"""Post-call processing: summary through the agent's LLM (a faithful fake), structured fields
validated against the agent's schema, extractive fallback, usage, the call.ended webhook, and
re-runs that duplicate nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from calls.models import Call, CallStatus
from calls.postcall.models import CallSummary, CallUsage, FieldsStatus, SummarySource
from calls.services import CallEnding, call_end
from calls.tasks import postcall_run
from calls.webhooks.models import WebhookDelivery, WebhookMessage
from calls.webhooks.services import CreatedEndpoint, webhook_endpoint_create
from tenants.models import ProviderCredential
from tests.api.conftest import make_call
from tests.calls.conftest import Telephony
from tests.fakes.background import BackgroundLoop
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.fakes.webhook_receiver import FakeWebhookReceiver

pytestmark = pytest.mark.usefixtures("allow_private", "eager_celery")

SCHEMA = {
    "type": "object",
    "properties": {
        "reason_for_call": {"type": "string"},
        "appointment_booked": {"type": "boolean"},
        "follow_up_needed": {"type": "boolean"},
    },
    "required": ["reason_for_call", "appointment_booked", "follow_up_needed"],
    "additionalProperties": False,
}
TRANSCRIPT = [
    ("agent", "Acme Plumbing, how can I help?"),
    ("caller", "My kitchen sink is leaking under the cabinet. Can someone come tomorrow?"),
    ("agent", "I booked a plumber for tomorrow at 10 am."),
    ("caller", "Great, thank you."),
]


@pytest.fixture
def llm(telephony: Telephony) -> Iterator[FakeOpenAIChat]:
    with BackgroundLoop() as loop:
        fake = FakeOpenAIChat()
        loop.run(fake.start())
        ProviderCredential.objects.create(
            tenant=telephony.cast.tenant_a, provider=ProviderCredential.Provider.LLM, api_key=fake.api_key
        )
        agent = telephony.cast.agent_a
        agent.engine = "pipeline"
        agent.llm_base_url = fake.base_url
        agent.llm_model = "gpt-4o-mini"
        agent.summary_prompt = "Summarise this plumbing call for the office."
        agent.summary_schema = SCHEMA
        agent.save()
        yield fake
        loop.run(fake.stop())


@pytest.fixture
def hook(telephony: Telephony, receiver: FakeWebhookReceiver) -> CreatedEndpoint:
    return webhook_endpoint_create(
        tenant=telephony.cast.tenant_a, url=receiver.url, event_types=["call.ended", "call.summarized"]
    )


def live_call(telephony: Telephony, **extra: Any) -> Call:
    cast = telephony.cast
    return make_call(
        cast.tenant_a,
        agent=cast.agent_a,
        number=telephony.number_a,
        status=CallStatus.IN_PROGRESS,
        transcript=TRANSCRIPT,
        events=[
            ("tool_call", {"name": "book_appointment", "arguments": {"day": "tomorrow"}, "outcome": "ok"})
        ],
        **extra,
    )


def end(call: Call, capture: Any) -> None:
    with capture(execute=True):
        call_end(
            tenant_id=call.tenant_id,
            call_pk=call.pk,
            ending=CallEnding(
                end_reason="caller_hangup", duration_ms=95_000, turn_latencies_ms=[400], usage={}
            ),
        )


def test_summary_fields_usage_and_call_ended_webhook(
    telephony: Telephony,
    llm: FakeOpenAIChat,
    hook: CreatedEndpoint,
    receiver: FakeWebhookReceiver,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.USAGE_PRICE_PER_MINUTE = Decimal("0.10")
    llm.add_reply("Caller reported a leaking kitchen sink; a plumber is booked for tomorrow at 10 am.")
    llm.add_reply(
        json.dumps({"reason_for_call": "leaking sink", "appointment_booked": True, "follow_up_needed": False})
    )
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)

    summary = CallSummary.objects.get(call=call)
    assert summary.source == SummarySource.LLM and summary.model == "gpt-4o-mini"
    assert summary.text.startswith("Caller reported a leaking kitchen sink")
    assert summary.fields_status == FieldsStatus.VALID
    assert summary.structured_fields == {
        "reason_for_call": "leaking sink",
        "appointment_booked": True,
        "follow_up_needed": False,
    }
    first, second = llm.requests  # the fake refuses a wrong or missing key with a 401
    assert first.body["messages"][0] == {
        "role": "system",
        "content": "Summarise this plumbing call for the office.",
    }
    assert "Caller: My kitchen sink is leaking" in first.body["messages"][1]["content"]
    assert '"appointment_booked"' in second.body["messages"][0]["content"]

    usage = CallUsage.objects.get(call=call)
    assert (usage.billable_seconds, usage.billed_minutes, usage.cost) == (95, 2, Decimal("0.2000"))

    events = {}
    for request in receiver.requests:
        envelope = Webhook(hook.secret).verify(request.body, request.headers)
        events[envelope["type"]] = envelope["data"]
    assert set(events) == {"call.ended", "call.summarized"}
    ended = events["call.ended"]
    assert ended["id"] == str(call.public_id)
    assert ended["customer_number"] == "+15552223333" and ended["to"] == telephony.number_a.number
    assert ended["agent"] == {"id": str(telephony.cast.agent_a.public_id), "name": "Acme desk"}
    assert ended["phone_number"]["number"] == telephony.number_a.number
    assert ended["duration_s"] == 95 and ended["end_reason"] == "caller_hangup"
    assert ended["created_at"] and ended["ended_at"]
    assert [s["speaker"] for s in ended["transcript"]] == ["agent", "caller", "agent", "caller"]
    assert ended["transcript_text"].startswith(
        "Agent: Acme Plumbing, how can I help?\nCaller: My kitchen sink"
    )
    assert ended["summary"] == summary.text
    assert ended["structured_fields"]["appointment_booked"] is True
    assert ended["tool_calls"][0]["name"] == "book_appointment"
    assert ended["usage"]["billed_minutes"] == 2
    assert events["call.summarized"]["structured_fields"] == summary.structured_fields


def test_rerun_duplicates_nothing(
    telephony: Telephony,
    llm: FakeOpenAIChat,
    hook: CreatedEndpoint,
    receiver: FakeWebhookReceiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    llm.add_reply("A summary.")
    llm.add_reply('{"reason_for_call": "leak", "appointment_booked": true, "follow_up_needed": true}')
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        postcall_run(tenant_id=call.tenant_id, call_pk=call.pk)
        postcall_run(tenant_id=call.tenant_id, call_pk=call.pk)
    assert CallSummary.objects.filter(call=call).count() == 1
    assert CallUsage.objects.filter(call=call).count() == 1
    assert WebhookMessage.objects.count() == 2 and WebhookDelivery.objects.count() == 2
    assert len(llm.requests) == 2 and len(receiver.requests) == 2
    # Ending the call again enqueues nothing new.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_end(tenant_id=call.tenant_id, call_pk=call.pk, ending=CallEnding("again", 1, [], {}))
    assert callbacks == []


def test_post_call_work_starts_only_after_commit(
    telephony: Telephony, django_capture_on_commit_callbacks: Any
) -> None:
    call = live_call(telephony)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_end(tenant_id=call.tenant_id, call_pk=call.pk, ending=CallEnding("caller_hangup", 5000, [], {}))
        assert not CallSummary.objects.exists()
    assert len(callbacks) == 1
    callbacks[0]()
    assert CallSummary.objects.filter(call=call).exists() and CallUsage.objects.filter(call=call).exists()


@pytest.mark.parametrize(
    ("answer", "expected_error"),
    [
        (
            '{"reason_for_call": "leak", "appointment_booked": "yes", "follow_up_needed": false}',
            "appointment_booked",
        ),
        ('{"reason_for_call": "leak"}', "required"),
        ("I could not find those fields, sorry.", "not a JSON object"),
    ],
)
def test_invalid_structured_fields_are_stored_as_errors(
    telephony: Telephony,
    llm: FakeOpenAIChat,
    answer: str,
    expected_error: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    llm.add_reply("A summary.")
    llm.add_reply(answer)
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)
    summary = CallSummary.objects.get(call=call)
    assert summary.text == "A summary." and summary.fields_status == FieldsStatus.INVALID
    assert summary.structured_fields == {}
    assert any(expected_error in error for error in summary.fields_errors), summary.fields_errors
    assert summary.fields_raw == answer


def test_fenced_json_answer_is_accepted(
    telephony: Telephony, llm: FakeOpenAIChat, django_capture_on_commit_callbacks: Any
) -> None:
    llm.add_reply("A summary.")
    llm.add_reply(
        '```json\n{"reason_for_call": "leak", "appointment_booked": false, "follow_up_needed": true}\n```'
    )
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)
    assert CallSummary.objects.get(call=call).structured_fields["follow_up_needed"] is True


def test_llm_failure_falls_back_to_an_extractive_summary(
    telephony: Telephony, llm: FakeOpenAIChat, django_capture_on_commit_callbacks: Any
) -> None:
    llm.add_reply(status=500)
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)
    summary = CallSummary.objects.get(call=call)
    assert summary.source == SummarySource.EXTRACTIVE and "500" in summary.error
    assert "kitchen sink is leaking" in summary.text
    assert summary.fields_status == FieldsStatus.UNAVAILABLE


def test_local_engine_gets_an_extractive_summary(
    telephony: Telephony, django_capture_on_commit_callbacks: Any
) -> None:
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)
    summary = CallSummary.objects.get(call=call)
    assert summary.source == SummarySource.EXTRACTIVE and summary.error == ""
    assert summary.text.startswith("Caller: My kitchen sink is leaking under the cabinet.")
    assert len(summary.text) <= 600
    assert summary.fields_status == FieldsStatus.NOT_REQUESTED


def test_llm_url_on_a_private_address_is_refused_unless_allowed(
    telephony: Telephony, llm: FakeOpenAIChat, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = False
    call = live_call(telephony)
    end(call, django_capture_on_commit_callbacks)
    summary = CallSummary.objects.get(call=call)
    assert summary.source == SummarySource.EXTRACTIVE and "refused address" in summary.error
    assert llm.requests == []


def test_summary_settings_come_from_the_revision_the_call_ran_with(
    telephony: Telephony, llm: FakeOpenAIChat, django_capture_on_commit_callbacks: Any
) -> None:
    from agents.services import agent_publish

    revision = agent_publish(tenant=telephony.cast.tenant_a, agent=telephony.cast.agent_a)
    agent = telephony.cast.agent_a
    agent.summary_prompt = "A later draft prompt."
    agent.save()
    llm.add_reply("From the revision.")
    llm.add_reply('{"reason_for_call": "x", "appointment_booked": false, "follow_up_needed": false}')
    call = live_call(telephony)
    Call.objects.filter(pk=call.pk).update(agent_revision=revision)
    end(call, django_capture_on_commit_callbacks)
    assert llm.requests[0].body["messages"][0]["content"] == "Summarise this plumbing call for the office."
