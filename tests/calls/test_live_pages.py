"""The live-calls page, the operator's hang-up/transfer buttons and the softphone page: tenant
scoping (another tenant's call or agent is a 404), roles (a viewer's forged POST is a 403), and
the control message that reaches the call's group."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from agents.services import agent_publish
from calls.live import call_group, live_snapshot
from calls.models import STATUS_RANK, Call, CallStatus, Direction, TranscriptSegment
from tests.calls.conftest import Telephony
from tests.conftest import Cast

TRANSFER_NUMBER = "+15559990000"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def bridged_call(
    tenant: Any,
    agent: Agent,
    *,
    direction: str = Direction.INBOUND,
    heartbeat_age_s: int = 0,
    stream_sid: str = "MZ" + "1" * 32,
    ended: bool = False,
) -> Call:
    now = timezone.now()
    call = Call.objects.create(
        tenant=tenant,
        agent=agent,
        agent_revision=agent.published_revision,
        direction=direction,
        from_number="+15552223333" if direction != Direction.WEB else "",
        to_number="+15550001111" if direction != Direction.WEB else "",
        status=CallStatus.COMPLETED if ended else CallStatus.IN_PROGRESS,
        status_rank=STATUS_RANK[CallStatus.COMPLETED if ended else CallStatus.IN_PROGRESS],
        answered_at=now - timedelta(seconds=30),
        ended_at=now if ended else None,
        stream_sid=stream_sid,
        engine="local",
        heartbeat_at=now - timedelta(seconds=heartbeat_age_s),
    )
    TranscriptSegment.objects.create(
        tenant=tenant, call=call, speaker="caller", text=f"Hello from {tenant.slug}", ordinal=0, start_ms=100
    )
    return call


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


class ControlTap:
    """A channel in a call's group: what an operator's request delivers to the bridging worker."""

    def __init__(self, call: Call) -> None:
        self.layer = get_channel_layer()
        self.group = call_group(str(call.public_id))
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(self.group, self.channel)

    def next(self) -> dict[str, Any]:
        return async_to_sync(self.layer.receive)(self.channel)

    def close(self) -> None:
        async_to_sync(self.layer.group_discard)(self.group, self.channel)


@pytest.fixture
def tap() -> Iterator[Any]:
    taps: list[ControlTap] = []

    def make(call: Call) -> ControlTap:
        taps.append(ControlTap(call))
        return taps[-1]

    yield make
    for t in taps:
        t.close()


def live_url(slug: str) -> str:
    return reverse("live:calls", args=[slug])


def test_the_live_page_lists_only_this_tenants_calls_in_progress(
    client: Client, telephony: Telephony
) -> None:
    cast = telephony.cast
    mine = bridged_call(cast.tenant_a, cast.agent_a)
    theirs = bridged_call(cast.tenant_b, cast.agent_b, stream_sid="MZ" + "2" * 32)
    lost = bridged_call(cast.tenant_a, cast.agent_a, heartbeat_age_s=600, stream_sid="MZ" + "3" * 32)
    ended = bridged_call(cast.tenant_a, cast.agent_a, ended=True, stream_sid="MZ" + "4" * 32)
    transferred = bridged_call(cast.tenant_a, cast.agent_a, stream_sid="")  # with a human now
    web = bridged_call(cast.tenant_a, cast.agent_a, direction=Direction.WEB, stream_sid="WB" + "5" * 32)

    html = signed_in(client, cast.viewer_a).get(live_url("acme")).content.decode()
    assert str(mine.public_id) in html and "Hello from acme" in html
    assert str(web.public_id) in html and "Web test call" in html
    for absent in (theirs, lost, ended, transferred):
        assert str(absent.public_id) not in html
    assert "Hello from globex" not in html
    assert 'data-ws-path="/t/acme/live/ws"' in html
    assert "Hang up" not in html.split('<template id="live-call-template">')[0]  # a viewer only watches
    assert "<script>" not in html and " onclick=" not in html  # static JS only, no inline code


def test_editors_see_the_buttons_and_who_may_transfer(client: Client, telephony: Telephony) -> None:
    cast = telephony.cast
    agent = cast.agent_a
    agent.transfer_number = TRANSFER_NUMBER
    agent.save()
    agent_publish(tenant=cast.tenant_a, agent=agent)
    agent.refresh_from_db()
    phone = bridged_call(cast.tenant_a, agent)
    web = bridged_call(cast.tenant_a, agent, direction=Direction.WEB, stream_sid="WB" + "5" * 32)
    cards = {card["id"]: card for card in live_snapshot(tenant=cast.tenant_a)}
    assert cards[str(phone.public_id)]["can_transfer"] is True
    assert cards[str(web.public_id)]["can_transfer"] is False
    html = signed_in(client, cast.editor_a).get(live_url("acme")).content.decode()
    assert reverse("live:hangup", args=["acme", phone.public_id]) in html
    assert reverse("live:transfer", args=["acme", phone.public_id]) in html
    assert "Web test calls cannot be transferred." in html


def test_other_tenants_and_strangers_get_404_anonymous_goes_to_sign_in(
    client: Client, telephony: Telephony
) -> None:
    cast = telephony.cast
    assert client.get(live_url("acme")).status_code == 302
    signed_in(client, cast.owner_b)
    assert client.get(live_url("acme")).status_code == 404
    assert client.get(live_url("no-such-workspace")).status_code == 404
    assert client.get(live_url("globex")).status_code == 200


def test_an_editor_hangs_up_through_the_calls_group(client: Client, telephony: Telephony, tap: Any) -> None:
    cast = telephony.cast
    call = bridged_call(cast.tenant_a, cast.agent_a)
    listener = tap(call)
    response = signed_in(client, cast.editor_a).post(reverse("live:hangup", args=["acme", call.public_id]))
    assert response.status_code == 302 and response["Location"] == live_url("acme")
    assert listener.next() == {
        "type": "call.control",
        "tenant": cast.tenant_a.pk,
        "action": "hangup",
        "requested_by": "editor_a",
    }


def test_a_viewers_forged_post_is_403_and_sends_nothing(
    client: Client, telephony: Telephony, tap: Any
) -> None:
    cast = telephony.cast
    call = bridged_call(cast.tenant_a, cast.agent_a)
    listener = tap(call)
    viewer = Client()
    signed_in(viewer, cast.viewer_a)
    for name in ("live:hangup", "live:transfer"):
        assert viewer.post(reverse(name, args=["acme", call.public_id])).status_code == 403
    # The first message the call's group receives is the editor's, sent afterwards.
    signed_in(client, cast.editor_a).post(reverse("live:hangup", args=["acme", call.public_id]))
    assert listener.next()["requested_by"] == "editor_a"


def test_another_tenants_call_is_404_and_gets_nothing(client: Client, telephony: Telephony, tap: Any) -> None:
    cast = telephony.cast
    theirs = bridged_call(cast.tenant_b, cast.agent_b, stream_sid="MZ" + "2" * 32)
    mine = bridged_call(cast.tenant_a, cast.agent_a)
    listener = tap(theirs)
    signed_in(client, cast.owner_a)
    for name in ("live:hangup", "live:transfer"):
        assert client.post(reverse(name, args=["acme", theirs.public_id])).status_code == 404
        assert client.post(reverse(name, args=["globex", theirs.public_id])).status_code == 404
        assert client.post(reverse(name, args=["acme", uuid.uuid4()])).status_code == 404
        assert client.post(reverse(name, args=["acme", "not-a-uuid"])).status_code == 404
    # Tenant B's own owner can: theirs is the first message in its group.
    other = Client()
    signed_in(other, cast.owner_b).post(reverse("live:hangup", args=["globex", theirs.public_id]))
    message = listener.next()
    assert message["tenant"] == cast.tenant_b.pk and message["requested_by"] == "owner_b"
    assert mine.tenant_id != message["tenant"]


def test_transfer_needs_a_transfer_number_and_a_phone_call(
    client: Client, telephony: Telephony, tap: Any
) -> None:
    cast = telephony.cast
    call = bridged_call(cast.tenant_a, cast.agent_a)
    web = bridged_call(cast.tenant_a, cast.agent_a, direction=Direction.WEB, stream_sid="WB" + "5" * 32)
    listener = tap(call)
    signed_in(client, cast.editor_a)
    refused = client.post(reverse("live:transfer", args=["acme", call.public_id]), follow=True)
    assert "no transfer number" in refused.content.decode()

    cast.agent_a.transfer_number = TRANSFER_NUMBER
    cast.agent_a.save()
    revision = agent_publish(tenant=cast.tenant_a, agent=cast.agent_a)
    Call.objects.filter(pk__in=[call.pk, web.pk]).update(agent_revision=revision)
    refused_web = client.post(reverse("live:transfer", args=["acme", web.public_id]), follow=True)
    assert "A web test call cannot be transferred." in refused_web.content.decode()

    assert client.post(reverse("live:transfer", args=["acme", call.public_id])).status_code == 302
    message = listener.next()  # the first message: the refusals above sent nothing
    assert message["action"] == "transfer" and message["tenant"] == cast.tenant_a.pk


def test_an_ended_call_is_not_steered(client: Client, telephony: Telephony, tap: Any) -> None:
    cast = telephony.cast
    ended = bridged_call(cast.tenant_a, cast.agent_a, ended=True)
    listener = tap(ended)
    signed_in(client, cast.editor_a)
    response = client.post(reverse("live:hangup", args=["acme", ended.public_id]), follow=True)
    assert "This call has already ended." in response.content.decode()
    # Nothing was queued for the ended call: the group is still empty.
    async_to_sync(listener.layer.group_send)(listener.group, {"type": "probe"})
    assert listener.next() == {"type": "probe"}


def test_the_softphone_page_is_for_editors_of_this_tenants_agents(client: Client, cast: Cast) -> None:
    url = reverse("live:talk", args=["acme", cast.agent_a.public_id])
    html = signed_in(client, cast.editor_a).get(url).content.decode()
    assert f'data-ws-path="/t/acme/agents/{cast.agent_a.public_id}/talk/ws"' in html
    assert "softphone.js" in html and "Transfers are not available on web test calls" in html
    assert client.get(reverse("live:talk", args=["acme", cast.agent_b.public_id])).status_code == 404
    assert client.get(reverse("live:talk", args=["globex", cast.agent_b.public_id])).status_code == 404
    viewer = Client()
    assert signed_in(viewer, cast.viewer_a).get(url).status_code == 403

    draft = Agent.objects.create(tenant=cast.tenant_a, name="Draft", main_prompt="Hi.")
    unpublished = client.get(reverse("live:talk", args=["acme", draft.public_id])).content.decode()
    assert "This agent is not published yet." in unpublished and "softphone.js" not in unpublished


def test_the_talk_button_include(cast: Cast, rf: Any) -> None:
    from django.template.loader import render_to_string

    from tenants.dashboard.base import Workspace
    from tenants.models import Membership

    def button(user: Any, agent: Agent) -> str:
        ws = Workspace(
            Membership.objects.select_related("tenant", "user").get(tenant=cast.tenant_a, user=user)
        )
        return render_to_string(
            "dashboard/agents/_talk_button.html", {"ws": ws, "tenant": cast.tenant_a, "agent": agent}
        )

    assert reverse("live:talk", args=["acme", cast.agent_a.public_id]) in button(cast.editor_a, cast.agent_a)
    assert button(cast.viewer_a, cast.agent_a).strip() == ""
    draft = Agent.objects.create(tenant=cast.tenant_a, name="Draft", main_prompt="Hi.")
    assert "Publish the agent first" in button(cast.editor_a, draft)
