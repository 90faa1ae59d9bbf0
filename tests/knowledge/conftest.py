"""Knowledge-base fixtures: a corpus per tenant of the cast, uploads in a temporary MEDIA_ROOT."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.knowledge.index import corpus_index_cache
from agents.knowledge.ingestion import document_ingest
from agents.knowledge.models import Corpus, Document
from agents.knowledge.services import corpus_create, document_add_text, document_add_upload
from tenants.models import Tenant
from tests.conftest import Cast
from voxsaas.celery import app as celery_app


@dataclass
class Knowledge:
    cast: Cast
    corpus_a: Corpus
    corpus_b: Corpus


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The cast's five users would take seconds per test with the real hasher; none logs in here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fresh_index_cache() -> Iterator[None]:
    corpus_index_cache.clear()
    yield
    corpus_index_cache.clear()


@pytest.fixture
def celery_eager() -> Iterator[None]:
    """Run tasks in-process even when CI configures a Redis broker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def knowledge(cast: Cast) -> Knowledge:
    return Knowledge(
        cast=cast,
        corpus_a=corpus_create(tenant=cast.tenant_a, name="Acme help center"),
        corpus_b=corpus_create(tenant=cast.tenant_b, name="Globex help center"),
    )


def add_text(tenant: Tenant, corpus: Corpus, title: str, text: str) -> Document:
    """Add pasted text and ingest it now (the task itself, as a worker would run it)."""
    document = document_add_text(tenant=tenant, corpus=corpus, title=title, text=text).document
    document_ingest(document_id=document.pk)
    document.refresh_from_db()
    return document


def add_file(tenant: Tenant, corpus: Corpus, filename: str, data: bytes, *, ingest: bool = True) -> Document:
    document = document_add_upload(
        tenant=tenant, corpus=corpus, upload=io.BytesIO(data), filename=filename
    ).document
    if ingest:
        document_ingest(document_id=document.pk)
        document.refresh_from_db()
    return document
