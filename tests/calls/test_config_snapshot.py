"""What a call runs with, built from the agent's published revision."""

from __future__ import annotations

from agents.services import agent_publish
from calls.config_snapshot import build_call_config
from calls.models import Call
from tests.calls.conftest import CALLER, Telephony


def _call(telephony: Telephony, **fields: object) -> Call:
    agent = telephony.cast.agent_a
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save()
    revision = agent_publish(tenant=telephony.cast.tenant_a, agent=agent)
    return Call.objects.create(
        tenant=telephony.cast.tenant_a,
        phone_number=telephony.number_a,
        agent=agent,
        agent_revision=revision,
        from_number=CALLER,
        to_number=telephony.number_a.number,
    )


def test_a_recorded_call_announces_it_before_the_greeting(telephony: Telephony) -> None:
    call = _call(
        telephony,
        greeting="Hello from {{ tenant_name }}.",
        recording_enabled=True,
        recording_announcement="This call is recorded.",
    )
    assert call.agent_revision is not None
    config = build_call_config(call=call, revision=call.agent_revision)
    assert config.engine.greeting == "This call is recorded. Hello from Acme Plumbing."
    assert config.session.record is True


def test_an_unrecorded_call_does_not_announce(telephony: Telephony) -> None:
    call = _call(telephony, greeting="Hello.", recording_enabled=False, recording_announcement="Recorded.")
    assert call.agent_revision is not None
    config = build_call_config(call=call, revision=call.agent_revision)
    assert config.engine.greeting == "Hello."
    assert config.session.record is False
