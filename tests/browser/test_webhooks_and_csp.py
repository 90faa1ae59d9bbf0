"""In a real browser, under the Content-Security-Policy: every main page loads without a single
policy violation, and an admin sets up a webhook endpoint (the secret shown once), sends a test
event to a local receiver through the live server, and reads the delivery log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import Browser, Page, expect
from standardwebhooks.webhooks import Webhook

from calls.webhooks.models import WebhookDelivery, WebhookEndpoint
from calls.webhooks.services import webhooks_emit
from tests.browser.conftest import Stack, open_page, screenshot
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.server import live_server
from tests.fakes.twilio import FakeTwilioRest
from tests.fakes.webhook_receiver import FakeWebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records every violation the page reports (Playwright's init scripts are not subject to the CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
async def webhook_stack(telephony: Telephony) -> AsyncIterator[Stack]:
    """The product under daphne, allowed to reach receivers on 127.0.0.1 (the fakes)."""
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(
            DEBUG="true", TWILIO_API_BASE_URL=rest.base_url, ALLOW_PRIVATE_WEBHOOK_ADDRESSES="true"
        ) as server,
    ):
        stack = Stack(server, rest, telephony)
        try:
            yield stack
        finally:
            for context in stack.contexts:
                await context.close()
    assert stack.errors == [], "the pages raised JavaScript errors or CSP violations"


async def _visit(page: Page, path: str) -> list[str]:
    """Open ``path``: the policy header is there and nothing was blocked."""
    response = await page.goto(path)
    assert response is not None and response.status == 200, path
    policy = await response.header_value("content-security-policy")
    assert policy is not None and "script-src 'self'" in policy, path
    await page.wait_for_load_state("networkidle")
    return list(await page.evaluate("window.__cspViolations"))


async def test_the_main_pages_load_under_the_policy(browser: Browser, webhook_stack: Stack) -> None:
    cast = webhook_stack.telephony.cast
    page = await open_page(browser, webhook_stack, cast.owner_a)
    await page.context.add_init_script(RECORD_VIOLATIONS)
    paths = [
        "/t/acme/",
        "/t/acme/calls/",
        "/t/acme/agents/",
        f"/t/acme/agents/{cast.agent_a.public_id}/",
        "/t/acme/tools/",
        "/t/acme/tools/new/",
        "/t/acme/numbers/",
        "/t/acme/team/",
        "/t/acme/api-keys/",
        "/t/acme/usage/",
        "/t/acme/live/",
        "/t/acme/webhooks/",
        "/t/acme/webhooks/new/",
        "/t/acme/webhooks/deliveries/",
        "/api/docs/",
        "/admin/login/",
    ]
    violations = {path: found for path in paths if (found := await _visit(page, path))}
    assert violations == {}
    # The API docs really rendered (their scripts ran under the policy).
    await page.goto("/api/docs/")
    await expect(page.locator(".swagger-ui .info")).to_contain_text("VoxSaaS API")


def _delivery_for(endpoint_url: str, tenant_id: int) -> str:
    webhooks_emit(
        tenant_id=tenant_id, event_type="call.ended", payload={"id": "browser"}, dedup_key="browser"
    )
    return str(WebhookDelivery.objects.get(endpoint__url=endpoint_url).public_id)


async def test_an_admin_sets_up_an_endpoint_and_tests_it(browser: Browser, webhook_stack: Stack) -> None:
    cast = webhook_stack.telephony.cast
    page = await open_page(browser, webhook_stack, cast.admin_a)
    await page.context.add_init_script(RECORD_VIOLATIONS)
    webhook_stack.expected_errors.add("/t/acme/webhooks/new/")  # the refused URL answers 400
    with FakeWebhookReceiver() as receiver:
        await page.goto("/t/acme/webhooks/")
        await page.click("text=Add endpoint")
        await page.fill("#id_url", "http://169.254.169.254/latest/meta-data")
        await page.click("text=Create endpoint")
        await expect(page.locator(".errorlist")).to_contain_text("cloud metadata address")
        await page.fill("#id_url", receiver.url)
        await page.fill("#id_description", "Browser test receiver")
        await page.get_by_label("call.summarized").check()
        await page.click("text=Create endpoint")
        secret = await page.locator("#signing-secret").input_value()
        assert secret.startswith("whsec_")
        await screenshot(page, "20-webhook-secret")
        await page.click("text=Continue to the endpoint")
        assert secret not in await page.content()

        # A test event through the live server's sender, shown in place (htmx).
        await page.select_option("#id_event_type", "call.summarized")
        await page.click("text=Send test event")
        result = page.locator("#webhook-test-result")
        await expect(result).to_contain_text("Delivered")
        await expect(result).to_contain_text("200")
        (sent,) = receiver.requests
        assert Webhook(secret).verify(sent.body, sent.headers)["type"] == "call.summarized"
        await screenshot(page, "21-webhook-endpoint")

        # A real event, then its delivery page.
        endpoint = await sync_to_async(WebhookEndpoint.objects.get)(url=receiver.url)
        delivery_id = await sync_to_async(_delivery_for)(receiver.url, cast.tenant_a.pk)
        await page.goto(f"/t/acme/webhooks/deliveries/{delivery_id}/")
        await expect(page.locator("h1")).to_contain_text("call.ended")
        await expect(page.locator(".wh-payload")).to_contain_text('"id": "browser"')
        await screenshot(page, "22-webhook-delivery")
        await page.goto(f"/t/acme/webhooks/{endpoint.public_id}/")
        await page.select_option("#filter-status", "failed")
        await expect(page.locator("#delivery-results")).to_contain_text("No deliveries match these filters")
        assert await page.evaluate("window.__cspViolations") == []
