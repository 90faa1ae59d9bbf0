"""Webhook pages: endpoints (list, create, edit, enable/disable, rotate the secret, delete, send a
test event) and deliveries (list across or per endpoint, detail with the attempt log, replay).

Everyone in the workspace may look; only admins change anything. An endpoint receives call data
(transcripts, customer numbers) and its secret signs what it receives, so it is managed like an
API key. The signing secret appears in exactly two responses, the one creating the endpoint and
the one rotating it, both ``no-store``; never in a page after, a message or a log.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from calls.webhooks import selectors, services
from calls.webhooks.dashboard.forms import DeliveryFilterForm, EndpointForm, TestEventForm
from calls.webhooks.delivery import RETRY_DELAYS_S, message_body
from calls.webhooks.models import EventType, WebhookEndpoint
from tenants.access import access_webhook_delivery_by_public_id, access_webhook_endpoint_by_public_id
from tenants.dashboard.base import (
    AuthedRequest,
    Workspace,
    form_errors_from,
    is_htmx,
    no_store,
    page,
    tenant_page,
)
from tenants.models import Role
from voxsaas.keyset import Cursor

SECTION = "webhooks"
ENDPOINTS_PER_PAGE = 25
MAX_SHOWN_PAYLOAD = 200_000
EVENT_DESCRIPTIONS = dict(EventType.choices)


def _max_attempts() -> int:
    """The first try and the automatic retries (the retry schedule may be a setting)."""
    return 1 + len(getattr(settings, "WEBHOOK_RETRY_DELAYS_S", RETRY_DELAYS_S))


def _endpoint_fields(form: EndpointForm) -> dict[str, Any]:
    return {
        "url": form.cleaned_data["url"],
        "description": form.cleaned_data["description"],
        "event_types": list(form.cleaned_data["event_types"]),
    }


def _refusal(form: EndpointForm, exc: ValidationError) -> None:
    """The service's refusal on the form; a refused URL says why and what is expected."""
    form_errors_from(form, exc)
    if form.has_error("url"):
        form.errors["url"].append(
            "Use the public address of your receiver: local, private and metadata addresses "
            "are not reachable."
        )


# ----------------------------------------------------------------------------- endpoints


@require_safe
@tenant_page()
def webhook_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    endpoints = Paginator(selectors.endpoints_for_list(tenant=ws.tenant), ENDPOINTS_PER_PAGE)
    context = {
        "endpoints": endpoints.get_page(request.GET.get("page")),
        "event_descriptions": EVENT_DESCRIPTIONS,
        "max_attempts": _max_attempts(),
    }
    return page(request, ws, "dashboard/webhooks/list.html", context, section=SECTION)


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read=Role.ADMIN, write=Role.ADMIN)
def webhook_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = EndpointForm(request.POST or None, initial={"event_types": [EventType.CALL_ENDED]})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = services.webhook_endpoint_create(tenant=ws.tenant, **_endpoint_fields(form))
            except ValidationError as exc:
                _refusal(form, exc)
            else:
                messages.success(request, f"The endpoint {created.endpoint.url} is created and enabled.")
                context = {"endpoint": created.endpoint, "secret": created.secret, "rotated": False}
                return no_store(page(request, ws, "dashboard/webhooks/secret.html", context, section=SECTION))
        status = 400
    context = {"form": form, "event_descriptions": EVENT_DESCRIPTIONS}
    return page(request, ws, "dashboard/webhooks/new.html", context, section=SECTION, status=status)


def _deliveries_context(
    request: AuthedRequest, ws: Workspace, *, endpoint: WebhookEndpoint | None
) -> dict[str, Any]:
    """The filter form, one page of deliveries and the query string the pager keeps."""
    form = DeliveryFilterForm(request.GET or None, tenant=ws.tenant, with_endpoint=endpoint is None)
    if form.is_bound and not form.is_valid():
        result = selectors.DeliveryPage([], None, None)
    else:
        filters = form.filters()
        deliveries = selectors.filtered_deliveries(
            tenant=ws.tenant,
            endpoint=endpoint or filters.get("endpoint"),
            state=filters.get("status", ""),
            event_type=filters.get("event_type", ""),
        )
        result = selectors.delivery_page(
            deliveries,
            after=Cursor.decode(request.GET.get("after")),
            before=Cursor.decode(request.GET.get("before")),
        )
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    return {"filter_form": form, "deliveries": result, "filter_query": query.urlencode()}


def _endpoint_page(
    request: AuthedRequest,
    ws: Workspace,
    endpoint: WebhookEndpoint,
    *,
    form: EndpointForm | None = None,
    test_form: TestEventForm | None = None,
    test_result: services.TestEventResult | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "endpoint": endpoint,
        "form": form or EndpointForm.for_endpoint(endpoint),
        "test_form": test_form
        or TestEventForm(initial={"event_type": (endpoint.event_types or [EventType.CALL_ENDED])[0]}),
        "test_result": test_result,
        "event_descriptions": EVENT_DESCRIPTIONS,
        "max_attempts": _max_attempts(),
        **_deliveries_context(request, ws, endpoint=endpoint),
    }
    return page(request, ws, "dashboard/webhooks/detail.html", context, section=SECTION, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(write=Role.ADMIN)
def webhook_detail(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    """The endpoint: its settings (editable by admins), its deliveries and the test event."""
    endpoint = access_webhook_endpoint_by_public_id(tenant=ws.tenant, public_id=public_id)
    if request.method != "POST":
        if is_htmx(request):  # the delivery filters and pager swap only the results
            context = _deliveries_context(request, ws, endpoint=endpoint)
            return page(request, ws, "dashboard/webhooks/_deliveries.html", context, section=SECTION)
        return _endpoint_page(request, ws, endpoint)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            services.webhook_endpoint_update(tenant=ws.tenant, endpoint=endpoint, **_endpoint_fields(form))
        except ValidationError as exc:
            _refusal(form, exc)
        else:
            messages.success(request, "Endpoint saved. The next events use the new settings.")
            return redirect("dashboard:webhook", slug=ws.tenant.slug, public_id=endpoint.public_id)
    return _endpoint_page(request, ws, endpoint, form=form, status=400)


@require_POST
@tenant_page(write=Role.ADMIN)
def webhook_disable(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    endpoint = access_webhook_endpoint_by_public_id(tenant=ws.tenant, public_id=public_id)
    services.webhook_endpoint_update(tenant=ws.tenant, endpoint=endpoint, is_active=False)
    messages.success(
        request, "The endpoint is disabled: new events are not sent to it and pending retries stop."
    )
    return redirect("dashboard:webhook", slug=ws.tenant.slug, public_id=endpoint.public_id)


@require_POST
@tenant_page(write=Role.ADMIN)
def webhook_enable(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    endpoint = access_webhook_endpoint_by_public_id(tenant=ws.tenant, public_id=public_id)
    services.webhook_endpoint_update(tenant=ws.tenant, endpoint=endpoint, is_active=True)
    messages.success(
        request,
        "The endpoint is enabled and its failure count is reset. Replay the deliveries it missed "
        "from its delivery list.",
    )
    return redirect("dashboard:webhook", slug=ws.tenant.slug, public_id=endpoint.public_id)


@require_POST
@tenant_page(write=Role.ADMIN)
def webhook_rotate_secret(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    endpoint = access_webhook_endpoint_by_public_id(tenant=ws.tenant, public_id=public_id)
    rotated = services.webhook_endpoint_rotate_secret(tenant=ws.tenant, endpoint=endpoint)
    messages.success(request, "The signing secret is replaced. The old one no longer signs deliveries.")
    context = {"endpoint": rotated.endpoint, "secret": rotated.secret, "rotated": True}
    return no_store(page(request, ws, "dashboard/webhooks/secret.html", context, section=SECTION))


@require_POST
@tenant_page(write=Role.ADMIN)
def webhook_delete(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    endpoint = access_webhook_endpoint_by_public_id(tenant=ws.tenant, public_id=public_id)
    services.webhook_endpoint_delete(tenant=ws.tenant, endpoint=endpoint)
    messages.success(request, f"The endpoint {endpoint.url} and its delivery log are deleted.")
    return redirect("dashboard:webhooks", slug=ws.tenant.slug)


@require_POST
@tenant_page(write=Role.ADMIN)
def webhook_test(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    """Send an example event now and show the receiver's answer (nothing is stored)."""
    endpoint = access_webhook_endpoint_by_public_id(tenant=ws.tenant, public_id=public_id)
    test_form = TestEventForm(request.POST)
    result = None
    if test_form.is_valid():
        result = services.webhook_endpoint_send_test(
            tenant=ws.tenant, endpoint=endpoint, event_type=test_form.cleaned_data["event_type"]
        )
    if is_htmx(request):
        context = {"endpoint": endpoint, "test_form": test_form, "test_result": result}
        return no_store(page(request, ws, "dashboard/webhooks/_test_result.html", context, section=SECTION))
    return no_store(_endpoint_page(request, ws, endpoint, test_form=test_form, test_result=result))


# ----------------------------------------------------------------------------- deliveries


@require_safe
@tenant_page()
def delivery_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    context = _deliveries_context(request, ws, endpoint=None)
    template = (
        "dashboard/webhooks/_deliveries.html" if is_htmx(request) else "dashboard/webhooks/deliveries.html"
    )
    return page(request, ws, template, context, section=SECTION)


def _pretty_body(body: bytes) -> tuple[str, bool]:
    text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return text[:MAX_SHOWN_PAYLOAD], len(text) > MAX_SHOWN_PAYLOAD


@require_safe
@tenant_page()
def delivery_detail(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    delivery = access_webhook_delivery_by_public_id(tenant=ws.tenant, public_id=public_id)
    body, truncated = _pretty_body(message_body(delivery.message))
    context = {
        "delivery": delivery,
        "state": selectors.delivery_state(delivery),
        "log": selectors.delivery_attempts(tenant=ws.tenant, delivery=delivery),
        "body": body,
        "body_truncated": truncated,
        "max_attempts": _max_attempts(),
        "event_description": EVENT_DESCRIPTIONS.get(delivery.message.event_type, ""),
    }
    return page(request, ws, "dashboard/webhooks/delivery.html", context, section=SECTION)


@require_POST
@tenant_page(write=Role.ADMIN)
def delivery_replay(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    delivery = access_webhook_delivery_by_public_id(tenant=ws.tenant, public_id=public_id)
    try:
        services.webhook_delivery_replay(tenant=ws.tenant, delivery=delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            "Replay queued: the event is sent again with the same webhook-id "
            f"({delivery.message.webhook_id}), so a receiver that already processed it can "
            "recognise the repeat. The attempt appears below.",
        )
    return redirect("dashboard:webhook-delivery", slug=ws.tenant.slug, public_id=delivery.public_id)
