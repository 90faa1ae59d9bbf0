"""Reads of knowledge-base rows, always scoped to one tenant."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Greatest

from agents.knowledge.analysis import ANALYZER_VERSION, chunk_index_text, term_frequencies
from agents.knowledge.index import IndexedChunk
from agents.knowledge.models import Chunk, Corpus, Document, DocumentStatus
from agents.models import Agent
from tenants.models import Tenant


@dataclass(frozen=True)
class SearchableCorpus:
    id: int
    public_id: uuid.UUID
    name: str
    index_version: int


def corpus_list(*, tenant: Tenant) -> QuerySet[Corpus]:
    """The tenant's corpora with document counts (``document_total``, ``document_ready``)."""
    return (
        Corpus.objects.filter(tenant=tenant)
        .annotate(
            document_total=Count("documents"),
            document_ready=Count("documents", filter=Q(documents__status=DocumentStatus.READY)),
        )
        .order_by("name")
    )


def document_list(*, tenant: Tenant, corpus: Corpus) -> QuerySet[Document]:
    return Document.objects.filter(tenant=tenant, corpus_id=corpus.pk, corpus__tenant=tenant).order_by(
        "-created_at", "-pk"
    )


def _as_uuids(values: Collection[uuid.UUID | str]) -> list[uuid.UUID]:
    parsed = []
    for value in values:
        try:
            parsed.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue  # an id that can't exist matches nothing, like another tenant's
    return parsed


def corpora_for_search(
    *, tenant: Tenant, corpus_ids: Collection[uuid.UUID | str], include_private: bool
) -> list[SearchableCorpus]:
    """The tenant's corpora among ``corpus_ids`` (public ids) that this caller may search."""
    queryset = Corpus.objects.filter(tenant=tenant, public_id__in=_as_uuids(corpus_ids))
    if not include_private:
        queryset = queryset.filter(is_private=False)
    return [
        SearchableCorpus(id=pk, public_id=public_id, name=name, index_version=version)
        for pk, public_id, name, version in queryset.order_by("pk").values_list(
            "pk", "public_id", "name", "index_version"
        )
    ]


def chunks_for_index(*, tenant: Tenant, corpus_id: int) -> Iterator[IndexedChunk]:
    """Every searchable chunk of a corpus with its stored term statistics.

    Chunks indexed by an older analyzer are re-analysed here, so an analyzer change takes effect
    without a migration (re-ingesting the documents makes it permanent and fast again).
    """
    rows = Chunk.objects.filter(
        tenant=tenant, corpus_id=corpus_id, document__status=DocumentStatus.READY
    ).values_list("pk", "term_freqs", "token_count", "analyzer_version")
    stale: list[int] = []
    for pk, term_freqs, token_count, version in rows.iterator(chunk_size=2000):
        if version == ANALYZER_VERSION:
            yield IndexedChunk(pk, term_freqs, token_count)
        else:
            stale.append(pk)
    if stale:
        for chunk in Chunk.objects.filter(tenant=tenant, pk__in=stale).select_related("document"):
            freqs, length = term_frequencies(
                chunk_index_text(chunk.document.title, chunk.heading, chunk.text)
            )
            yield IndexedChunk(chunk.pk, freqs, length)


@dataclass(frozen=True)
class ChunkText:
    heading: str
    text: str
    document_title: str
    document_public_id: uuid.UUID | None = None
    ordinal: int | None = None


def chunk_texts_by_id(*, tenant: Tenant, chunk_ids: Collection[int]) -> dict[int, ChunkText]:
    """What a passage shows, for the chunks a search picked (only the columns it needs: the
    stored term statistics are the bulk of a row and are not read on the call path)."""
    rows = Chunk.objects.filter(tenant=tenant, pk__in=list(chunk_ids)).values_list(
        "pk", "heading", "text", "document__title", "document__public_id", "ordinal"
    )
    return {
        pk: ChunkText(heading, text, title, document_id, ordinal)
        for pk, heading, text, title, document_id, ordinal in rows
    }


# ----------------------------------------------------------------------------- dashboard reads

ACTIVE_STATUSES = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)


def corpus_overview_list(*, tenant: Tenant) -> QuerySet[Corpus]:
    """``corpus_list`` with what the dashboard's list shows: passages (``chunk_total``), documents
    still being processed (``document_active``) or failed (``document_failed``), the latest change
    to the corpus or any of its documents (``last_changed``), and the agents that may search it
    (``agent_list``, one prefetch query). The aggregates share one join on documents."""
    return (
        corpus_list(tenant=tenant)
        .annotate(
            chunk_total=Coalesce(Sum("documents__chunk_count"), 0),
            document_active=Count("documents", filter=Q(documents__status__in=ACTIVE_STATUSES)),
            document_failed=Count("documents", filter=Q(documents__status=DocumentStatus.FAILED)),
            last_changed=Greatest("updated_at", Coalesce(Max("documents__updated_at"), "updated_at")),
        )
        .prefetch_related(
            Prefetch(
                "agents",
                queryset=Agent.objects.filter(tenant=tenant).only("public_id", "name").order_by("name"),
                to_attr="agent_list",
            )
        )
    )


@dataclass(frozen=True)
class DocumentCounts:
    total: int
    pending: int
    processing: int
    ready: int
    failed: int
    chunks: int

    @property
    def active(self) -> int:
        """Documents waiting for or in ingestion: while there are any, the page polls."""
        return self.pending + self.processing


def document_counts(*, tenant: Tenant, corpus: Corpus) -> DocumentCounts:
    """The corpus's documents by status and its passages, in one query."""
    by_status = {value: Count("pk", filter=Q(status=value)) for value in DocumentStatus.values}
    row = Document.objects.filter(tenant=tenant, corpus_id=corpus.pk).aggregate(
        total=Count("pk"), chunks=Coalesce(Sum("chunk_count"), 0), **by_status
    )
    return DocumentCounts(
        total=row["total"],
        pending=row[DocumentStatus.PENDING],
        processing=row[DocumentStatus.PROCESSING],
        ready=row[DocumentStatus.READY],
        failed=row[DocumentStatus.FAILED],
        chunks=row["chunks"],
    )


def corpus_agents(*, tenant: Tenant, corpus: Corpus) -> QuerySet[Agent]:
    """The tenant's agents that may search ``corpus`` (their draft settings), by name."""
    return (
        Agent.objects.filter(tenant=tenant, agentcorpus__tenant=tenant, agentcorpus__corpus_id=corpus.pk)
        .only("public_id", "name")
        .order_by("name")
    )


def chunk_list(*, tenant: Tenant, document: Document) -> QuerySet[Chunk]:
    """A document's passages in order, without the stored term statistics (the bulk of a row)."""
    return (
        Chunk.objects.filter(tenant=tenant, document_id=document.pk)
        .only("ordinal", "heading", "text", "word_count", "document_id")
        .order_by("ordinal")
    )
