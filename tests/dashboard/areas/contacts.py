"""The contact directory and its CSV import."""

from __future__ import annotations

import itertools
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from agents.contacts_import_jobs import (
    contact_import_job,
    contact_import_run,
    contact_import_stage,
    contact_import_start,
)
from agents.models import Contact, ContactPhone
from agents.services import contact_create
from tests.dashboard.conftest import Side, World
from tests.dashboard.pagekit import Action, Page, _u, extra

CONTACT = extra("contact")
IMPORT_TOKEN = extra("contact_import", "token")

PAGES: dict[str, Page] = {
    "contacts": Page("viewer", _u("contacts")),
    "contacts-search": Page("viewer", lambda slug, s: _u("contacts")(slug, s) + "?q=555&sort=recent"),
    "contact-new": Page("editor", _u("contact-new")),
    "contact": Page("viewer", _u("contact", CONTACT), detail=True),
    "contact-import": Page("editor", _u("contact-import")),
    "contact-import-template": Page("viewer", _u("contact-import-template"), html=False),
    "contact-import-status": Page("editor", _u("contact-import-status", IMPORT_TOKEN), detail=True),
}


def _contact_form(side: Side) -> dict[str, Any]:
    return {"name": "Forged", "phones": "+15559990001", "pin": "9999"}


def _csv(side: Side) -> dict[str, Any]:
    upload = SimpleUploadedFile("forged.csv", b"name,phone\nForged,+15559990002\n", content_type="text/csv")
    return {"file": upload}


ACTIONS: dict[str, Action] = {
    "contact-new": Action("editor", _u("contact-new"), _contact_form, False),
    "contact": Action("editor", _u("contact", CONTACT), _contact_form),
    "contact-delete": Action("editor", _u("contact-delete", CONTACT), lambda s: {}),
    "contact-import": Action("editor", _u("contact-import"), _csv, False),
    "contact-import-confirm": Action(
        "editor", _u("contact-import-confirm"), lambda s: {"token": s.extra["contact_import_pending"]}, False
    ),
}


def populate(side: Side, suffix: str) -> dict[str, Any]:
    """A contact with two numbers and both secrets; a finished import (its status page); and a
    checked file waiting for confirmation."""
    contact = contact_create(
        tenant=side.tenant,
        name=f"Ada Contact {suffix}",
        phones=["+15551110001" if suffix == "a" else "+15551110002", "+15557770000"],
        pin="4821",
        date_of_birth="1990-03-14",
        email=f"ada-{suffix}@example.com",
        account_number=f"ACC-{suffix}",
    )
    data = f"name,phone\nImported {suffix},+15552220000\nBroken,555\n".encode()
    done = contact_import_stage(tenant=side.tenant, data=data, filename=f"import-{suffix}.csv", rows=2)
    contact_import_start(tenant=side.tenant, token=done)  # queued after commit: never, in a test
    contact_import_run(tenant_id=side.tenant.pk, token=done)  # so run the job here
    job = contact_import_job(tenant=side.tenant, token=done)
    pending = contact_import_stage(tenant=side.tenant, data=data, filename=f"next-{suffix}.csv", rows=1)
    return {"contact": contact, "contact_import": job, "contact_import_pending": pending}


def snapshot() -> dict[str, list[Any]]:
    """Every row a write of this area could change."""
    return {
        "contacts": list(
            Contact.objects.order_by("pk").values_list(
                "pk", "name", "email", "account_number", "pin_hash", "dob_hash", "notes", "custom_fields"
            )
        ),
        "contact_phones": list(ContactPhone.objects.order_by("pk").values_list("pk", "contact_id", "number")),
    }


_serial = itertools.count()  # unique names across the seeding rounds of a test


def seed_contacts(world: World, n: int) -> None:
    """``n`` more contacts in tenant A, each with two numbers (the list shows them)."""
    tenant = world.a.tenant
    for i in itertools.islice(_serial, n):
        contact = Contact.objects.create(tenant=tenant, name=f"Seed {i:04d}", email=f"seed{i}@example.com")
        ContactPhone.objects.bulk_create(
            [
                ContactPhone(tenant=tenant, contact=contact, number=f"+1555800{i:04d}"),
                ContactPhone(tenant=tenant, contact=contact, number=f"+1555900{i:04d}"),
            ]
        )
