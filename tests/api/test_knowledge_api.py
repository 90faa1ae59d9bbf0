"""Knowledge bases through the API: corpora CRUD with stats, documents (upload, text, status,
delete) and the test query, with ingestion run directly (Celery is not eager in CI)."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from agents.knowledge.models import Corpus, Document
from agents.knowledge.tasks import ingest_document
from tests.api.conftest import Keys, api
from tests.conftest import Cast

CORPORA = "/api/v1/corpora"
OPENING_HOURS = (
    "# Opening hours\n\nThe Acme workshop is open Monday to Friday from eight to six. "
    "Emergency plumbing callouts are available on weekends for an extra fee.\n"
)


def _ingest(document_id: str) -> Document:
    document = Document.objects.get(public_id=document_id)
    ingest_document(document.pk)
    document.refresh_from_db()
    return document


def test_corpus_crud_and_stats(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(CORPORA, {"name": "FAQ", "description": "Common questions"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["document_count"] == 0 and body["documents_by_status"]["ready"] == 0
    assert Corpus.objects.get(public_id=body["id"]).tenant == cast.tenant_a
    url = f"{CORPORA}/{body['id']}"
    client.post(f"{url}/documents", {"title": "Hours", "text": OPENING_HOURS}, format="json")
    fetched = client.get(url).json()
    assert fetched["document_count"] == 1 and fetched["documents_by_status"]["pending"] == 1
    assert client.get(CORPORA).json()["results"][0]["document_count"] == 1

    patched = client.patch(url, {"is_private": True, "name": "Private FAQ"}, format="json")
    assert patched.status_code == 200 and patched.json()["is_private"] is True
    assert client.post(CORPORA, {"name": "Private FAQ"}, format="json").status_code == 400
    assert client.delete(url).status_code == 204
    assert not Corpus.objects.filter(public_id=body["id"]).exists()
    assert not Document.objects.exists()


def test_upload_ingest_then_query_finds_the_passage(cast: Cast, keys: Keys, tmp_path: object) -> None:
    client = api(keys.write_a)
    corpus_id = client.post(CORPORA, {"name": "Shop"}, format="json").json()["id"]
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        upload = SimpleUploadedFile("opening_hours.md", OPENING_HOURS.encode(), content_type="text/markdown")
        added = client.post(f"{CORPORA}/{corpus_id}/documents", {"file": upload}, format="multipart")
        assert added.status_code == 201, added.content
        assert added.json()["status"] == "pending" and added.json()["title"] == "opening hours"
        document = _ingest(added.json()["id"])
    assert document.status == "ready" and document.chunk_count >= 1

    status = client.get(f"/api/v1/documents/{document.public_id}").json()
    assert status["status"] == "ready" and status["chunk_count"] == document.chunk_count
    assert status["error_message"] == ""
    listed = client.get(f"{CORPORA}/{corpus_id}/documents").json()["results"]
    assert [d["id"] for d in listed] == [str(document.public_id)]

    answer = client.post(
        f"{CORPORA}/{corpus_id}/query", {"query": "Are you open on weekends?"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    passages = answer.json()["passages"]
    assert passages and "weekends" in passages[0]["text"] and passages[0]["corpus_name"] == "Shop"
    nothing = client.post(f"{CORPORA}/{corpus_id}/query", {"query": "zebra xylophone"}, format="json")
    assert nothing.json() == {"passages": []}

    # Another tenant can neither query nor see it.
    assert (
        api(keys.write_b).post(f"{CORPORA}/{corpus_id}/query", {"query": "open"}, format="json").status_code
        == 404
    )

    assert client.delete(f"/api/v1/documents/{document.public_id}").status_code == 204
    gone = client.post(f"{CORPORA}/{corpus_id}/query", {"query": "Are you open on weekends?"}, format="json")
    assert gone.json() == {"passages": []}


def test_private_corpus_only_answers_verified_queries(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    corpus_id = client.post(CORPORA, {"name": "Accounts", "is_private": True}, format="json").json()["id"]
    added = client.post(
        f"{CORPORA}/{corpus_id}/documents", {"title": "Hours", "text": OPENING_HOURS}, format="json"
    )
    assert added.status_code == 201
    _ingest(added.json()["id"])
    url = f"{CORPORA}/{corpus_id}/query"
    assert client.post(url, {"query": "weekend callouts"}, format="json").json()["passages"]
    unverified = client.post(url, {"query": "weekend callouts", "include_private": False}, format="json")
    assert unverified.json() == {"passages": []}


def test_document_validation_and_failures(cast: Cast, keys: Keys, tmp_path: object) -> None:
    client = api(keys.write_a)
    corpus_id = client.post(CORPORA, {"name": "Docs"}, format="json").json()["id"]
    url = f"{CORPORA}/{corpus_id}/documents"
    empty = client.post(url, {"title": "Empty", "text": "   "}, format="json")
    assert empty.status_code == 400
    no_title = client.post(url, {"text": "Hello"}, format="json")
    assert no_title.status_code == 400 and no_title.json()["errors"][0]["pointer"] == "#/title"
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        exe = SimpleUploadedFile("tool.exe", b"MZ\x90\x00binary", content_type="application/octet-stream")
        rejected = client.post(url, {"file": exe}, format="multipart")
    assert rejected.status_code == 201 and rejected.json()["status"] == "failed"
    assert rejected.json()["error_message"]
    first = client.post(url, {"title": "Hours", "text": OPENING_HOURS}, format="json")
    again = client.post(url, {"title": "Hours again", "text": OPENING_HOURS}, format="json")
    assert first.status_code == 201 and again.status_code == 200 and again.json()["id"] == first.json()["id"]
    bad_query = client.post(f"{CORPORA}/{corpus_id}/query", {"query": "x", "max_results": 50}, format="json")
    assert bad_query.status_code == 400 and bad_query.json()["errors"][0]["pointer"] == "#/max_results"
    assert api(keys.read_a).post(url, {"title": "T", "text": "Some text"}, format="json").status_code == 403
    assert api(keys.read_a).get(url).status_code == 200
