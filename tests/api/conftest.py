"""Fixtures for API, webhook and post-call tests: API keys per role, a call factory, Celery in
eager mode, a fake webhook receiver. Other test packages import these from here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent
from calls.models import STATUS_RANK, Call, CallEvent, CallStatus, Direction, TranscriptSegment
from tenants.models import ApiKeyScope, PhoneNumber, Tenant
from tenants.services import api_key_create
from tests.calls.conftest import Telephony, telephony  # noqa: F401 - re-exported fixture
from tests.conftest import Cast
from tests.fakes.webhook_receiver import FakeWebhookReceiver
from voxsaas.celery import app as celery_app


@dataclass
class Keys:
    write_a: str
    read_a: str
    write_b: str


@pytest.fixture
def keys(cast: Cast) -> Keys:
    return Keys(
        write_a=api_key_create(tenant=cast.tenant_a, name="A write", scope=ApiKeyScope.WRITE).secret,
        read_a=api_key_create(tenant=cast.tenant_a, name="A read", scope=ApiKeyScope.READ).secret,
        write_b=api_key_create(tenant=cast.tenant_b, name="B write", scope=ApiKeyScope.WRITE).secret,
    )


def api(secret: str | None = None) -> APIClient:
    client = APIClient()
    if secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def allow_private(settings: Any) -> None:
    """The fakes listen on 127.0.0.1: let webhook deliveries (and LLM URLs) reach them."""
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver() as fake:
        yield fake


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run .delay()/chains in-process even when REDIS_URL makes Celery use a real broker."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.task_eager_propagates)
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


def make_call(
    tenant: Tenant,
    *,
    agent: Agent | None,
    number: PhoneNumber | None,
    status: str = CallStatus.COMPLETED,
    direction: str = Direction.INBOUND,
    caller: str = "+15552223333",
    created_at: datetime | None = None,
    duration_s: int | None = 75,
    end_reason: str = "caller_hangup",
    transcript: Sequence[tuple[str, str]] = (),
    events: Sequence[tuple[str, dict[str, Any]]] = (),
) -> Call:
    created = created_at or timezone.now() - timedelta(minutes=5)
    ended = status in (CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER)
    call = Call.objects.create(
        tenant=tenant,
        agent=agent,
        phone_number=number,
        direction=direction,
        from_number=caller if direction != Direction.OUTBOUND else (number.number if number else ""),
        to_number=(number.number if number else "") if direction != Direction.OUTBOUND else caller,
        status=status,
        status_rank=STATUS_RANK[status],
        created_at=created,
        answered_at=created + timedelta(seconds=2) if duration_s else None,
        ended_at=created + timedelta(seconds=2 + (duration_s or 0)) if ended else None,
        duration_s=duration_s if ended else None,
        end_reason=end_reason if ended else "",
    )
    for ordinal, (speaker, text) in enumerate(transcript):
        TranscriptSegment.objects.create(
            tenant=tenant, call=call, speaker=speaker, text=text, ordinal=ordinal, start_ms=ordinal * 2000
        )
    for at_ms, (kind, payload) in enumerate(events):
        CallEvent.objects.create(tenant=tenant, call=call, type=kind, payload=payload, at_ms=at_ms * 100)
    return call


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The cast's users are created per test; PBKDF2 would dominate the run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
