"""knowledge_search: ranking basics, private corpora before verification, cache invalidation."""

from __future__ import annotations

from typing import Any

from agents.knowledge.analysis import ANALYZER_VERSION
from agents.knowledge.index import corpus_index_cache
from agents.knowledge.models import Chunk
from agents.knowledge.retrieval import knowledge_search
from agents.knowledge.services import corpus_create, corpus_update
from tests.knowledge.conftest import Knowledge, add_text

PRICES = "# Prices\n\nA routine cleaning is $95. A crown costs $1,150. Teeth whitening is $395."
HOURS = "# Opening hours\n\nWe are open Monday to Friday, 8 am to 6 pm, and closed on Sunday."
INSURANCE = "# Insurance\n\nWe are in network with Delta Dental and Cigna. We do not take Medicaid."
ACCOUNT = "# Your account\n\nYour balance is $240 and your next appointment is on the third of May."


def test_the_answering_passage_comes_first_with_title_corpus_and_score(knowledge: Knowledge) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    for title, text in (("Prices", PRICES), ("Hours", HOURS), ("Insurance", INSURANCE)):
        add_text(tenant, corpus, title, text)

    def top(query: str) -> str:
        passages = knowledge_search(
            tenant=tenant, corpus_ids=[corpus.public_id], query=query, include_private=False
        )
        return passages[0].document_title

    assert top("um how much is a cleaning") == "Prices"
    assert top("are you guys open on sundays") == "Hours"
    assert top("do you take delta dental") == "Insurance"
    passage = knowledge_search(
        tenant=tenant, corpus_ids=[corpus.public_id], query="crown cost", include_private=False
    )[0]
    assert passage.text == "Prices\nA routine cleaning is $95. A crown costs $1,150. Teeth whitening is $395."
    assert passage.corpus_name == "Acme help center"
    assert passage.score > 0


def test_max_results_and_questions_with_nothing_to_find(knowledge: Knowledge) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    for index in range(6):
        add_text(
            tenant, corpus, f"Hours {index}", f"Location {index} is open on Sunday until {index + 1} pm."
        )
    search: dict[str, Any] = {"tenant": tenant, "corpus_ids": [corpus.public_id], "include_private": True}

    assert len(knowledge_search(query="open sunday", **search)) == 3
    assert len(knowledge_search(query="open sunday", max_results=5, **search)) == 5
    assert len(knowledge_search(query="open sunday", max_results=500, **search)) == 6
    assert knowledge_search(query="open sunday", max_results=0, **search) == []
    assert knowledge_search(query="um, uh, well", **search) == []  # only filler words
    assert knowledge_search(query="quantum chromodynamics", **search) == []
    assert knowledge_search(tenant=tenant, corpus_ids=[], query="open sunday", include_private=True) == []


def test_private_corpora_stay_locked_until_the_caller_is_verified(knowledge: Knowledge) -> None:
    tenant = knowledge.cast.tenant_a
    private = corpus_create(tenant=tenant, name="Customer accounts", is_private=True)
    add_text(tenant, knowledge.corpus_a, "Prices", PRICES)
    add_text(tenant, private, "Account", ACCOUNT)
    both = [knowledge.corpus_a.public_id, private.public_id]

    unverified = knowledge_search(
        tenant=tenant, corpus_ids=both, query="what is my balance", include_private=False
    )
    assert all(p.corpus_name == "Acme help center" for p in unverified)
    assert (
        knowledge_search(
            tenant=tenant, corpus_ids=[private.public_id], query="balance", include_private=False
        )
        == []
    )

    verified = knowledge_search(
        tenant=tenant, corpus_ids=both, query="what is my balance", include_private=True
    )
    assert verified[0].document_title == "Account"
    assert verified[0].corpus_name == "Customer accounts"

    corpus_update(tenant=tenant, corpus=private, is_private=False)
    assert knowledge_search(tenant=tenant, corpus_ids=both, query="balance", include_private=False)[
        0
    ].document_title == ("Account")


def test_the_cached_index_is_rebuilt_when_the_corpus_changes(knowledge: Knowledge) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    search: dict[str, Any] = {"tenant": tenant, "corpus_ids": [corpus.public_id], "include_private": True}
    add_text(tenant, corpus, "Prices", PRICES)

    assert knowledge_search(query="sunday", **search) == []
    builds = corpus_index_cache.builds
    assert knowledge_search(query="cleaning", **search)[0].document_title == "Prices"
    assert corpus_index_cache.builds == builds  # served from the cache

    add_text(tenant, corpus, "Hours", HOURS)  # bumps the corpus version
    assert knowledge_search(query="sunday", **search)[0].document_title == "Hours"
    assert corpus_index_cache.builds == builds + 1


def test_chunks_indexed_by_an_older_analyzer_are_reanalysed(knowledge: Knowledge) -> None:
    tenant, corpus = knowledge.cast.tenant_a, knowledge.corpus_a
    add_text(tenant, corpus, "Hours", HOURS)
    Chunk.objects.filter(corpus=corpus).update(
        term_freqs={"obsolete": 1}, analyzer_version=ANALYZER_VERSION - 1
    )

    passages = knowledge_search(
        tenant=tenant, corpus_ids=[corpus.public_id], query="sunday", include_private=True
    )
    assert [p.document_title for p in passages] == ["Hours"]
