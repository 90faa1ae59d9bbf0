"""End-to-end fixtures: a tenant whose number is answered by an agent on a given engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.calls.conftest import ACCOUNT_A, CALLER, NUMBER_A, TOKEN_A, Telephony, telephony  # noqa: F401
from tests.e2e.server import PUBLIC_BASE_URL
from tests.fakes.twilio import FakeTwilioCaller, FakeTwilioRest

__all__ = ["telephony"]


@dataclass
class Answer:
    token: str
    call_sid: str
    twiml: str = ""  # the webhook's whole TwiML answer (the fallback after <Connect> included)


async def place_inbound_call(base_http_url: str, call_sid: str, *, to: str = NUMBER_A) -> Answer:
    """POST the signed voice webhook like Twilio and return the call token from the TwiML."""
    import xml.etree.ElementTree as ET

    params = {
        "AccountSid": ACCOUNT_A, "ApiVersion": "2010-04-01", "CallSid": call_sid, "CallStatus": "ringing",
        "Direction": "inbound", "From": CALLER, "To": to, "Caller": CALLER, "Called": to,
    }  # fmt: skip
    signature = RequestValidator(TOKEN_A).compute_signature(PUBLIC_BASE_URL + "/twilio/voice", params)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            base_http_url + "/twilio/voice", data=params, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 200, response.text
    doc = ET.fromstring(response.text)  # noqa: S314 - our own server's TwiML
    parameter = doc.find("./Connect/Stream/Parameter[@name='token']")
    assert parameter is not None, response.text
    return Answer(token=parameter.get("value", ""), call_sid=call_sid, twiml=response.text)


@pytest.fixture
def configure_agent(telephony: Telephony) -> Callable[..., Any]:
    """Set the tenant A agent's engine/fields and tools, then publish a new revision."""
    from agents.services import agent_publish, agent_tool_enable

    def configure(*, builtins: tuple[str, ...] = (), **fields: Any) -> None:
        agent = telephony.cast.agent_a
        for name, value in fields.items():
            setattr(agent, name, value)
        agent.save()
        for builtin in builtins:
            agent_tool_enable(
                tenant=telephony.cast.tenant_a, agent=agent, builtin=builtin, in_verification=False
            )
        agent_publish(tenant=telephony.cast.tenant_a, agent=agent)

    return configure


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> AsyncIterator[None]:
    """sync_to_async runs ORM calls in a worker thread whose connection would outlive the test
    and block dropping the test database on PostgreSQL."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


# ------------------------------------------------------------------ helpers shared by the engine tests


STREAM_SIGNATURE_URL = PUBLIC_BASE_URL.replace("https://", "wss://") + "/twilio/media-stream"
# Bounds a caller utterance (the fixtures are at most ~3 s): FakeTwilioCaller's speech future
# never resolves once the server has closed the stream, which would hang a test.
SPEECH_TIMEOUT_S = 15.0


async def wait_db(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait until the server process has written what the test expects. The server is another
    process, so there is no event to await: this polls the database (bounded)."""
    from asgiref.sync import sync_to_async

    check = sync_to_async(predicate)
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - the server is another process: no event to await
            await asyncio.sleep(0.1)


async def connect_caller(server_ws_url: str, answer: Answer, rest: FakeTwilioRest) -> FakeTwilioCaller:
    """A ``FakeTwilioCaller`` on the answered call's media stream, signed like Twilio, and known to
    the fake REST API (so a REST hang-up ends its stream)."""
    caller = FakeTwilioCaller(
        account_sid=ACCOUNT_A, call_sid=answer.call_sid, custom_parameters={"token": answer.token}
    )
    rest.add_call(answer.call_sid, caller=caller)
    await caller.connect(
        server_ws_url + "/twilio/media-stream", auth_token=TOKEN_A, signature_url=STREAM_SIGNATURE_URL
    )
    return caller


def fallback_follows_connect(twiml: str) -> bool:
    """The voice webhook's answer plays a ``<Say>`` (then hangs up) once the stream ends without
    a REST hang-up or redirect: what the caller hears when the engine fails mid-call."""
    import xml.etree.ElementTree as ET

    children = [child.tag for child in ET.fromstring(twiml)]  # noqa: S314 - our own server's TwiML
    return "Connect" in children and children[children.index("Connect") + 1 :][:2] == ["Say", "Hangup"]


def ended_call() -> Any:
    """The only call of the test, once the server has ended it (None before)."""
    from calls.models import Call

    return Call.objects.filter(ended_at__isnull=False).first()


def transcript_rows(call: Any) -> list[tuple[str, str]]:
    """``(speaker, text)`` of the call's stored transcript, in conversation order."""
    from calls.models import TranscriptSegment

    rows = TranscriptSegment.objects.filter(call=call).order_by("ordinal", "start_ms", "pk")
    return [(row.speaker, row.text) for row in rows]


def call_events(call: Any, kind: str) -> list[dict[str, Any]]:
    from calls.models import CallEvent

    return [e.payload for e in CallEvent.objects.filter(call=call, type=kind).order_by("at_ms", "pk")]


def add_knowledge_base(telephony: Telephony, *, title: str, text: str) -> None:
    """Give tenant A's agent a knowledge base holding ``text``, indexed now (the Celery task is
    run directly: it is not eager in CI), and the ``query_knowledge_base`` tool. The caller still
    has to publish (``configure_agent`` does)."""
    from agents.knowledge.models import Document, DocumentStatus
    from agents.knowledge.services import corpus_create, document_add_text
    from agents.knowledge.tasks import ingest_document
    from agents.services import agent_corpora_set, agent_tool_enable

    tenant, agent = telephony.cast.tenant_a, telephony.cast.agent_a
    corpus = corpus_create(tenant=tenant, name="Front desk facts")
    added = document_add_text(tenant=tenant, corpus=corpus, title=title, text=text)
    ingest_document(added.document.pk)
    assert Document.objects.get(pk=added.document.pk).status == DocumentStatus.READY
    agent_corpora_set(tenant=tenant, agent=agent, corpus_ids=[str(corpus.public_id)])
    agent_tool_enable(tenant=tenant, agent=agent, builtin="query_knowledge_base", in_verification=False)


async def wait_postcall_settled(timeout_s: float = 15.0) -> None:
    """Without a broker (SQLite runs) the server runs the post-call chain (summary -> usage ->
    webhooks) eagerly, inside the consumer's last database hop; stopping daphne in the middle of
    it leaves a thread waiting on a stopped event loop, and the process must then be killed. So
    wait for the chain's usage step when it runs in the server. With a broker (CI on PostgreSQL
    and Redis) the chain is only queued, for a worker the tests do not run: nothing to wait for."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from calls.postcall.models import CallUsage

    await wait_db(lambda: CallUsage.objects.exists(), timeout_s)
