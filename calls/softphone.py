"""Talk to this agent: a web test call from the dashboard, through the same ``CallSession``.

``SoftphoneConsumer`` (``/t/<slug>/agents/<agent public id>/talk/ws``) is the softphone page's
socket. It is session-authenticated like every dashboard socket; the member must be an editor or
above in the URL's tenant (else close 4403, before accepting), the agent must be that tenant's
(else 4404: another tenant's agent is a missing one) and published (else 4409).

Then it is a phone call without the phone: the browser announces its audio format (see
``calls.bridge.telephony.browser``); a ``Call`` is created with ``direction=web`` and the agent's
published revision; the ``CallConfig`` is built by ``build_call_config`` exactly as for a phone
call; and the same ``CallSession`` runs it with the same engine, tools, stages, recorder
(transcript storage, heartbeat, live updates) and post-call work. Only the edges differ:

- ``BrowserTransport`` speaks the browser's protocol (binary mu-law audio, JSON marks/clears);
- ``WebCallControl``: hanging up tells the browser and closes the socket; there is no phone call
  to redirect, so transfers are refused;
- ``WebCallToolExecutor``: the ``transfer_to_human`` tool answers with a structured error the
  agent can explain ("transfers are not available on web test calls").

Besides the telephony protocol the browser receives JSON text: ``{"event": "call", ...}`` once
the call exists, ``{"event": "transcript", "segments": [...]}`` after each stored flush, and
``{"event": "hangup"}`` when the agent's side ends the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from calls import services
from calls.bridge.config import CallConfig
from calls.bridge.engines.base import EngineError
from calls.bridge.engines.registry import build_engine
from calls.bridge.ports import ProtocolViolation, ToolContext, ToolExecutionError, TransportClosed
from calls.bridge.session import CallSession
from calls.bridge.telephony.browser import BrowserTransport
from calls.bridge.tools import EndCall, ToolOutput, TransferCall
from calls.bridge.transport import CLOSE_POLICY_VIOLATION, read_stream_start
from calls.config_snapshot import build_call_config
from calls.consumers import DatabaseCallRecorder, wind_down
from calls.live import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_NOT_SIGNED_IN, LiveCallMixin
from calls.models import STATUS_RANK, Call, CallEvent, CallStatus, Direction
from calls.toolbox import CallRuntime, CallToolExecutor
from tenants.access import TenantObjectNotFound, access_agent_by_public_id, access_membership_by_tenant_slug
from tenants.models import Role, Tenant
from voxsaas.drain import worker

log = logging.getLogger(__name__)

CLOSE_NOT_PUBLISHED = 4409
CLOSE_TRY_AGAIN_LATER = 1013
TRANSFER_UNAVAILABLE = (
    "Transfers are not available on a web test call. Tell the caller you would transfer them to a "
    "colleague on a real phone call, and offer to help with anything else."
)
TRANSFER_TOOL = "transfer_to_human"


class SoftphoneRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class WebCallGate:
    """Who may talk to which agent, resolved once when the socket opens."""

    tenant: Tenant
    agent: Agent
    username: str


def web_call_gate(*, user: User | AnonymousUser, slug: str, agent_public_id: str) -> WebCallGate:
    """The member's tenant from the URL (``tenants.access``), their role, then the agent in that
    tenant. Raises ``SoftphoneRefused`` with the close code."""
    try:
        membership = access_membership_by_tenant_slug(user=user, slug=slug)
    except TenantObjectNotFound:
        raise SoftphoneRefused(CLOSE_NOT_FOUND, "no such workspace") from None
    if not membership.has_role(Role.EDITOR):
        raise SoftphoneRefused(CLOSE_FORBIDDEN, "only editors and above may talk to an agent")
    try:
        agent = access_agent_by_public_id(tenant=membership.tenant, public_id=agent_public_id)
    except TenantObjectNotFound:
        raise SoftphoneRefused(CLOSE_NOT_FOUND, "no such agent") from None
    if agent.published_revision_id is None:
        raise SoftphoneRefused(CLOSE_NOT_PUBLISHED, "the agent is not published")
    return WebCallGate(tenant=membership.tenant, agent=agent, username=membership.user.get_username())


@dataclass(frozen=True)
class WebCall:
    call_pk: int
    tenant_id: int
    config: CallConfig
    revision_config: dict[str, Any]


@transaction.atomic
def web_call_start(*, gate: WebCallGate, public_id: str, stream_id: str) -> WebCall:
    """Create the web test call with the agent's published revision and snapshot its config,
    in one hop. It is bridged at once (``in-progress``, with a heartbeat, like a bound stream)."""
    agent = Agent.objects.select_related("published_revision").get(tenant=gate.tenant, pk=gate.agent.pk)
    revision = agent.published_revision
    if revision is None:
        raise SoftphoneRefused(CLOSE_NOT_PUBLISHED, "the agent is not published")
    now = timezone.now()
    call = Call.objects.create(
        tenant=gate.tenant,
        public_id=uuid.UUID(public_id),
        agent=agent,
        agent_revision=revision,
        direction=Direction.WEB,
        status=CallStatus.IN_PROGRESS,
        status_rank=STATUS_RANK[CallStatus.IN_PROGRESS],
        answered_at=now,
        engine=str(revision.config.get("engine", "")),
        stream_sid=stream_id[:64],
        worker_id=settings.WORKER_ID[:64],
        heartbeat_at=now,
    )
    CallEvent.objects.create(
        tenant=gate.tenant,
        call=call,
        type="web_test_call",
        payload={"started_by": gate.username[:150]},
        at=now,
    )
    config = build_call_config(call=call, revision=revision)
    return WebCall(call_pk=call.pk, tenant_id=call.tenant_id, config=config, revision_config=revision.config)


class WebCallControl:
    """``CallControl`` of a web call: no telephony provider; the socket is the line."""

    def __init__(self, transport: BrowserTransport, notify: Any) -> None:
        self._transport = transport
        self._notify = notify

    async def hang_up(self) -> None:
        try:
            await self._notify({"event": "hangup"})
        except Exception:  # the browser left already: nothing to tell
            log.debug("hang-up notice not delivered", exc_info=True)
        await self._transport.close(1000)

    async def redirect(self, twiml: str) -> None:
        raise ToolExecutionError("A web test call cannot be transferred.")


class WebCallToolExecutor:
    """The call's tools, except that nothing can transfer a web test call: ``transfer_to_human``
    answers with a structured error, and a transfer another tool asks for (verification failure
    set to "transfer") ends the call politely instead."""

    def __init__(self, inner: CallToolExecutor) -> None:
        self.inner = inner

    async def execute(self, name: str, arguments: dict[str, Any], context: ToolContext) -> Any:
        if name == TRANSFER_TOOL:
            raise ToolExecutionError(TRANSFER_UNAVAILABLE)
        result = await self.inner.execute(name, arguments, context)
        if isinstance(result, ToolOutput) and isinstance(result.directive, TransferCall):
            return ToolOutput(result.result, EndCall("transfer_unavailable_on_web_call"), result.speak)
        return result


class SoftphoneConsumer(LiveCallMixin, AsyncWebsocketConsumer):
    transport: BrowserTransport | None = None
    call_task: asyncio.Task[None] | None = None
    gate: WebCallGate | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Audio frames skip Channels' per-message database-connection cleanup (a thread hop),
        # exactly like the media-stream consumer: they never touch the ORM.
        if message["type"] == "websocket.receive" and self.transport is not None:
            self.transport.feed(
                message.get("text") if message.get("text") is not None else message.get("bytes")
            )
            return
        await super().dispatch(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.gate = await database_sync_to_async(web_call_gate)(
                user=user, slug=str(kwargs.get("slug", "")), agent_public_id=str(kwargs.get("agent_id", ""))
            )
        except SoftphoneRefused as exc:
            await self.close(code=exc.code)
            return
        public_id = str(uuid.uuid4())
        self.transport = BrowserTransport(
            call_id=public_id, send_text=self._send_text, send_bytes=self._send_bytes, close=self._close
        )
        await self.accept()
        if worker.draining:
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        self.call_task = asyncio.create_task(self._run_call_guarded(public_id), name="softphone-call")
        worker.call_started(self.call_task)

    async def disconnect(self, code: int) -> None:
        if self.transport is not None:
            self.transport.feed_closed()
        await wind_down(self.call_task, "web call")

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _send_bytes(self, data: bytes) -> None:
        await self.send(bytes_data=data)

    async def _send_json(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data, separators=(",", ":")))

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    async def live_event(self, message: dict[str, Any]) -> None:
        """This call's stored transcript, as it is flushed: shown on the softphone page."""
        transport = self.transport
        if (
            message.get("kind") == "transcript"
            and message.get("segments")
            and transport
            and not transport.closed
        ):
            await self._send_json({"event": "transcript", "segments": message["segments"]})

    async def _run_call_guarded(self, public_id: str) -> None:
        assert self.transport is not None
        try:
            await self._run_call(public_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("web call failed unexpectedly")
            await self.transport.close(1011)

    async def _run_call(self, public_id: str) -> None:
        transport, gate = self.transport, self.gate
        assert transport is not None and gate is not None
        try:
            started = await read_stream_start(transport)
        except (ProtocolViolation, TimeoutError) as exc:
            log.warning("softphone refused before start: %s", exc)
            await transport.close(CLOSE_POLICY_VIOLATION)
            return
        except TransportClosed:
            return
        try:
            call = await database_sync_to_async(web_call_start)(
                gate=gate, public_id=public_id, stream_id=started.stream_id
            )
        except SoftphoneRefused as exc:
            await transport.close(exc.code)
            return
        await self._send_json(
            {
                "event": "call",
                "call": public_id,
                "agent": gate.agent.name,
                "detail_url": reverse("dashboard:call", args=[gate.tenant.slug, public_id]),
            }
        )
        ending = await self._bridge(call, started)
        await database_sync_to_async(services.call_end)(
            tenant_id=call.tenant_id, call_pk=call.call_pk, ending=ending
        )
        await self.live_call_ended(
            tenant_id=call.tenant_id, call_public_id=public_id, reason=ending.end_reason
        )

    async def _bridge(self, call: WebCall, started: Any) -> services.CallEnding:
        transport = self.transport
        assert transport is not None
        try:
            engine = build_engine(call.config.engine)
        except EngineError as exc:
            log.error("engine unavailable for web call %s: %s", call.config.call_id, exc)
            await self._send_json({"event": "error", "message": "The agent's engine is not available."})
            await transport.close(1011)
            return services.CallEnding("engine_error", 0, [], {})
        runtime = CallRuntime(
            tenant_id=call.tenant_id,
            call_pk=call.call_pk,
            call_public_id=call.config.call_id,
            caller_number="",
            called_number="",
            config=call.revision_config,
            time_zone=call.config.variables.get("time_zone", "UTC"),
            variables=call.config.variables,
        )
        recorder = DatabaseCallRecorder(
            tenant_id=call.tenant_id,
            call_pk=call.call_pk,
            starts_in_verification=call.config.first_stage == "verification",
            heartbeat_every_s=float(settings.CALL_HEARTBEAT_INTERVAL_S),
            call_public_id=call.config.call_id,
        )
        session = CallSession(
            call.config,
            transport,
            engine,
            recorder,
            WebCallControl(transport, self._send_json),
            WebCallToolExecutor(CallToolExecutor(runtime)),
            started,
        )
        await self.live_call_started(
            tenant_id=call.tenant_id, call_public_id=call.config.call_id, session=session
        )
        keepalive = asyncio.create_task(recorder.keep_alive(), name="web-call-heartbeat")
        try:
            outcome = await session.run()
        except asyncio.CancelledError:
            # A stopping worker's drain deadline: run() has closed both sides and flushed.
            await database_sync_to_async(services.call_end)(
                tenant_id=call.tenant_id,
                call_pk=call.call_pk,
                ending=services.CallEnding("worker_shutdown", session.stream_clock.now_ms(), [], {}),
            )
            raise
        finally:
            keepalive.cancel()
            await asyncio.gather(keepalive, return_exceptions=True)
        return services.CallEnding(
            end_reason=outcome.end_reason,
            duration_ms=outcome.duration_ms,
            turn_latencies_ms=list(outcome.turn_latencies_ms),
            usage=dict(outcome.usage),
            recording_wav=outcome.recording_wav,
        )
