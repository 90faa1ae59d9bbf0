"""The doors into knowledge-base rows: the tenant is part of every query (see tenants.access).

Another tenant's corpus or document raises ``TenantObjectNotFound`` exactly like a missing one.
"""

from __future__ import annotations

import uuid

from agents.knowledge.models import Corpus, Document
from tenants.access import TenantObjectNotFound
from tenants.models import Tenant


def _parse(public_id: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except ValueError:
        raise TenantObjectNotFound(f"No {what} found.") from None


def access_corpus_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Corpus:
    corpus = Corpus.objects.filter(tenant=tenant, public_id=_parse(public_id, "knowledge base")).first()
    if corpus is None:
        raise TenantObjectNotFound("No knowledge base found.")
    return corpus


def access_document_by_public_id(*, tenant: Tenant, public_id: uuid.UUID | str) -> Document:
    document = (
        Document.objects.select_related("corpus")
        .filter(tenant=tenant, corpus__tenant=tenant, public_id=_parse(public_id, "document"))
        .first()
    )
    if document is None:
        raise TenantObjectNotFound("No document found.")
    return document
