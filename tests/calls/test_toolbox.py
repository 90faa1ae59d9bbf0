"""The call's tools as the model meets them: stage gating from the published revision,
verification with lock-out, and tenant webhook tools (signed, SSRF-guarded, bounded)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from asgiref.sync import sync_to_async

from agents.models import BuiltinTool, Tool
from agents.services import agent_publish, agent_tool_enable, contact_create
from calls.bridge.config import StageSpec
from calls.bridge.frames import ToolCall
from calls.bridge.ports import ToolContext
from calls.bridge.tools import EndCall, SwitchStage, ToolDispatcher
from calls.config_snapshot import build_call_config
from calls.models import Call
from calls.toolbox import CallRuntime, CallToolExecutor
from tests.calls.conftest import CALLER, Telephony

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "tool-signing-secret-0123456789"


def _publish_with_verification(telephony: Telephony, **fields: Any) -> Call:
    agent = telephony.cast.agent_a
    agent.verification_prompt = "Verify the caller with their PIN."
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save()
    tenant = telephony.cast.tenant_a
    agent_tool_enable(
        tenant=tenant, agent=agent, builtin=BuiltinTool.CURRENT_TIME, in_verification=True, in_main=False
    )
    agent_tool_enable(tenant=tenant, agent=agent, builtin=BuiltinTool.TRANSFER_TO_HUMAN, in_main=True)
    agent_publish(tenant=tenant, agent=agent)
    agent.refresh_from_db()
    return Call.objects.create(
        tenant=tenant,
        phone_number=telephony.number_a,
        agent=agent,
        agent_revision=agent.published_revision,
        from_number=CALLER,
        to_number=telephony.number_a.number,
        twilio_call_sid="CA1",
    )


class Harness:
    def __init__(self, call: Call) -> None:
        revision = call.agent_revision
        assert revision is not None
        self.config = build_call_config(call=call, revision=revision)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.executor = CallToolExecutor(
            CallRuntime(
                tenant_id=call.tenant_id,
                call_pk=call.pk,
                call_public_id=str(call.public_id),
                caller_number=call.from_number,
                called_number=call.to_number,
                config=revision.config,
            )
        )
        self.dispatcher = ToolDispatcher(
            self.executor,
            context=ToolContext(str(call.public_id), call.tenant_id, self.config.first_stage, {}),
            stages=self.config.stages,
            record_event=lambda kind, payload: self.events.append((kind, payload)),
        )

    def stage(self, name: str) -> StageSpec:
        return self.config.stages[name]

    async def call(self, name: str, arguments: dict[str, Any], stage: str) -> Any:
        # As the session does: verify_caller's arguments are secrets and are redacted.
        return await self.dispatcher.dispatch(
            ToolCall("c1", name, json.dumps(arguments)),
            self.stage(stage),
            redact_arguments=name == "verify_caller",
        )


async def test_stages_offer_only_their_tools(telephony: Telephony) -> None:
    call = await sync_to_async(_publish_with_verification)(telephony)
    harness = await sync_to_async(Harness)(call)
    verification = {t.name for t in harness.stage("verification").tools}
    main = {t.name for t in harness.stage("main").tools}
    assert verification == {"verify_caller", "current_time"}
    assert main == {"transfer_to_human", "end_call"}
    answer = await harness.call("transfer_to_human", {"reason": "wants a human"}, "verification")
    assert answer.outcome == "tool_not_in_stage" and answer.result.is_error
    assert answer.directive is None  # refused: nothing happened


async def test_verification_success_switches_to_the_main_stage(telephony: Telephony) -> None:
    call = await sync_to_async(_publish_with_verification)(telephony)
    await sync_to_async(contact_create)(
        tenant=telephony.cast.tenant_a, name="Ann", phones=[CALLER], pin="1234"
    )
    harness = await sync_to_async(Harness)(call)
    answer = await harness.call("verify_caller", {"pin": "one two three four"}, "verification")
    assert answer.outcome == "ok"
    assert answer.directive == SwitchStage("main")
    assert json.loads(answer.result.output)["contact"]["name"] == "Ann"
    assert harness.executor.verified
    stored = await sync_to_async(Call.objects.get)(pk=call.pk)
    assert stored.contact_public_id is not None


async def test_failed_verification_locks_out_and_ends_politely(telephony: Telephony) -> None:
    call = await sync_to_async(_publish_with_verification)(telephony, verification_max_attempts=2)
    await sync_to_async(contact_create)(
        tenant=telephony.cast.tenant_a, name="Ann", phones=[CALLER], pin="1234"
    )
    harness = await sync_to_async(Harness)(call)
    first = await harness.call("verify_caller", {"pin": "0000"}, "verification")
    assert json.loads(first.result.output)["attempts_left"] == 1 and first.directive is None
    second = await harness.call("verify_caller", {"pin": "1111"}, "verification")
    assert json.loads(second.result.output)["locked_out"] is True
    assert second.directive == EndCall("verification_failed")
    # The PIN never lands in the stored event.
    assert all("0000" not in json.dumps(payload) for _, payload in harness.events)


async def test_failed_verification_transfers_when_configured(telephony: Telephony) -> None:
    call = await sync_to_async(_publish_with_verification)(
        telephony,
        verification_max_attempts=1,
        verification_failure_action="transfer",
        transfer_number="+15557778888",
    )
    harness = await sync_to_async(Harness)(call)
    answer = await harness.call("verify_caller", {"pin": "0000"}, "verification")
    assert answer.directive is not None and "+15557778888" in answer.directive.twiml
    assert "/twilio/dial-action?t=" in answer.directive.twiml


@pytest.mark.parametrize(
    "arguments",
    [{"pin": 1234}, {"pinn": "1234"}, {"pin": "1" * 5000}, {"pin": ["1", "2"]}],
    ids=["wrong-type", "extra-field", "huge-string", "array"],
)
async def test_hallucinated_arguments_are_refused_before_anything_runs(
    telephony: Telephony, arguments: dict[str, Any]
) -> None:
    call = await sync_to_async(_publish_with_verification)(telephony)
    harness = await sync_to_async(Harness)(call)
    answer = await harness.call("verify_caller", arguments, "verification")
    assert answer.outcome == "invalid_arguments" and answer.result.is_error
    assert harness.executor.failed_attempts == 0  # the executor never ran


# ---------------------------------------------------------------------------- webhook tools


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        bodies.append(await request.read())
        if request.path == "/big":
            return web.Response(body=b'{"x": "' + b"a" * 5000 + b'"}', content_type="application/json")
        if request.path == "/text":
            return web.Response(text="hello")
        if request.path == "/fail":
            return web.Response(status=500)
        return web.json_response({"order": "shipped", "eta_days": 2})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen, bodies
    await runner.cleanup()


def _webhook_call(telephony: Telephony, url: str) -> Call:
    tenant = telephony.cast.tenant_a
    tool = Tool.objects.create(
        tenant=tenant,
        name="lookup_order",
        description="Find an order.",
        url=url,
        signing_secret=SECRET,
        parameters={
            "type": "object",
            "properties": {"order": {"type": "string", "maxLength": 20}},
            "required": ["order"],
            "additionalProperties": False,
        },
        headers={"X-Shop": "acme"},
        secret_headers=json.dumps({"Authorization": "Bearer shop-key"}),
        max_response_bytes=1000,
    )
    agent = telephony.cast.agent_a
    agent_tool_enable(tenant=tenant, agent=agent, tool=tool)
    agent_publish(tenant=tenant, agent=agent)
    agent.refresh_from_db()
    return Call.objects.create(
        tenant=tenant,
        phone_number=telephony.number_a,
        agent=agent,
        agent_revision=agent.published_revision,
        from_number=CALLER,
        to_number=telephony.number_a.number,
        twilio_call_sid="CA2",
    )


async def test_webhook_tool_request_is_signed_and_its_json_answer_returned(
    telephony: Telephony, receiver: tuple[str, list[web.Request], list[bytes]], settings: Any
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True  # the receiver is on this machine
    base, seen, bodies = receiver
    call = await sync_to_async(_webhook_call)(telephony, base + "/orders")
    harness = await sync_to_async(Harness)(call)
    answer = await harness.call("lookup_order", {"order": "A-17"}, "main")
    assert answer.outcome == "ok"
    assert json.loads(answer.result.output) == {"order": "shipped", "eta_days": 2}
    request, body = seen[0], bodies[0]
    timestamp = request.headers["X-VoxSaaS-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert request.headers["X-VoxSaaS-Signature"] == f"v1={expected}"
    assert request.headers["Authorization"] == "Bearer shop-key" and request.headers["X-Shop"] == "acme"
    sent = json.loads(body)
    assert sent["arguments"] == {"order": "A-17"} and sent["call"]["caller"] == CALLER


@pytest.mark.parametrize(
    ("path", "message"),
    [("/big", "too large"), ("/text", "did not answer with JSON"), ("/fail", "status 500")],
)
async def test_webhook_tool_failures_are_structured_errors(
    telephony: Telephony,
    receiver: tuple[str, list[web.Request], list[bytes]],
    settings: Any,
    path: str,
    message: str,
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True
    base, _, _ = receiver
    call = await sync_to_async(_webhook_call)(telephony, base + path)
    harness = await sync_to_async(Harness)(call)
    answer = await harness.call("lookup_order", {"order": "A-17"}, "main")
    assert answer.outcome == "tool_error" and message in json.loads(answer.result.output)["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://2130706433/x",
        "http://0177.0.0.1/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/x",
        "http://localhost/x",
    ],
)
async def test_webhook_tools_never_reach_internal_addresses(
    telephony: Telephony, settings: Any, url: str
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = False
    call = await sync_to_async(_webhook_call)(telephony, url)
    harness = await sync_to_async(Harness)(call)
    answer = await harness.call("lookup_order", {"order": "A-17"}, "main")
    assert answer.outcome == "tool_error"
    assert "not reachable" in json.loads(answer.result.output)["error"]["message"]


# --------------------------------------------------------------------------- knowledge base


def _kb_call(telephony: Telephony) -> Call:
    from agents.knowledge.services import corpus_create, document_add_text
    from agents.knowledge.tasks import ingest_document
    from agents.services import agent_corpora_set

    tenant = telephony.cast.tenant_a
    public = corpus_create(tenant=tenant, name="FAQ")
    private = corpus_create(tenant=tenant, name="Accounts", is_private=True)
    docs = [
        document_add_text(
            tenant=tenant,
            corpus=public,
            title="Opening hours",
            text="We are open Monday to Friday from 8 am to 6 pm and closed on Sundays.",
        ),
        document_add_text(
            tenant=tenant,
            corpus=private,
            title="Account balance",
            text="Your account balance is forty two dollars and the next invoice is due in May.",
        ),
    ]
    for added in docs:
        ingest_document(added.document.pk)  # CI's Celery isn't eager: ingest here, idempotently
    # Another tenant's corpus with a matching text must never be searched.
    other = corpus_create(tenant=telephony.cast.tenant_b, name="Other FAQ")
    ingest_document(
        document_add_text(
            tenant=telephony.cast.tenant_b,
            corpus=other,
            title="Hours",
            text="We are open on Sundays all day.",
        ).document.pk
    )
    agent_corpora_set(
        tenant=tenant,
        agent=telephony.cast.agent_a,
        corpus_ids=[str(public.public_id), str(private.public_id)],
    )
    return _publish_with_verification(telephony)


async def test_knowledge_base_answers_and_keeps_private_corpora_locked_until_verified(
    telephony: Telephony,
) -> None:
    call = await sync_to_async(_kb_call)(telephony)
    await sync_to_async(contact_create)(
        tenant=telephony.cast.tenant_a, name="Ann", phones=[CALLER], pin="1234"
    )
    # Offer the knowledge base before verification too, to prove the private corpus stays locked.
    harness = await sync_to_async(Harness)(call)
    from calls.config_snapshot import stage_spec

    revision = call.agent_revision
    assert revision is not None
    kb_config = {
        **revision.config,
        "tools": [
            *revision.config["tools"],
            {
                "kind": "builtin",
                "name": "query_knowledge_base",
                "in_verification": True,
                "in_main": True,
                "description": "kb",
                "timeout_s": 3,
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        ],
    }
    harness.executor.runtime.config = kb_config
    harness.config.stages["verification"] = stage_spec(kb_config, "verification", {})
    harness.config.stages["main"] = stage_spec(kb_config, "main", {})

    hours = await harness.call("query_knowledge_base", {"query": "are you open on sunday"}, "verification")
    passages = json.loads(hours.result.output)["passages"]
    assert passages[0]["document"] == "Opening hours"
    assert all("all day" not in p["text"] for p in passages)  # never another tenant's corpus
    locked = await harness.call(
        "query_knowledge_base", {"query": "what is my account balance"}, "verification"
    )
    assert all(p["document"] != "Account balance" for p in json.loads(locked.result.output)["passages"])

    await harness.call("verify_caller", {"pin": "1234"}, "verification")
    unlocked = await harness.call("query_knowledge_base", {"query": "what is my account balance"}, "main")
    assert json.loads(unlocked.result.output)["passages"][0]["document"] == "Account balance"


# ------------------------------------------------------------------------------- scheduling


def _scheduling_call(telephony: Telephony) -> Call:
    import datetime as dt

    from agents.scheduling.services import hours_set, resource_create

    tenant = telephony.cast.tenant_a
    resource = resource_create(tenant=tenant, name="Chair 1", time_zone="UTC", slot_minutes=30)
    hours_set(tenant=tenant, resource=resource, week={d: [(dt.time(9), dt.time(17))] for d in range(7)})
    agent = telephony.cast.agent_a
    for builtin in (BuiltinTool.CHECK_AVAILABILITY, BuiltinTool.SCHEDULE_MEETING, BuiltinTool.CANCEL_MEETING):
        agent_tool_enable(tenant=tenant, agent=agent, builtin=builtin)
    return _publish_with_verification(telephony)


async def test_booking_through_the_call_uses_the_callers_identity(telephony: Telephony) -> None:
    from agents.scheduling.models import Booking

    call = await sync_to_async(_scheduling_call)(telephony)
    await sync_to_async(contact_create)(
        tenant=telephony.cast.tenant_a, name="Ann Archer", phones=[CALLER], pin="1234"
    )
    harness = await sync_to_async(Harness)(call)
    refused = await harness.call(
        "schedule_meeting", {"start_iso": "2030-01-01T10:00:00Z", "customer_name": "X"}, "main"
    )
    assert (
        refused.outcome == "tool_error"
        and "verified" in json.loads(refused.result.output)["error"]["message"]
    )

    await harness.call("verify_caller", {"pin": "1234"}, "verification")
    offered = json.loads(
        (await harness.call("check_availability", {"when_text": "tomorrow at 10"}, "main")).result.output
    )
    assert offered["slots"], offered
    slot = offered["slots"][0]
    booked = await harness.call(
        "schedule_meeting",
        {
            "start_iso": slot["start"],
            "customer_name": "Somebody Else",
            "resource_id": slot["resource_id"],
        },
        "main",
    )
    assert booked.outcome == "ok", booked.result.output
    booking = await sync_to_async(Booking.objects.get)()
    assert booking.customer_name == "Ann Archer"  # the verified contact, not what the model said
    assert booking.customer_phone == CALLER and str(booking.source_call_id) == str(call.public_id)
    assert booking.tenant_id == telephony.cast.tenant_a.pk
