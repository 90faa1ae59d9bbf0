"""The dashboard's WebSockets through the real routing (Origin check, session auth, consumers):
the live-calls feed and the softphone. Tenant isolation is asserted on the wire: a socket is
refused before accepting when its member may not see the tenant, and an accepted socket never
receives another tenant's updates or obeys another tenant's control messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from agents.models import Agent
from agents.services import agent_publish
from calls.bridge.ports import EventEntry, ToolContext, ToolExecutionError, TranscriptEntry
from calls.bridge.tools import EndCall, ToolOutput, TransferCall
from calls.consumers import DatabaseCallRecorder
from calls.live import CONTROL_HANGUP, publish, send_control
from calls.models import Call, CallEvent, CallStatus, Direction, TranscriptSegment
from calls.softphone import WebCallToolExecutor
from tests.calls.conftest import Telephony
from tests.calls.test_live_pages import bridged_call
from tests.conftest import Cast
from voxsaas.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://testserver"
START = json.dumps({"event": "start", "encoding": "audio/x-mulaw", "sampleRate": 8000})


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> AsyncIterator[None]:
    """The consumers' ORM hops run in worker threads whose connections would outlive the test."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def open_socket(path: str, user: Any = None, origin: bytes = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(URLRouter(websocket_urlpatterns), path, headers=headers)


async def refused_with(path: str, user: Any = None, origin: bytes = ORIGIN) -> Any:
    socket = await open_socket(path, user, origin)
    connected, code = await socket.connect(timeout=5)
    assert not connected
    return code


# ----------------------------------------------------------------------------- live calls


def test_only_the_dashboard_sockets_carry_the_session_middleware() -> None:
    """The Twilio media stream authenticates by signature and call token: no cookies, no session
    lookup. The dashboard's sockets get the session (and an Origin check) on their route only."""
    from channels.security.websocket import OriginValidator

    from calls.consumers import MediaStreamConsumer

    routes = {str(route.pattern): route.callback for route in websocket_urlpatterns}
    assert routes["twilio/media-stream"].consumer_class is MediaStreamConsumer
    for dashboard in ("t/<slug:slug>/live/ws", "t/<slug:slug>/agents/<str:agent_id>/talk/ws"):
        assert isinstance(routes[dashboard], OriginValidator)


async def test_the_live_feed_refuses_strangers_before_accepting(telephony: Telephony) -> None:
    cast = telephony.cast
    assert await refused_with("/t/acme/live/ws") == 4401
    assert await refused_with("/t/acme/live/ws", cast.owner_b) == 4404
    assert await refused_with("/t/no-such-workspace/live/ws", cast.owner_a) == 4404
    # Another site cannot open it with a signed-in member's cookie.
    assert await refused_with("/t/acme/live/ws", cast.owner_a, origin=b"https://evil.example") != 4404
    socket = await open_socket("/t/acme/live/ws", cast.viewer_a)
    connected, _ = await socket.connect(timeout=5)
    assert connected
    await socket.disconnect()


async def test_the_feed_starts_with_a_snapshot_of_this_tenants_calls_only(telephony: Telephony) -> None:
    cast = telephony.cast
    mine = await sync_to_async(bridged_call)(cast.tenant_a, cast.agent_a)
    await sync_to_async(bridged_call)(cast.tenant_b, cast.agent_b, stream_sid="MZ" + "2" * 32)
    socket = await open_socket("/t/acme/live/ws", cast.viewer_a)
    assert (await socket.connect(timeout=5))[0]
    snapshot = await socket.receive_json_from(timeout=5)
    assert snapshot["kind"] == "snapshot"
    assert [c["id"] for c in snapshot["calls"]] == [str(mine.public_id)]
    assert snapshot["calls"][0]["segments"][0]["text"] == "Hello from acme"
    await socket.disconnect()


async def test_a_stored_flush_reaches_the_tenants_feed_and_no_other(telephony: Telephony) -> None:
    """The real recorder: the flush is stored, then published (redacted, compact)."""
    cast = telephony.cast
    mine = await sync_to_async(bridged_call)(cast.tenant_a, cast.agent_a)
    theirs = await sync_to_async(bridged_call)(cast.tenant_b, cast.agent_b, stream_sid="MZ" + "2" * 32)
    feed_a = await open_socket("/t/acme/live/ws", cast.owner_a)
    feed_b = await open_socket("/t/globex/live/ws", cast.owner_b)
    for feed in (feed_a, feed_b):
        assert (await feed.connect(timeout=5))[0]
        assert (await feed.receive_json_from(timeout=5))["kind"] == "snapshot"

    async def flush(call: Call, text: str) -> None:
        recorder = DatabaseCallRecorder(
            tenant_id=call.tenant_id,
            call_pk=call.pk,
            starts_in_verification=False,
            heartbeat_every_s=10.0,
            call_public_id=str(call.public_id),
        )
        await recorder.flush(
            [TranscriptEntry(speaker="caller", text=text, ordinal=5, start_ms=1000, end_ms=2000)],
            [
                EventEntry(type="tool_call", payload={"name": "lookup", "arguments": {"pin": "1234"}}, seq=1),
                EventEntry(type="turn_latency", payload={"ms": 400}, seq=2),
            ],
        )

    await flush(theirs, "Globex secret")  # first: if it leaked, A's feed would get it first
    await flush(mine, "What are your opening hours?")
    update = await feed_a.receive_json_from(timeout=5)
    assert update == {
        "kind": "transcript",
        "call": str(mine.public_id),
        "segments": [
            {"speaker": "caller", "text": "What are your opening hours?", "ordinal": 5, "start_ms": 1000}
        ],
        "events": [{"type": "tool_call", "at_ms": 0, "label": "lookup"}],  # never the arguments
    }
    assert (await feed_b.receive_json_from(timeout=5))["segments"][0]["text"] == "Globex secret"
    stored = await sync_to_async(
        lambda: list(TranscriptSegment.objects.filter(call=mine).values_list("text", flat=True))
    )()
    assert "What are your opening hours?" in stored
    for feed in (feed_a, feed_b):
        await feed.disconnect()


async def test_forged_messages_in_a_tenants_group_are_dropped(telephony: Telephony) -> None:
    """Defence in depth: a message naming another tenant, or a call of another tenant, is not
    shown even if it lands in the group."""
    cast = telephony.cast
    theirs = await sync_to_async(bridged_call)(cast.tenant_b, cast.agent_b, stream_sid="MZ" + "2" * 32)
    mine = await sync_to_async(bridged_call)(cast.tenant_a, cast.agent_a)
    feed = await open_socket("/t/acme/live/ws", cast.owner_a)
    assert (await feed.connect(timeout=5))[0]
    await feed.receive_json_from(timeout=5)
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    group_a = f"tenant-{cast.tenant_a.pk}-calls"
    forged = {
        "type": "live.event",
        "kind": "transcript",
        "tenant": cast.tenant_b.pk,
        "call": str(theirs.public_id),
    }
    await layer.group_send(
        group_a, {**forged, "segments": [{"speaker": "caller", "text": "x"}], "events": []}
    )
    await layer.group_send(group_a, {**forged, "tenant": cast.tenant_a.pk, "kind": "started"})
    await publish(cast.tenant_a.pk, str(mine.public_id), "started")
    started = await feed.receive_json_from(timeout=5)  # the first thing through is the real one
    assert started["kind"] == "started" and started["call"]["id"] == str(mine.public_id)
    await publish(cast.tenant_a.pk, str(mine.public_id), "ended", reason="caller_hangup")
    assert await feed.receive_json_from(timeout=5) == {
        "kind": "ended",
        "call": str(mine.public_id),
        "reason": "caller_hangup",
    }
    await feed.disconnect()


async def test_an_idle_channel_outlives_the_layers_blocking_read() -> None:
    """A consumer may hear nothing for a long while (a quiet call, an open live page). With the
    Redis layer (CI) each wait is a 5 s blocking read: the client must not time out first, or every
    idle consumer crashes. Here nothing arrives, and only our own deadline ends the wait."""
    from channels.layers import get_channel_layer
    from channels_redis.core import RedisChannelLayer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    with pytest.raises(TimeoutError):  # asyncio's, not redis.exceptions.TimeoutError
        await asyncio.wait_for(layer.receive(channel), timeout=RedisChannelLayer.brpop_timeout + 1.5)


# ------------------------------------------------------------------------------ softphone


def talk_path(slug: str, agent: Agent) -> str:
    return f"/t/{slug}/agents/{agent.public_id}/talk/ws"


async def use_echo_engine(cast: Cast) -> None:
    def publish_echo() -> None:
        cast.agent_a.engine = "echo"
        cast.agent_a.save()
        agent_publish(tenant=cast.tenant_a, agent=cast.agent_a)

    await sync_to_async(publish_echo)()


async def test_the_softphone_refuses_before_accepting(cast: Cast) -> None:
    assert await refused_with(talk_path("acme", cast.agent_a)) == 4401
    assert await refused_with(talk_path("acme", cast.agent_a), cast.viewer_a) == 4403
    assert await refused_with(talk_path("acme", cast.agent_b), cast.owner_a) == 4404  # B's agent
    assert await refused_with(talk_path("globex", cast.agent_b), cast.owner_a) == 4404
    assert await refused_with(talk_path("acme", cast.agent_a), cast.owner_b) == 4404
    draft = await sync_to_async(Agent.objects.create)(tenant=cast.tenant_a, name="Draft", main_prompt="Hi.")
    assert await refused_with(talk_path("acme", draft), cast.editor_a) == 4409
    assert await refused_with(talk_path("acme", cast.agent_a), cast.editor_a, b"https://evil.example") != 4409
    assert await sync_to_async(Call.objects.count)() == 0  # no call was created by a refusal


class Softphone:
    """The browser's side of the protocol over a ``WebsocketCommunicator``."""

    def __init__(self, socket: WebsocketCommunicator) -> None:
        self.socket = socket
        self.audio = bytearray()
        self.texts: list[dict[str, Any]] = []
        self.closed_with: int | None = None

    async def until(self, predicate: Any, timeout_s: float = 10.0) -> None:
        """Read server messages (echoing marks like softphone.js) until ``predicate()``."""
        while not predicate():
            message = await self.socket.receive_output(timeout=timeout_s)
            if message["type"] == "websocket.close":
                self.closed_with = message.get("code", 1000)
            elif message.get("bytes") is not None:
                self.audio.extend(message["bytes"])
            else:
                data = json.loads(message["text"])
                self.texts.append(data)
                if data["event"] == "mark":
                    await self.socket.send_to(text_data=json.dumps({"event": "mark", "name": data["name"]}))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [t for t in self.texts if t["event"] == name]


async def start_softphone(cast: Cast) -> Softphone:
    socket = await open_socket(talk_path("acme", cast.agent_a), cast.editor_a)
    assert (await socket.connect(timeout=5))[0]
    phone = Softphone(socket)
    await socket.send_to(text_data=START)
    await phone.until(lambda: phone.events("call"))
    return phone


def the_web_call() -> Call:
    return Call.objects.select_related("agent_revision").get(direction=Direction.WEB)


async def test_a_web_call_runs_the_same_session_and_is_stored_as_a_web_test_call(cast: Cast) -> None:
    await use_echo_engine(cast)
    phone = await start_softphone(cast)
    call = await sync_to_async(the_web_call)()
    (info,) = phone.events("call")
    assert info["call"] == str(call.public_id) and info["detail_url"] == f"/t/acme/calls/{call.public_id}/"
    assert call.status == CallStatus.IN_PROGRESS and call.tenant_id == cast.tenant_a.pk
    for _ in range(25):  # half a second of the user talking
        await phone.socket.send_to(bytes_data=bytes([0x55]) * 160)
    await phone.until(lambda: len(phone.audio) >= 25 * 160)
    assert set(phone.audio) == {0x55}  # the echo engine played it back, as binary mu-law
    assert phone.events("mark")  # with marks, echoed by the page like Twilio does
    await phone.socket.send_to(text_data=json.dumps({"event": "stop"}))
    await phone.until(lambda: phone.closed_with is not None)
    assert phone.closed_with == 1000
    await phone.socket.disconnect()

    call = await sync_to_async(the_web_call)()
    assert call.direction == Direction.WEB and call.end_reason == "caller_hangup"
    assert call.status == CallStatus.COMPLETED and call.ended_at is not None
    assert call.agent_revision is not None and call.agent_revision.config["engine"] == "echo"
    assert call.twilio_call_sid == "" and call.phone_number_id is None
    started = await sync_to_async(lambda: CallEvent.objects.get(call=call, type="web_test_call").payload)()
    assert started == {"started_by": "editor_a"}
    ended = await sync_to_async(lambda: CallEvent.objects.get(call=call, type="call_ended").payload)()
    assert ended == {"reason": "caller_hangup"}


async def test_an_operator_hangs_up_a_web_call_and_other_tenants_cannot(cast: Cast) -> None:
    await use_echo_engine(cast)
    phone = await start_softphone(cast)
    call = await sync_to_async(the_web_call)()
    # A control message naming another tenant is ignored: the call goes on.
    await send_control(
        tenant_id=cast.tenant_b.pk,
        call_public_id=str(call.public_id),
        action=CONTROL_HANGUP,
        requested_by="x",
    )
    await phone.socket.send_to(bytes_data=bytes([0x55]) * 160)
    await phone.until(lambda: len(phone.audio) >= 160)
    assert phone.closed_with is None
    await send_control(
        tenant_id=cast.tenant_a.pk,
        call_public_id=str(call.public_id),
        action=CONTROL_HANGUP,
        requested_by="owner_a",
    )
    await phone.until(lambda: phone.closed_with is not None)
    assert phone.events("hangup") and phone.closed_with == 1000
    await phone.socket.disconnect()
    call = await sync_to_async(the_web_call)()
    assert call.end_reason == "agent_hangup"
    payloads = await sync_to_async(
        lambda: list(
            CallEvent.objects.filter(call=call, type="operator_hangup").values_list("payload", flat=True)
        )
    )()
    assert payloads == [{"requested_by": "owner_a"}]


async def test_the_softphone_shows_the_stored_transcript(cast: Cast) -> None:
    await use_echo_engine(cast)
    phone = await start_softphone(cast)
    call = await sync_to_async(the_web_call)()
    segment = {"speaker": "agent", "text": "Hello, how can I help?", "ordinal": 0, "start_ms": 0}
    await publish(cast.tenant_a.pk, str(call.public_id), "transcript", segments=[segment], events=[])
    await phone.until(lambda: phone.events("transcript"))
    assert phone.events("transcript") == [{"event": "transcript", "segments": [segment]}]
    await phone.socket.send_to(text_data=json.dumps({"event": "stop"}))
    await phone.until(lambda: phone.closed_with is not None)
    await phone.socket.disconnect()


async def test_a_hostile_browser_is_closed_1008(cast: Cast) -> None:
    await use_echo_engine(cast)
    socket = await open_socket(talk_path("acme", cast.agent_a), cast.editor_a)
    assert (await socket.connect(timeout=5))[0]
    await socket.send_to(bytes_data=b"\xff" * 160)  # audio before 'start'
    message = await socket.receive_output(timeout=5)
    assert message == {"type": "websocket.close", "code": 1008}
    await socket.disconnect()
    assert await sync_to_async(Call.objects.count)() == 0


async def test_transfers_are_refused_on_web_calls() -> None:
    class Inner:
        async def execute(self, name: str, arguments: dict[str, Any], context: ToolContext) -> Any:
            if name == "verify_caller":
                return ToolOutput(
                    {"locked_out": True}, TransferCall("<Response><Dial>+1555</Dial></Response>")
                )
            return {"ok": name}

    tools = WebCallToolExecutor(Inner())  # type: ignore[arg-type]
    context = ToolContext(call_id="c", tenant_id=1, stage="main", variables={})
    with pytest.raises(ToolExecutionError, match="not available on a web test call"):
        await tools.execute("transfer_to_human", {}, context)
    locked_out = await tools.execute("verify_caller", {}, context)
    assert isinstance(locked_out, ToolOutput) and isinstance(locked_out.directive, EndCall)
    assert locked_out.result == {"locked_out": True}
    assert await tools.execute("current_time", {}, context) == {"ok": "current_time"}
