"""Phone numbers and the Twilio accounts they belong to."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from tenants.access import access_phone_number_by_public_id, access_telephony_account_by_public_id
from tenants.dashboard.base import AuthedRequest, Workspace, form_errors_from, page, tenant_page
from tenants.forms import PhoneNumberConnectForm, PhoneNumberEditForm, TelephonyAccountForm
from tenants.models import PhoneNumber, TelephonyAccount
from tenants.services import (
    phone_number_create,
    phone_number_update,
    telephony_account_create,
    telephony_account_update,
)


def webhook_urls() -> dict[str, str]:
    """What to paste into the Twilio console for each number."""
    return {
        "voice": settings.PUBLIC_BASE_URL + reverse("twilio:voice"),
        "status": settings.PUBLIC_BASE_URL + reverse("twilio:status"),
    }


@require_safe
@tenant_page()
def number_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    numbers = (
        PhoneNumber.objects.filter(tenant=ws.tenant)
        .select_related("agent", "telephony_account")
        .order_by("number")
    )
    accounts = TelephonyAccount.objects.filter(tenant=ws.tenant).order_by("label", "account_sid")
    context = {"numbers": numbers, "accounts": accounts, "webhooks": webhook_urls()}
    return page(request, ws, "dashboard/numbers/list.html", context, section="numbers")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def number_connect(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = PhoneNumberConnectForm(request.POST or None, tenant=ws.tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # a new account is only kept together with its number
                account = data["account"] or telephony_account_create(
                    tenant=ws.tenant,
                    account_sid=data["account_sid"],
                    auth_token=data["auth_token"],
                    label=data["account_label"] or "Twilio",
                )
                phone = phone_number_create(
                    tenant=ws.tenant,
                    number=data["number"],
                    telephony_account=account,
                    agent=data["agent"],
                    label=data["label"],
                )
        except ValidationError as exc:
            form_errors_from(form, _number_errors(exc))
        else:
            messages.success(request, f"{phone.number} is connected. Paste the webhook URLs into Twilio.")
            return redirect("dashboard:numbers", slug=ws.tenant.slug)
    context = {"form": form, "webhooks": webhook_urls()}
    return page(request, ws, "dashboard/numbers/connect.html", context, section="numbers")


def _number_errors(exc: ValidationError) -> ValidationError:
    """Name the model's fields as the form does, and say plainly that a number is taken."""
    if not hasattr(exc, "error_dict"):
        return exc
    renamed: dict[str, list[ValidationError]] = {}
    for field, errors in exc.error_dict.items():
        if field == "number" and any(getattr(e, "code", "") == "unique" for e in errors):
            errors = [ValidationError("This number is already connected to a workspace.")]
        renamed[{"telephony_account": "account"}.get(field, field)] = errors
    return ValidationError(renamed)


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page()
def number_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    phone = access_phone_number_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = PhoneNumberEditForm(request.POST or None, tenant=ws.tenant, phone_number=phone)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            phone_number_update(
                tenant=ws.tenant,
                phone_number=phone,
                label=data["label"],
                agent=data["agent"],
                telephony_account=data["telephony_account"],
                is_active=data["is_active"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{phone.number} is saved.")
            return redirect("dashboard:numbers", slug=ws.tenant.slug)
    context = {"form": form, "phone": phone, "webhooks": webhook_urls()}
    return page(request, ws, "dashboard/numbers/edit.html", context, section="numbers")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def account_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    account = access_telephony_account_by_public_id(tenant=ws.tenant, public_id=public_id)
    initial = {"label": account.label, "account_sid": account.account_sid}
    form = TelephonyAccountForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {"label": form.cleaned_data["label"], "account_sid": form.cleaned_data["account_sid"]}
        if form.cleaned_data["auth_token"]:
            changes["auth_token"] = form.cleaned_data["auth_token"]
        try:
            telephony_account_update(tenant=ws.tenant, account=account, **changes)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "The Twilio account is saved.")
            return redirect("dashboard:numbers", slug=ws.tenant.slug)
    context = {
        "form": form,
        "account": account,
        "numbers": account.numbers.filter(tenant=ws.tenant).order_by("number"),
    }
    return page(request, ws, "dashboard/numbers/account.html", context, section="numbers")
