"""Dashboard fixtures: the standard cast, with every kind of row the dashboard shows in BOTH
tenants (so each page can be tried with the other tenant's ids)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from agents.models import Agent, AgentRevision, Tool
from agents.services import agent_publish
from calls.models import STATUS_RANK, Call, CallEvent, CallStatus, Direction, TranscriptSegment
from calls.postcall.models import CallSummary
from tenants.models import ApiKey, Invitation, Membership, PhoneNumber, Role, TelephonyAccount, Tenant
from tenants.services import api_key_create
from tests.calls.conftest import Telephony, telephony  # noqa: F401 - re-exported fixture
from tests.conftest import Cast

RECORDING_BYTES = b"RIFF" + bytes(range(256)) * 8  # not a real WAV: the view serves bytes as stored

TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_number": {"type": "string", "maxLength": 12},
        "include_items": {"type": "boolean", "default": False},
    },
    "required": ["order_number"],
    "additionalProperties": False,
}


@dataclass
class Side:
    """One tenant's rows."""

    tenant: Tenant
    agent: Agent
    revision: AgentRevision
    account: TelephonyAccount
    number: PhoneNumber
    tool: Tool
    call: Call
    owner: Membership
    invitation: Invitation
    key: ApiKey
    # Rows the dashboard's other areas add (tests/dashboard/areas/), by name.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    cast: Cast
    a: Side
    b: Side


def make_call(
    tenant: Tenant,
    *,
    agent: Agent | None,
    number: PhoneNumber | None,
    created_at: Any = None,
    status: str = CallStatus.COMPLETED,
    direction: str = Direction.INBOUND,
    end_reason: str = "caller_hangup",
    duration_s: int | None = 75,
    latency_avg_ms: int | None = 640,
    revision: AgentRevision | None = None,
    verified: bool = False,
    caller: str = "+15552223333",
) -> Call:
    created = created_at or timezone.now() - timedelta(minutes=5)
    return Call.objects.create(
        tenant=tenant,
        agent=agent,
        phone_number=number,
        agent_revision=revision,
        direction=direction,
        from_number=caller,
        to_number=number.number if number else "",
        status=status,
        status_rank=STATUS_RANK[status],
        created_at=created,
        answered_at=created + timedelta(seconds=2) if duration_s else None,
        ended_at=created + timedelta(seconds=2 + (duration_s or 0)) if duration_s else None,
        duration_s=duration_s,
        end_reason=end_reason,
        latency_avg_ms=latency_avg_ms,
        latency_p50_ms=latency_avg_ms,
        latency_max_ms=(latency_avg_ms or 0) * 2 or None,
        turn_count=3,
        engine="local",
        contact_public_id="6f1c3a52-3f57-4d7e-9a55-44f1d0a7c001" if verified else None,
    )


def add_conversation(call: Call) -> None:
    """A short call: greeting, verification with a tool call, the main stage, a barge-in."""
    tenant_id = call.tenant_id
    lines = [
        ("agent", "Thanks for calling. How can I help?", 0, 2100),
        ("caller", "Hi, where is my order?", 2600, 4200),
        ("agent", "Let me look that up for you.", 5000, 6500),
        ("caller", "Order A-1234.", 7000, 8000),
        ("agent", "Your order ships tomorrow, and it will", 9100, 11000),
        ("caller", "Great, thanks!", 10200, 11300),
    ]
    for ordinal, (speaker, text, start, end) in enumerate(lines):
        TranscriptSegment.objects.create(
            tenant_id=tenant_id,
            call=call,
            speaker=speaker,
            text=text,
            ordinal=ordinal,
            start_ms=start,
            end_ms=end,
        )
    events = [
        (4700, "turn_latency", {"ms": 500}),
        (
            8300,
            "tool_call",
            {
                "name": "lookup_order",
                "call_id": "c1",
                "stage": "main",
                "arguments": {"order_number": "A-1234"},
                "duration_ms": 180,
                "outcome": "ok",
                "result": '{"status": "shipping tomorrow"}',
            },
        ),
        (6800, "stage_changed", {"from": "verification", "to": "main", "via": "verify_caller"}),
        (9000, "turn_latency", {"ms": 700}),
        (10250, "interruption", {"item_id": "i1", "heard_ms": 1150, "sent_ms": 1900}),
    ]
    for seq, (at_ms, kind, payload) in enumerate(events):
        CallEvent.objects.create(
            tenant_id=tenant_id, call=call, type=kind, payload=payload, at_ms=at_ms, seq=seq
        )


def _side(
    tenant: Tenant,
    agent: Agent,
    account: TelephonyAccount,
    number: PhoneNumber,
    owner: Membership,
    suffix: str,
) -> Side:
    revision = AgentRevision.objects.get(agent=agent, number=1)
    tool = Tool.objects.create(
        tenant=tenant,
        name=f"lookup_order_{suffix}",
        description="Look up an order by its number.",
        parameters=TOOL_SCHEMA,
        url="https://hooks.example.test/orders",
        signing_secret=f"signing-secret-{suffix}-0123456789",
        secret_headers='{"Authorization": "Bearer hidden-header-' + suffix + '"}',
    )
    call = make_call(tenant, agent=agent, number=number, revision=revision, verified=True)
    add_conversation(call)
    CallSummary.objects.create(
        tenant=tenant,
        call=call,
        source="llm",
        text=f"The caller asked about order A-1234 ({suffix}).",
        structured_fields={"reason": "order status", "follow_up": False},
        fields_status="valid",
    )
    call.recording.save(f"call-{suffix}.wav", ContentFile(RECORDING_BYTES), save=True)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=f"invitee-{suffix}@example.com",
        role=Role.EDITOR,
        expires_at=timezone.now() + timedelta(days=7),
    )
    key = api_key_create(tenant=tenant, name=f"Key {suffix}").api_key
    side = Side(tenant, agent, revision, account, number, tool, call, owner, invitation, key)
    from tests.dashboard.areas import AREAS  # the areas' page lists import this module

    for area in AREAS:
        side.extra.update(area.populate(side, suffix))
    return side


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The cast's users are created per test; PBKDF2 would dominate the run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def world(cast: Cast, telephony: Telephony, media_root: Path) -> World:  # noqa: F811 - the fixture above
    # A second published revision of agent A, so diffs and history have something to show.
    cast.agent_a.greeting = "Hello from {{ tenant_name }}!"
    cast.agent_a.save()
    agent_publish(tenant=cast.tenant_a, agent=cast.agent_a, user=cast.owner_a, note="Greeting")
    a = _side(
        cast.tenant_a,
        cast.agent_a,
        telephony.account_a,
        telephony.number_a,
        Membership.objects.get(tenant=cast.tenant_a, user=cast.owner_a),
        "a",
    )
    b = _side(
        cast.tenant_b,
        cast.agent_b,
        telephony.account_b,
        telephony.number_b,
        Membership.objects.get(tenant=cast.tenant_b, user=cast.owner_b),
        "b",
    )
    return World(cast, a, b)


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client
