"""Call pages, included under ``/t/<slug>/`` in the ``dashboard`` namespace."""

from __future__ import annotations

from django.urls import path

from calls.dashboard import views

urlpatterns = [
    path("calls/", views.call_list, name="calls"),
    path("calls/<str:public_id>/", views.call_detail, name="call"),
    path("calls/<str:public_id>/recording", views.call_recording, name="call-recording"),
    path("calls/<str:public_id>/transcript.txt", views.call_transcript_txt, name="call-transcript-txt"),
    path("calls/<str:public_id>/transcript.json", views.call_transcript_json, name="call-transcript-json"),
]
