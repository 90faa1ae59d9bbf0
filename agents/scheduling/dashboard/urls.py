"""Calendar pages (bookings, resources, business hours), included under ``/t/<slug>/`` in the
``dashboard`` namespace."""

from __future__ import annotations

from django.urls import path

from agents.scheduling.dashboard import bookings, resources

urlpatterns = [
    path("calendar/", bookings.calendar_week, name="calendar"),
    path("calendar/agenda/", bookings.calendar_agenda, name="calendar-agenda"),
    path("calendar/bookings/new/", bookings.booking_new, name="calendar-booking-new"),
    path("calendar/bookings/<str:public_id>/", bookings.booking_detail, name="calendar-booking"),
    path(
        "calendar/bookings/<str:public_id>/cancel/",
        bookings.booking_cancel_view,
        name="calendar-booking-cancel",
    ),
    path("calendar/resources/", resources.resource_list_view, name="calendar-resources"),
    path("calendar/resources/new/", resources.resource_new, name="calendar-resource-new"),
    path("calendar/resources/<str:public_id>/", resources.resource_edit, name="calendar-resource"),
    path(
        "calendar/resources/<str:public_id>/hours/", resources.resource_hours, name="calendar-resource-hours"
    ),
    path(
        "calendar/resources/<str:public_id>/feed/rotate/",
        resources.resource_feed_rotate_view,
        name="calendar-resource-feed-rotate",
    ),
    path(
        "calendar/resources/<str:public_id>/delete/",
        resources.resource_delete_view,
        name="calendar-resource-delete",
    ),
    path("calendar/time-off/new/", resources.time_off_new, name="calendar-time-off-new"),
    path(
        "calendar/time-off/<str:public_id>/remove/",
        resources.time_off_remove_view,
        name="calendar-time-off-remove",
    ),
]
