"""Searching knowledge bases during a call: what the ``query_knowledge_base`` tool calls.

Ranking is BM25 over phone-normalised terms (``analysis``) with query-side synonyms and spoken
question phrases (``vocabulary``), each concept of the question scored by its best term. No dense
embeddings: on the evaluation set (bench/README.md) a MiniLM hybrid matched BM25's recall@3 and
added ~2 points of MRR, for torch in every worker and ~15 ms per query to embed the question.

A query costs two small database reads (the corpora this caller may search, with their index
versions; the text of the chosen passages) and a walk over the question's posting lists in the
corpus's cached index: a few milliseconds at 1,000 documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from agents.knowledge import selectors
from agents.knowledge.index import CorpusIndex, corpus_index_cache
from agents.knowledge.vocabulary import query_concepts
from tenants.models import Tenant

MAX_RESULTS_LIMIT = 10
MAX_QUERY_CHARS = 500
# Candidates fetched per wanted passage: room for chunks deleted since the index was built.
CANDIDATE_FACTOR = 2


@dataclass(frozen=True)
class Passage:
    text: str
    document_title: str
    corpus_name: str
    score: float
    # Where the passage comes from, for a link to it (the dashboard's test search shows them).
    document_id: uuid.UUID | None = None
    chunk_ordinal: int | None = None


def _corpus_index(tenant: Tenant, corpus: selectors.SearchableCorpus) -> CorpusIndex:
    return corpus_index_cache.get(
        corpus.public_id,
        corpus.index_version,
        lambda: CorpusIndex(selectors.chunks_for_index(tenant=tenant, corpus_id=corpus.id)),
    )


def knowledge_search(
    *,
    tenant: Tenant,
    corpus_ids: Collection[uuid.UUID | str],
    query: str,
    max_results: int = 3,
    include_private: bool,
) -> list[Passage]:
    """The best passages for a caller's question from the tenant's corpora ``corpus_ids``.

    ``corpus_ids`` are corpus public ids; ids of another tenant's corpora match nothing.
    ``include_private`` is True only once the caller has passed verification: private corpora
    are not searched before that. Returns at most ``max_results`` passages (capped at 10), best
    first; an empty list when nothing in the corpora shares a term with the question.
    """
    max_results = max(0, min(max_results, MAX_RESULTS_LIMIT))
    concepts = query_concepts(query[:MAX_QUERY_CHARS])
    if not concepts or not corpus_ids or not max_results:
        return []
    corpora = selectors.corpora_for_search(
        tenant=tenant, corpus_ids=corpus_ids, include_private=include_private
    )
    wanted = max_results * CANDIDATE_FACTOR
    candidates: list[tuple[float, int, selectors.SearchableCorpus]] = []
    for corpus in corpora:
        for score, chunk_id in _corpus_index(tenant, corpus).search(concepts, wanted):
            candidates.append((score, chunk_id, corpus))
    candidates.sort(key=lambda item: (-item[0], item[1]))
    candidates = candidates[:wanted]
    chunks = selectors.chunk_texts_by_id(tenant=tenant, chunk_ids=[chunk_id for _, chunk_id, _ in candidates])
    passages: list[Passage] = []
    for score, chunk_id, corpus in candidates:
        chunk = chunks.get(chunk_id)
        if chunk is None:
            continue  # deleted since the index was built
        text = f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text
        passages.append(
            Passage(
                text=text,
                document_title=chunk.document_title,
                corpus_name=corpus.name,
                score=round(score, 4),
                document_id=chunk.document_public_id,
                chunk_ordinal=chunk.ordinal,
            )
        )
        if len(passages) == max_results:
            break
    return passages
