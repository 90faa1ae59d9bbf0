"""Cross-tenant: another tenant's corpora, documents and chunks are never reachable."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agents.knowledge.access import access_corpus_by_public_id, access_document_by_public_id
from agents.knowledge.models import Chunk, DocumentStatus
from agents.knowledge.retrieval import knowledge_search
from agents.knowledge.selectors import corpus_list, document_list
from agents.knowledge.services import (
    corpus_delete,
    corpus_update,
    document_add_text,
    document_add_upload,
    document_delete,
    document_reingest,
)
from tenants.access import TenantObjectNotFound
from tests.knowledge.conftest import Knowledge, add_text

HOURS_A = "# Hours\n\nAcme is open on Sunday from 10 am to 4 pm for emergency plumbing."
HOURS_B = "# Hours\n\nGlobex Dental is open on Sunday from 9 am to noon for emergencies."


@pytest.fixture
def both(knowledge: Knowledge) -> Knowledge:
    add_text(knowledge.cast.tenant_a, knowledge.corpus_a, "Acme hours", HOURS_A)
    add_text(knowledge.cast.tenant_b, knowledge.corpus_b, "Globex hours", HOURS_B)
    return knowledge


ACCESSORS: list[tuple[str, Callable[..., Any]]] = [
    ("corpus", lambda tenant, row: access_corpus_by_public_id(tenant=tenant, public_id=row.public_id)),
    ("document", lambda tenant, row: access_document_by_public_id(tenant=tenant, public_id=row.public_id)),
]


@pytest.mark.parametrize(("kind", "accessor"), ACCESSORS, ids=[name for name, _ in ACCESSORS])
def test_access_functions_return_own_rows_and_hide_the_other_tenants(
    both: Knowledge, kind: str, accessor: Callable[..., Any]
) -> None:
    cast = both.cast
    own = {"corpus": both.corpus_a, "document": both.corpus_a.documents.get()}[kind]
    other = {"corpus": both.corpus_b, "document": both.corpus_b.documents.get()}[kind]

    assert accessor(cast.tenant_a, own).pk == own.pk
    assert accessor(cast.tenant_b, other).pk == other.pk
    with pytest.raises(TenantObjectNotFound):
        accessor(cast.tenant_a, other)
    with pytest.raises(TenantObjectNotFound):
        accessor(cast.tenant_b, own)


@pytest.mark.parametrize("public_id", ["not-a-uuid", str(uuid.uuid4()), ""])
def test_unknown_or_malformed_ids_are_not_found(knowledge: Knowledge, public_id: str) -> None:
    with pytest.raises(TenantObjectNotFound):
        access_corpus_by_public_id(tenant=knowledge.cast.tenant_a, public_id=public_id)
    with pytest.raises(TenantObjectNotFound):
        access_document_by_public_id(tenant=knowledge.cast.tenant_a, public_id=public_id)


def test_search_never_returns_another_tenants_corpus(both: Knowledge) -> None:
    cast = both.cast
    search: dict[str, Any] = {"query": "are you open on sunday", "include_private": True}

    own = knowledge_search(tenant=cast.tenant_a, corpus_ids=[both.corpus_a.public_id], **search)
    assert [(p.document_title, p.corpus_name) for p in own] == [("Acme hours", "Acme help center")]
    # Tenant A naming tenant B's corpus (a forged tool argument, a stale config) finds nothing.
    assert knowledge_search(tenant=cast.tenant_a, corpus_ids=[both.corpus_b.public_id], **search) == []
    mixed = knowledge_search(
        tenant=cast.tenant_a, corpus_ids=[both.corpus_a.public_id, str(both.corpus_b.public_id)], **search
    )
    assert [p.document_title for p in mixed] == ["Acme hours"]
    assert knowledge_search(tenant=cast.tenant_a, corpus_ids=["not-a-uuid"], **search) == []


def test_search_ignores_chunks_of_another_tenant_even_inside_its_own_corpus(both: Knowledge) -> None:
    """Defence in depth: a chunk row carrying tenant B, however it got into A's corpus, stays out."""
    cast = both.cast
    chunk_b = Chunk.objects.get(tenant=cast.tenant_b)
    Chunk.objects.filter(pk=chunk_b.pk).update(corpus=both.corpus_a)
    both.corpus_a.index_version += 1
    both.corpus_a.save(update_fields=["index_version"])

    passages = knowledge_search(
        tenant=cast.tenant_a,
        corpus_ids=[both.corpus_a.public_id],
        query="globex dental sunday",
        include_private=True,
    )
    assert "Globex" not in " ".join(p.text for p in passages)
    assert [p.document_title for p in passages] == ["Acme hours"]


def test_selectors_list_only_the_tenants_own_rows(both: Knowledge) -> None:
    cast = both.cast
    assert [corpus.name for corpus in corpus_list(tenant=cast.tenant_a)] == ["Acme help center"]
    (listed,) = corpus_list(tenant=cast.tenant_a)
    assert getattr(listed, "document_ready", None) == 1  # an annotation the stubs can't see
    assert [d.title for d in document_list(tenant=cast.tenant_a, corpus=both.corpus_a)] == ["Acme hours"]
    assert list(document_list(tenant=cast.tenant_a, corpus=both.corpus_b)) == []


def test_services_refuse_another_tenants_corpus_and_documents(both: Knowledge) -> None:
    cast = both.cast
    document_b = both.corpus_b.documents.get()
    writes: list[Callable[[], Any]] = [
        lambda: document_add_text(
            tenant=cast.tenant_a, corpus=both.corpus_b, title="Injected", text="Free crowns."
        ),
        lambda: document_add_upload(
            tenant=cast.tenant_a, corpus=both.corpus_b, upload=io.BytesIO(b"Free crowns."), filename="x.txt"
        ),
        lambda: corpus_update(tenant=cast.tenant_a, corpus=both.corpus_b, is_private=True),
        lambda: corpus_delete(tenant=cast.tenant_a, corpus=both.corpus_b),
        lambda: document_delete(tenant=cast.tenant_a, document=document_b),
        lambda: document_reingest(tenant=cast.tenant_a, document=document_b),
    ]
    for write in writes:
        with pytest.raises(TenantObjectNotFound):
            write()

    both.corpus_b.refresh_from_db()
    assert not both.corpus_b.is_private
    assert [d.title for d in both.corpus_b.documents.all()] == ["Globex hours"]
    document_b.refresh_from_db()
    assert document_b.status == DocumentStatus.READY


def test_every_knowledge_access_function_has_a_cross_tenant_test() -> None:
    from agents.knowledge import access

    names = {name for name in dir(access) if name.startswith("access_")}
    assert names == {"access_corpus_by_public_id", "access_document_by_public_id"}
    assert len(ACCESSORS) == len(names)
