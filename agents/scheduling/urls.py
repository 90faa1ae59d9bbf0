"""Scheduling routes, included at the site root: the .ics capability URL and the REST API."""

from __future__ import annotations

from django.urls import path, re_path

from agents.scheduling import api, views

app_name = "scheduling"

urlpatterns = [
    re_path(
        r"^calendar/(?P<resource_id>[0-9a-fA-F-]{32,36})/(?P<token>[A-Za-z0-9_-]{20,128})\.ics$",
        views.resource_calendar_feed,
        name="ics-feed",
    ),
    path("api/v1/scheduling/resources", api.ResourceList.as_view(), name="api-resource-list"),
    path("api/v1/scheduling/bookings", api.BookingList.as_view(), name="api-booking-list"),
    path(
        "api/v1/scheduling/bookings/<str:public_id>", api.BookingDetail.as_view(), name="api-booking-detail"
    ),
    path(
        "api/v1/scheduling/bookings/<str:public_id>/cancel",
        api.BookingCancel.as_view(),
        name="api-booking-cancel",
    ),
]
