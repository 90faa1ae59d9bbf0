"""The contact directory the verification stage checks callers against: search, the editor, and
the CSV import (check, preview, then a background import with its progress)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from agents import services
from agents.access import access_contact_by_public_id
from agents.contacts_import import COLUMNS, ImportRejected, contacts_import_csv
from agents.contacts_import_jobs import contact_import_job, contact_import_stage, contact_import_start
from agents.dashboard.contacts_forms import (
    ContactForm,
    ContactImportConfirmForm,
    ContactImportForm,
    ContactSearchForm,
    format_custom_fields,
)
from agents.models import Contact, ContactPhone
from agents.scheduling.models import Booking
from calls.models import Call
from tenants.dashboard.base import (
    AuthedRequest,
    Workspace,
    form_errors_from,
    is_htmx,
    no_store,
    page,
    tenant_page,
)
from tenants.models import Tenant

PAGE_SIZE = 50
RECENT_ROWS = 8  # calls and bookings shown on a contact's page
_NOT_DIGITS = re.compile(r"\D")
TEMPLATE_ROWS = [
    ["Jane Example", "+15551230000;+15551230001", "jane@example.com", "A-1001", "4821", "1990-03-14"],
]


# ------------------------------------------------------------------------------------- list
def search_contacts(*, tenant: Tenant, query: str, sort: str = "name") -> QuerySet[Contact]:
    """The tenant's contacts whose name, email or account number contains ``query``, or one of
    whose phone numbers contains its digits (so "555 123" finds +15551230000)."""
    rows = Contact.objects.filter(tenant=tenant)
    query = query.strip()
    if query:
        match = Q(name__icontains=query) | Q(email__icontains=query) | Q(account_number__icontains=query)
        digits = _NOT_DIGITS.sub("", query)
        if len(digits) >= 3:
            # A subquery, not a join: a contact with two matching numbers is still one row.
            phones = ContactPhone.objects.filter(tenant=tenant, number__contains=digits)
            match |= Q(pk__in=phones.values("contact_id"))
        rows = rows.filter(match)
    order = ("-updated_at", "-pk") if sort == "recent" else ("name", "pk")
    return rows.order_by(*order)


def _phones_prefetch(tenant: Tenant) -> Prefetch:
    return Prefetch("phones", queryset=ContactPhone.objects.filter(tenant=tenant).order_by("number"))


@require_safe
@tenant_page()
def contact_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = ContactSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    query, sort = data.get("q") or "", data.get("sort") or "name"
    rows = search_contacts(tenant=ws.tenant, query=query, sort=sort).prefetch_related(
        _phones_prefetch(ws.tenant)
    )
    contacts = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "form": form,
        "contacts": contacts,
        "query": query,
        "filter_query": params.urlencode(),
    }
    template = "dashboard/contacts/_results.html" if is_htmx(request) else "dashboard/contacts/list.html"
    return page(request, ws, template, context, section="contacts")


# ----------------------------------------------------------------------------------- editor
def _secret_change(data: dict[str, Any], name: str) -> str | None:
    """What the service should do with a secret: None keeps it, "" removes it, a value sets it."""
    return "" if data[f"clear_{name}"] else (data[name] or None)


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def contact_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact = services.contact_create(
                tenant=ws.tenant,
                name=data["name"],
                phones=data["phones"],
                pin=data["pin"],
                date_of_birth=data["date_of_birth"],
                email=data["email"],
                account_number=data["account_number"],
                custom_fields=data["custom_fields"],
                notes=data["notes"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{contact.name} is in the directory.")
            return redirect("dashboard:contact", slug=ws.tenant.slug, public_id=contact.public_id)
    return page(request, ws, "dashboard/contacts/edit.html", {"form": form}, section="contacts")


def _initial(contact: Contact) -> dict[str, Any]:
    return {
        "name": contact.name,
        "email": contact.email,
        "account_number": contact.account_number,
        "phones": "\n".join(phone.number for phone in contact.phones.all()),
        "custom_fields": format_custom_fields(contact.custom_fields or {}),
        "notes": contact.notes,
    }


def _activity(tenant: Tenant, contact: Contact) -> dict[str, Any]:
    """The contact's recent verified calls and their bookings (by contact or by phone number)."""
    numbers = [phone.number for phone in contact.phones.all()]
    calls = (
        Call.objects.filter(tenant=tenant, contact_public_id=contact.public_id)
        .select_related("agent")
        .only("public_id", "created_at", "direction", "status", "duration_s", "agent__name")
        .order_by("-created_at")[:RECENT_ROWS]
    )
    who = Q(contact_public_id=contact.public_id)
    if numbers:
        who |= Q(customer_phone__in=numbers)
    bookings = (
        Booking.objects.filter(who, tenant=tenant, end__gte=timezone.now())
        .select_related("resource")
        .order_by("start")[:RECENT_ROWS]
    )
    return {"calls": calls, "bookings": bookings}


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page()
def contact_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    contact = access_contact_by_public_id(tenant=ws.tenant, public_id=public_id)
    existing = frozenset(contact.custom_fields or {})
    form = ContactForm(request.POST or None, initial=_initial(contact), existing_fields=existing)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.contact_update(
                tenant=ws.tenant,
                contact=contact,
                changes={
                    "name": data["name"],
                    "email": data["email"],
                    "account_number": data["account_number"],
                    "custom_fields": data["custom_fields"],
                    "notes": data["notes"],
                },
                phones=data["phones"],
                pin=_secret_change(data, "pin"),
                date_of_birth=_secret_change(data, "date_of_birth"),
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{data['name']} is saved.")
            return redirect("dashboard:contact", slug=ws.tenant.slug, public_id=contact.public_id)
    context = {"contact": contact, "form": form, **_activity(ws.tenant, contact)}
    return page(request, ws, "dashboard/contacts/edit.html", context, section="contacts")


@require_POST
@tenant_page()
def contact_delete(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    contact = access_contact_by_public_id(tenant=ws.tenant, public_id=public_id)
    services.contact_delete(tenant=ws.tenant, contact=contact)
    messages.success(request, f"{contact.name} is deleted from the directory.")
    return redirect("dashboard:contacts", slug=ws.tenant.slug)


# ----------------------------------------------------------------------------------- import
def _import_context(form: ContactImportForm) -> dict[str, Any]:
    return {"form": form, "columns": COLUMNS}


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def contact_import(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    """Upload and check: every row is validated without writing anything, and the page shows
    what would be imported, the rows that would be skipped and the likely duplicates."""
    form = ContactImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        try:
            result = contacts_import_csv(tenant=ws.tenant, upload=io.BytesIO(data), check_only=True)
        except ImportRejected as exc:
            form.add_error("file", exc.message)
        else:
            token = ""
            if result.ready:
                token = contact_import_stage(
                    tenant=ws.tenant, data=data, filename=upload.name, rows=result.ready + result.error_rows
                )
            context = {
                "result": result,
                "filename": upload.name,
                "confirm": ContactImportConfirmForm(initial={"token": token}),
                "token": token,
            }
            return no_store(page(request, ws, "dashboard/contacts/preview.html", context, section="contacts"))
    return page(request, ws, "dashboard/contacts/import.html", _import_context(form), section="contacts")


@require_POST
@tenant_page()
def contact_import_confirm(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = ContactImportConfirmForm(request.POST)
    job = None
    if form.is_valid():
        job = contact_import_start(tenant=ws.tenant, token=form.cleaned_data["token"])
    if job is None:
        messages.error(request, "This preview has expired or was already used; upload the file again.")
        return redirect("dashboard:contact-import", slug=ws.tenant.slug)
    return redirect("dashboard:contact-import-status", slug=ws.tenant.slug, token=job.token)


@require_safe
@tenant_page(read="editor")
def contact_import_status(request: AuthedRequest, ws: Workspace, token: str) -> HttpResponse:
    job = contact_import_job(tenant=ws.tenant, token=token)
    template = (
        "dashboard/contacts/_import_status.html"
        if is_htmx(request)
        else "dashboard/contacts/import_status.html"
    )
    return page(request, ws, template, {"job": job}, section="contacts")


@require_safe
@tenant_page()
def contact_import_template(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    """A CSV with the expected columns and one example row to overwrite."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(TEMPLATE_ROWS)
    response = HttpResponse(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts-template.csv"'
    return response
