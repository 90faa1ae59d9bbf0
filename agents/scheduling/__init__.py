"""Scheduling: per-tenant bookable resources, business hours, time off and bookings."""
