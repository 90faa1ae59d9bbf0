from django.contrib import admin

from agents.knowledge.models import Corpus, Document


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "is_private", "index_version", "updated_at")
    list_filter = ("is_private",)
    raw_id_fields = ("tenant",)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "corpus", "tenant", "status", "chunk_count", "created_at")
    list_filter = ("status", "source_kind")
    raw_id_fields = ("tenant", "corpus")
    readonly_fields = ("content_hash", "error_message", "chunk_count", "processed_at")
