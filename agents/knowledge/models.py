"""Corpora, their documents and the indexed chunks. Every table carries its own tenant FK."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import ClassVar

from django.db import models
from django.db.models import Q

from tenants.models import TenantOwned


class Corpus(TenantOwned):
    """A named collection of documents an agent can search during calls."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_private = models.BooleanField(
        default=False,
        help_text="Locked until the caller has passed the verification stage.",
    )
    # Bumped whenever the corpus's searchable chunks change; the in-process search index of a
    # corpus is rebuilt when it sees a newer version, so every worker invalidates on its own.
    index_version = models.PositiveBigIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "corpora"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "name"], name="knowledge_corpus_unique_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class DocumentSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    TEXT = "text", "Pasted text"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def document_upload_path(document: Document, filename: str) -> str:
    # Never reuse the client's file name in the path: only its (validated) extension.
    suffix = PurePosixPath(filename).suffix.lower()
    return f"knowledge/{document.tenant.public_id}/{document.corpus.public_id}/{document.public_id}{suffix}"


class Document(TenantOwned):
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    source_kind = models.CharField(max_length=8, choices=DocumentSource.choices)
    original_filename = models.CharField(max_length=255, blank=True)
    mime_type = models.CharField(max_length=100, blank=True, help_text="As detected from the content.")
    size_bytes = models.PositiveBigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the content.")
    file = models.FileField(upload_to=document_upload_path, blank=True, max_length=300)
    text = models.TextField(blank=True, help_text="Pasted text (source kind 'text').")
    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    error_message = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            # The same content twice in one corpus would only double its weight in search. A failed
            # document does not block a new attempt with the same file.
            models.UniqueConstraint(
                fields=["corpus", "content_hash"],
                condition=~Q(status="failed") & ~Q(content_hash=""),
                name="knowledge_document_unique_content_per_corpus",
            )
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "corpus", "status"])]

    def __str__(self) -> str:
        return self.title


class Chunk(TenantOwned):
    """One retrievable passage, with the term statistics the BM25 index is built from."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="chunks")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(
        max_length=500, blank=True, help_text="Section headings the passage sits under."
    )
    text = models.TextField()
    word_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0, help_text="Indexed terms: the BM25 length.")
    term_freqs = models.JSONField(default=dict, help_text="Indexed term -> count, computed at ingestion.")
    analyzer_version = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="knowledge_chunk_unique_ordinal")
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "corpus"])]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"
