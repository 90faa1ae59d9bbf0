"""Celery tasks of the knowledge base. Thin: the work is in ``ingestion``."""

from __future__ import annotations

from celery import shared_task

from agents.knowledge.ingestion import document_ingest


@shared_task(name="knowledge.ingest_document", acks_late=True, ignore_result=True)
def ingest_document(document_id: int) -> str | None:
    """Extract, chunk and index one document. Idempotent: safe to deliver twice."""
    return document_ingest(document_id=document_id)
