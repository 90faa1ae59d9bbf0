"""Adding documents and the ingestion task: pending -> processing -> ready | failed(reason)."""

from __future__ import annotations

import io
from typing import IO, Any, cast

import pytest
from django.core.exceptions import ValidationError

from agents.knowledge import ingestion
from agents.knowledge.chunking import ChunkDraft
from agents.knowledge.models import Chunk, Document, DocumentStatus
from agents.knowledge.retrieval import knowledge_search
from agents.knowledge.services import (
    corpus_create,
    corpus_delete,
    document_add_text,
    document_add_upload,
    document_delete,
    document_reingest,
)
from agents.knowledge.tasks import ingest_document
from tests.knowledge.conftest import Knowledge, add_file, add_text
from tests.knowledge.pdfs import make_pdf

HOURS = "# Opening hours\n\nWe are open Monday to Friday from 8 am to 6 pm. We are closed on Sunday.\n"


def _search(knowledge: Knowledge, query: str) -> list[str]:
    passages = knowledge_search(
        tenant=knowledge.cast.tenant_a,
        corpus_ids=[knowledge.corpus_a.public_id],
        query=query,
        include_private=True,
    )
    return [passage.document_title for passage in passages]


def test_adding_text_enqueues_ingestion_on_commit_and_the_task_makes_it_ready(
    knowledge: Knowledge, django_capture_on_commit_callbacks: Any, celery_eager: None
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        added = document_add_text(
            tenant=knowledge.cast.tenant_a, corpus=knowledge.corpus_a, title="Hours", text=HOURS
        )
    document = added.document
    assert added.created
    assert document.status == DocumentStatus.PENDING
    assert not Chunk.objects.filter(document=document).exists()
    assert len(callbacks) == 1

    callbacks[0]()  # the commit happens: the (eager) task runs

    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert (
        document.chunk_count
        == 1
        == Chunk.objects.filter(document=document, tenant=knowledge.cast.tenant_a).count()
    )
    assert document.error_message == ""
    assert document.processed_at is not None
    assert _search(knowledge, "are you open on sunday") == ["Hours"]


def test_the_task_marks_the_document_processing_while_it_works(
    knowledge: Knowledge, monkeypatch: Any
) -> None:
    document = document_add_text(
        tenant=knowledge.cast.tenant_a, corpus=knowledge.corpus_a, title="Hours", text=HOURS
    ).document
    seen: list[str] = []
    real_chunk_text = ingestion.chunk_text

    def spy(text: str) -> list[ChunkDraft]:
        seen.append(Document.objects.get(pk=document.pk).status)
        return real_chunk_text(text)

    monkeypatch.setattr(ingestion, "chunk_text", spy)
    assert ingest_document(document.pk) == DocumentStatus.READY
    assert seen == [DocumentStatus.PROCESSING]


def test_ingestion_is_idempotent_and_resumes_an_abandoned_processing_document(knowledge: Knowledge) -> None:
    document = add_text(knowledge.cast.tenant_a, knowledge.corpus_a, "Hours", HOURS)
    chunk_ids = set(Chunk.objects.filter(document=document).values_list("pk", flat=True))

    assert ingest_document(document.pk) is None  # already ready: nothing happens
    assert set(Chunk.objects.filter(document=document).values_list("pk", flat=True)) == chunk_ids

    # A worker died mid-way (acks_late redelivers the task): the document is redone, not doubled.
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.PROCESSING)
    assert ingest_document(document.pk) == DocumentStatus.READY
    assert Chunk.objects.filter(document=document).count() == 1
    assert ingest_document(10**9) is None  # deleted before the task ran


def test_a_corrupt_pdf_fails_only_that_document(knowledge: Knowledge) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    good = add_text(tenant, corpus, "Hours", HOURS)
    broken = add_file(tenant, corpus, "menu.pdf", make_pdf([["Menu"]])[:150])

    assert broken.status == DocumentStatus.FAILED
    assert broken.error_message.startswith("The PDF could not be read: it seems damaged or incomplete.")
    assert broken.chunk_count == 0
    good.refresh_from_db()
    assert good.status == DocumentStatus.READY
    assert _search(knowledge, "open sunday") == ["Hours"]


def test_a_valid_pdf_upload_is_stored_and_ingested(knowledge: Knowledge, _media_root: Any) -> None:
    pdf = make_pdf([["Price list", "A routine cleaning costs 95 dollars."]])
    document = add_file(knowledge.cast.tenant_a, knowledge.corpus_a, "../../price list.pdf", pdf)

    assert document.status == DocumentStatus.READY
    assert document.title == "price list"
    assert document.original_filename == "price list.pdf"
    assert document.mime_type == "application/pdf"
    assert document.size_bytes == len(pdf)
    assert document.file.name.startswith(f"knowledge/{knowledge.cast.tenant_a.public_id}/")
    assert ".." not in document.file.name
    assert _search(knowledge, "how much is a cleaning") == ["price list"]


def test_an_oversized_upload_fails_at_once_without_storing_it(knowledge: Knowledge, _media_root: Any) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    good = add_text(tenant, corpus, "Hours", HOURS)
    added = document_add_upload(
        tenant=tenant, corpus=corpus, upload=io.BytesIO(b"x" * 3000), filename="big.txt", max_bytes=2048
    )

    assert added.document.status == DocumentStatus.FAILED
    assert added.document.error_message == (
        "The limit for a document is 2 KB; this one is 3 KB. Split it into smaller files."
    )
    assert added.document.size_bytes == 3000
    assert not added.document.file
    assert not any(path.is_file() for path in _media_root.rglob("*"))
    good.refresh_from_db()
    assert good.status == DocumentStatus.READY


def test_the_size_limit_comes_from_the_setting(knowledge: Knowledge, settings: Any) -> None:
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    big = io.BytesIO(b"a" * (3 * 1024 * 1024))
    document = document_add_upload(
        tenant=knowledge.cast.tenant_a, corpus=knowledge.corpus_a, upload=big, filename="big.md"
    ).document
    assert document.error_message.startswith("The limit for a document is 2.0 MB; this one is 3.0 MB.")

    class Unseekable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            buffer[: len(buffer)] = b"a" * len(buffer)  # an endless stream
            return len(buffer)

    endless = document_add_upload(
        tenant=knowledge.cast.tenant_a,
        corpus=knowledge.corpus_a,
        upload=cast(IO[bytes], Unseekable()),
        filename="endless.txt",
    ).document
    assert endless.status == DocumentStatus.FAILED
    assert endless.error_message.startswith(
        "The limit for a document is 2.0 MB; this one is larger than that."
    )


def test_a_wrong_type_upload_fails_with_the_reason(knowledge: Knowledge) -> None:
    document = add_file(knowledge.cast.tenant_a, knowledge.corpus_a, "photo.txt", b"\xff\xd8\xff\xe0JFIF")
    assert document.status == DocumentStatus.FAILED
    assert (
        document.error_message
        == "The file is a JPEG image, not .txt text: upload a .txt, .md, .html or .pdf file."
    )


def test_an_unexpected_error_fails_the_document_with_a_generic_message(
    knowledge: Knowledge, monkeypatch: Any
) -> None:
    def explode(text: str) -> list[ChunkDraft]:
        raise RuntimeError("bug")

    monkeypatch.setattr(ingestion, "chunk_text", explode)
    document = add_text(knowledge.cast.tenant_a, knowledge.corpus_a, "Hours", HOURS)
    assert document.status == DocumentStatus.FAILED
    assert document.error_message == ingestion.INTERNAL_ERROR_MESSAGE


def test_the_same_content_twice_in_a_corpus_is_not_added_twice(knowledge: Knowledge) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    first = add_file(tenant, corpus, "hours.md", HOURS.encode())
    again = document_add_upload(
        tenant=tenant, corpus=corpus, upload=io.BytesIO(HOURS.encode()), filename="copy.md"
    )

    assert not again.created
    assert again.document.pk == first.pk
    # Another corpus (here another tenant's) may hold the same content.
    other = document_add_text(
        tenant=knowledge.cast.tenant_b, corpus=knowledge.corpus_b, title="Hours", text=HOURS
    )
    assert other.created


def test_a_failed_document_can_be_retried_and_deleting_removes_it_from_search(
    knowledge: Knowledge, monkeypatch: Any
) -> None:
    tenant = knowledge.cast.tenant_a
    monkeypatch.setattr(ingestion, "chunk_text", lambda text: [])
    document = add_text(tenant, knowledge.corpus_a, "Hours", HOURS)
    assert document.status == DocumentStatus.FAILED
    assert document.error_message == "No text was found in the document."
    monkeypatch.undo()

    document = document_reingest(tenant=tenant, document=document)
    assert document.status == DocumentStatus.PENDING
    ingest_document(document.pk)
    assert _search(knowledge, "sunday") == ["Hours"]

    document_delete(tenant=tenant, document=document)
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert _search(knowledge, "sunday") == []


def test_pasted_text_needs_a_title_and_some_text(knowledge: Knowledge) -> None:
    with pytest.raises(ValidationError):
        document_add_text(tenant=knowledge.cast.tenant_a, corpus=knowledge.corpus_a, title=" ", text=HOURS)
    with pytest.raises(ValidationError):
        document_add_text(tenant=knowledge.cast.tenant_a, corpus=knowledge.corpus_a, title="Hours", text="  ")


def test_deleting_a_corpus_removes_its_documents_files_and_cached_index(
    knowledge: Knowledge, _media_root: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    add_file(tenant, corpus, "Hours.md", HOURS.encode())
    assert _search(knowledge, "sunday") == ["Hours"]
    assert any(path.is_file() for path in _media_root.rglob("*"))

    with django_capture_on_commit_callbacks(execute=True):
        corpus_delete(tenant=tenant, corpus=corpus)

    assert not Document.objects.filter(corpus_id=corpus.pk).exists()
    assert not Chunk.objects.filter(corpus_id=corpus.pk).exists()
    assert not any(path.is_file() for path in _media_root.rglob("*"))
    assert _search(knowledge, "sunday") == []


def test_corpus_names_are_required_and_unique_per_tenant(knowledge: Knowledge) -> None:
    with pytest.raises(ValidationError):
        corpus_create(tenant=knowledge.cast.tenant_a, name="Acme help center")
    with pytest.raises(ValidationError):
        corpus_create(tenant=knowledge.cast.tenant_a, name="  ")
    # The same name in another tenant is that tenant's business.
    assert (
        corpus_create(tenant=knowledge.cast.tenant_b, name="Acme help center").tenant
        == knowledge.cast.tenant_b
    )


def test_pasted_markdown_keeps_its_headings_and_loses_its_markup(knowledge: Knowledge) -> None:
    text = "## Parking\r\n\r\nFree parking **behind** the building, see [map](https://maps.example/x).\r\n"
    document = add_text(knowledge.cast.tenant_a, knowledge.corpus_a, "Visit", text)
    chunk = Chunk.objects.get(document=document)
    assert chunk.heading == "Parking"
    assert chunk.text == "Free parking behind the building, see map."
