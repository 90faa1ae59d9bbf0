"""Live calls: what the dashboard sees of calls in progress, and how an operator steers them.

Channel-layer groups (work across workers with the Redis layer):

``tenant-<tenant id>-calls``
    Every live call of the tenant publishes here: ``started``, ``transcript`` (after each
    transcript flush is stored: the new segments, already redacted, and a few notable events),
    ``ended``. ``LiveCallsConsumer`` (one per open live page) joins the group of the member's own
    tenant, resolved from the session cookie and the URL's slug, and never any other.
``call-<call public id>``
    The same messages for one call, plus operators' ``call.control`` messages (hang up,
    transfer). The consumer bridging the call (``MediaStreamConsumer`` or
    ``SoftphoneConsumer``, through ``LiveCallMixin``) joins it while its session runs and hands
    control messages to the session's ``request_end`` / ``request_transfer``.

Publishing is best effort and bounded in time: a channel layer that is down or slow costs the
live view an update, never the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from calls.bridge.ports import EventEntry, TranscriptEntry
from calls.models import Call, CallStatus, Direction, TranscriptSegment
from calls.services import heartbeat_cutoff
from calls.twilio.tokens import make_dial_token
from calls.twilio.twiml import dial
from tenants.access import TenantObjectNotFound, access_membership_by_tenant_slug
from tenants.models import Tenant

if TYPE_CHECKING:
    from calls.bridge.session import CallSession

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 1.0
MAX_SEGMENTS_PER_MESSAGE = 50
MAX_TEXT_CHARS = 2000  # per segment, in a live message (the stored transcript keeps it all)
SNAPSHOT_SEGMENTS_PER_CALL = 40
MAX_LIVE_CALLS = 100  # on one page
# Events worth a line in the live view (never their payloads: tool arguments, keypad digits).
NOTABLE_EVENTS = frozenset(
    {"stage_changed", "tool_call", "interruption", "operator_hangup", "operator_transfer", "transferred"}
)
HANDOVER_LINE = "Please hold while I transfer you."

# WebSocket close codes of the dashboard sockets (sent before accept: the handshake is refused).
CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

CONTROL_HANGUP = "hangup"
CONTROL_TRANSFER = "transfer"


def tenant_group(tenant_id: int) -> str:
    return f"tenant-{int(tenant_id)}-calls"


def call_group(call_public_id: str) -> str:
    return f"call-{call_public_id}"


# ------------------------------------------------------------------------------ publishing


async def _group_send(groups: Iterable[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            for group in groups:
                await layer.group_send(group, message)
    except Exception as exc:
        log.warning("live update not published (%s): %r", message.get("kind") or message.get("type"), exc)


async def publish(tenant_id: int, call_public_id: str, kind: str, **fields: Any) -> None:
    """One ``live.event`` to the tenant's group and the call's group."""
    message = {"type": "live.event", "kind": kind, "tenant": tenant_id, "call": call_public_id, **fields}
    await _group_send((tenant_group(tenant_id), call_group(call_public_id)), message)


def segment_dict(segment: TranscriptEntry | TranscriptSegment) -> dict[str, Any]:
    return {
        "speaker": segment.speaker,
        "text": segment.text[:MAX_TEXT_CHARS],
        "ordinal": segment.ordinal,
        "start_ms": segment.start_ms,
    }


def _event_label(event: EventEntry) -> str:
    payload = event.payload
    if event.type == "tool_call":
        return str(payload.get("name", ""))[:80]
    if event.type == "stage_changed":
        return str(payload.get("to", ""))[:40]
    return ""


async def publish_flush(
    *, tenant_id: int, call_public_id: str, segments: list[TranscriptEntry], events: list[EventEntry]
) -> None:
    """After a flush was stored: its segments (redacted) and notable events, if any."""
    notable = [
        {"type": e.type, "at_ms": e.at_ms, "label": _event_label(e)}
        for e in events
        if e.type in NOTABLE_EVENTS
    ]
    if not segments and not notable:
        return
    await publish(
        tenant_id,
        call_public_id,
        "transcript",
        segments=[segment_dict(s) for s in segments[-MAX_SEGMENTS_PER_MESSAGE:]],
        events=notable[-MAX_SEGMENTS_PER_MESSAGE:],
    )


def dial_twiml(
    *, call_public_id: str, tenant_id: int, revision_config: dict[str, Any], called_number: str
) -> str | None:
    """An operator's transfer: the handover line, then a ``<Dial>`` to the agent's transfer
    number with the transfer's usual ``<Dial action>`` (what happens when nobody answers is the
    agent's ``transfer_failure_action``). None when the agent has no transfer number."""
    number = str(revision_config.get("transfer_number") or "")
    if not number:
        return None
    token = make_dial_token(call_public_id=call_public_id, tenant_id=tenant_id)
    return dial(
        number=number,
        caller_id=called_number,
        timeout_s=30,
        action=f"{settings.PUBLIC_BASE_URL}/twilio/dial-action?t={token}",
        say=str(revision_config.get("handover_line") or HANDOVER_LINE),
    )


class LiveCallMixin:
    """For the consumers that bridge a call (``MediaStreamConsumer``, ``SoftphoneConsumer``).

    ``live_call_started`` joins ``call-<id>`` (operators' control messages) and announces the
    call; ``live_call_ended`` leaves and announces the end. ``call_control`` and ``live_event``
    are the channel-layer handlers (Channels names them from the message ``type``).
    """

    channel_layer: Any
    channel_name: str
    _live_session: CallSession | None = None
    _live_tenant_id: int | None = None
    _live_group: str | None = None
    _live_transfer: Callable[[], str | None] | None = None

    async def live_call_started(
        self,
        *,
        tenant_id: int,
        call_public_id: str,
        session: CallSession,
        transfer_twiml: Callable[[], str | None] | None = None,
    ) -> None:
        self._live_session = session
        self._live_tenant_id = tenant_id
        self._live_transfer = transfer_twiml
        group = call_group(call_public_id)
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await self.channel_layer.group_add(group, self.channel_name)
            self._live_group = group
        except Exception as exc:
            log.warning("call %s cannot take operator requests: %r", call_public_id, exc)
        await publish(tenant_id, call_public_id, "started")

    async def live_call_ended(self, *, tenant_id: int, call_public_id: str, reason: str) -> None:
        self._live_session = None
        if self._live_group is not None:
            group, self._live_group = self._live_group, None
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                    await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as exc:
                log.warning("leaving %s failed: %r", group, exc)
        await publish(tenant_id, call_public_id, "ended", reason=reason[:40])

    async def call_control(self, message: dict[str, Any]) -> None:
        session = self._live_session
        if session is None or message.get("tenant") != self._live_tenant_id:
            return  # not (or no longer) running here; a message for another tenant is ignored
        requested_by = str(message.get("requested_by", ""))
        action = message.get("action")
        if action == CONTROL_HANGUP:
            accepted = session.request_end(requested_by)
        elif action == CONTROL_TRANSFER:
            twiml = self._live_transfer() if self._live_transfer is not None else None
            if twiml is None:
                log.warning(
                    "call %s: transfer requested but the call cannot be transferred", session.config.call_id
                )
                return
            accepted = session.request_transfer(twiml, requested_by)
        else:
            return
        log.info("call %s: operator %s by %s (%s)", session.config.call_id, action, requested_by,
                 "accepted" if accepted else "already ending")  # fmt: skip

    async def live_event(self, message: dict[str, Any]) -> None:
        """Updates of this very call (it is in ``call-<id>``): nothing to do here."""


async def send_control(*, tenant_id: int, call_public_id: str, action: str, requested_by: str) -> None:
    """An operator's request, to whichever worker bridges the call."""
    message = {
        "type": "call.control",
        "tenant": tenant_id,
        "action": action,
        "requested_by": requested_by[:150],
    }
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    async with asyncio.timeout(PUBLISH_TIMEOUT_S * 3):
        await layer.group_send(call_group(call_public_id), message)


# ------------------------------------------------------------------------------ reading


def _live(tenant: Tenant) -> QuerySet[Call]:
    """The tenant's calls being bridged now: answered, a stream (or softphone) attached, not ended,
    and their worker alive (a lost call leaves as soon as its heartbeat is stale)."""
    return (
        Call.objects.filter(tenant=tenant, status=CallStatus.IN_PROGRESS, ended_at__isnull=True)
        .exclude(stream_sid="")
        .exclude(heartbeat_at__lt=heartbeat_cutoff())
        .select_related("agent", "agent_revision")
    )


def live_calls(*, tenant: Tenant) -> list[Call]:
    return list(_live(tenant).order_by("-answered_at", "-pk")[:MAX_LIVE_CALLS])


def call_card(
    call: Call, *, tenant: Tenant, segments: list[TranscriptSegment] | None = None
) -> dict[str, Any]:
    """What the live page shows of a call (rendered by the template and by live.js alike)."""
    slug = tenant.slug
    public_id = str(call.public_id)
    config = call.agent_revision.config if call.agent_revision else {}
    if call.direction == Direction.WEB:
        title = "Web test call"
    elif call.direction == Direction.OUTBOUND:
        title = f"Call to {call.to_number or 'unknown'}"
    else:
        title = f"Call from {call.from_number or 'unknown'}"
    return {
        "id": public_id,
        "title": title,
        "direction": call.direction,
        "direction_label": call.get_direction_display(),
        "agent": call.agent.name if call.agent else "",
        "engine": call.engine,
        "answered_at": call.answered_at.isoformat() if call.answered_at else "",
        "detail_url": reverse("dashboard:call", args=[slug, public_id]),
        "hangup_url": reverse("live:hangup", args=[slug, public_id]),
        "transfer_url": reverse("live:transfer", args=[slug, public_id]),
        "can_transfer": call.direction != Direction.WEB and bool(config.get("transfer_number")),
        "segments": [segment_dict(s) for s in segments or []],
    }


def live_snapshot(*, tenant: Tenant) -> list[dict[str, Any]]:
    """Every live call of the tenant with the end of its transcript so far (two queries)."""
    calls = live_calls(tenant=tenant)
    by_call: dict[int, list[TranscriptSegment]] = {call.pk: [] for call in calls}
    for segment in TranscriptSegment.objects.filter(tenant=tenant, call_id__in=list(by_call)).order_by(
        "call_id", "start_ms", "ordinal"
    ):
        by_call[segment.call_id].append(segment)
    return [
        call_card(call, tenant=tenant, segments=by_call[call.pk][-SNAPSHOT_SEGMENTS_PER_CALL:])
        for call in calls
    ]


def live_call_card(*, tenant: Tenant, public_id: str) -> dict[str, Any] | None:
    """The card of one call that just started, if it is the tenant's and live."""
    try:
        key = uuid.UUID(public_id)
    except ValueError:
        return None
    call = _live(tenant).filter(public_id=key).first()
    return call_card(call, tenant=tenant) if call is not None else None


# ------------------------------------------------------------------------------ the live page


class LiveCallsConsumer(AsyncWebsocketConsumer):
    """``/t/<slug>/live/ws``: the live page's feed. Session-authenticated (``AuthMiddlewareStack``
    and an Origin check on this route only); the member's tenant is resolved through
    ``tenants.access`` before accepting, and only that tenant's group is ever joined.

    To the browser (JSON): ``{"kind": "snapshot", "calls": [card...]}`` once, then
    ``{"kind": "started", "call": card}``, ``{"kind": "transcript", "call": id, "segments": [...],
    "events": [...]}`` and ``{"kind": "ended", "call": id, "reason": ...}``.
    """

    tenant: Tenant | None = None
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        slug = str(self.scope["url_route"]["kwargs"].get("slug", ""))
        try:
            membership = await database_sync_to_async(access_membership_by_tenant_slug)(user=user, slug=slug)
        except TenantObjectNotFound:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.tenant = membership.tenant
        self.group = tenant_group(membership.tenant_id)
        # Joined before the snapshot is read: an update landing in between is delivered after
        # the snapshot (the dispatch loop is busy until connect() returns), never lost.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        calls = await database_sync_to_async(live_snapshot)(tenant=self.tenant)
        await self._send({"kind": "snapshot", "calls": calls})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page only listens."""

    async def live_event(self, message: dict[str, Any]) -> None:
        tenant = self.tenant
        if tenant is None or message.get("tenant") != tenant.pk:
            return  # defence in depth: the group is the tenant's own
        kind = message.get("kind")
        call_id = str(message.get("call", ""))
        if kind == "started":
            card = await database_sync_to_async(live_call_card)(tenant=tenant, public_id=call_id)
            if card is not None:
                await self._send({"kind": "started", "call": card})
        elif kind == "transcript":
            await self._send(
                {
                    "kind": "transcript",
                    "call": call_id,
                    "segments": message.get("segments", []),
                    "events": message.get("events", []),
                }
            )
        elif kind == "ended":
            await self._send({"kind": "ended", "call": call_id, "reason": message.get("reason", "")})

    async def _send(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data, separators=(",", ":")))
