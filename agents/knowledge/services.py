"""Writes for knowledge bases. Keyword-only, atomic, always inside one tenant.

Adding a document stores it and returns at once; chunking and indexing run in the
``ingest_document`` Celery task, enqueued when the transaction commits. A file that is too big or
of the wrong type becomes a document in status *failed* with the reason, so the admin sees it in
the list with what to do; nothing else in the corpus is touched.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath
from typing import IO, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from agents.knowledge.extraction import SNIFF_BYTES, DocumentRejected, detect_kind
from agents.knowledge.index import corpus_index_cache
from agents.knowledge.ingestion import corpus_bump_version
from agents.knowledge.models import Chunk, Corpus, Document, DocumentSource, DocumentStatus
from agents.knowledge.tasks import ingest_document
from tenants.access import TenantObjectNotFound
from tenants.models import Tenant

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class DocumentAdded:
    document: Document
    created: bool  # False: the corpus already had this exact content; ``document`` is that one


def _human_size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def _too_big_message(size: int | None, limit: int) -> str:
    actual = f"is {_human_size(size)}" if size is not None else "is larger than that"
    return (
        f"The limit for a document is {_human_size(limit)}; this one {actual}. Split it into smaller files."
    )


def _stream_size(upload: IO[bytes]) -> int | None:
    """The size of an upload without reading it: Django's uploads say it, seekable files tell it."""
    size = getattr(upload, "size", None)
    if isinstance(size, int):
        return size
    try:
        if upload.seekable():
            position = upload.tell()
            end = upload.seek(0, io.SEEK_END)
            upload.seek(position)
            return end - position
    except (OSError, AttributeError):
        pass
    return None


def _title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem.replace("_", " ").replace("-", " ").strip()
    return (" ".join(stem.split()) or "Untitled")[:200]


def _own(queryset: QuerySet[M], what: str) -> M:
    """The row if it belongs to the tenant the queryset is filtered on; another tenant's is a 404."""
    row = queryset.first()
    if row is None:
        raise TenantObjectNotFound(f"No {what} found.")
    return row


def _enqueue_ingestion(document: Document) -> None:
    transaction.on_commit(partial(ingest_document.delay, document.pk))


@transaction.atomic
def corpus_create(*, tenant: Tenant, name: str, description: str = "", is_private: bool = False) -> Corpus:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A knowledge base needs a name."})
    if Corpus.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError({"name": "A knowledge base with this name already exists."})
    return Corpus.objects.create(tenant=tenant, name=name, description=description, is_private=is_private)


@transaction.atomic
def corpus_update(
    *,
    tenant: Tenant,
    corpus: Corpus,
    name: str | None = None,
    description: str | None = None,
    is_private: bool | None = None,
) -> Corpus:
    row = _own(Corpus.objects.select_for_update().filter(tenant=tenant, pk=corpus.pk), "knowledge base")
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "A knowledge base needs a name."})
        if Corpus.objects.filter(tenant=tenant, name=name).exclude(pk=row.pk).exists():
            raise ValidationError({"name": "A knowledge base with this name already exists."})
        row.name = name
    if description is not None:
        row.description = description
    if is_private is not None:
        row.is_private = is_private
    row.save()
    return row


def _delete_files_on_commit(names: list[str]) -> None:
    def delete() -> None:
        storage = Document._meta.get_field("file").storage
        for name in names:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("Could not delete stored document file %s", name)

    if names:
        transaction.on_commit(delete)


@transaction.atomic
def corpus_delete(*, tenant: Tenant, corpus: Corpus) -> None:
    row = _own(Corpus.objects.select_for_update().filter(tenant=tenant, pk=corpus.pk), "knowledge base")
    files = [
        name
        for name in Document.objects.filter(tenant=tenant, corpus=row).values_list("file", flat=True)
        if name
    ]
    row.delete()
    _delete_files_on_commit(files)
    transaction.on_commit(partial(corpus_index_cache.discard, row.public_id))


def _existing_duplicate(*, tenant: Tenant, corpus: Corpus, content_hash: str) -> Document | None:
    return (
        Document.objects.filter(tenant=tenant, corpus=corpus, content_hash=content_hash)
        .exclude(status=DocumentStatus.FAILED)
        .first()
    )


def _save_new(document: Document, *, tenant: Tenant, corpus: Corpus) -> DocumentAdded:
    if document.content_hash:
        duplicate = _existing_duplicate(tenant=tenant, corpus=corpus, content_hash=document.content_hash)
        if duplicate is not None:
            return DocumentAdded(duplicate, created=False)
    try:
        with transaction.atomic():
            document.save()
    except IntegrityError:
        # Another request stored the same content between our check and our insert.
        duplicate = _existing_duplicate(tenant=tenant, corpus=corpus, content_hash=document.content_hash)
        if duplicate is None:
            raise
        if document.file:
            document.file.delete(save=False)
        return DocumentAdded(duplicate, created=False)
    if document.status == DocumentStatus.PENDING:
        _enqueue_ingestion(document)
    return DocumentAdded(document, created=True)


@transaction.atomic
def document_add_upload(
    *,
    tenant: Tenant,
    corpus: Corpus,
    upload: IO[bytes],
    filename: str,
    title: str = "",
    max_bytes: int | None = None,
) -> DocumentAdded:
    """Store an uploaded .txt/.md/.html/.pdf file and queue it for ingestion.

    ``upload`` is any binary file object (a Django ``UploadedFile`` works). Oversized or
    wrongly-typed files become a failed document carrying the reason; their bytes are not kept.
    """
    corpus = _own(Corpus.objects.filter(tenant=tenant, pk=corpus.pk), "knowledge base")
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    filename = PurePath(filename.replace("\\", "/")).name[:255] or "upload"
    document = Document(
        tenant=tenant,
        corpus=corpus,
        title=(title.strip() or _title_from_filename(filename))[:200],
        source_kind=DocumentSource.UPLOAD,
        original_filename=filename,
    )
    size = _stream_size(upload)
    # Never read more than the limit (plus one byte, to know it was exceeded).
    data = upload.read(limit + 1) if size is None or size <= limit else b""
    if (size is not None and size > limit) or len(data) > limit:
        document.size_bytes = size if size is not None else len(data)
        return _save_failed(document, _too_big_message(size, limit), tenant=tenant, corpus=corpus)
    document.size_bytes = len(data)
    try:
        kind = detect_kind(filename, data[:SNIFF_BYTES])
    except DocumentRejected as exc:
        return _save_failed(document, exc.message, tenant=tenant, corpus=corpus)
    document.mime_type = kind.mime_type
    document.content_hash = hashlib.sha256(data).hexdigest()
    duplicate = _existing_duplicate(tenant=tenant, corpus=corpus, content_hash=document.content_hash)
    if duplicate is not None:
        return DocumentAdded(duplicate, created=False)
    document.file.save(filename, ContentFile(data), save=False)
    return _save_new(document, tenant=tenant, corpus=corpus)


def _save_failed(document: Document, message: str, *, tenant: Tenant, corpus: Corpus) -> DocumentAdded:
    document.status = DocumentStatus.FAILED
    document.error_message = message
    document.processed_at = timezone.now()
    return _save_new(document, tenant=tenant, corpus=corpus)


@transaction.atomic
def document_add_text(
    *, tenant: Tenant, corpus: Corpus, title: str, text: str, max_bytes: int | None = None
) -> DocumentAdded:
    """Add pasted text as a document and queue it for ingestion."""
    corpus = _own(Corpus.objects.filter(tenant=tenant, pk=corpus.pk), "knowledge base")
    title = title.strip()
    if not title:
        raise ValidationError({"title": "Give the text a title: callers' answers cite it."})
    if not text.strip():
        raise ValidationError({"text": "The text is empty."})
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    encoded = text.encode("utf-8")
    document = Document(
        tenant=tenant,
        corpus=corpus,
        title=title[:200],
        source_kind=DocumentSource.TEXT,
        mime_type="text/plain",
        size_bytes=len(encoded),
    )
    if len(encoded) > limit:
        return _save_failed(document, _too_big_message(len(encoded), limit), tenant=tenant, corpus=corpus)
    document.text = text
    document.content_hash = hashlib.sha256(encoded).hexdigest()
    return _save_new(document, tenant=tenant, corpus=corpus)


@transaction.atomic
def document_delete(*, tenant: Tenant, document: Document) -> None:
    row = _own(Document.objects.select_for_update().filter(tenant=tenant, pk=document.pk), "document")
    had_chunks = Chunk.objects.filter(tenant=tenant, document=row).exists()
    corpus_id = row.corpus_id
    files = [row.file.name] if row.file else []
    row.delete()
    if had_chunks:
        corpus_bump_version(tenant=tenant, corpus_id=corpus_id)
    _delete_files_on_commit(files)


@transaction.atomic
def document_reingest(*, tenant: Tenant, document: Document) -> Document:
    """Process a document again (after a failure, or after the chunking rules changed)."""
    row = _own(Document.objects.select_for_update().filter(tenant=tenant, pk=document.pk), "document")
    if row.source_kind == DocumentSource.UPLOAD and not row.file:
        raise ValidationError("This upload was rejected before it was stored: upload the file again.")
    if row.status == DocumentStatus.FAILED and row.content_hash:
        clash = Document.objects.filter(tenant=tenant, corpus_id=row.corpus_id, content_hash=row.content_hash)
        if clash.exclude(Q(pk=row.pk) | Q(status=DocumentStatus.FAILED)).exists():
            raise ValidationError("The knowledge base already has another copy of this document.")
    deleted, _ = Chunk.objects.filter(tenant=tenant, document=row).delete()
    row.status = DocumentStatus.PENDING
    row.error_message = ""
    row.chunk_count = 0
    row.processed_at = None
    row.save(update_fields=["status", "error_message", "chunk_count", "processed_at", "updated_at"])
    if deleted:
        corpus_bump_version(tenant=tenant, corpus_id=row.corpus_id)
    _enqueue_ingestion(row)
    return row
