"""Retrieval evaluation: labelled phone questions against corpora ingested the real way.

The evaluation set (bench/data/knowledge_eval.json) holds businesses, each with its documents (as
files of the formats tenants upload) and questions labelled with the answering document and a
phrase the answering passage must contain. Each business becomes one corpus of one tenant,
ingested through the same services and pipeline as an upload, and each question is asked through
``knowledge_search``. A passage is a hit when it comes from the labelled document AND contains
the phrase: the right document alone is not enough when it is split into several passages.

Used by bench/knowledge_eval.py (figures) and tests/knowledge (threshold).
"""

from __future__ import annotations

import io
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from agents.knowledge.extraction import detect_kind, extract_text
from agents.knowledge.ingestion import document_ingest
from agents.knowledge.models import Corpus, DocumentStatus
from agents.knowledge.retrieval import Passage, knowledge_search
from agents.knowledge.services import corpus_create, document_add_upload
from tenants.models import Tenant

RANK_DEPTH = 10


@dataclass(frozen=True)
class EvalDocument:
    id: str
    title: str
    filename: str
    text: str


@dataclass(frozen=True)
class EvalQuestion:
    business: str
    question: str
    document_id: str
    answer: str
    split: str  # "dev": looked at while tuning the analyzer; "heldout": only measured


@dataclass(frozen=True)
class EvalBusiness:
    key: str
    name: str
    documents: tuple[EvalDocument, ...]
    questions: tuple[EvalQuestion, ...]

    def document(self, document_id: str) -> EvalDocument:
        return next(document for document in self.documents if document.id == document_id)


@dataclass(frozen=True)
class EvalSet:
    businesses: tuple[EvalBusiness, ...]

    @classmethod
    def load(cls, path: Path) -> EvalSet:
        raw = json.loads(path.read_text(encoding="utf-8"))
        businesses = []
        for business in raw["businesses"]:
            documents = tuple(
                EvalDocument(doc["id"], doc["title"], doc["filename"], "\n".join(doc["lines"]) + "\n")
                for doc in business["documents"]
            )
            questions = tuple(
                EvalQuestion(
                    business["key"], item["q"], item["doc"], item["answer"], item.get("split", "dev")
                )
                for item in business["questions"]
            )
            businesses.append(EvalBusiness(business["key"], business["name"], documents, questions))
        return cls(tuple(businesses))

    @property
    def documents(self) -> int:
        return sum(len(business.documents) for business in self.businesses)

    @property
    def questions(self) -> int:
        return sum(len(business.questions) for business in self.businesses)

    def check_labels(self) -> None:
        """Every label must point at a document whose text holds the answer phrase."""
        for business in self.businesses:
            ids = {document.id for document in business.documents}
            for question in business.questions:
                if question.document_id not in ids:
                    raise ValueError(f"{question.question!r}: unknown document {question.document_id!r}")
                document = business.document(question.document_id)
                data = document.text.encode("utf-8")
                text = extract_text(detect_kind(document.filename, data), data)
                if _normal(question.answer) not in _normal(text):
                    raise ValueError(f"{question.question!r}: {question.answer!r} is not in {document.id}")


@dataclass(frozen=True)
class QuestionResult:
    question: EvalQuestion
    rank: int | None  # 1-based rank of the first answering passage, None if not in the top 10
    latency_ms: float
    top_titles: tuple[str, ...]


@dataclass
class EvalReport:
    results: list[QuestionResult] = field(default_factory=list)

    def recall_at(self, k: int) -> float:
        return sum(1 for r in self.results if r.rank is not None and r.rank <= k) / len(self.results)

    @property
    def mrr(self) -> float:
        return sum(1.0 / r.rank for r in self.results if r.rank is not None) / len(self.results)

    def latency_percentile(self, percentile: int) -> float:
        latencies = sorted(r.latency_ms for r in self.results)
        if len(latencies) < 2:
            return latencies[0] if latencies else 0.0
        return statistics.quantiles(latencies, n=100, method="inclusive")[percentile - 1]

    def only(self, *, split: str | None = None, business: str | None = None) -> EvalReport:
        return EvalReport(
            [
                r
                for r in self.results
                if (split is None or r.question.split == split)
                and (business is None or r.question.business == business)
            ]
        )

    def misses(self, k: int = 3) -> list[QuestionResult]:
        return [r for r in self.results if r.rank is None or r.rank > k]


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def ingest_business(*, tenant: Tenant, business: EvalBusiness, corpus_name: str | None = None) -> Corpus:
    """One corpus holding the business's documents, uploaded and ingested like a tenant's files."""
    corpus = corpus_create(tenant=tenant, name=corpus_name or business.name)
    for document in business.documents:
        ingest_file(
            tenant=tenant, corpus=corpus, filename=document.filename, title=document.title, text=document.text
        )
    return corpus


def ingest_file(*, tenant: Tenant, corpus: Corpus, filename: str, title: str, text: str) -> None:
    added = document_add_upload(
        tenant=tenant, corpus=corpus, upload=io.BytesIO(text.encode("utf-8")), filename=filename, title=title
    )
    # The task may already have run (eager Celery outside a test transaction); ingesting is
    # idempotent, so run it here to be independent of how Celery is configured.
    document_ingest(document_id=added.document.pk)
    added.document.refresh_from_db()
    if added.document.status != DocumentStatus.READY:
        raise RuntimeError(f"{filename} was not ingested: {added.document.error_message}")


def _rank(passages: list[Passage], title: str, answer: str) -> int | None:
    for position, passage in enumerate(passages, start=1):
        if passage.document_title == title and _normal(answer) in _normal(passage.text):
            return position
    return None


def evaluate(
    *, tenant: Tenant, eval_set: EvalSet, corpora: dict[str, Corpus], include_private: bool = True
) -> EvalReport:
    """Ask every question of the set against its business's corpus (``corpora`` by business key)."""
    report = EvalReport()
    for business in eval_set.businesses:
        corpus = corpora[business.key]
        for question in business.questions:
            started = time.perf_counter()
            passages = knowledge_search(
                tenant=tenant,
                corpus_ids=[corpus.public_id],
                query=question.question,
                max_results=RANK_DEPTH,
                include_private=include_private,
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            title = business.document(question.document_id).title
            report.results.append(
                QuestionResult(
                    question=question,
                    rank=_rank(passages, title, question.answer),
                    latency_ms=elapsed_ms,
                    top_titles=tuple(passage.document_title for passage in passages[:3]),
                )
            )
    return report
