"""Calls: filters, keyset pagination, the timeline, the recording view and transcript exports."""

from __future__ import annotations

import json
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.dashboard.listing import PAGE_SIZE, Cursor
from calls.models import Call, CallStatus, Direction
from tests.dashboard.conftest import RECORDING_BYTES, World, make_call, signed_in

CALLS = reverse("dashboard:calls", args=["acme"])


def _ids(html: str, calls: list[Call]) -> list[Call]:
    return [c for c in calls if str(c.public_id) in html]


def test_filters(client: Client, world: World) -> None:
    now = timezone.now()
    failed = make_call(
        world.a.tenant,
        agent=world.a.agent,
        number=world.a.number,
        status=CallStatus.FAILED,
        end_reason="engine_error",
    )
    outbound = make_call(
        world.a.tenant,
        agent=None,
        number=world.a.number,
        direction=Direction.OUTBOUND,
        end_reason="agent_hangup",
    )
    old = make_call(world.a.tenant, agent=world.a.agent, number=None, created_at=now - timedelta(days=40))
    everyone = [world.a.call, failed, outbound, old]
    signed_in(client, world.cast.viewer_a)

    def shown(**params: str) -> list[Call]:
        response = client.get(CALLS, params)
        assert response.status_code == 200
        return _ids(response.content.decode(), everyone)

    assert shown() == everyone
    assert shown(status="failed") == [failed]
    assert shown(direction="outbound") == [outbound]
    assert shown(agent=str(world.a.agent.public_id)) == [world.a.call, failed, old]
    assert shown(number=str(world.a.number.public_id)) == [world.a.call, failed, outbound]
    assert shown(end_reason="engine_error") == [failed]
    assert shown(date_to=(now - timedelta(days=30)).date().isoformat()) == [old]
    assert shown(date_from=(now - timedelta(days=1)).date().isoformat(), status="completed") == [
        world.a.call,
        outbound,
    ]
    bad = client.get(CALLS, {"date_from": "2026-02-10", "date_to": "2026-02-01"}).content.decode()
    assert "The end date is before the start date." in bad


def test_htmx_filtering_returns_only_the_results(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    response = client.get(CALLS, {"status": "completed"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert str(world.a.call.public_id) in html
    assert "<html" not in html and "Filter calls" not in html


def test_keyset_pagination_walks_every_call_once_in_both_directions(client: Client, world: World) -> None:
    start = timezone.now() - timedelta(hours=3)
    same_moment = start + timedelta(minutes=30)
    for i in range(PAGE_SIZE * 2 + 5):
        # Some calls share a timestamp: the id breaks the tie.
        created = same_moment if i % 10 == 0 else start + timedelta(seconds=i)
        make_call(world.a.tenant, agent=world.a.agent, number=world.a.number, created_at=created)
    expected = list(Call.objects.filter(tenant=world.a.tenant).order_by("-created_at", "-pk"))
    signed_in(client, world.cast.viewer_a)

    pages: list[list[Call]] = []
    params: dict[str, str] = {"status": "completed"}
    while True:
        html = client.get(CALLS, params).content.decode()
        rows = [c for c in expected if str(c.public_id) in html]
        rows.sort(key=lambda c: html.index(str(c.public_id)))
        pages.append(rows)
        older = _cursor(html, "after")
        if older is None:
            break
        params = {"status": "completed", "after": older}
    walked = [c for page in pages for c in page]
    assert walked == expected
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, len(expected) - 2 * PAGE_SIZE]

    # From the last page, "Newer" leads back to the second page exactly.
    html = client.get(CALLS, params).content.decode()
    newer = _cursor(html, "before")
    assert newer is not None
    back = client.get(CALLS, {"status": "completed", "before": newer}).content.decode()
    assert [c for c in expected if str(c.public_id) in back] == pages[1]


def _cursor(html: str, kind: str) -> str | None:
    marker = f"{kind}="
    if marker not in html:
        return None
    return html.split(marker, 1)[1].split('"', 1)[0]


def test_a_forged_cursor_shows_the_first_page(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    for cursor in ("garbage", "!!", Cursor(timezone.now(), 10**9).encode()):
        html = client.get(CALLS, {"before": cursor}).content.decode()
        assert str(world.a.call.public_id) in html
    assert Cursor.decode(Cursor(world.a.call.created_at, 5).encode()) == Cursor(world.a.call.created_at, 5)


def test_call_detail_is_a_timeline(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(reverse("dashboard:call", args=["acme", world.a.call.public_id])).content.decode()
    order = [
        "Thanks for calling. How can I help?",
        "Hi, where is my order?",
        "answered in 500 ms",
        "Let me look that up for you.",
        "<strong>verification</strong> → <strong>main</strong>",
        "Order A-1234.",
        "<code>lookup_order</code>",
        "answered in 700 ms",
        "Your order ships tomorrow, and it will",
        "Great, thanks!",
        "after hearing 1150 ms of 1900 ms",
    ]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    assert "&quot;order_number&quot;: &quot;A-1234&quot;" in html  # tool arguments
    assert "&quot;status&quot;: &quot;shipping tomorrow&quot;" in html  # tool result
    assert "0:02.6" in html  # timestamps
    assert "The caller asked about order A-1234 (a)." in html  # summary
    assert "order status" in html and "follow_up" in html  # structured fields
    recording = reverse("dashboard:call-recording", args=["acme", world.a.call.public_id])
    assert f'<audio controls preload="none" src="{recording}"' in html
    assert "/media/" not in html
    assert 'aria-label="Latency of each turn: 500, 700 ms"' in html


def test_recording_is_served_only_through_the_tenant_checked_view(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    url = reverse("dashboard:call-recording", args=["acme", world.a.call.public_id])
    response = client.get(url)
    assert response.status_code == 200
    assert response.getvalue() == RECORDING_BYTES
    assert response["Content-Type"].startswith("audio/")
    assert response["Cache-Control"] == "private, no-store"
    ranged = client.get(url, headers={"Range": "bytes=4-13"})
    assert ranged.status_code == 206
    assert ranged.content == RECORDING_BYTES[4:14]
    assert ranged["Content-Range"] == f"bytes 4-13/{len(RECORDING_BYTES)}"
    suffix = client.get(url, headers={"Range": "bytes=-4"})
    assert suffix.status_code == 206 and suffix.content == RECORDING_BYTES[-4:]
    assert client.get(url, headers={"Range": f"bytes={len(RECORDING_BYTES)}-"}).status_code == 416
    # The other tenant's recording, under my slug or theirs: not found.
    assert (
        client.get(reverse("dashboard:call-recording", args=["acme", world.b.call.public_id])).status_code
        == 404
    )
    assert (
        client.get(reverse("dashboard:call-recording", args=["globex", world.b.call.public_id])).status_code
        == 404
    )


def test_a_call_without_recording_has_no_player_and_no_file(client: Client, world: World) -> None:
    bare = make_call(world.a.tenant, agent=world.a.agent, number=world.a.number)
    signed_in(client, world.cast.viewer_a)
    html = client.get(reverse("dashboard:call", args=["acme", bare.public_id])).content.decode()
    assert "<audio" not in html and "No transcript" in html and "No summary for this call." in html
    assert client.get(reverse("dashboard:call-recording", args=["acme", bare.public_id])).status_code == 404


def test_transcript_exports(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    text = client.get(reverse("dashboard:call-transcript-txt", args=["acme", world.a.call.public_id]))
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text["Content-Disposition"] == f'attachment; filename="call-{world.a.call.public_id}.txt"'
    body = text.content.decode()
    assert (
        "[0:00.0] Agent: Thanks for calling. How can I help?\n[0:02.6] Caller: Hi, where is my order?\n"
        in body
    )
    assert "From: +15552223333" in body and "Summary:\nThe caller asked about order A-1234 (a)." in body

    exported = client.get(reverse("dashboard:call-transcript-json", args=["acme", world.a.call.public_id]))
    assert exported["Content-Disposition"] == f'attachment; filename="call-{world.a.call.public_id}.json"'
    data = json.loads(exported.content)
    assert data["call"]["id"] == str(world.a.call.public_id) and data["call"]["agent_revision"] == 1
    assert [s["text"] for s in data["transcript"]][:2] == [
        "Thanks for calling. How can I help?",
        "Hi, where is my order?",
    ]
    assert {
        "type": "interruption",
        "at_ms": 10250,
        "payload": {"item_id": "i1", "heard_ms": 1150, "sent_ms": 1900},
    } in data["events"]
    assert data["summary"]["structured_fields"] == {"reason": "order status", "follow_up": False}


def test_a_web_test_call_is_titled_as_one_in_the_list_and_on_its_page(client: Client, world: World) -> None:
    web = make_call(world.a.tenant, agent=world.a.agent, number=None, direction=Direction.WEB, caller="")
    signed_in(client, world.cast.viewer_a)
    listing = client.get(CALLS).content.decode()
    row = listing[listing.index(str(web.public_id)) :][:2000]
    assert "Web test call" in row
    detail = client.get(reverse("dashboard:call", args=["acme", web.public_id])).content.decode()
    assert "<h1>Web test call</h1>" in detail
    assert "Call from unknown" not in detail
