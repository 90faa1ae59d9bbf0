"""Knowledge-base pages, included under ``/t/<slug>/`` in the ``dashboard`` namespace."""

from __future__ import annotations

from django.urls import path

from agents.knowledge.dashboard import views

urlpatterns = [
    path("knowledge/", views.corpus_list, name="knowledge"),
    path("knowledge/new/", views.corpus_new, name="corpus-new"),
    path("knowledge/documents/<str:public_id>/", views.document_detail, name="document"),
    path("knowledge/documents/<str:public_id>/delete/", views.document_delete, name="document-delete"),
    path("knowledge/documents/<str:public_id>/reingest/", views.document_reingest, name="document-reingest"),
    path("knowledge/<str:public_id>/", views.corpus_detail, name="corpus"),
    path("knowledge/<str:public_id>/edit/", views.corpus_edit, name="corpus-edit"),
    path("knowledge/<str:public_id>/delete/", views.corpus_delete, name="corpus-delete"),
    path("knowledge/<str:public_id>/documents/", views.corpus_documents, name="corpus-documents"),
    path("knowledge/<str:public_id>/upload/", views.corpus_upload, name="corpus-upload"),
    path("knowledge/<str:public_id>/paste/", views.corpus_paste, name="corpus-paste"),
]
