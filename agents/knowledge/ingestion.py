"""The ingestion pipeline the ``ingest_document`` task runs: extract, chunk, index, store.

Status goes pending -> processing -> ready | failed(reason). Running it twice is harmless: a
document already ready or failed is left alone, and one left in *processing* (its worker died;
the task is ``acks_late`` so it is delivered again) is processed again, its chunks replaced in
one transaction. Extraction and chunking run outside any transaction: a large PDF must not hold
row locks while it is parsed.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents.knowledge.analysis import ANALYZER_VERSION, chunk_index_text, term_frequencies
from agents.knowledge.chunking import ChunkDraft, chunk_text
from agents.knowledge.extraction import (
    KINDS_BY_MIME,
    DocumentRejected,
    detect_kind,
    extract_text,
    text_from_paste,
)
from agents.knowledge.models import Chunk, Corpus, Document, DocumentSource, DocumentStatus
from tenants.models import Tenant

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Something went wrong while processing this document. Try adding it again."


def corpus_bump_version(*, tenant: Tenant | int, corpus_id: int) -> None:
    """Tell every worker's search cache that this corpus's chunks changed."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    Corpus.objects.filter(tenant_id=tenant_id, pk=corpus_id).update(
        index_version=F("index_version") + 1, updated_at=timezone.now()
    )


def _claim(document_id: int) -> Document | None:
    """Move a pending (or abandoned processing) document to processing; None if nothing to do."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id).first()
        if document is None or document.status not in {DocumentStatus.PENDING, DocumentStatus.PROCESSING}:
            return None
        document.status = DocumentStatus.PROCESSING
        document.save(update_fields=["status", "updated_at"])
        return document


def _read(document: Document) -> str:
    if document.source_kind == DocumentSource.TEXT:
        return text_from_paste(document.text)
    if not document.file:
        raise DocumentRejected("The uploaded file was not stored; upload it again.")
    try:
        with document.file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise DocumentRejected("The uploaded file is missing from storage; upload it again.") from None
    # The kind was established from name and content at upload; sniff again only for old rows.
    kind = KINDS_BY_MIME.get(document.mime_type) or detect_kind(document.original_filename, data)
    return extract_text(kind, data)


def _finish(document: Document, *, drafts: list[ChunkDraft] | None, error: str = "") -> str:
    """Store the outcome, if the document is still ours to finish. Returns the final status."""
    with transaction.atomic():
        row = (
            Document.objects.select_for_update().filter(pk=document.pk, tenant_id=document.tenant_id).first()
        )
        if row is None or row.status != DocumentStatus.PROCESSING:
            return row.status if row is not None else "deleted"
        replaced, _ = Chunk.objects.filter(tenant_id=row.tenant_id, document=row).delete()
        row.processed_at = timezone.now()
        if drafts is None:
            row.status, row.error_message, row.chunk_count = DocumentStatus.FAILED, error, 0
        else:
            Chunk.objects.bulk_create(_chunks(row, drafts), batch_size=500)
            row.status, row.error_message, row.chunk_count = DocumentStatus.READY, "", len(drafts)
        row.save(update_fields=["status", "error_message", "chunk_count", "processed_at", "updated_at"])
        if drafts or replaced:
            corpus_bump_version(tenant=row.tenant_id, corpus_id=row.corpus_id)
        return row.status


def _chunks(document: Document, drafts: list[ChunkDraft]) -> list[Chunk]:
    chunks = []
    for draft in drafts:
        freqs, length = term_frequencies(chunk_index_text(document.title, draft.heading, draft.text))
        chunks.append(
            Chunk(
                tenant_id=document.tenant_id,
                corpus_id=document.corpus_id,
                document=document,
                ordinal=draft.ordinal,
                heading=draft.heading,
                text=draft.text,
                word_count=draft.word_count,
                token_count=length,
                term_freqs=freqs,
                analyzer_version=ANALYZER_VERSION,
            )
        )
    return chunks


def document_ingest(*, document_id: int) -> str | None:
    """Process one document; returns its final status (None if there was nothing to do)."""
    document = _claim(document_id)
    if document is None:
        return None
    try:
        drafts = chunk_text(_read(document))
        if not drafts:
            raise DocumentRejected("No text was found in the document.")
    except DocumentRejected as exc:
        logger.info("Document %s failed: %s", document.public_id, exc.message)
        return _finish(document, drafts=None, error=exc.message)
    except Exception:
        logger.exception("Document %s failed unexpectedly", document.public_id)
        return _finish(document, drafts=None, error=INTERNAL_ERROR_MESSAGE)
    return _finish(document, drafts=drafts)
