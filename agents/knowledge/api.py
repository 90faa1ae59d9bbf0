"""REST API for knowledge bases: corpora, their documents (upload a file or send text; ingestion
runs in the background, poll the document's status) and a test query, which answers what the
``query_knowledge_base`` tool would during a call. Writes go through ``agents.knowledge.services``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from agents.knowledge import services
from agents.knowledge.access import access_corpus_by_public_id, access_document_by_public_id
from agents.knowledge.models import Corpus, Document, DocumentStatus
from agents.knowledge.retrieval import MAX_QUERY_CHARS, MAX_RESULTS_LIMIT, knowledge_search
from agents.knowledge.selectors import document_list
from tenants.api import request_tenant

LOOKUP = OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _with_counts(queryset: QuerySet[Corpus]) -> QuerySet[Corpus]:
    counts = {
        f"n_{value}": Count("documents", filter=Q(documents__status=value)) for value in DocumentStatus.values
    }
    return queryset.annotate(n_documents=Count("documents"), **counts)


class DocumentCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    processing = serializers.IntegerField()
    ready = serializers.IntegerField()
    failed = serializers.IntegerField()


class CorpusSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    document_count = serializers.SerializerMethodField()
    documents_by_status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Corpus
        fields = (
            "id",
            "name",
            "description",
            "is_private",
            "document_count",
            "documents_by_status",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "name": {"help_text": "Unique within the tenant."},
            "is_private": {"help_text": "Searched only after the caller has passed verification."},
        }

    def _counted(self, corpus: Corpus) -> Any:
        if not hasattr(corpus, "n_documents"):
            counted = _with_counts(Corpus.objects.filter(tenant_id=corpus.tenant_id, pk=corpus.pk)).get()
            corpus.n_documents = counted.n_documents  # type: ignore[attr-defined]
            for value in DocumentStatus.values:
                setattr(corpus, f"n_{value}", getattr(counted, f"n_{value}"))
        return corpus

    def get_document_count(self, corpus: Corpus) -> int:
        return int(self._counted(corpus).n_documents)

    @extend_schema_field(DocumentCountsSerializer)
    def get_documents_by_status(self, corpus: Corpus) -> dict[str, int]:
        counted = self._counted(corpus)
        return {value: int(getattr(counted, f"n_{value}")) for value in DocumentStatus.values}

    def create(self, validated_data: dict[str, Any]) -> Corpus:
        return services.corpus_create(tenant=request_tenant(self.context["request"]), **validated_data)

    def update(self, instance: Corpus, validated_data: dict[str, Any]) -> Corpus:
        return services.corpus_update(
            tenant=request_tenant(self.context["request"]), corpus=instance, **validated_data
        )


class DocumentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    corpus = serializers.UUIDField(source="corpus.public_id", read_only=True, help_text="The knowledge base.")

    class Meta:
        model = Document
        fields = (
            "id",
            "corpus",
            "title",
            "source_kind",
            "original_filename",
            "mime_type",
            "size_bytes",
            "status",
            "error_message",
            "chunk_count",
            "processed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A .txt, .md, .html or .pdf file.")
    title = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Defaults to the file name."
    )


class DocumentTextSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, help_text="Cited in answers.")
    text = serializers.CharField(max_length=5_000_000, trim_whitespace=False)


class CorpusQuerySerializer(serializers.Serializer):
    query = serializers.CharField(max_length=MAX_QUERY_CHARS, help_text="A caller's question.")
    max_results = serializers.IntegerField(min_value=1, max_value=MAX_RESULTS_LIMIT, default=3)
    include_private = serializers.BooleanField(
        default=True,
        help_text="Search as a verified caller would. False: as an unverified caller (a private "
        "knowledge base then answers nothing).",
    )


class PassageSerializer(serializers.Serializer):
    text = serializers.CharField()
    document_title = serializers.CharField()
    corpus_name = serializers.CharField()
    score = serializers.FloatField()


class CorpusQueryResultSerializer(serializers.Serializer):
    passages = PassageSerializer(many=True, help_text="Best first.")


@extend_schema_view(
    list=extend_schema(summary="List knowledge bases"),
    create=extend_schema(summary="Create a knowledge base"),
    retrieve=extend_schema(summary="Get a knowledge base"),
    partial_update=extend_schema(summary="Update a knowledge base"),
    destroy=extend_schema(summary="Delete a knowledge base", description="With all its documents."),
)
class CorpusViewSet(viewsets.ModelViewSet):
    serializer_class = CorpusSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Corpus]:
        if getattr(self, "swagger_fake_view", False):
            return Corpus.objects.none()
        return _with_counts(Corpus.objects.filter(tenant=request_tenant(self.request)))

    def get_object(self) -> Corpus:
        return access_corpus_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    def perform_destroy(self, instance: Corpus) -> None:
        services.corpus_delete(tenant=request_tenant(self.request), corpus=instance)

    @extend_schema(
        methods=["GET"],
        summary="List a knowledge base's documents",
        description="Newest first, with their ingestion status.",
        parameters=[LOOKUP],
        responses=DocumentSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a document",
        description="Upload a file (multipart: file, title) or send text (JSON: title, text). Answers "
        "201 with the document in status pending (ingestion runs in the background: poll "
        "/documents/{id}), or failed with the reason (too big, unsupported type); 200 with the "
        "existing document when the knowledge base already holds this exact content.",
        parameters=[LOOKUP],
        request={"multipart/form-data": DocumentUploadSerializer, "application/json": DocumentTextSerializer},
        responses={201: DocumentSerializer, 200: DocumentSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="documents",
        url_name="documents",
        parser_classes=[JSONParser, MultiPartParser],
        filter_backends=[],
    )
    def documents(self, request: Request, public_id: str) -> Response:
        tenant = request_tenant(request)
        corpus = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(
                document_list(tenant=tenant, corpus=corpus).select_related("corpus")
            )
            return self.get_paginated_response(DocumentSerializer(page, many=True).data)
        if "file" in request.data or request.content_type.startswith("multipart/"):
            upload = DocumentUploadSerializer(data=request.data)
            upload.is_valid(raise_exception=True)
            file = upload.validated_data["file"]
            added = services.document_add_upload(
                tenant=tenant,
                corpus=corpus,
                upload=file,
                filename=file.name or "upload",
                title=upload.validated_data.get("title", ""),
            )
        else:
            text = DocumentTextSerializer(data=request.data)
            text.is_valid(raise_exception=True)
            added = services.document_add_text(tenant=tenant, corpus=corpus, **text.validated_data)
        code = status.HTTP_201_CREATED if added.created else status.HTTP_200_OK
        return Response(DocumentSerializer(added.document).data, status=code)

    @extend_schema(
        summary="Test a question against a knowledge base",
        description="The passages the agent's knowledge-base tool would find, best first.",
        parameters=[LOOKUP],
        request=CorpusQuerySerializer,
        responses=CorpusQueryResultSerializer,
    )
    @action(detail=True, methods=["post"], url_path="query", pagination_class=None, filter_backends=[])
    def query(self, request: Request, public_id: str) -> Response:
        corpus = self.get_object()
        body = CorpusQuerySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        passages = knowledge_search(
            tenant=request_tenant(request),
            corpus_ids=[corpus.public_id],
            query=body.validated_data["query"],
            max_results=body.validated_data["max_results"],
            include_private=body.validated_data["include_private"],
        )
        return Response({"passages": PassageSerializer(passages, many=True).data})


@extend_schema_view(
    retrieve=extend_schema(summary="Get a document", description="Its ingestion status, error and chunks."),
    destroy=extend_schema(summary="Delete a document", description="Its passages leave the search at once."),
)
class DocumentViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = DocumentSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "public_id"

    def get_queryset(self) -> QuerySet[Document]:
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        return Document.objects.filter(tenant=request_tenant(self.request))

    def get_object(self) -> Document:
        return access_document_by_public_id(
            tenant=request_tenant(self.request), public_id=self.kwargs["public_id"]
        )

    def perform_destroy(self, instance: Document) -> None:
        services.document_delete(tenant=request_tenant(self.request), document=instance)

    @extend_schema(
        summary="Process a document again",
        description="After a failure, or to re-chunk it. Answers with the document in status pending.",
        request=None,
        parameters=[LOOKUP],
        responses=DocumentSerializer,
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def reingest(self, request: Request, public_id: str) -> Response:
        document = services.document_reingest(tenant=request_tenant(request), document=self.get_object())
        return Response(DocumentSerializer(document).data)
