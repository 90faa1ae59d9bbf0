"""Knowledge-base pages: the corpora, a corpus with its documents (upload, paste, status that
refreshes itself while ingestion runs), a document with its passages, and a test search that runs
the agent's own retrieval (``knowledge_search``) so the admin sees exactly what a caller's question
would bring back.

Ingestion runs in a Celery task: in development it is eager (the document is ready when the
upload returns), in production it is queued and the corpus page polls a small partial until no
document is waiting or processing. Writes go through ``agents.knowledge.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from agents.knowledge import selectors, services
from agents.knowledge.access import access_corpus_by_public_id, access_document_by_public_id
from agents.knowledge.dashboard.forms import (
    MAX_FILES_PER_UPLOAD,
    CorpusForm,
    DocumentTextForm,
    DocumentUploadForm,
    ReturnToForm,
    ScopedSearchForm,
    SearchForm,
    human_size,
)
from agents.knowledge.models import Corpus, Document, DocumentStatus
from agents.knowledge.retrieval import Passage, knowledge_search
from agents.models import Agent, BuiltinTool
from tenants.access import access_agent_by_public_id
from tenants.dashboard.base import AuthedRequest, Workspace, form_errors_from, is_htmx, page, tenant_page
from tenants.models import Tenant

SECTION = "knowledge"
CORPORA_PER_PAGE = 50
DOCUMENTS_PER_PAGE = 25
CHUNKS_PER_PAGE = 20
POLL_EVERY = "2s"
SEARCH_TARGET = "search-results"


def _paginate(queryset: QuerySet[Any], request: HttpRequest, per_page: int) -> Page[Any]:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _wants_search_results(request: HttpRequest) -> bool:
    return is_htmx(request) and request.headers.get("HX-Target") == SEARCH_TARGET


def _corpus_url(ws: Workspace, corpus: Corpus) -> str:
    return reverse("dashboard:corpus", args=[ws.tenant.slug, corpus.public_id])


def _names(rows: Sequence[Any]) -> str:
    names = [str(row.name) for row in rows]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ----------------------------------------------------------------------------- test search


@dataclass(frozen=True)
class SearchOutcome:
    """What ``knowledge_search`` returned, and over which corpora, for the results panel."""

    question: str
    passages: list[Passage]
    searched: list[str] = field(default_factory=list)  # corpus names
    skipped_private: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def rows(self) -> list[tuple[Passage, int | None]]:
        """Each passage with the page of its document's passage preview that shows it."""
        return [
            (p, None if p.chunk_ordinal is None else p.chunk_ordinal // CHUNKS_PER_PAGE + 1)
            for p in self.passages
        ]


def run_search(
    *, tenant: Tenant, corpus_ids: Sequence[str], question: str, max_results: int, include_private: bool
) -> SearchOutcome:
    """The agent's retrieval, called exactly as its ``query_knowledge_base`` tool calls it."""
    passages = knowledge_search(
        tenant=tenant,
        corpus_ids=corpus_ids,
        query=question,
        max_results=max_results,
        include_private=include_private,
    )
    everything = selectors.corpora_for_search(tenant=tenant, corpus_ids=corpus_ids, include_private=True)
    private: set[int] = set()
    if not include_private:
        allowed = selectors.corpora_for_search(tenant=tenant, corpus_ids=corpus_ids, include_private=False)
        private = {corpus.id for corpus in everything} - {corpus.id for corpus in allowed}
    return SearchOutcome(
        question=question,
        passages=passages,
        searched=sorted(corpus.name for corpus in everything if corpus.id not in private),
        skipped_private=sorted(corpus.name for corpus in everything if corpus.id in private),
    )


def _agent_corpus_ids(ws: Workspace, agent_id: str) -> tuple[list[str], str]:
    """The corpora a call to this agent searches (its live revision's), and a note for the admin."""
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=agent_id)
    revision = agent.published_revision
    if revision is None:
        ids = [str(pid) for pid in agent.corpora.filter(tenant=ws.tenant).values_list("public_id", flat=True)]
        return ids, f"{agent.name} is not published yet: these are the knowledge bases of its draft."
    config = revision.config if isinstance(revision.config, dict) else {}
    ids = [str(pid) for pid in config.get("corpus_ids") or []]
    tools = [entry.get("name") for entry in config.get("tools") or [] if isinstance(entry, dict)]
    note = f"As {agent.name}'s live revision {revision.number} searches."
    if BuiltinTool.QUERY_KNOWLEDGE_BASE not in tools:
        note += " Its query_knowledge_base tool is off, so during a call it searches nothing."
    return ids, note


# ----------------------------------------------------------------------------- corpora


@require_safe
@tenant_page()
def corpus_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    agents = [
        (str(public_id), name)
        for public_id, name in Agent.objects.filter(tenant=ws.tenant)
        .order_by("name")
        .values_list("public_id", "name")
    ]
    form = ScopedSearchForm(request.GET if "q" in request.GET else None, agents=agents)
    search = None
    if form.is_bound and form.is_valid():
        scope = form.cleaned_data.get("scope") or ""
        if scope:
            corpus_ids, note = _agent_corpus_ids(ws, scope)
        else:
            note = ""
            corpus_ids = [
                str(pid)
                for pid in Corpus.objects.filter(tenant=ws.tenant).values_list("public_id", flat=True)
            ]
        search = run_search(
            tenant=ws.tenant,
            corpus_ids=corpus_ids,
            question=form.cleaned_data["q"],
            max_results=form.cleaned_data["max_results"],
            include_private=form.include_private,
        )
        search = replace(search, note=note)
    context: dict[str, Any] = {
        "search_form": form,
        "search": search,
        "search_action": reverse("dashboard:knowledge", args=[ws.tenant.slug]),
    }
    if _wants_search_results(request):
        return page(request, ws, "dashboard/knowledge/_search_results.html", context, section=SECTION)
    context["corpora"] = _paginate(
        selectors.corpus_overview_list(tenant=ws.tenant), request, CORPORA_PER_PAGE
    )
    return page(request, ws, "dashboard/knowledge/list.html", context, section=SECTION)


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def corpus_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = CorpusForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            corpus = services.corpus_create(tenant=ws.tenant, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"The knowledge base {corpus.name} is created. Add its documents here.")
            return redirect(_corpus_url(ws, corpus))
    return page(request, ws, "dashboard/knowledge/edit.html", {"form": form}, section=SECTION)


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def corpus_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    corpus = access_corpus_by_public_id(tenant=ws.tenant, public_id=public_id)
    initial = {"name": corpus.name, "description": corpus.description, "is_private": corpus.is_private}
    form = CorpusForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.corpus_update(tenant=ws.tenant, corpus=corpus, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "Knowledge base saved.")
            return redirect(_corpus_url(ws, corpus))
    context = {
        "corpus": corpus,
        "form": form,
        "agents": list(selectors.corpus_agents(tenant=ws.tenant, corpus=corpus)),
        "counts": selectors.document_counts(tenant=ws.tenant, corpus=corpus),
    }
    return page(request, ws, "dashboard/knowledge/edit.html", context, section=SECTION)


@require_POST
@tenant_page()
def corpus_delete(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    corpus = access_corpus_by_public_id(tenant=ws.tenant, public_id=public_id)
    agents = list(selectors.corpus_agents(tenant=ws.tenant, corpus=corpus))
    services.corpus_delete(tenant=ws.tenant, corpus=corpus)
    text = f"The knowledge base {corpus.name} is deleted, with its documents."
    if agents:
        text += f" {_names(agents)} no longer search{'es' if len(agents) == 1 else ''} it."
    messages.success(request, text)
    return redirect("dashboard:knowledge", slug=ws.tenant.slug)


def _documents_context(request: HttpRequest, ws: Workspace, corpus: Corpus) -> dict[str, Any]:
    counts = selectors.document_counts(tenant=ws.tenant, corpus=corpus)
    documents = _paginate(
        selectors.document_list(tenant=ws.tenant, corpus=corpus), request, DOCUMENTS_PER_PAGE
    )
    return {"corpus": corpus, "counts": counts, "documents": documents, "poll_every": POLL_EVERY}


def _corpus_page(
    request: AuthedRequest,
    ws: Workspace,
    corpus: Corpus,
    *,
    upload_form: DocumentUploadForm | None = None,
    text_form: DocumentTextForm | None = None,
) -> HttpResponse:
    search_form = SearchForm(request.GET if "q" in request.GET else None)
    search = None
    if search_form.is_bound and search_form.is_valid():
        search = run_search(
            tenant=ws.tenant,
            corpus_ids=[str(corpus.public_id)],
            question=search_form.cleaned_data["q"],
            max_results=search_form.cleaned_data["max_results"],
            include_private=search_form.include_private,
        )
    context: dict[str, Any] = {
        "corpus": corpus,
        "search_form": search_form,
        "search": search,
        "search_action": _corpus_url(ws, corpus),
    }
    if request.method == "GET" and _wants_search_results(request):
        return page(request, ws, "dashboard/knowledge/_search_results.html", context, section=SECTION)
    context.update(_documents_context(request, ws, corpus))
    context.update(
        {
            "agents": list(selectors.corpus_agents(tenant=ws.tenant, corpus=corpus)),
            "upload_form": upload_form or DocumentUploadForm(),
            "text_form": text_form or DocumentTextForm(),
            "upload_limit": settings.KNOWLEDGE_MAX_UPLOAD_BYTES,
            "max_files": MAX_FILES_PER_UPLOAD,
        }
    )
    return page(request, ws, "dashboard/knowledge/corpus.html", context, section=SECTION)


@require_safe
@tenant_page()
def corpus_detail(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    corpus = access_corpus_by_public_id(tenant=ws.tenant, public_id=public_id)
    return _corpus_page(request, ws, corpus)


@require_safe
@tenant_page()
def corpus_documents(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    """The documents table alone: what the corpus page polls while ingestion is under way."""
    corpus = access_corpus_by_public_id(tenant=ws.tenant, public_id=public_id)
    context = _documents_context(request, ws, corpus)
    return page(request, ws, "dashboard/knowledge/_documents.html", context, section=SECTION)


# ----------------------------------------------------------------------------- adding documents


def _back_to_corpus(request: HttpRequest, ws: Workspace, corpus: Corpus) -> HttpResponseBase:
    """After a write: a redirect, or for htmx (the drop zone's upload) a full-page navigation."""
    url = _corpus_url(ws, corpus)
    if is_htmx(request):
        response = HttpResponse(status=200)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _report_upload(
    request: HttpRequest, ws: Workspace, results: list[tuple[str, services.DocumentAdded]]
) -> None:
    failed = DocumentStatus.FAILED
    kept = [(name, r.document) for name, r in results if r.created and r.document.status != failed]
    added = [name for name, _ in kept]
    if added:
        ready = all(document.status == DocumentStatus.READY for _, document in kept)
        where = "It is" if len(added) == 1 else "They are"
        state = "ready to search." if ready else "being processed: the list below updates by itself."
        plural = "s" if len(added) != 1 else ""
        messages.success(request, f"Added {len(added)} document{plural}: {', '.join(added)}. {where} {state}")
    for name, result in results:
        if result.created and result.document.status == DocumentStatus.FAILED:
            messages.error(request, f"{name} was not added: {result.document.error_message}")
        elif not result.created:
            messages.warning(
                request,
                f"{name} is already in this knowledge base, as “{result.document.title}”: not added again.",
            )


@require_POST
@tenant_page()
def corpus_upload(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponseBase:
    corpus = access_corpus_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = DocumentUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        if is_htmx(request):
            for error in form.errors.get("uploads", []):
                messages.error(request, str(error))
            return _back_to_corpus(request, ws, corpus)
        return _corpus_page(request, ws, corpus, upload_form=form)
    results = []
    for upload in form.cleaned_data["uploads"]:
        # One transaction per file: a refused file never takes the others down with it.
        name = upload.name or "upload"
        added = services.document_add_upload(tenant=ws.tenant, corpus=corpus, upload=upload, filename=name)
        if added.created:
            added.document.refresh_from_db(fields=["status", "error_message", "chunk_count"])
        results.append((name, added))
    _report_upload(request, ws, results)
    return _back_to_corpus(request, ws, corpus)


@require_POST
@tenant_page()
def corpus_paste(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponseBase:
    corpus = access_corpus_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = DocumentTextForm(request.POST)
    if form.is_valid():
        try:
            added = services.document_add_text(tenant=ws.tenant, corpus=corpus, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            if added.created:
                added.document.refresh_from_db(fields=["status", "error_message", "chunk_count"])
            _report_upload(request, ws, [(f"“{form.cleaned_data['title']}”", added)])
            return _back_to_corpus(request, ws, corpus)
    return _corpus_page(request, ws, corpus, text_form=form)


# ----------------------------------------------------------------------------- one document


def _document_context(request: HttpRequest, ws: Workspace, document: Document) -> dict[str, Any]:
    chunks = _paginate(selectors.chunk_list(tenant=ws.tenant, document=document), request, CHUNKS_PER_PAGE)
    return {
        "corpus": document.corpus,
        "document": document,
        "chunks": chunks,
        "size": human_size(document.size_bytes),
        "active": document.status in selectors.ACTIVE_STATUSES,
        "can_reingest": bool(document.file) or document.source_kind == "text",
        "poll_every": POLL_EVERY,
    }


@require_safe
@tenant_page()
def document_detail(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    document = access_document_by_public_id(tenant=ws.tenant, public_id=public_id)
    context = _document_context(request, ws, document)
    if is_htmx(request):  # the page's own poll while the document is processed
        return page(request, ws, "dashboard/knowledge/_document_body.html", context, section=SECTION)
    return page(request, ws, "dashboard/knowledge/document.html", context, section=SECTION)


@require_POST
@tenant_page()
def document_delete(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    document = access_document_by_public_id(tenant=ws.tenant, public_id=public_id)
    services.document_delete(tenant=ws.tenant, document=document)
    messages.success(request, f"The document {document.title} is deleted; its passages are no longer found.")
    return redirect(_corpus_url(ws, document.corpus))


@require_POST
@tenant_page()
def document_reingest(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    document = access_document_by_public_id(tenant=ws.tenant, public_id=public_id)
    back = ReturnToForm(request.POST)
    to_document = back.is_valid() and back.cleaned_data["return_to"] == "document"
    try:
        row = services.document_reingest(tenant=ws.tenant, document=document)
    except ValidationError as exc:
        messages.error(request, f"{document.title}: {' '.join(exc.messages)}")
    else:
        row.refresh_from_db(fields=["status", "error_message", "chunk_count"])
        if row.status == DocumentStatus.READY:
            messages.success(request, f"{row.title} is processed again: {row.chunk_count} passages.")
        elif row.status == DocumentStatus.FAILED:
            messages.error(request, f"{row.title} failed again: {row.error_message}")
        else:
            messages.success(request, f"{row.title} is queued to be processed again.")
    if to_document:
        return redirect("dashboard:document", slug=ws.tenant.slug, public_id=document.public_id)
    return redirect(_corpus_url(ws, document.corpus))
