"""Watching a live call in a real browser: a simulated caller (``FakeTwilioCaller``, real speech
from the shared fixtures) talks to the offline engine through the real server; the live page shows
the call appear and its transcript grow, sentence by sentence, over the tenant's WebSocket. Then
the operator hangs it up from the page: the session ends and the phone call is hung up through
Twilio's REST API. On CI (PostgreSQL + Redis) every update crosses the Redis channel layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import Browser, expect

from calls.models import Call
from tests.browser.conftest import AUDIO_DIR, Stack, open_page, screenshot
from tests.e2e.conftest import (
    add_knowledge_base,
    call_events,
    configure_agent,  # noqa: F401 - fixture
    connect_caller,
    ended_call,
    place_inbound_call,
    wait_db,
    wait_postcall_settled,
)
from tests.fakes.twilio import new_sid

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GREETING = "Acme Plumbing, how can I help?"
KB_TEXT = "Acme Plumbing is open from nine to five, Monday to Friday. We are closed on weekends."


async def test_a_live_calls_transcript_updates_and_the_operator_hangs_up(
    browser: Browser,
    stack: Stack,
    configure_agent: Callable[..., Any],  # noqa: F811
) -> None:
    telephony = stack.telephony
    await sync_to_async(add_knowledge_base)(telephony, title="Opening hours", text=KB_TEXT)
    await sync_to_async(configure_agent)(engine="local", greeting=GREETING)

    page = await open_page(browser, stack, telephony.cast.editor_a)
    await page.goto("/t/acme/")
    await page.get_by_role("link", name="Live calls").click()
    await expect(page).to_have_url(f"{stack.url}/t/acme/live/")
    await expect(page.locator("#live-status")).to_have_text("Live")
    await expect(page.locator("#live-empty")).to_be_visible()

    answer = await place_inbound_call(stack.url, new_sid("CA"))
    caller = await connect_caller(stack.server.ws_url, answer, stack.rest)
    call = await sync_to_async(lambda: Call.objects.get(twilio_call_sid=answer.call_sid))()
    card = page.locator(f'[data-call="{call.public_id}"]')

    # The call appears (cloned from the page's template by live.js) and the greeting shows.
    await expect(card).to_be_visible()
    await expect(card.locator("[data-field=title]")).to_have_text("Call from +15552223333")
    await expect(card.locator("li.msg.agent").first).to_contain_text("how can I help", ignore_case=True)
    await expect(page.locator("#live-empty")).to_be_hidden()

    # The caller asks; the question, then the answer from the knowledge base, appear live.
    await caller.wait_for(lambda: caller.buffered_bytes == 0, timeout_s=15)
    await caller.say_wav(AUDIO_DIR / "opening_hours.wav")
    await expect(card.locator("li.msg.caller")).to_contain_text(
        "opening hours", ignore_case=True, timeout=20_000
    )
    await expect(card.locator("li.msg.agent").nth(1)).to_contain_text("nine to five", timeout=20_000)
    assert await page.evaluate("window.liveCalls.messages") >= 3  # snapshot, started, transcript...
    await screenshot(page, "09-live-call")

    # The operator hangs up from the page.
    await card.get_by_role("button", name="Hang up").click()
    await expect(page.locator(".messages")).to_contain_text("Hanging up the call.")
    await caller.wait_for(lambda: caller.closed.is_set(), timeout_s=10)
    await wait_db(lambda: ended_call() is not None)
    # The page (reloaded after the POST) shows the call as over once its feed has spoken.
    await page.wait_for_function(
        "(id) => window.liveCalls && window.liveCalls.messages > 0 && !window.liveCalls.calls[id]",
        arg=str(call.public_id),
    )
    await wait_postcall_settled()

    ended = await sync_to_async(ended_call)()
    assert ended.pk == call.pk and ended.end_reason == "agent_hangup"
    assert [r.form.get("Status") for r in stack.rest.requests] == ["completed"]  # the phone call too
    (hangup,) = await sync_to_async(call_events)(ended, "operator_hangup")
    assert hangup == {"requested_by": "editor_a"}
    await caller.aclose()


async def test_a_viewer_watches_but_cannot_hang_up_and_another_tenant_sees_nothing(
    browser: Browser,
    stack: Stack,
    configure_agent: Callable[..., Any],  # noqa: F811
) -> None:
    telephony = stack.telephony
    await sync_to_async(configure_agent)(engine="local", greeting=GREETING)
    viewer = await open_page(browser, stack, telephony.cast.viewer_a)
    stranger = await open_page(browser, stack, telephony.cast.owner_b)
    await viewer.goto("/t/acme/live/")
    await stranger.goto("/t/globex/live/")
    for page in (viewer, stranger):
        await expect(page.locator("#live-status")).to_have_text("Live")
        # A function, not an expression: polling an expression uses eval(), refused by the CSP.
        await page.wait_for_function("() => window.liveCalls.messages >= 1")  # the snapshot

    answer = await place_inbound_call(stack.url, new_sid("CA"))
    caller = await connect_caller(stack.server.ws_url, answer, stack.rest)
    call = await sync_to_async(lambda: Call.objects.get(twilio_call_sid=answer.call_sid))()
    card = viewer.locator(f'[data-call="{call.public_id}"]')
    await expect(card.locator("li.msg.agent").first).to_contain_text("how can I help", ignore_case=True)
    await expect(card.get_by_role("button", name="Hang up")).to_have_count(0)
    await screenshot(viewer, "10-live-call-viewer")

    # Tenant B's live page got nothing of it: no card, and its feed stayed at its snapshot.
    await expect(stranger.locator(".live-call")).to_have_count(0)
    assert await stranger.evaluate("window.liveCalls.messages") == 1

    # A viewer's forged hang-up is refused; the call goes on.
    stack.expected_errors.add(f"/t/acme/live/{call.public_id}/hangup/")
    status = await viewer.evaluate(
        """async (url) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]");
            const body = new URLSearchParams({csrfmiddlewaretoken: token ? token.value : ""});
            const response = await fetch(url, {method: "POST", body});
            return response.status;
        }""",
        f"/t/acme/live/{call.public_id}/hangup/",
    )
    assert status == 403
    assert not caller.closed.is_set()
    await caller.hang_up()
    await wait_db(lambda: ended_call() is not None)
    await wait_postcall_settled()
    await caller.aclose()
