"""Contact directory pages (list, edit, CSV import), included under ``/t/<slug>/`` in the
``dashboard`` namespace."""

from __future__ import annotations

from django.urls import path

from agents.dashboard import contacts

urlpatterns = [
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/new/", contacts.contact_new, name="contact-new"),
    path("contacts/import/", contacts.contact_import, name="contact-import"),
    path("contacts/import/confirm/", contacts.contact_import_confirm, name="contact-import-confirm"),
    path("contacts/import/template.csv", contacts.contact_import_template, name="contact-import-template"),
    path("contacts/import/<str:token>/", contacts.contact_import_status, name="contact-import-status"),
    path("contacts/<str:public_id>/", contacts.contact_edit, name="contact"),
    path("contacts/<str:public_id>/delete/", contacts.contact_delete, name="contact-delete"),
]
