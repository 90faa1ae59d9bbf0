"""Contact directory pages (list, edit, CSV import), included under ``/t/<slug>/`` in the
``dashboard`` namespace."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
