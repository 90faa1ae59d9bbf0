"""Scheduling tables: bookable resources, their weekly hours, closures and bookings.

Every table carries its own tenant FK (children included). Instants are stored in UTC; wall-clock
values (business hours, closure dates) are interpreted in the resource's time zone.
"""

from __future__ import annotations

from datetime import time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DEFAULT_DB_ALIAS, connections, models

from tenants.models import TenantOwned

MIDNIGHT = time(0, 0)


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not a known time zone (use a name like Europe/Berlin)."
        ) from None


def zone_or_utc(name: str) -> ZoneInfo:
    """The zone called ``name``; UTC for an empty or unknown name (old rows must still work)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class Weekday(models.IntegerChoices):
    """ISO order, as ``date.weekday()`` counts: Monday is 0."""

    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Resource(TenantOwned):
    """Something callers book: a person, a room, a chair, a technician's van."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    slot_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(240)], help_text="Kept free before and after each booking."
    )
    min_notice_minutes = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(60 * 24 * 30)], help_text="How soon a booking may start."
    )
    horizon_days = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(366)], help_text="How far ahead."
    )
    is_active = models.BooleanField(default=True)
    # Part of the signed .ics feed URL: bumping it revokes every URL handed out before.
    feed_generation = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "name"], name="scheduling_resource_unique_name"),
            models.CheckConstraint(
                condition=models.Q(slot_minutes__gte=5, slot_minutes__lte=480),
                name="scheduling_resource_slot_range",
            ),
            models.CheckConstraint(
                condition=models.Q(horizon_days__gte=1), name="scheduling_resource_horizon_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return zone_or_utc(self.time_zone)


class BusinessHours(TenantOwned):
    """One open interval on one weekday, in the resource's wall-clock time. A day may have several
    (a lunch break is two intervals). ``closes`` 00:00 means midnight at the end of the day."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering: ClassVar = ["weekday", "opens"]
        indexes: ClassVar = [models.Index(fields=["resource", "weekday"], name="scheduling_hours_lookup")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="scheduling_hours_weekday"),
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes")) | models.Q(closes=MIDNIGHT),
                name="scheduling_hours_opens_before_closes",
            ),
        ]

    def __str__(self) -> str:
        return f"{Weekday(self.weekday).label} {self.opens:%H:%M}-{self.closes:%H:%M}"


class TimeOff(TenantOwned):
    """Whole days with no bookings (inclusive range, resource's local dates). Without a resource
    it closes every resource of the tenant (a public holiday)."""

    resource = models.ForeignKey(
        Resource, null=True, blank=True, on_delete=models.CASCADE, related_name="time_off"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["tenant", "ends_on"], name="scheduling_timeoff_lookup")]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")), name="scheduling_timeoff_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.starts_on}..{self.ends_on} {self.reason}".strip()


class BookingStatus(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class PostgresExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that exists on PostgreSQL only.

    SQLite (local development and the local test run) has no exclusion constraints; there the
    service-level lock in ``services.booking_create`` is the only guard. Returning no SQL makes
    every schema operation, including SQLite's table rebuilds, skip the constraint.
    """

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().create_sql(model, schema_editor)

    def remove_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().remove_sql(model, schema_editor)

    def validate(self, model: Any, instance: Any, exclude: Any = None, using: str = DEFAULT_DB_ALIAS) -> None:
        if connections[using].vendor == "postgresql":
            super().validate(model, instance, exclude=exclude, using=using)


BOOKING_OVERLAP_CONSTRAINT = "scheduling_booking_no_overlap"


class Booking(TenantOwned):
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=BookingStatus.choices, default=BookingStatus.CONFIRMED)
    customer_name = models.CharField(max_length=200)
    customer_phone = models.CharField(max_length=32, blank=True)
    # The caller's Contact, by public id: a plain UUID so bookings outlive contact clean-ups.
    contact_public_id = models.UUIDField(null=True, blank=True)
    notes = models.TextField(blank=True, max_length=2000)
    source_call_id = models.UUIDField(null=True, blank=True, help_text="Public id of the call that booked.")
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["tenant", "start"], name="scheduling_booking_tenant"),
            models.Index(fields=["resource", "start"], name="scheduling_booking_resource"),
            models.Index(fields=["tenant", "customer_phone"], name="scheduling_booking_phone"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(start__lt=models.F("end")), name="scheduling_booking_order"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=BookingStatus.values), name="scheduling_booking_status"
            ),
            PostgresExclusionConstraint(
                name=BOOKING_OVERLAP_CONSTRAINT,
                expressions=[
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("resource", RangeOperators.EQUAL),
                ],
                condition=models.Q(status="confirmed"),
                violation_error_message="This time overlaps another booking of the same resource.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_name} {self.start:%Y-%m-%d %H:%M}Z"
