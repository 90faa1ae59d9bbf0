"""Filters of the call list. References are public ids matched inside the tenant's own calls,
so another tenant's id simply matches nothing (no 400 that would reveal it exists).

Each filter keeps the page a single index range read newest first (bench/api_lists.py measures
them with 100,000 calls): a referenced agent or number is turned into its primary key inside
the query, so PostgreSQL walks ``(tenant, agent | phone_number, created_at)`` instead of every
recent call looking for a rare agent's; and nothing adds a DISTINCT, which would sort every
matching call before the first page could be returned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import django_filters
from django.db.models import Model, QuerySet, Subquery

from agents.models import Agent
from calls.models import Call, CallStatus, Direction
from tenants.models import PhoneNumber


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset Python accepts (up to +/-24 h), compared in UTC: PostgreSQL
    refuses offsets beyond +/-15:59 in a literal."""

    def filter(self, qs: QuerySet[Call], value: datetime | None) -> QuerySet[Call]:
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                # Before year 1 or after year 9999 in UTC: a bound below or above every call.
                below_everything = (value.utcoffset() or timedelta(0)) > timedelta(0)
                keeps_all = below_everything == (self.lookup_expr in ("gt", "gte"))
                return qs if keeps_all else qs.none()
        return super().filter(qs, value)


class CallFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=CallStatus.choices,
        help_text="One or more statuses (repeat the parameter).",
        distinct=False,  # a call has one status: no duplicate rows to remove
    )
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Calls created at or after (ISO 8601)."
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Calls created before (ISO 8601)."
    )
    agent = django_filters.UUIDFilter(method="filter_agent", help_text="Agent id.")
    phone_number = django_filters.UUIDFilter(method="filter_phone_number", help_text="Phone number id.")
    number = django_filters.CharFilter(
        method="filter_number", help_text="The tenant's number (E.164) the call used."
    )
    customer_number = django_filters.CharFilter(
        method="filter_customer_number", help_text="The caller (inbound) or callee (outbound), E.164."
    )
    end_reason = django_filters.CharFilter(help_text="E.g. caller_hangup, agent_hangup, transferred.")
    verified = django_filters.BooleanFilter(
        method="filter_verified",
        help_text="Stage outcome: true = the caller passed verification (reached the main stage "
        "as a verified contact), false = not verified.",
    )

    class Meta:
        model = Call
        fields: list[str] = []

    @staticmethod
    def _pk_of(model: type[Model], **lookup: object) -> Subquery:
        """The primary key of the row matching ``lookup`` (public ids and E.164 numbers are
        unique), as a subquery: the calls are already the tenant's, so another tenant's row
        matches none of them, and an unknown one makes the comparison NULL (nothing)."""
        return Subquery(model._default_manager.filter(**lookup).values("pk")[:1])

    def filter_agent(self, queryset: QuerySet[Call], name: str, value: object) -> QuerySet[Call]:
        if value is None:
            return queryset
        return queryset.filter(agent_id=self._pk_of(Agent, public_id=value))

    def filter_phone_number(self, queryset: QuerySet[Call], name: str, value: object) -> QuerySet[Call]:
        if value is None:
            return queryset
        return queryset.filter(phone_number_id=self._pk_of(PhoneNumber, public_id=value))

    def filter_number(self, queryset: QuerySet[Call], name: str, value: str) -> QuerySet[Call]:
        if not value:
            return queryset
        return queryset.filter(phone_number_id=self._pk_of(PhoneNumber, number=value))

    def filter_verified(self, queryset: QuerySet[Call], name: str, value: bool | None) -> QuerySet[Call]:
        if value is None:
            return queryset
        return queryset.filter(contact_public_id__isnull=not value)

    def filter_customer_number(self, queryset: QuerySet[Call], name: str, value: str) -> QuerySet[Call]:
        inbound = queryset.filter(from_number=value).exclude(direction=Direction.OUTBOUND)
        outbound = queryset.filter(to_number=value, direction=Direction.OUTBOUND)
        return inbound | outbound
