"""Calendar pages about resources: the list, the settings editor, the weekly hours editor,
closures (time off) and the private calendar-feed URL."""

from __future__ import annotations

from datetime import time, timedelta
from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from agents.scheduling.access import access_resource_by_public_id, access_time_off_by_public_id
from agents.scheduling.dashboard.forms import HoursForm, ResourceForm, TimeOffForm, resource_initial
from agents.scheduling.feeds import feed_path
from agents.scheduling.models import MIDNIGHT, BookingStatus, BusinessHours, Resource, TimeOff
from agents.scheduling.selectors import booking_list, hours_for, resource_list
from agents.scheduling.services import (
    hours_set,
    resource_create,
    resource_delete,
    resource_feed_rotate,
    resource_update,
    time_off_add,
    time_off_remove,
)
from tenants.access import TenantObjectNotFound
from tenants.dashboard.base import AuthedRequest, Workspace, form_errors_from, page, tenant_page
from tenants.models import Tenant

PAGE_SIZE = 50
MAX_TIME_OFF_SHOWN = 50
UPCOMING_SHOWN = 5
SHORT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hours_summary(week: dict[int, list[tuple[time, time]]]) -> list[str]:
    """'Mon–Fri 09:00–12:00, 13:00–17:00', 'Sat 10:00–14:00': runs of days with equal hours."""

    def intervals(weekday: int) -> str:
        return ", ".join(
            f"{opens:%H:%M}–{'24:00' if closes == MIDNIGHT else f'{closes:%H:%M}'}"
            for opens, closes in week.get(weekday, [])
        )

    lines = []
    for text, run in groupby(range(7), key=intervals):
        days = list(run)
        if text:
            first, last = SHORT_DAYS[days[0]], SHORT_DAYS[days[-1]]
            lines.append(f"{first if first == last else f'{first}–{last}'} {text}")
    return lines


def _week_of(rows: list[BusinessHours]) -> dict[int, list[tuple[time, time]]]:
    week: dict[int, list[tuple[time, time]]] = {}
    for row in rows:
        week.setdefault(row.weekday, []).append((row.opens, row.closes))
    return week


def _closures(tenant: Tenant, resource: Resource | None) -> QuerySet[TimeOff]:
    """Closures that have not ended: the resource's and everyone's, or (None) everyone's."""
    who = (
        Q(resource__isnull=True) | Q(resource=resource) if resource is not None else Q(resource__isnull=True)
    )
    today = timezone.now().date() - timedelta(days=1)  # a day's slack for zones behind UTC
    return (
        TimeOff.objects.filter(who, tenant=tenant, ends_on__gte=today)
        .select_related("resource")
        .order_by("starts_on", "pk")[:MAX_TIME_OFF_SHOWN]
    )


def feed_url(resource: Resource) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + feed_path(resource)


# ------------------------------------------------------------------------------------ pages
@require_safe
@tenant_page()
def resource_list_view(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    tenant = ws.tenant
    rows = (
        resource_list(tenant=tenant, active_only=False)
        .annotate(
            upcoming=Count(
                "bookings",
                filter=Q(bookings__status=BookingStatus.CONFIRMED, bookings__start__gte=timezone.now()),
            )
        )
        .prefetch_related(
            Prefetch(
                "hours", queryset=BusinessHours.objects.filter(tenant=tenant).order_by("weekday", "opens")
            )
        )
    )
    resources = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    summaries = {r.pk: hours_summary(_week_of(list(r.hours.all()))) for r in resources}
    context = {
        "resources": [(r, summaries[r.pk]) for r in resources],
        "page_obj": resources,
        "closures": _closures(tenant, None),
    }
    return page(request, ws, "dashboard/calendar/resources.html", context, section="calendar")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def resource_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = ResourceForm(request.POST or None, tenant=ws.tenant)
    if request.method == "POST" and form.is_valid():
        try:
            resource = resource_create(tenant=ws.tenant, **form.settings())
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{resource.name} is created. Now set its business hours.")
            return redirect(
                "dashboard:calendar-resource-hours", slug=ws.tenant.slug, public_id=resource.public_id
            )
    return page(request, ws, "dashboard/calendar/resource.html", {"form": form}, section="calendar")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page()
def resource_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    tenant = ws.tenant
    resource = access_resource_by_public_id(tenant=tenant, public_id=public_id)
    form = ResourceForm(
        request.POST or None, tenant=tenant, resource=resource, initial=resource_initial(resource)
    )
    if request.method == "POST" and form.is_valid():
        try:
            resource_update(tenant=tenant, resource=resource, **form.settings())
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['name']} is saved.")
            return redirect("dashboard:calendar-resource", slug=tenant.slug, public_id=resource.public_id)
    upcoming = booking_list(
        tenant=tenant, resource=resource, start_from=timezone.now(), status=BookingStatus.CONFIRMED
    )[:UPCOMING_SHOWN]
    context = {
        "resource": resource,
        "form": form,
        "hours": hours_summary(hours_for(tenant=tenant, resource=resource)),
        "closures": _closures(tenant, resource),
        "upcoming": upcoming,
        "feed_url": feed_url(resource) if ws.can_edit else "",
        "time_off_form": TimeOffForm(resources=[resource], initial={"resource": str(resource.public_id)}),
    }
    return page(request, ws, "dashboard/calendar/resource.html", context, section="calendar")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page()
def resource_hours(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    tenant = ws.tenant
    resource = access_resource_by_public_id(tenant=tenant, public_id=public_id)
    form = HoursForm(request.POST or None, week=hours_for(tenant=tenant, resource=resource))
    if request.method == "POST" and form.is_valid():
        try:
            hours_set(tenant=tenant, resource=resource, week=form.cleaned_data["week"])
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Business hours of {resource.name} are saved.")
            return redirect("dashboard:calendar-resource", slug=tenant.slug, public_id=resource.public_id)
    context = {"resource": resource, "form": form, "days": form.days()}
    return page(request, ws, "dashboard/calendar/hours.html", context, section="calendar")


@require_POST
@tenant_page()
def resource_feed_rotate_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    resource = access_resource_by_public_id(tenant=ws.tenant, public_id=public_id)
    resource_feed_rotate(tenant=ws.tenant, resource=resource)
    messages.success(
        request,
        "The calendar feed has a new URL. The old one stops working: subscribe again with the new one.",
    )
    return redirect("dashboard:calendar-resource", slug=ws.tenant.slug, public_id=resource.public_id)


@require_POST
@tenant_page()
def resource_delete_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    resource = access_resource_by_public_id(tenant=ws.tenant, public_id=public_id)
    try:
        resource_delete(tenant=ws.tenant, resource=resource)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("dashboard:calendar-resource", slug=ws.tenant.slug, public_id=resource.public_id)
    messages.success(request, f"{resource.name} is deleted.")
    return redirect("dashboard:calendar-resources", slug=ws.tenant.slug)


# ---------------------------------------------------------------------------------- time off
@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def time_off_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    resources = list(resource_list(tenant=ws.tenant, active_only=False))
    form = TimeOffForm(
        request.POST or None, resources=resources, initial={"resource": request.GET.get("resource", "")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        resource = data["resource_row"]
        try:
            time_off_add(
                tenant=ws.tenant,
                resource=resource,
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            who = resource.name if resource is not None else "Every resource"
            first, last = data["starts_on"], data["ends_on"]
            messages.success(request, f"{who}: closed from {first:%b} {first.day} to {last:%b} {last.day}.")
            if resource is not None:
                return redirect(
                    "dashboard:calendar-resource", slug=ws.tenant.slug, public_id=resource.public_id
                )
            return redirect("dashboard:calendar-resources", slug=ws.tenant.slug)
    return page(request, ws, "dashboard/calendar/time_off.html", {"form": form}, section="calendar")


@require_POST
@tenant_page()
def time_off_remove_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    row = access_time_off_by_public_id(tenant=ws.tenant, public_id=public_id)
    time_off_remove(tenant=ws.tenant, time_off=row)
    messages.success(request, "The closure is removed; those days take bookings again.")
    # Back to the page the button was on: a resource's page (named in "back"), or the list.
    back = row.resource
    if back is None and request.POST.get("back"):
        try:
            back = access_resource_by_public_id(tenant=ws.tenant, public_id=request.POST["back"])
        except TenantObjectNotFound:
            back = None
    if back is not None:
        return redirect("dashboard:calendar-resource", slug=ws.tenant.slug, public_id=back.public_id)
    return redirect("dashboard:calendar-resources", slug=ws.tenant.slug)
