"""Knowledge bases in the dashboard: corpora (create, edit, delete naming the agents that lose
them), documents (upload one or several files, every refusal reported and nothing else lost,
pasted text, delete, re-ingest), ingestion status that polls only while there is something to
wait for, the passage preview, and the test search, which must be the agent's own retrieval."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents.knowledge.index import corpus_index_cache
from agents.knowledge.ingestion import document_ingest
from agents.knowledge.models import Chunk, Corpus, Document, DocumentStatus
from agents.knowledge.retrieval import knowledge_search
from agents.knowledge.services import corpus_create, document_add_text, document_add_upload
from agents.models import AgentCorpus
from agents.services import agent_corpora_set, agent_publish
from tests.conftest import Cast
from tests.dashboard.areas.knowledge import KB_TEXT
from tests.dashboard.conftest import World, signed_in
from tests.knowledge.pdfs import make_pdf
from voxsaas.celery import app as celery_app

# Each service call commits, so its on_commit task runs at once, eagerly, as in development.
COMMITTED = pytest.mark.django_db(transaction=True)

HOURS_MD = (
    b"# Opening hours\n\nThe Acme workshop opens at seven thirty on Saturdays and closes at noon. "
    b"On Sundays the workshop is closed, but emergency callouts still run.\n"
)
BOILER_TXT = b"Boiler service: we service gas boilers once a year for a fixed fee of 120 dollars.\n"


@pytest.fixture(autouse=True)
def _eager_tasks_and_fresh_index() -> Iterator[None]:
    """Run the ingestion task in-process when a test lets on_commit callbacks run (CI has a
    broker and no worker); searches must not see another test's cached index."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    corpus_index_cache.clear()
    yield
    celery_app.conf.task_always_eager = previous
    corpus_index_cache.clear()


@pytest.fixture
def agents_search(world: World) -> None:
    """Each side's agent searches that side's knowledge base (in its draft)."""
    for side in (world.a, world.b):
        corpus_ids = [str(side.extra["corpus"].public_id)]
        agent_corpora_set(tenant=side.tenant, agent=side.agent, corpus_ids=corpus_ids)


def _url(name: str, *args: Any) -> str:
    return reverse(f"dashboard:{name}", args=["acme", *args])


def _corpus(world: World) -> Corpus:
    corpus: Corpus = world.a.extra["corpus"]
    return corpus


def _document(world: World) -> Document:
    document: Document = world.a.extra["document"]
    return document


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _upload(name: str, data: bytes, content_type: str = "text/plain") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type)


@dataclass
class Shop:
    cast: Cast
    corpus: Corpus
    document: Document


@pytest.fixture
def shop(cast: Cast, media_root: Path) -> Shop:
    """For the COMMITTED tests: one knowledge base with one ingested document, without the whole
    dashboard world (whose other areas queue tasks of their own when transactions commit)."""
    corpus = corpus_create(tenant=cast.tenant_a, name="Help center a")
    document = document_add_text(
        tenant=cast.tenant_a, corpus=corpus, title="Shop facts a", text=KB_TEXT
    ).document
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY  # ingested eagerly, on commit
    return Shop(cast, corpus, document)


# ----------------------------------------------------------------------------- corpora


def test_the_list_shows_counts_agents_and_only_this_tenants_corpora(
    client: Client, world: World, agents_search: None
) -> None:
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    document_add_text(tenant=world.a.tenant, corpus=corpus, title="Waiting", text="Not processed yet.")
    response = client.get(_url("knowledge"))
    html = response.content.decode()
    assert response.status_code == 200
    (row,) = response.context["corpora"]
    assert (row.name, row.document_total, row.document_active) == ("Help center a", 2, 1)
    assert row.chunk_total == _document(world).chunk_count >= 1
    assert [a.name for a in row.agent_list] == ["Acme desk"]
    assert "Answers for callers (a)." in html and "1 in progress" in html
    assert reverse("dashboard:agent", args=["acme", world.a.agent.public_id]) in html
    assert "Help center b" not in html and "Globex" not in html
    assert "New knowledge base" not in html  # a viewer gets no create button


def test_the_list_invites_to_create_the_first_corpus(client: Client, world: World) -> None:
    Corpus.objects.filter(tenant=world.a.tenant).delete()
    signed_in(client, world.cast.editor_a)
    html = client.get(_url("knowledge")).content.decode()
    assert "No knowledge bases yet" in html and "Create a knowledge base" in html
    assert 'id="search"' not in html  # nothing to search yet


def test_creating_a_corpus_validates_and_then_opens_it(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    empty = client.post(_url("corpus-new"), {"name": "  ", "description": "Kept"})
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    assert "Kept" in empty.content.decode()
    clash = client.post(_url("corpus-new"), {"name": "Help center a"})
    assert "A knowledge base with this name already exists." in clash.content.decode()
    created = client.post(
        _url("corpus-new"), {"name": "Prices", "description": "What we charge", "is_private": "on"}
    )
    corpus = Corpus.objects.get(tenant=world.a.tenant, name="Prices")
    assert created.status_code == 302 and created["Location"] == _url("corpus", corpus.public_id)
    assert corpus.description == "What we charge" and corpus.is_private
    page = client.get(created["Location"])
    assert "The knowledge base Prices is created." in _messages(page)[0]
    assert "No documents yet" in page.content.decode()


def test_editing_a_corpus(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    corpus_create(tenant=world.a.tenant, name="Taken")
    url = _url("corpus-edit", corpus.public_id)
    form = client.get(url).content.decode()
    assert 'value="Help center a"' in form and "Answers for callers (a)." in form
    assert "Taken" in client.post(url, {"name": "Taken"}).content.decode()
    saved = client.post(url, {"name": "FAQ", "description": "", "is_private": "on"})
    assert saved.status_code == 302
    corpus.refresh_from_db()
    assert (corpus.name, corpus.description, corpus.is_private) == ("FAQ", "", True)
    html = client.get(saved["Location"]).content.decode()
    assert "Knowledge base saved." in html and "Private" in html


def test_deleting_a_corpus_says_which_agents_lose_it(
    client: Client, world: World, agents_search: None
) -> None:
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    html = client.get(_url("corpus-edit", corpus.public_id)).content.decode()
    assert "Agents that lose it:" in html and "Acme desk" in html
    assert 'data-confirm="Delete Help center a and its 1 document? Acme desk will lose it."' in html
    response = client.post(_url("corpus-delete", corpus.public_id), follow=True)
    assert response.redirect_chain == [(_url("knowledge"), 302)]
    assert _messages(response) == [
        "The knowledge base Help center a is deleted, with its documents. Acme desk no longer searches it."
    ]
    assert not Corpus.objects.filter(pk=corpus.pk).exists()
    assert not Document.objects.filter(corpus_id=corpus.pk).exists()
    assert not AgentCorpus.objects.filter(agent=world.a.agent).exists()
    assert Corpus.objects.filter(pk=world.b.extra["corpus"].pk).exists()


# ----------------------------------------------------------------------------- uploads


@COMMITTED
def test_uploading_files_ingests_them_and_says_so(client: Client, shop: Shop) -> None:
    signed_in(client, shop.cast.editor_a)
    corpus = shop.corpus
    pdf = make_pdf([["Boiler repairs", "We repair boilers of every make within two working days."]])
    response = client.post(
        _url("corpus-upload", corpus.public_id),
        {"uploads": [_upload("opening_hours.md", HOURS_MD), _upload("boilers.pdf", pdf, "application/pdf")]},
    )
    assert response.status_code == 302 and response["Location"] == _url("corpus", corpus.public_id)
    added = {d.original_filename: d for d in Document.objects.filter(corpus=corpus, source_kind="upload")}
    assert set(added) == {"opening_hours.md", "boilers.pdf"}
    for document in added.values():
        assert document.status == DocumentStatus.READY and document.chunk_count >= 1
        assert document.tenant_id == shop.cast.tenant_a.pk
    assert added["opening_hours.md"].title == "opening hours"
    assert added["boilers.pdf"].mime_type == "application/pdf"
    page = client.get(response["Location"])
    assert _messages(page) == ["Added 2 documents: opening_hours.md, boilers.pdf. They are ready to search."]
    html = page.content.decode()
    assert "opening hours" in html and "boilers.pdf" in html and "PDF" in html
    assert "hx-trigger" not in html.split('id="documents"')[1].split(">")[0]  # nothing to wait for


@COMMITTED
def test_every_refused_file_is_reported_and_the_good_ones_still_go_in(
    client: Client, shop: Shop, settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 2048
    signed_in(client, shop.cast.editor_a)
    corpus = shop.corpus
    document_add_upload(
        tenant=shop.cast.tenant_a, corpus=corpus, upload=io.BytesIO(BOILER_TXT), filename="boiler.txt"
    )
    files = [
        _upload("opening_hours.md", HOURS_MD),
        _upload("huge.txt", b"word " * 1000),
        _upload("contract.docx", b"PK\x03\x04" + b"\x00" * 64, "application/octet-stream"),
        _upload("empty.txt", b""),
        _upload("boiler copy.txt", BOILER_TXT),
    ]
    response = client.post(_url("corpus-upload", corpus.public_id), {"uploads": files}, follow=True)
    assert response.status_code == 200
    assert _messages(response) == [
        "Added 1 document: opening_hours.md. It is ready to search.",
        "huge.txt was not added: The limit for a document is 2 KB; this one is 5 KB. "
        "Split it into smaller files.",
        "contract.docx was not added: Files of this type (.docx) can't be used: "
        "upload a .txt, .md, .html or .pdf file.",
        "empty.txt was not added: The file is empty.",
        "boiler copy.txt is already in this knowledge base, as “boiler”: not added again.",
    ]
    by_name = {d.original_filename: d for d in Document.objects.filter(corpus=corpus, source_kind="upload")}
    assert by_name["opening_hours.md"].status == DocumentStatus.READY
    for refused in ("huge.txt", "contract.docx", "empty.txt"):
        assert by_name[refused].status == DocumentStatus.FAILED and not by_name[refused].file
    assert "boiler copy.txt" not in by_name
    # The refusals stay listed with their reason, and cannot be retried (their bytes were not kept).
    html = response.content.decode()
    assert html.count("Failed</span>") == 3
    assert "Files of this type (.docx) can&#x27;t be used" in html
    row = html.split(f'id="doc-{by_name["empty.txt"].public_id}"')[1].split("</tr>")[0]
    assert "The file is empty." in row and "Retry" not in row and "Delete" in row


def test_an_upload_without_files_or_with_too_many_is_refused_whole(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    url = _url("corpus-upload", corpus.public_id)
    before = Document.objects.count()
    nothing = client.post(url, {})
    assert nothing.status_code == 200
    assert "Choose at least one file to upload." in nothing.content.decode()
    many = client.post(url, {"uploads": [_upload(f"f{i}.txt", f"File {i}".encode()) for i in range(21)]})
    assert "You chose 21 files: upload at most 20 at a time." in many.content.decode()
    assert Document.objects.count() == before


@COMMITTED
def test_the_drop_zone_upload_answers_htmx_with_a_redirect(client: Client, shop: Shop) -> None:
    signed_in(client, shop.cast.editor_a)
    corpus = shop.corpus
    url = _url("corpus-upload", corpus.public_id)
    response = client.post(url, {"uploads": [_upload("hours.md", HOURS_MD)]}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Redirect"] == _url("corpus", corpus.public_id)
    refused = client.post(url, {}, headers={"HX-Request": "true"})
    assert refused["HX-Redirect"] == _url("corpus", corpus.public_id)
    assert _messages(client.get(_url("corpus", corpus.public_id))) == [
        "Added 1 document: hours.md. It is ready to search.",
        "Choose at least one file to upload.",
    ]


def test_the_upload_form_works_without_javascript(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    html = client.get(_url("corpus", corpus.public_id)).content.decode()
    form = html.split('class="kb-upload"')[1].split("</form>")[0]
    assert 'method="post"' in form and 'enctype="multipart/form-data"' in form
    assert f'action="{_url("corpus-upload", corpus.public_id)}"' in form
    assert 'type="file" name="uploads"' in form and "multiple" in form and 'accept=".txt,' in form
    assert '<button class="btn" type="submit">Upload</button>' in form
    assert "/static/js/knowledge.js" in html


# ----------------------------------------------------------------------------- pasted text


@COMMITTED
def test_pasting_text_adds_a_document(client: Client, shop: Shop) -> None:
    signed_in(client, shop.cast.editor_a)
    corpus = shop.corpus
    text = "Parking: customers park free of charge in the yard behind the workshop."
    response = client.post(
        _url("corpus-paste", corpus.public_id), {"title": "Parking", "text": text}, follow=True
    )
    document = Document.objects.get(corpus=corpus, title="Parking")
    assert (document.source_kind, document.text, document.status) == ("text", text, DocumentStatus.READY)
    assert _messages(response) == ["Added 1 document: “Parking”. It is ready to search."]
    again = client.post(
        _url("corpus-paste", corpus.public_id), {"title": "Parking 2", "text": text}, follow=True
    )
    assert _messages(again) == [
        "“Parking 2” is already in this knowledge base, as “Parking”: not added again."
    ]
    assert Document.objects.filter(corpus=corpus, source_kind="text").count() == 2  # + the shop's own


def test_pasted_text_errors_keep_what_was_typed(client: Client, world: World, settings: Any) -> None:
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1024
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    url = _url("corpus-paste", corpus.public_id)
    before = Document.objects.count()
    no_title = client.post(url, {"title": "", "text": "Typed carefully."}).content.decode()
    assert "This field is required." in no_title and "Typed carefully." in no_title
    assert '<details class="kb-paste" open>' in no_title
    blank = client.post(url, {"title": "Blank", "text": "   \n "}).content.decode()
    assert "The text is empty." in blank and 'value="Blank"' in blank
    long_text = "Long sentence about prices. " * 60
    too_long = client.post(url, {"title": "Prices", "text": long_text}).content.decode()
    assert (
        "The text is 2 KB; the limit is 1 KB. Split it, or save it as a .txt file and upload that."
        in too_long
    )
    assert long_text.strip() in too_long
    assert Document.objects.count() == before


# ----------------------------------------------------------------------------- status polling


def test_the_status_partial_polls_while_a_document_waits_and_stops_when_none_does(
    client: Client, world: World
) -> None:
    """Production path: the task is only queued (on_commit callbacks do not run here)."""
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    queued = document_add_text(
        tenant=world.a.tenant, corpus=corpus, title="New prices", text="Callouts cost 99."
    )
    partial_url = _url("corpus-documents", corpus.public_id)
    page = client.get(_url("corpus", corpus.public_id)).content.decode()
    assert f'hx-get="{partial_url}" hx-trigger="every 2s" hx-swap="outerHTML"' in page

    waiting = client.get(partial_url, headers={"HX-Request": "true"}).content.decode()
    assert waiting.lstrip().startswith('<div id="documents"') and "<html" not in waiting
    assert 'hx-trigger="every 2s"' in waiting and "Queued" in waiting and "1 in progress" in waiting

    Document.objects.filter(pk=queued.document.pk).update(status=DocumentStatus.PROCESSING)
    assert "Processing" in client.get(partial_url).content.decode()

    Document.objects.filter(pk=queued.document.pk).update(status=DocumentStatus.PENDING)
    document_ingest(document_id=queued.document.pk)  # the worker's turn
    done = client.get(partial_url).content.decode()
    assert "hx-trigger" not in done and "Queued" not in done
    row = done.split(f'id="doc-{queued.document.public_id}"')[1].split("</tr>")[0]
    assert "Ready" in row


def test_a_queued_document_is_announced_and_the_page_polls(client: Client, world: World) -> None:
    """Production path: the service only queues the task (here on_commit callbacks never run)."""
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    response = client.post(
        _url("corpus-upload", corpus.public_id), {"uploads": [_upload("hours.md", HOURS_MD)]}, follow=True
    )
    assert _messages(response) == [
        "Added 1 document: hours.md. It is being processed: the list below updates by itself."
    ]
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html and "Queued" in html and "Refresh</a>" in html
    assert Document.objects.get(corpus=corpus, original_filename="hours.md").status == DocumentStatus.PENDING


def test_the_status_partial_keeps_the_page_being_looked_at(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    for i in range(30):
        document_add_text(
            tenant=world.a.tenant, corpus=corpus, title=f"Note {i:02d}", text=f"Note number {i}."
        )
    partial = client.get(_url("corpus-documents", corpus.public_id) + "?page=2")
    html = partial.content.decode()
    assert partial.context["documents"].number == 2
    assert f'hx-get="{_url("corpus-documents", corpus.public_id)}?page=2"' in html
    assert "Note 29" not in html and "Shop facts a" in html  # newest first: the oldest is on page 2
    assert "Page 2 of 2" in html


# ----------------------------------------------------------------------------- delete, re-ingest


def test_deleting_a_document_removes_its_passages_from_search(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    corpus, document = _corpus(world), _document(world)
    search = _url("corpus", corpus.public_id) + "?q=weekend+callouts"
    assert client.get(search).context["search"].passages
    response = client.post(_url("document-delete", document.public_id), follow=True)
    assert response.redirect_chain == [(_url("corpus", corpus.public_id), 302)]
    assert _messages(response) == ["The document Shop facts a is deleted; its passages are no longer found."]
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert client.get(search).context["search"].passages == []


@COMMITTED
def test_reingesting_a_document(client: Client, shop: Shop) -> None:
    signed_in(client, shop.cast.editor_a)
    document = shop.document
    chunks_before = set(Chunk.objects.filter(document=document).values_list("pk", flat=True))
    response = client.post(
        _url("document-reingest", document.public_id), {"return_to": "document"}, follow=True
    )
    assert response.redirect_chain == [(_url("document", document.public_id), 302)]
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert _messages(response) == [f"Shop facts a is processed again: {document.chunk_count} passages."]
    assert set(Chunk.objects.filter(document=document).values_list("pk", flat=True)).isdisjoint(chunks_before)


def test_reingesting_when_queued_and_when_impossible(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    corpus, document = _corpus(world), _document(world)
    queued = client.post(_url("document-reingest", document.public_id), {"return_to": "corpus"}, follow=True)
    assert queued.redirect_chain == [(_url("corpus", corpus.public_id), 302)]
    assert _messages(queued) == ["Shop facts a is queued to be processed again."]
    document.refresh_from_db()
    assert document.status == DocumentStatus.PENDING and document.chunk_count == 0

    rejected = document_add_upload(
        tenant=world.a.tenant, corpus=corpus, upload=io.BytesIO(b"\x89PNG...."), filename="logo.txt"
    ).document
    refused = client.post(_url("document-reingest", rejected.public_id), follow=True)
    assert _messages(refused) == [
        "logo: This upload was rejected before it was stored: upload the file again."
    ]
    rejected.refresh_from_db()
    assert rejected.status == DocumentStatus.FAILED


# ----------------------------------------------------------------------------- document page


def test_the_document_page_previews_its_passages_in_order(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    sections = "\n\n".join(
        f"# Topic {i:02d}\n\n"
        + " ".join(f"Sentence {j} of topic {i:02d} explains a detail." for j in range(25))
        for i in range(24)
    )
    added = document_add_text(tenant=world.a.tenant, corpus=corpus, title="Handbook", text=sections).document
    document_ingest(document_id=added.pk)
    added.refresh_from_db()
    assert added.chunk_count > 20
    url = _url("document", added.public_id)
    first = client.get(url)
    html = first.content.decode()
    chunks = list(first.context["chunks"])
    assert [c.ordinal for c in chunks] == list(range(20))
    assert html.index('id="chunk-0"') < html.index('id="chunk-1"') < html.index('id="chunk-19"')
    assert "Topic 00" in html and "Sentence 0 of topic 00 explains a detail." in html
    assert f"{added.chunk_count} passages" in html and "Page 1 of 2" in html
    second = client.get(url + "?page=2")
    assert [c.ordinal for c in second.context["chunks"]] == list(range(20, added.chunk_count))
    assert 'id="chunk-0"' not in second.content.decode()
    assert 'method="post"' not in html.split('class="side-foot"')[0]  # a viewer: no actions


def test_the_document_page_shows_a_failure_and_polls_while_processing(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    corpus = _corpus(world)
    failed = document_add_upload(
        tenant=world.a.tenant, corpus=corpus, upload=io.BytesIO(b"GIF89a...."), filename="map.md"
    ).document
    html = client.get(_url("document", failed.public_id)).content.decode()
    assert "This document could not be used." in html and "The file is a GIF image" in html
    assert "hx-trigger" not in html and "Re-ingest" not in html and ">Delete</button>" in html

    queued = document_add_text(
        tenant=world.a.tenant, corpus=corpus, title="Soon", text="Soon ready."
    ).document
    url = _url("document", queued.public_id)
    page = client.get(url).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 2s"' in page and "Queued for processing" in page
    document_ingest(document_id=queued.pk)
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="document-body"') and "hx-trigger" not in partial
    assert "Soon ready." in partial


# ----------------------------------------------------------------------------- test search


def test_the_corpus_search_is_the_agents_own_retrieval(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    document_add_text(
        tenant=world.a.tenant, corpus=corpus, title="Weekend rota", text="Saturday callouts are run by Sam."
    )
    for document in Document.objects.filter(corpus=corpus, status=DocumentStatus.PENDING):
        document_ingest(document_id=document.pk)
    question = "Do you do callouts on the weekend?"
    response = client.get(_url("corpus", corpus.public_id), {"q": question, "max_results": "5"})
    shown = response.context["search"].passages
    expected = knowledge_search(
        tenant=world.a.tenant,
        corpus_ids=[corpus.public_id],
        query=question,
        max_results=5,
        include_private=True,
    )
    assert shown == expected and len(expected) >= 2
    html = response.content.decode()
    for passage in expected:
        assert f"score {passage.score:.2f}" in html
        assert passage.document_title in html
    top = expected[0]
    assert top.document_id is not None and top.chunk_ordinal is not None
    assert f"{_url('document', top.document_id)}?page=1#chunk-{top.chunk_ordinal}" in html
    assert "Searched Help center a." in html


def test_search_as_an_unverified_caller_skips_private_corpora(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    Corpus.objects.filter(pk=corpus.pk).update(is_private=True)
    url = _url("corpus", corpus.public_id)
    unverified = client.get(url, {"q": "opening hours", "caller": "unverified"})
    assert unverified.context["search"].passages == []
    html = unverified.content.decode()
    assert "Skipped, as private until the caller is verified: Help center a." in html
    assert "Nothing found for “opening hours”" in html
    verified = client.get(url, {"q": "opening hours", "caller": "verified"})
    assert verified.context["search"].passages == knowledge_search(
        tenant=world.a.tenant, corpus_ids=[corpus.public_id], query="opening hours", include_private=True
    )
    assert verified.context["search"].passages


def test_search_form_errors_and_the_htmx_partial(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    url = _url("corpus", _corpus(world).public_id)
    blank = client.get(url, {"q": "   "})
    assert blank.context["search"] is None and "Type a question." in blank.content.decode()
    bad = client.get(url, {"q": "hours", "max_results": "50"}).content.decode()
    assert "Select a valid choice." in bad
    partial = client.get(
        url, {"q": "price of a callout"}, headers={"HX-Request": "true", "HX-Target": "search-results"}
    )
    html = partial.content.decode()
    assert "<html" not in html and 'class="kb-passages"' in html and "95 dollars" in html
    nothing = client.get(
        url, {"q": "zebra xylophone"}, headers={"HX-Request": "true", "HX-Target": "search-results"}
    )
    assert "Nothing found for “zebra xylophone”" in nothing.content.decode()


def test_the_list_search_spans_every_corpus_or_exactly_an_agents(
    client: Client, world: World, agents_search: None
) -> None:
    signed_in(client, world.cast.viewer_a)
    tenant = world.a.tenant
    other = corpus_create(tenant=tenant, name="Boilers")
    added = document_add_upload(
        tenant=tenant, corpus=other, upload=io.BytesIO(BOILER_TXT), filename="boilers.txt"
    )
    document_ingest(document_id=added.document.pk)
    question = "How much is the yearly boiler service?"
    everything = client.get(_url("knowledge"), {"q": question})
    expected = knowledge_search(
        tenant=tenant,
        corpus_ids=[_corpus(world).public_id, other.public_id],
        query=question,
        include_private=True,
    )
    assert everything.context["search"].passages == expected
    assert expected[0].corpus_name == "Boilers"
    assert "Searched Boilers, Help center a." in everything.content.decode()

    # The agent's live revision searches only its own corpus; its draft may differ until published.
    agent = world.a.agent
    agent_publish(tenant=tenant, agent=agent)
    agent_corpora_set(tenant=tenant, agent=agent, corpus_ids=[str(other.public_id)])
    scoped = client.get(_url("knowledge"), {"q": question, "scope": str(agent.public_id)})
    assert scoped.context["search"].passages == knowledge_search(
        tenant=tenant, corpus_ids=[_corpus(world).public_id], query=question, include_private=True
    )
    html = scoped.content.decode()
    assert "Searched Help center a." in html and "Acme desk&#x27;s live revision" in html
    assert "query_knowledge_base tool is off" in html


def test_another_tenants_agent_cannot_scope_the_search(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    response = client.get(_url("knowledge"), {"q": "opening hours", "scope": str(world.b.agent.public_id)})
    assert response.status_code == 200 and response.context["search"] is None
    assert "Select a valid choice." in response.content.decode()
    assert "Help center b" not in response.content.decode()


# ----------------------------------------------------------------------------- tenancy


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("corpus", "corpus"),
        ("corpus-edit", "corpus"),
        ("corpus-documents", "corpus"),
        ("document", "document"),
    ],
)
def test_other_tenants_corpora_and_documents_are_404(
    client: Client, world: World, name: str, target: str
) -> None:
    signed_in(client, world.cast.owner_a)
    row = world.b.extra[target]
    assert client.get(_url(name, row.public_id)).status_code == 404
    assert client.get(_url(name, "not-a-uuid")).status_code == 404


def test_writes_on_another_tenants_ids_are_404_and_change_nothing(client: Client, world: World) -> None:
    signed_in(client, world.cast.owner_a)
    corpus_b, document_b = world.b.extra["corpus"], world.b.extra["document"]
    before = (Document.objects.count(), Chunk.objects.count(), Corpus.objects.count())
    posts = [
        client.post(_url("corpus-upload", corpus_b.public_id), {"uploads": [_upload("x.md", HOURS_MD)]}),
        client.post(_url("corpus-paste", corpus_b.public_id), {"title": "X", "text": "Forged."}),
        client.post(_url("corpus-edit", corpus_b.public_id), {"name": "Mine now"}),
        client.post(_url("corpus-delete", corpus_b.public_id)),
        client.post(_url("document-reingest", document_b.public_id)),
        client.post(_url("document-delete", document_b.public_id)),
    ]
    assert [p.status_code for p in posts] == [404] * 6
    assert (Document.objects.count(), Chunk.objects.count(), Corpus.objects.count()) == before
    corpus_b.refresh_from_db()
    assert corpus_b.name == "Help center b"


def test_a_viewer_sees_no_upload_form_but_can_search(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    corpus = _corpus(world)
    html = client.get(_url("corpus", corpus.public_id), {"q": "opening hours"}).content.decode()
    assert "kb-upload" not in html and "Or paste text" not in html and ">Edit</a>" not in html
    assert "You can read this knowledge base and test questions against it." in html
    assert 'class="kb-passages"' in html
