"""The .ics feed of a resource: a capability URL, no login, so calendar apps can subscribe."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from agents.scheduling.feeds import access_resource_by_feed_token
from agents.scheduling.ics import CalendarEvent, render_calendar
from agents.scheduling.models import BookingStatus
from agents.scheduling.selectors import booking_list

FEED_HISTORY = timedelta(days=90)
FEED_MAX_EVENTS = 5000


@require_safe
def resource_calendar_feed(request: HttpRequest, resource_id: str, token: str) -> HttpResponse:
    resource = access_resource_by_feed_token(public_id=resource_id, token=token)
    now = timezone.now()
    uid_domain = urlsplit(settings.PUBLIC_BASE_URL).hostname or "voxsaas"
    bookings = booking_list(
        tenant=resource.tenant,
        resource=resource,
        status=BookingStatus.CONFIRMED,
        start_from=now - FEED_HISTORY,
    )[:FEED_MAX_EVENTS]
    events = [
        CalendarEvent(
            uid=f"{booking.public_id}@{uid_domain}",
            start=booking.start,
            end=booking.end,
            summary=f"{booking.customer_name} ({resource.name})",
            description="\n".join(
                line
                for line in (
                    f"Phone: {booking.customer_phone}" if booking.customer_phone else "",
                    booking.notes,
                )
                if line
            ),
            created=booking.created_at,
        )
        for booking in bookings
    ]
    body = render_calendar(name=resource.name, time_zone=resource.time_zone, events=events, now=now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{slugify(resource.name) or "calendar"}.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
