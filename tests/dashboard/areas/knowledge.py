"""Knowledge bases: corpora, documents, chunks, search."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from agents.knowledge.ingestion import document_ingest
from agents.knowledge.models import Chunk, Corpus, Document
from agents.knowledge.services import corpus_create, document_add_text
from tests.dashboard.conftest import Side
from tests.dashboard.pagekit import Action, Page, _u, extra

CORPUS = extra("corpus")
DOCUMENT = extra("document")

KB_TEXT = (
    "# Opening hours\n\nThe workshop is open Monday to Friday from eight to six. "
    "Emergency callouts are available on weekends for an extra fee.\n\n"
    "# Prices\n\nA standard callout costs 95 dollars, parts extra."
)


def _with_query(url: Any, query: str) -> Any:
    return lambda slug, side: url(slug, side) + query


PAGES: dict[str, Page] = {
    "knowledge": Page("viewer", _u("knowledge")),
    "knowledge-search": Page("viewer", _with_query(_u("knowledge"), "?q=opening+hours+weekends")),
    "corpus-new": Page("editor", _u("corpus-new")),
    "corpus": Page("viewer", _u("corpus", CORPUS), detail=True),
    "corpus-search": Page(
        "viewer", _with_query(_u("corpus", CORPUS), "?q=callout+price&caller=unverified"), detail=True
    ),
    "corpus-edit": Page("editor", _u("corpus-edit", CORPUS), detail=True),
    # The partial the corpus page polls while ingestion runs: a fragment, not a whole page.
    "corpus-documents": Page("viewer", _u("corpus-documents", CORPUS), detail=True, html=False),
    "document": Page("viewer", _u("document", DOCUMENT), detail=True),
}


def _corpus_form(side: Side) -> dict[str, Any]:
    return {"name": "Forged", "description": "Forged.", "is_private": "on"}


ACTIONS: dict[str, Action] = {
    "corpus-new": Action("editor", _u("corpus-new"), _corpus_form, False),
    "corpus-edit": Action("editor", _u("corpus-edit", CORPUS), _corpus_form),
    "corpus-delete": Action("editor", _u("corpus-delete", CORPUS), lambda s: {}),
    "corpus-upload": Action(
        "editor",
        _u("corpus-upload", CORPUS),
        lambda s: {"uploads": SimpleUploadedFile("forged.txt", b"Forged upload text.", "text/plain")},
    ),
    "corpus-paste": Action(
        "editor", _u("corpus-paste", CORPUS), lambda s: {"title": "Forged", "text": "Forged pasted text."}
    ),
    "document-delete": Action("editor", _u("document-delete", DOCUMENT), lambda s: {}),
    "document-reingest": Action(
        "editor", _u("document-reingest", DOCUMENT), lambda s: {"return_to": "document"}
    ),
}


def populate(side: Side, suffix: str) -> dict[str, Any]:
    """A knowledge base with one ingested document (not attached to an agent: the agent pages' own
    tests compare the draft with the published revision)."""
    corpus = corpus_create(
        tenant=side.tenant, name=f"Help center {suffix}", description=f"Answers for callers ({suffix})."
    )
    document = document_add_text(
        tenant=side.tenant, corpus=corpus, title=f"Shop facts {suffix}", text=KB_TEXT
    ).document
    document_ingest(document_id=document.pk)  # as a worker would (tests never run on_commit tasks)
    document.refresh_from_db()
    return {"corpus": corpus, "document": document}


def snapshot() -> dict[str, list[Any]]:
    """Every row a write of this area could change."""
    return {
        "corpora": list(
            Corpus.objects.order_by("pk").values_list(
                "pk", "name", "description", "is_private", "index_version"
            )
        ),
        "documents": list(
            Document.objects.order_by("pk").values_list(
                "pk", "title", "status", "chunk_count", "error_message", "processed_at"
            )
        ),
        "chunks": list(Chunk.objects.order_by("pk").values_list("pk", "document_id", "ordinal")),
    }
