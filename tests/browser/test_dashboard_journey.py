"""A business admin's first hour, in a real browser: sign in, create an agent with its three stage
prompts, publish it, connect a number to it, give it a knowledge base, and read a finished
call's transcript. Screenshots of each page go to ``artifacts/screenshots/``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.async_api import Browser, expect

from agents.knowledge.services import corpus_create, document_add_text
from agents.knowledge.tasks import ingest_document
from agents.models import Agent
from calls.models import STATUS_RANK, Call, CallStatus, TranscriptSegment
from tenants.models import PhoneNumber
from tests.browser.conftest import Stack, open_page, screenshot
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROMPTS = {
    "verification_prompt": "Ask the caller for their account PIN before anything else.",
    "main_prompt": "You are the front desk of Acme Plumbing. Answer from the knowledge base.",
    "summary_prompt": "Summarise the call in two sentences for the plumber on duty.",
}
NEW_NUMBER = "+15557770042"
KB_TEXT = "Acme Plumbing is open from nine to five, Monday to Friday. We are closed on weekends."


def _server_checkable_password(user: User) -> None:
    """The server checks passwords with its own hashers (PBKDF2): give the user such a hash,
    with few iterations so the test stays fast (the server upgrades it on sign-in)."""
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browsersalt", iterations=1000)
    user.save(update_fields=["password"])


def _finished_call(stack: Stack) -> Call:
    cast = stack.telephony.cast
    now = timezone.now()
    call = Call.objects.create(
        tenant=cast.tenant_a,
        agent=cast.agent_a,
        agent_revision=cast.agent_a.published_revision,
        phone_number=stack.telephony.number_a,
        from_number="+15552223333",
        to_number=stack.telephony.number_a.number,
        status=CallStatus.COMPLETED,
        status_rank=STATUS_RANK[CallStatus.COMPLETED],
        answered_at=now - timedelta(minutes=3),
        ended_at=now - timedelta(minutes=2),
        duration_s=60,
        end_reason="caller_hangup",
        engine="local",
    )
    lines = [
        ("agent", "Acme Plumbing, how can I help?"),
        ("caller", "What are your opening hours?"),
        ("agent", "We are open from nine to five, Monday to Friday."),
        ("caller", "Thank you, goodbye."),
    ]
    for ordinal, (speaker, text) in enumerate(lines):
        TranscriptSegment.objects.create(
            tenant=cast.tenant_a,
            call=call,
            speaker=speaker,
            text=text,
            ordinal=ordinal,
            start_ms=ordinal * 2000,
            end_ms=ordinal * 2000 + 1500,
        )
    return call


def _knowledge_base(stack: Stack) -> str:
    tenant = stack.telephony.cast.tenant_a
    corpus = corpus_create(tenant=tenant, name="Front desk facts")
    added = document_add_text(tenant=tenant, corpus=corpus, title="Opening hours", text=KB_TEXT)
    ingest_document(added.document.pk)
    return str(corpus.name)


async def test_sign_in_build_an_agent_publish_connect_and_read_a_call(browser: Browser, stack: Stack) -> None:
    cast = stack.telephony.cast
    await sync_to_async(_server_checkable_password)(cast.owner_a)
    page = await open_page(browser, stack)

    # Sign in through the form.
    await page.goto("/login/?next=/t/acme/")
    await screenshot(page, "01-sign-in")
    await page.fill("#id_username", "owner_a")
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{stack.url}/t/acme/")
    await expect(page.locator(".sidebar")).to_contain_text("Acme Plumbing")
    await screenshot(page, "02-overview")

    # A new agent, then its three stage prompts in the editor.
    await page.goto("/t/acme/agents/new/")
    await page.fill("#id_name", "Evening desk")
    await page.select_option("#id_engine", "local")
    await page.fill("#id_greeting", "Acme Plumbing, good evening.")
    await page.fill("#id_main_prompt", "Help the caller.")
    await screenshot(page, "03-agent-new")
    await page.click("text=Create agent")
    await expect(page.locator("h1")).to_have_text("Evening desk")
    for name, text in PROMPTS.items():
        await page.fill(f"#id_{name}", text)
    await page.click("text=Save draft")
    await expect(page.locator(".messages")).to_contain_text("Draft saved")
    await page.click("form[action$='/publish/'] button[type=submit]")
    await expect(page.locator(".messages")).to_contain_text("Published revision 1")
    await expect(page.locator(".page-head")).to_contain_text("Live: revision 1")
    await screenshot(page, "04-agent-editor")
    agent = await sync_to_async(Agent.objects.select_related("published_revision").get)(name="Evening desk")
    assert agent.published_revision is not None
    for name, text in PROMPTS.items():
        assert agent.published_revision.config[name] == text

    # Knowledge: the agent may search a knowledge base of the tenant's (made here by the service;
    # creating one, uploading documents and searching them in the dashboard is walked through in
    # tests/browser/test_knowledge.py).
    corpus_name = await sync_to_async(_knowledge_base)(stack)
    await page.reload()
    await page.get_by_label(corpus_name).check()
    await page.click("text=Save knowledge bases")
    await expect(page.locator(".messages")).to_contain_text("Knowledge bases saved")
    await expect(page.get_by_label(corpus_name)).to_be_checked()

    # Connect a number to it, with the workspace's Twilio account.
    await page.goto("/t/acme/numbers/connect/")
    await page.fill("#id_number", NEW_NUMBER)
    await page.fill("#id_label", "Evening line")
    await page.select_option("#id_agent", label="Evening desk")
    await page.select_option("#id_account", str(stack.telephony.account_a.public_id))
    await screenshot(page, "05-number-connect")
    await page.click("text=Connect number")
    await page.goto("/t/acme/numbers/")
    row = page.locator("tr", has_text=NEW_NUMBER)
    await expect(row).to_contain_text("Evening desk")
    await screenshot(page, "06-numbers")
    number = await sync_to_async(PhoneNumber.objects.select_related("agent").get)(number=NEW_NUMBER)
    assert number.agent is not None and number.agent.name == "Evening desk"
    assert number.tenant_id == cast.tenant_a.pk

    # A finished call: the list, then its transcript.
    call = await sync_to_async(_finished_call)(stack)
    await page.goto("/t/acme/calls/")
    await expect(page.locator("main")).to_contain_text("+15552223333")
    await screenshot(page, "07-calls")
    await page.goto(f"/t/acme/calls/{call.public_id}/")
    transcript = page.locator("ol.timeline")
    await expect(transcript).to_contain_text("What are your opening hours?")
    await expect(transcript).to_contain_text("We are open from nine to five, Monday to Friday.")
    await expect(transcript.locator("li.msg")).to_have_count(4)
    await screenshot(page, "08-call-transcript")

    # Another tenant's call is not there for this member.
    stack.expected_errors.add("/t/globex/calls/")
    refused = await page.goto("/t/globex/calls/")
    assert refused is not None and refused.status == 404
