""" "Talk to this agent" in a real browser: Chromium's fake microphone plays a recorded question
(``opening_hours.wav`` after a few seconds of silence); softphone.js captures it with an
AudioWorklet, encodes 20 ms mu-law frames and streams them to the server, which runs the same
CallSession as a phone call on the offline engine. The agent's answer (from its knowledge base)
comes back as audio that the page plays and acknowledges with marks, and the transcript appears.
The call is stored as a web test call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import Browser, expect

from calls.models import Call, CallEvent, Direction
from tests.browser.conftest import Stack, open_page, screenshot
from tests.e2e.conftest import (
    add_knowledge_base,
    configure_agent,  # noqa: F401 - fixture
    transcript_rows,
    wait_db,
    wait_postcall_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GREETING = "Hello, this is Acme Plumbing."
KB_TEXT = "Acme Plumbing is open from nine to five, Monday to Friday. We are closed on weekends."


def _web_call() -> Call | None:
    return Call.objects.filter(direction=Direction.WEB).select_related("agent_revision").first()


async def test_talk_to_the_agent_with_the_microphone(
    browser: Browser,
    stack: Stack,
    configure_agent: Callable[..., Any],  # noqa: F811
) -> None:
    telephony = stack.telephony
    await sync_to_async(add_knowledge_base)(telephony, title="Opening hours", text=KB_TEXT)
    await sync_to_async(configure_agent)(engine="local", greeting=GREETING)
    agent = telephony.cast.agent_a

    page = await open_page(browser, stack, telephony.cast.editor_a)
    await page.goto(f"/t/acme/agents/{agent.public_id}/")
    await page.get_by_role("link", name="Talk to this agent").click()
    await expect(page).to_have_url(f"{stack.url}/t/acme/agents/{agent.public_id}/talk/")
    await expect(page.locator("h1")).to_have_text("Talk to Acme desk")
    await screenshot(page, "11-softphone-ready")
    await page.get_by_role("button", name="Start call").click()
    status = page.locator("[data-phone=status]")
    await expect(status).to_have_text("Connected to Acme desk")
    # Predicates are functions, not expressions: Playwright polls an expression with eval(),
    # which the page's Content-Security-Policy (script-src 'self') refuses.
    await page.wait_for_function("() => window.softphoneState.capture !== null")
    assert await page.evaluate("window.softphoneState.capture") == "worklet"  # not the fallback

    # The greeting plays (agent audio arrives and is played, its marks echoed), then the
    # recorded question is heard, understood and answered from the knowledge base.
    transcript = page.locator("[data-phone=transcript]")
    await expect(transcript.locator("li.msg.agent").first).to_contain_text("Acme Plumbing")
    await expect(transcript.locator("li.msg.caller")).to_contain_text("opening hours", timeout=25_000)
    greeting_frames = await page.evaluate("window.softphoneState.framesPlayed")
    assert greeting_frames >= 50  # a second or more of the greeting was played
    await expect(transcript.locator("li.msg.agent").nth(1)).to_contain_text("nine to five", timeout=25_000)
    await page.wait_for_function("(n) => window.softphoneState.framesPlayed >= n", arg=greeting_frames + 100)
    state = await page.evaluate("window.softphoneState")
    assert state["framesSent"] >= 250  # five seconds and more of microphone, in 20 ms frames
    assert state["marksReceived"] > 0 and state["marksEchoed"] > 0
    assert state["bytesReceived"] >= state["framesReceived"] * 100  # real audio, mostly 160-byte frames
    await screenshot(page, "12-softphone-call")

    # The user hangs up; the call is stored as a web test call with its transcript.
    await page.get_by_role("button", name="Hang up").click()
    await expect(status).to_have_text("Call ended")
    await wait_db(lambda: (call := _web_call()) is not None and call.ended_at is not None)
    await wait_postcall_settled()
    call = await sync_to_async(_web_call)()
    assert call is not None and call.end_reason == "caller_hangup"
    assert call.agent_revision is not None and call.agent_revision.config["engine"] == "local"
    rows = await sync_to_async(transcript_rows)(call)
    assert rows[0] == ("agent", GREETING)
    assert any(speaker == "caller" and "opening hours" in text for speaker, text in rows)
    assert any(speaker == "agent" and "nine to five" in text for speaker, text in rows)
    started = await sync_to_async(lambda: CallEvent.objects.get(call=call, type="web_test_call").payload)()
    assert started == {"started_by": "editor_a"}

    # The call's page says what it was.
    await page.locator("[data-phone=link] a").click()
    await expect(page.locator("main")).to_contain_text("Web test call")
    await expect(page.locator("ol.timeline")).to_contain_text("nine to five")
    await screenshot(page, "13-web-call-transcript")
