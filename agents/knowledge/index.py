"""The BM25 inverted index of one corpus, and the per-process cache of them.

Term statistics are computed once, at ingestion, and stored on each ``Chunk`` (term -> count and
the length). Building a corpus's index is then one query and some arithmetic; it is kept in
process memory keyed by the corpus's ``index_version``, which every change to the corpus's chunks
bumps, so each worker notices on its next search that its copy is stale - no cross-process
messages needed. A query only walks the postings of its own few terms: BM25's per-(term, chunk)
weight is precomputed when the index is built, so scoring is additions.

BM25 with k1=1.2, b=0.75, the textbook values: the passages are of similar length (chunking aims
at 100-200 words), so length normalisation has little to correct and tuning it on our own
evaluation set would mostly fit that set.
"""

from __future__ import annotations

import heapq
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75
CACHE_MAX_CORPORA = 128


@dataclass(frozen=True)
class IndexedChunk:
    chunk_id: int
    term_freqs: Mapping[str, int]
    length: int


class CorpusIndex:
    """BM25 over the chunks of one corpus."""

    def __init__(self, chunks: Iterable[IndexedChunk], *, k1: float = K1, b: float = B) -> None:
        rows = list(chunks)
        self.chunk_ids: list[int] = [row.chunk_id for row in rows]
        self.size = len(rows)
        total_length = sum(row.length for row in rows)
        average_length = total_length / self.size if self.size else 1.0
        document_frequency: dict[str, int] = {}
        for row in rows:
            for term in row.term_freqs:
                document_frequency[term] = document_frequency.get(term, 0) + 1
        # The non-negative IDF variant: a term in more than half the chunks still counts a little.
        idf = {
            term: math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))
            for term, df in document_frequency.items()
        }
        postings: dict[str, list[tuple[int, float]]] = {term: [] for term in document_frequency}
        for position, row in enumerate(rows):
            norm = k1 * (1.0 - b + b * row.length / average_length) if average_length else k1
            for term, tf in row.term_freqs.items():
                postings[term].append((position, idf[term] * tf * (k1 + 1.0) / (tf + norm)))
        self.postings = postings

    def search(self, concepts: Sequence[Mapping[str, float]], limit: int) -> list[tuple[float, int]]:
        """The best ``limit`` (score, chunk id) pairs, best first; only chunks sharing a term.

        A chunk's score is the sum over concepts of its best weighted term score in that concept.
        """
        scores: dict[int, float] = {}
        for concept in concepts:
            best: dict[int, float] = {}
            for term, weight in concept.items():
                for position, value in self.postings.get(term, ()):
                    weighted = weight * value
                    if weighted > best.get(position, 0.0):
                        best[position] = weighted
            for position, value in best.items():
                scores[position] = scores.get(position, 0.0) + value
        best_chunks = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [(score, self.chunk_ids[position]) for position, score in best_chunks]


class CorpusIndexCache:
    """Corpus public id -> (version, index), least recently used out first; safe across threads.

    Keyed by the corpus's UUID, not its primary key: a database rolled back (tests) or restored
    (a backup) can hand the same primary key to another corpus, never the same UUID.
    """

    def __init__(self, max_corpora: int = CACHE_MAX_CORPORA) -> None:
        self._entries: OrderedDict[uuid.UUID, tuple[int, CorpusIndex]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_corpora = max_corpora
        self.builds = 0

    def get(self, corpus_id: uuid.UUID, version: int, build: Callable[[], CorpusIndex]) -> CorpusIndex:
        with self._lock:
            entry = self._entries.get(corpus_id)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(corpus_id)
                return entry[1]
        # Built outside the lock: two threads may build the same index once, which is harmless,
        # while holding the lock would make every other corpus's search wait for this build.
        index = build()
        with self._lock:
            self.builds += 1
            current = self._entries.get(corpus_id)
            if current is None or current[0] <= version:
                self._entries[corpus_id] = (version, index)
                self._entries.move_to_end(corpus_id)
            while len(self._entries) > self.max_corpora:
                self._entries.popitem(last=False)
        return index

    def discard(self, corpus_id: uuid.UUID) -> None:
        with self._lock:
            self._entries.pop(corpus_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


corpus_index_cache = CorpusIndexCache()
