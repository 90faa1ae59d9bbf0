"""Knowledge bases in a real browser: sign in, create a knowledge base, upload a document with the
file picker and another by dragging it onto the drop zone, watch ingestion finish without
reloading, search a phrase and see the passage the agent would get, then open it in its document.

The server runs tasks eagerly without a broker (a document is ready when its upload returns); with
one (CI: Redis, and no worker) ingestion is only queued, so this test plays the worker: it runs
the ingestion of whatever is queued, and the page's polling must pick the result up by itself.
Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from playwright.async_api import Browser, FilePayload, Page, expect

from agents.knowledge.ingestion import document_ingest
from agents.knowledge.models import Corpus, Document, DocumentSource, DocumentStatus
from agents.knowledge.retrieval import knowledge_search
from agents.knowledge.services import corpus_create
from tests.browser.conftest import TIMEOUT_MS, Stack, _session_cookie, open_page, screenshot
from tests.conftest import PASSWORD
from tests.e2e.conftest import wait_db

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOURS_MD = (
    "# Opening hours\n\n"
    "The Acme workshop opens at half past seven on Saturdays and closes at noon. "
    "On Sundays the workshop is closed, but the emergency line still dispatches a plumber.\n\n"
    "# Parking\n\nCustomers park free of charge in the yard behind the workshop.\n"
)
BOILER_TXT = (
    "Boiler service. We service gas boilers once a year for a fixed fee of 120 dollars, "
    "including the safety certificate. Book at least a week ahead in winter.\n"
)


UPLOAD_LIMIT = 4096


@pytest.fixture(autouse=True)
def _shared_media_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Uploads go to a temporary folder that the server (started after this fixture, with this
    environment) and this process (when it plays the worker) both read."""
    media = tmp_path / "media"
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    settings.MEDIA_ROOT = str(media)
    # A small document limit, so "too big" is quick to show (uploads and pasted text).
    monkeypatch.setenv("KNOWLEDGE_MAX_UPLOAD_BYTES", str(UPLOAD_LIMIT))
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = UPLOAD_LIMIT


def _file(name: str, mime_type: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime_type, "buffer": data}


def _server_checkable_password(user: User) -> None:
    """The server checks passwords with its own hasher (PBKDF2): few iterations keep it fast."""
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browsersalt", iterations=1000)
    user.save(update_fields=["password"])


def _work_the_queue() -> int:
    """What a Celery worker would do with the queued ingestions (nothing when the server ran them)."""
    queued = list(Document.objects.filter(status=DocumentStatus.PENDING).values_list("pk", flat=True))
    for pk in queued:
        document_ingest(document_id=pk)
    return len(queued)


def _ready(filename: str) -> bool:
    return Document.objects.filter(original_filename=filename, status=DocumentStatus.READY).exists()


def _empty_corpus(tenant: Any) -> str:
    return corpus_create(tenant=tenant, name="Plain form facts").name


def _queue_a_pasted_text(corpus_name: str) -> str:
    """A document a worker has not picked up yet (as in production, whatever this server does)."""
    corpus = Corpus.objects.get(name=corpus_name)
    document = Document.objects.create(
        tenant_id=corpus.tenant_id,
        corpus=corpus,
        title="Van fleet",
        source_kind=DocumentSource.TEXT,
        text="Our three vans carry spare radiators, so most leaks are fixed on the first visit.",
        mime_type="text/plain",
        size_bytes=82,
    )
    return str(document.public_id)


async def _open_page_without_javascript(browser: Browser, stack: Stack, user: User) -> Page:
    """Like ``open_page``, signed in as ``user``, in a context with JavaScript turned off."""
    context = await browser.new_context(
        base_url=stack.url, viewport={"width": 1360, "height": 900}, java_script_enabled=False
    )
    context.set_default_timeout(TIMEOUT_MS)
    stack.contexts.append(context)
    cookie = await sync_to_async(_session_cookie)(user)
    await context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": stack.url, "httpOnly": True}]
    )
    return await context.new_page()


async def _upload_finished(page: Page, filename: str) -> None:
    """Wait for the upload's redirect back to the corpus page, then for the document to be ready."""
    await expect(page.locator(".messages")).to_contain_text(f"Added 1 document: {filename}.")
    await sync_to_async(_work_the_queue)()
    await wait_db(lambda: _ready(filename))
    row = page.locator("#documents tr", has_text=filename)
    await expect(row.locator(".badge")).to_have_text("Ready")  # by polling, when it was queued


async def test_create_a_knowledge_base_upload_documents_and_search_them(
    browser: Browser, stack: Stack
) -> None:
    cast = stack.telephony.cast
    await sync_to_async(_server_checkable_password)(cast.editor_a)
    page = await open_page(browser, stack)

    # Sign in, open Knowledge from the navigation, create a knowledge base.
    await page.goto("/login/?next=/t/acme/")
    await page.fill("#id_username", "editor_a")
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{stack.url}/t/acme/")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    await expect(page.locator("h1")).to_have_text("Knowledge bases")
    await page.get_by_role("link", name="New knowledge base").first.click()
    await page.fill("#id_name", "Workshop facts")
    await page.fill("#id_description", "Hours, parking and prices, for the front desk agent.")
    await screenshot(page, "knowledge-01-new")
    await page.click("text=Create knowledge base")
    await expect(page.locator("h1")).to_have_text("Workshop facts")
    await expect(page.locator(".messages")).to_contain_text("The knowledge base Workshop facts is created.")

    # The drop zone is enhanced by knowledge.js: the plain file input is still there, visually hidden.
    zone = page.locator("[data-kb-drop]")
    await expect(zone).to_have_class("kb-drop enhanced")
    await expect(zone).to_contain_text("Drop files here")

    # 1. The file picker: choosing a file uploads it at once.
    await page.set_input_files(
        "input[type=file][name=uploads]",
        files=[_file("workshop-hours.md", "text/markdown", HOURS_MD.encode())],
    )
    await _upload_finished(page, "workshop-hours.md")

    # 2. A real drop: a DataTransfer holding a File, dispatched like the browser dispatches a drag.
    transfer = await page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "text/plain"}));
            return transfer;
        }""",
        ["boiler-service.txt", BOILER_TXT],
    )
    await zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    await zone.dispatch_event("dragover", {"dataTransfer": transfer})
    await expect(zone).to_have_class("kb-drop enhanced over")
    await zone.dispatch_event("drop", {"dataTransfer": transfer})
    await _upload_finished(page, "boiler-service.txt")
    await expect(page.locator("#documents")).to_contain_text("2 documents · 2 ready")
    await screenshot(page, "knowledge-02-uploaded")

    # 3. Status without reloading: a queued document turns Ready when the worker is done.
    document_id = await sync_to_async(_queue_a_pasted_text)("Workshop facts")
    await page.reload()
    queued_row = page.locator(f"#doc-{document_id}")
    await expect(queued_row.locator(".badge")).to_have_text("Queued")
    await page.evaluate("window.knowledgePageMarker = 'not reloaded'")
    await sync_to_async(_work_the_queue)()
    await expect(queued_row.locator(".badge")).to_have_text("Ready")
    assert await page.evaluate("window.knowledgePageMarker") == "not reloaded"
    await expect(page.locator("#documents")).not_to_have_attribute("hx-trigger", "every 2s")

    # 4. Search a phrase: the passage is the one knowledge_search gives the agent.
    question = "What time do you open on Saturday?"
    await page.fill("#id_q", question)
    await page.get_by_role("button", name="Search").click()
    results = page.locator("#search-results .kb-passage")
    await expect(results.first).to_contain_text("half past seven on Saturdays")
    await expect(results.first.locator(".kb-source")).to_contain_text("workshop hours")
    # The address says what was searched (a reload, or a shared link, shows the same results).
    await expect(page).to_have_url(
        re.compile(r"/knowledge/[0-9a-f-]+/\?q=What.+Saturday%3F&caller=verified&max_results=3$")
    )

    def _expected() -> list[Any]:
        corpus = Corpus.objects.get(name="Workshop facts")
        return knowledge_search(
            tenant=corpus.tenant, corpus_ids=[corpus.public_id], query=question, include_private=True
        )

    expected = await sync_to_async(_expected)()
    await expect(results).to_have_count(len(expected))
    for index, passage in enumerate(expected):
        await expect(results.nth(index).locator(".badge")).to_have_text(f"score {passage.score:.2f}")
    await screenshot(page, "knowledge-03-search")

    # 5. The passage's source: the document page with its chunk preview, that passage marked.
    await results.first.locator(".kb-source a").click()
    await expect(page.locator("h1")).to_have_text("workshop hours")
    target = page.locator(".kb-chunk:target")
    await expect(target).to_contain_text("half past seven on Saturdays")
    await screenshot(page, "knowledge-04-document")

    # 6. Across every knowledge base, from the list page.
    await page.goto("/t/acme/knowledge/")
    await expect(page.locator("tr", has_text="Workshop facts")).to_contain_text("3")
    await page.fill("#id_q", "How much is the yearly boiler service?")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#search-results .kb-passage").first).to_contain_text(
        "fixed fee of 120 dollars"
    )
    await screenshot(page, "knowledge-05-list-search")

    # 7. Refused files are reported one by one; the good file of the same upload still goes in.
    await page.get_by_role("link", name="Workshop facts").click()
    await page.set_input_files(
        "input[type=file][name=uploads]",
        files=[
            _file("van-checklist.txt", "text/plain", b"Check the van tyres weekly."),
            _file("logo.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
            _file("blank.md", "text/markdown", b""),
            _file("price-list.txt", "text/plain", b"Prices. " * 700),
        ],
    )
    messages = page.locator(".messages")
    await expect(messages).to_contain_text("Added 1 document: van-checklist.txt.")
    await expect(messages.locator(".error")).to_have_count(3)
    await expect(messages).to_contain_text("price-list.txt was not added: The limit for a document is 4 KB")
    await expect(messages).to_contain_text("logo.png was not added: Files of this type (.png) can't be used")
    await expect(messages).to_contain_text("blank.md was not added: The file is empty.")
    failed = page.locator("#documents tr", has_text="logo.png")
    await expect(failed.locator(".badge")).to_have_text("Failed")
    await expect(failed).to_contain_text("Files of this type (.png) can't be used")
    await screenshot(page, "knowledge-06-upload-errors")

    # 8. Pasted text over the limit is refused in the page before it is sent: the text stays.
    await page.get_by_text("Or paste text").click()
    await page.fill("#id_title", "Price list")
    await page.fill("#id_text", "Callout prices. " * 300)
    await page.evaluate("window.knowledgePageMarker = 'still here'")
    await page.get_by_role("button", name="Add text").click()
    await expect(page.locator(".kb-paste-error")).to_have_text(
        "The text is 5 KB; the limit is 4 KB. Split it, or save it as a .txt file and upload that."
    )
    assert await page.evaluate("window.knowledgePageMarker") == "still here"
    assert await page.input_value("#id_text") == "Callout prices. " * 300
    await page.fill("#id_text", "A standard callout costs 95 dollars, parts extra.")
    await page.get_by_role("button", name="Add text").click()
    await expect(page.locator(".messages")).to_contain_text("Added 1 document: “Price list”.")
    await expect(page.locator("#documents tr", has_text="Pasted text · 49")).to_contain_text("Price list")


async def test_the_upload_form_works_without_javascript(browser: Browser, stack: Stack) -> None:
    """Progressive enhancement: with JavaScript off, the plain multipart form uploads the files."""
    cast = stack.telephony.cast
    corpus_name = await sync_to_async(_empty_corpus)(cast.tenant_a)
    page = await _open_page_without_javascript(browser, stack, cast.editor_a)
    await page.goto("/t/acme/knowledge/")
    await page.get_by_role("link", name=corpus_name).click()
    await expect(page.locator("[data-kb-drop]")).to_have_class("kb-drop")  # not enhanced
    await expect(page.get_by_text("Drop files here")).to_be_hidden()
    await page.get_by_label("Choose files").set_input_files(
        files=[
            _file("hours.md", "text/markdown", HOURS_MD.encode()),
            _file("boilers.txt", "text/plain", BOILER_TXT.encode()),
        ]
    )
    await screenshot(page, "knowledge-07-no-javascript")
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator(".messages")).to_contain_text("Added 2 documents: hours.md, boilers.txt.")
    await sync_to_async(_work_the_queue)()
    await wait_db(lambda: _ready("hours.md") and _ready("boilers.txt"))
    # No polling without JavaScript: the Refresh link (or any reload) shows the outcome.
    await page.goto(page.url)
    await expect(page.locator("#documents")).to_contain_text("2 documents · 2 ready")
    # The search form is a plain GET form, too.
    await page.fill("#id_q", "When are you open on Saturdays?")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#search-results .kb-passage").first).to_contain_text("half past seven")
