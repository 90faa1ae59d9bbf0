"""Forms of the calendar pages: resources, their weekly hours, closures and bookings."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError

from agents.scheduling.models import MIDNIGHT, BookingStatus, Resource, Weekday
from agents.scheduling.services import RESOURCE_FIELDS
from tenants.models import Tenant, e164_validator

MAX_INTERVALS = 4  # opening intervals per weekday in the editor
MAX_TIME_OFF_DAYS = 366
_PHONE_FORMATTING = re.compile(r"[\s().\-]")


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Region/City names (and UTC), sorted; the legacy aliases (US/Eastern, EST5EDT...) left out."""
    names = sorted(
        name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/"))
    )
    return [("UTC", "UTC"), *((name, name.replace("_", " ")) for name in names)]


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def validate_calendar_day(value: date) -> None:
    """Keeps every local midnight of the day representable in any zone (year 1 is not)."""
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValidationError(f"Pick a date between {FIRST_DAY.year} and {LAST_DAY.year}.")


def _choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(format="%H:%M", attrs={"type": "time", "step": "300"})


def _date_input() -> forms.DateInput:
    return forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


# ---------------------------------------------------------------------------------- resources
class ResourceForm(forms.Form):
    """A resource's settings; written through ``resource_create`` / ``resource_update``."""

    name = forms.CharField(max_length=120, help_text="What callers book: a person, a room, a van.")
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The agent can read this to callers (e.g. what an appointment covers).",
    )
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        help_text="Business hours and the calendar are in this zone's local time.",
    )
    slot_minutes = forms.IntegerField(
        label="Appointment length (minutes)", min_value=5, max_value=480, initial=30
    )
    buffer_minutes = forms.IntegerField(
        label="Buffer (minutes)",
        min_value=0,
        max_value=240,
        initial=0,
        help_text="Kept free before and after each booking.",
    )
    min_notice_minutes = forms.IntegerField(
        label="Minimum notice (minutes)",
        min_value=0,
        max_value=60 * 24 * 30,
        initial=60,
        help_text="How soon from now a booking may start.",
    )
    horizon_days = forms.IntegerField(
        label="Booking horizon (days)",
        min_value=1,
        max_value=366,
        initial=60,
        help_text="How far ahead callers may book.",
    )
    is_active = forms.BooleanField(
        label="Taking bookings", required=False, initial=True, help_text="Inactive resources offer no slots."
    )

    def __init__(self, *args: Any, tenant: Tenant, resource: Resource | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant, self.resource = tenant, resource
        if resource is None:
            self.fields["time_zone"].initial = tenant.time_zone or "UTC"
        elif resource.time_zone not in dict(time_zone_choices()):
            # A legacy alias (US/Eastern...) set through the API stays selectable.
            zone = _choice_field(self, "time_zone")
            zone.choices = [(resource.time_zone, resource.time_zone), *time_zone_choices()]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Resource.objects.filter(tenant=self.tenant, name=name)
        if self.resource is not None:
            others = others.exclude(pk=self.resource.pk)
        if others.exists():
            raise ValidationError("Another resource already has this name.")
        return name

    def settings(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in RESOURCE_FIELDS}


def resource_initial(resource: Resource) -> dict[str, Any]:
    return {name: getattr(resource, name) for name in RESOURCE_FIELDS}


class HoursForm(forms.Form):
    """The whole week: up to ``MAX_INTERVALS`` opening intervals per weekday. A day without
    intervals is closed. Problems are reported per day, in words, before the service sees them."""

    def __init__(self, data: Any = None, *, week: dict[int, list[tuple[time, time]]] | None = None) -> None:
        initial: dict[str, Any] = {}
        for weekday, intervals in (week or {}).items():
            for index, (opens, closes) in enumerate(intervals[:MAX_INTERVALS]):
                initial[f"d{weekday}_{index}_opens"] = opens
                initial[f"d{weekday}_{index}_closes"] = closes
        super().__init__(data, initial=initial)
        self.day_errors: dict[int, list[str]] = {}
        for weekday in Weekday:
            for index in range(MAX_INTERVALS):
                for end, word in (("opens", "opens"), ("closes", "closes")):
                    self.fields[f"d{weekday.value}_{index}_{end}"] = forms.TimeField(
                        label=f"{weekday.label}, interval {index + 1}, {word}",
                        required=False,
                        widget=_time_input(),
                        input_formats=["%H:%M", "%H:%M:%S"],
                    )

    def days(self) -> list[dict[str, Any]]:
        """Rows for the template: each weekday with its interval field pairs and problems."""
        rows = []
        for weekday in Weekday:
            pairs = [
                (self[f"d{weekday.value}_{i}_opens"], self[f"d{weekday.value}_{i}_closes"])
                for i in range(MAX_INTERVALS)
            ]
            filled = sum(1 for opens, closes in pairs if opens.value() or closes.value())
            rows.append(
                {
                    "weekday": weekday.value,
                    "label": weekday.label,
                    "pairs": pairs,
                    "shown": max(filled, 1),
                    "errors": self.day_errors.get(weekday.value, []),
                }
            )
        return rows

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        week: dict[int, list[tuple[time, time]]] = {}
        for weekday in Weekday:
            problems: list[str] = []
            intervals: list[tuple[time, time]] = []
            for index in range(MAX_INTERVALS):
                opens = data.get(f"d{weekday.value}_{index}_opens")
                closes = data.get(f"d{weekday.value}_{index}_closes")
                if opens is None and closes is None:
                    continue
                if opens is None or closes is None:
                    problems.append(f"Interval {index + 1} needs both an opening and a closing time.")
                elif not (opens < closes or closes == MIDNIGHT):
                    problems.append(
                        f"{opens:%H:%M}–{closes:%H:%M} closes before it opens "
                        "(use 00:00 to close at midnight)."
                    )
                else:
                    intervals.append((opens, closes))
            intervals.sort()
            for (first_opens, first_closes), (second_opens, second_closes) in zip(
                intervals, intervals[1:], strict=False
            ):
                if first_closes == MIDNIGHT or second_opens < first_closes:
                    problems.append(
                        f"{first_opens:%H:%M}–{first_closes:%H:%M} and "
                        f"{second_opens:%H:%M}–{second_closes:%H:%M} overlap."
                    )
            if problems:
                self.day_errors[weekday.value] = problems
            elif intervals:
                week[weekday.value] = intervals
        if self.day_errors:
            names = ", ".join(Weekday(w).label for w in sorted(self.day_errors))
            raise ValidationError(f"Some days need fixing: {names}.")
        data["week"] = week
        return data


# ---------------------------------------------------------------------------------- time off
class TimeOffForm(forms.Form):
    resource = forms.ChoiceField(
        label="Closed", required=False, help_text="One resource, or every resource (a public holiday)."
    )
    starts_on = forms.DateField(label="From", widget=_date_input(), validators=[validate_calendar_day])
    ends_on = forms.DateField(
        label="Until (inclusive)", widget=_date_input(), validators=[validate_calendar_day]
    )
    reason = forms.CharField(required=False, max_length=200, help_text="E.g. Public holiday, Vacation.")

    def __init__(self, *args: Any, resources: list[Resource], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resources = {str(r.public_id): r for r in resources}
        _choice_field(self, "resource").choices = [
            ("", "Every resource"),
            *((public_id, r.name) for public_id, r in self.resources.items()),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts_on, ends_on = data.get("starts_on"), data.get("ends_on")
        if starts_on and ends_on:
            if ends_on < starts_on:
                self.add_error("ends_on", "The last day must be on or after the first.")
            elif (ends_on - starts_on).days >= MAX_TIME_OFF_DAYS:
                self.add_error("ends_on", "At most a year at a time.")
        data["resource_row"] = self.resources.get(data.get("resource") or "")
        return data


# ---------------------------------------------------------------------------------- bookings
class BookingForm(forms.Form):
    resource = forms.ChoiceField()
    day = forms.DateField(label="Date", widget=_date_input(), validators=[validate_calendar_day])
    start_time = forms.TimeField(label="Start", widget=_time_input(), input_formats=["%H:%M", "%H:%M:%S"])
    duration_minutes = forms.IntegerField(
        label="Length (minutes)",
        required=False,
        min_value=5,
        max_value=24 * 60,
        help_text="Empty: the resource's appointment length.",
    )
    customer_name = forms.CharField(label="Customer name", max_length=200)
    customer_phone = forms.CharField(
        label="Customer phone",
        required=False,
        max_length=32,
        help_text="International form, like +15551230000.",
        widget=forms.TextInput(attrs={"type": "tel"}),
    )
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, resources: list[Resource], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resources = {str(r.public_id): r for r in resources}
        _choice_field(self, "resource").choices = [
            (public_id, f"{r.name} ({r.time_zone})") for public_id, r in self.resources.items()
        ]
        self.fields["start_time"].help_text = "Local time of the resource."

    def clean_customer_phone(self) -> str:
        raw = self.cleaned_data.get("customer_phone", "").strip()
        if not raw:
            return ""
        number = _PHONE_FORMATTING.sub("", raw)
        try:
            e164_validator(number)
        except ValidationError:
            raise ValidationError(
                "Use the international form: + and the country code, like +15551230000."
            ) from None
        return number

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["resource_row"] = self.resources.get(data.get("resource") or "")
        return data


class AgendaForm(forms.Form):
    resource = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Confirmed"), ("cancelled", "Cancelled"), ("all", "Any status")],
    )
    start = forms.DateField(
        label="From", required=False, widget=_date_input(), validators=[validate_calendar_day]
    )
    q = forms.CharField(
        label="Customer",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or phone"}),
    )

    def __init__(self, *args: Any, resources: list[Resource], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resources = {str(r.public_id): r for r in resources}
        _choice_field(self, "resource").choices = [
            ("", "All resources"),
            *((public_id, r.name) for public_id, r in self.resources.items()),
        ]

    def status_value(self) -> str | None:
        chosen = self.cleaned_data.get("status") or ""
        return None if chosen == "all" else (chosen or BookingStatus.CONFIRMED)


def parse_week(value: str | None, fallback: date) -> date:
    """The Monday of the week containing ``value`` (YYYY-MM-DD), or of ``fallback``."""
    try:
        day = date.fromisoformat(value) if value else fallback
    except ValueError:
        day = fallback
    if not FIRST_DAY <= day <= LAST_DAY:  # keeps every local midnight of the week representable
        day = fallback
    return day - timedelta(days=day.weekday())
