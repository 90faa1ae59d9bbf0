"""Calendar pages about bookings: the week view, the agenda list, a booking's page (with cancel)
and booking by hand. Times are shown in the resource's time zone."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from agents.models import Contact
from agents.scheduling.access import access_booking_by_public_id
from agents.scheduling.clock import local_datetime
from agents.scheduling.dashboard.forms import AgendaForm, BookingForm, parse_week
from agents.scheduling.dashboard.week import build_week
from agents.scheduling.models import BookingStatus, Resource, TimeOff, zone_or_utc
from agents.scheduling.selectors import booking_list, free_slots, hours_for, resource_list
from agents.scheduling.services import SchedulingError, booking_cancel, booking_create
from calls.models import Call
from tenants.access import TenantObjectNotFound
from tenants.dashboard.base import AuthedRequest, Workspace, is_htmx, page, tenant_page
from tenants.models import Tenant

AGENDA_PAGE_SIZE = 50
_NOT_DIGITS = str.maketrans("", "", " ()-.")


def pick_resource(resources: list[Resource], public_id: str | None) -> Resource | None:
    """The chosen resource among the tenant's (already fetched); an id that is not one of them
    is a 404, like any other tenant's id."""
    if not public_id:
        return None
    for resource in resources:
        if str(resource.public_id) == public_id:
            return resource
    raise TenantObjectNotFound("No resource found.")


def display_zone(
    tenant: Tenant, resources: list[Resource], selected: Resource | None
) -> tuple[ZoneInfo, bool]:
    """The zone the calendar is drawn in, and whether resources disagree about it: the chosen
    resource's; for all resources their common zone, or else the tenant's."""
    if selected is not None:
        return selected.zone, False
    zones = {r.time_zone for r in resources if r.is_active} or {r.time_zone for r in resources}
    if len(zones) == 1:
        return zone_or_utc(zones.pop()), False
    return zone_or_utc(tenant.time_zone), len(zones) > 1


def _closures(
    tenant: Tenant, selected: Resource | None, first: date, last: date
) -> tuple[dict[date, list[str]], dict[date, list[str]]]:
    """Local date -> reasons the shown calendar is closed, and -> other resources' days off."""
    rows = TimeOff.objects.filter(tenant=tenant, starts_on__lte=last, ends_on__gte=first).select_related(
        "resource"
    )
    if selected is not None:
        rows = rows.filter(Q(resource=selected) | Q(resource__isnull=True))
    closed: dict[date, list[str]] = defaultdict(list)
    notes: dict[date, list[str]] = defaultdict(list)
    for row in rows.order_by("starts_on", "pk"):
        day = max(row.starts_on, first)
        while day <= min(row.ends_on, last):
            if row.resource is None or selected is not None:
                closed[day].append(row.reason or "Closed")
            else:
                notes[day].append(f"{row.resource.name}: {row.reason or 'off'}")
            day += timedelta(days=1)
    return closed, notes


@require_safe
@tenant_page()
def calendar_week(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    tenant = ws.tenant
    resources = list(resource_list(tenant=tenant, active_only=False))
    selected = pick_resource(resources, request.GET.get("resource"))
    zone, mixed_zones = display_zone(tenant, resources, selected)
    now = timezone.now()
    today = now.astimezone(zone).date()
    monday = parse_week(request.GET.get("week"), today)
    sunday = monday + timedelta(days=6)
    week_start = local_datetime(monday, time(0), zone)
    week_end = local_datetime(monday + timedelta(days=7), time(0), zone)
    bookings = booking_list(tenant=tenant, resource=selected, status=BookingStatus.CONFIRMED).filter(
        start__lt=week_end, end__gt=week_start
    )
    closed, notes = _closures(tenant, selected, monday, sunday)
    slots = (
        free_slots(tenant=tenant, resource=selected, day_from=monday, day_to=sunday, now=now)
        if selected is not None and selected.is_active
        else []
    )
    week = build_week(
        monday=monday,
        zone=zone,
        today=today,
        now=now,
        bookings=bookings,
        free_slots=slots,
        hours=hours_for(tenant=tenant, resource=selected) if selected is not None else None,
        closures=closed,
        notes=notes,
    )
    context = {
        "resources": resources,
        "selected": selected,
        "week": week,
        "zone_name": str(zone),
        "mixed_zones": mixed_zones,
        "this_monday": today - timedelta(days=today.weekday()),
        "booking_count": sum(len(day.bookings) for day in week.days),
        "free_count": len(slots),
    }
    return page(request, ws, "dashboard/calendar/week.html", context, section="calendar")


@require_safe
@tenant_page()
def calendar_agenda(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    """Bookings in time order from a day on (today by default), grouped by local day."""
    tenant = ws.tenant
    resources = list(resource_list(tenant=tenant, active_only=False))
    form = AgendaForm(request.GET or None, resources=resources)
    valid = not form.is_bound or form.is_valid()
    data = form.cleaned_data if form.is_bound and valid else {}
    selected = form.resources.get(data.get("resource") or "")
    zone, _ = display_zone(tenant, resources, selected)
    first_day = data.get("start") or timezone.now().astimezone(zone).date()
    rows = booking_list(
        tenant=tenant,
        resource=selected,
        start_from=local_datetime(first_day, time(0), zone),
        status=form.status_value() if data else BookingStatus.CONFIRMED,
    )
    query = (data.get("q") or "").strip()
    if query:
        match = Q(customer_name__icontains=query)
        digits = query.translate(_NOT_DIGITS)
        if len(digits) >= 3:
            match |= Q(customer_phone__contains=digits)
        rows = rows.filter(match)
    if not valid:
        rows = rows.none()
    bookings = Paginator(rows, AGENDA_PAGE_SIZE).get_page(request.GET.get("page"))
    days: dict[date, list[Any]] = {}
    for booking in bookings:
        local_start = booking.start.astimezone(booking.resource.zone)
        days.setdefault(local_start.date(), []).append(booking)
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "form": form,
        "bookings": bookings,
        "days": sorted(days.items()),
        "first_day": first_day,
        "filter_query": params.urlencode(),
        "filtered": any(data.get(name) for name in ("resource", "status", "start", "q")),
    }
    template = "dashboard/calendar/_agenda.html" if is_htmx(request) else "dashboard/calendar/agenda.html"
    return page(request, ws, template, context, section="calendar")


@require_safe
@tenant_page()
def booking_detail(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    booking = access_booking_by_public_id(tenant=ws.tenant, public_id=public_id)
    contact = None
    if booking.contact_public_id is not None:
        contact = Contact.objects.filter(tenant=ws.tenant, public_id=booking.contact_public_id).first()
    has_call = (
        booking.source_call_id is not None
        and Call.objects.filter(tenant=ws.tenant, public_id=booking.source_call_id).exists()
    )
    context = {
        "booking": booking,
        "contact": contact,
        "has_call": has_call,
        "is_past": booking.end <= timezone.now(),
        "week_of": booking.start.astimezone(booking.resource.zone).date().isoformat(),
    }
    return page(request, ws, "dashboard/calendar/booking.html", context, section="calendar")


@require_POST
@tenant_page()
def booking_cancel_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    booking = access_booking_by_public_id(tenant=ws.tenant, public_id=public_id)
    if booking.status == BookingStatus.CANCELLED:
        messages.info(request, "This booking was already cancelled.")
    else:
        booking_cancel(tenant=ws.tenant, booking=booking)
        messages.success(
            request, f"The booking of {booking.customer_name} is cancelled; the time is free again."
        )
    return redirect("dashboard:calendar-booking", slug=ws.tenant.slug, public_id=booking.public_id)


def _booking_initial(request: AuthedRequest, resources: list[Resource]) -> dict[str, Any]:
    """Prefill from a free slot of the week view: ?resource=<id>&start=<ISO instant>."""
    initial: dict[str, Any] = {}
    resource = next((r for r in resources if str(r.public_id) == request.GET.get("resource")), None)
    if resource is None:
        return initial
    initial["resource"] = str(resource.public_id)
    try:
        start = datetime.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        return initial
    if timezone.is_aware(start):
        local = start.astimezone(resource.zone)
        initial.update({"day": local.date(), "start_time": local.time().replace(second=0, microsecond=0)})
    return initial


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def booking_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    resources = list(resource_list(tenant=ws.tenant, active_only=True))
    form = BookingForm(
        request.POST or None, resources=resources, initial=_booking_initial(request, resources)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        resource: Resource = data["resource_row"]
        start = local_datetime(data["day"], data["start_time"], resource.zone)
        minutes = data["duration_minutes"] or resource.slot_minutes
        try:
            booking = booking_create(
                tenant=ws.tenant,
                resource=resource,
                start=start,
                end=start + timedelta(minutes=minutes),
                customer_name=data["customer_name"],
                customer_phone=data["customer_phone"],
                notes=data["notes"],
            )
        except SchedulingError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{booking.customer_name} is booked.")
            return redirect("dashboard:calendar-booking", slug=ws.tenant.slug, public_id=booking.public_id)
    context = {"form": form, "resources": resources}
    return page(request, ws, "dashboard/calendar/booking_new.html", context, section="calendar")
