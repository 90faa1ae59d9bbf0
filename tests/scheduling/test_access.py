"""Tenant isolation for scheduling: access functions, services and the REST API answer another
tenant's resources and bookings exactly like missing ones (404), and never change them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents.scheduling import access
from agents.scheduling.access import (
    TenantObjectNotFound,
    access_booking_by_public_id,
    access_resource_by_public_id,
    access_time_off_by_public_id,
)
from agents.scheduling.models import Booking, BookingStatus, Resource
from agents.scheduling.services import (
    booking_cancel,
    booking_create,
    hours_set,
    resource_feed_rotate,
    resource_update,
    time_off_add,
    time_off_remove,
)
from tenants.models import ApiKeyScope, Tenant
from tenants.services import api_key_create
from tests.scheduling.conftest import MONDAY, NOW, Desk, at

TUESDAY = MONDAY + timedelta(1)


def booking_of(tenant: Tenant, resource: Resource, clock: str = "10:00") -> Booking:
    return booking_create(
        tenant=tenant, resource=resource, start=at(TUESDAY, clock), customer_name="C", now=NOW
    )


@pytest.fixture
def rows(desk: Desk) -> dict[str, Any]:
    return {
        "mine": booking_of(desk.tenant, desk.resource),
        "theirs": booking_of(desk.other_tenant, desk.other_resource),
        "my_time_off": time_off_add(
            tenant=desk.tenant, resource=desk.resource, starts_on=MONDAY, ends_on=MONDAY
        ),
        "their_time_off": time_off_add(
            tenant=desk.other_tenant, resource=desk.other_resource, starts_on=MONDAY, ends_on=MONDAY
        ),
    }


ACCESSORS: list[tuple[str, str, str, Callable[..., Any]]] = [
    ("resource", "resource", "other_resource", access_resource_by_public_id),
    ("booking", "mine", "theirs", access_booking_by_public_id),
    ("time_off", "my_time_off", "their_time_off", access_time_off_by_public_id),
]


@pytest.mark.parametrize(("kind", "own", "foreign", "accessor"), ACCESSORS, ids=[a[0] for a in ACCESSORS])
def test_access_functions_return_own_rows_and_hide_the_other_tenants(
    desk: Desk, rows: dict[str, Any], kind: str, own: str, foreign: str, accessor: Callable[..., Any]
) -> None:
    everything = {**rows, "resource": desk.resource, "other_resource": desk.other_resource}
    mine, theirs = everything[own], everything[foreign]
    assert accessor(tenant=desk.tenant, public_id=mine.public_id).pk == mine.pk
    assert accessor(tenant=desk.tenant, public_id=str(mine.public_id)).pk == mine.pk
    for wrong in (theirs.public_id, str(theirs.public_id), uuid.uuid4(), "not-a-uuid", ""):
        with pytest.raises(TenantObjectNotFound):
            accessor(tenant=desk.tenant, public_id=wrong)
    assert accessor(tenant=desk.other_tenant, public_id=theirs.public_id).pk == theirs.pk


def test_every_access_function_is_covered() -> None:
    """A new access function must be added to ACCESSORS above."""
    assert {name for name in dir(access) if name.startswith("access_")} == {a[3].__name__ for a in ACCESSORS}


def test_inactive_resources_can_be_hidden(desk: Desk) -> None:
    resource_update(tenant=desk.tenant, resource=desk.resource, is_active=False)
    assert access_resource_by_public_id(tenant=desk.tenant, public_id=desk.resource.public_id)
    with pytest.raises(TenantObjectNotFound):
        access_resource_by_public_id(tenant=desk.tenant, public_id=desk.resource.public_id, active_only=True)


def test_services_refuse_another_tenants_rows(desk: Desk, rows: dict[str, Any]) -> None:
    theirs: Booking = rows["theirs"]
    attempts: list[Callable[[], Any]] = [
        lambda: booking_cancel(tenant=desk.tenant, booking=theirs),
        lambda: booking_create(
            tenant=desk.tenant,
            resource=desk.other_resource,
            start=at(TUESDAY, "11:00"),
            customer_name="X",
            now=NOW,
        ),
        lambda: hours_set(tenant=desk.tenant, resource=desk.other_resource, week={0: [(time(1), time(2))]}),
        lambda: resource_update(tenant=desk.tenant, resource=desk.other_resource, name="Mine now"),
        lambda: resource_feed_rotate(tenant=desk.tenant, resource=desk.other_resource),
        lambda: time_off_add(
            tenant=desk.tenant, resource=desk.other_resource, starts_on=MONDAY, ends_on=MONDAY
        ),
    ]
    for attempt in attempts:
        with pytest.raises(TenantObjectNotFound):
            attempt()
    time_off_remove(tenant=desk.tenant, time_off=rows["their_time_off"])  # silently nothing
    theirs.refresh_from_db()
    desk.other_resource.refresh_from_db()
    assert theirs.status == BookingStatus.CONFIRMED
    assert (desk.other_resource.name, desk.other_resource.feed_generation) == ("Dr. Bob", 1)
    assert desk.other_resource.hours.count() == 10
    assert desk.other_resource.time_off.count() == 1
    assert Booking.objects.filter(resource=desk.other_resource).count() == 1


# ------------------------------------------------------------------------------------- API
def client_for(tenant: Tenant, scope: str = ApiKeyScope.READ) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=tenant, name='k', scope=scope).secret}"
    )
    return client


def test_api_lists_only_own_resources_and_bookings(desk: Desk, rows: dict[str, Any]) -> None:
    client = client_for(desk.tenant)
    resources = client.get(reverse("scheduling:api-resource-list")).json()["results"]
    assert [r["id"] for r in resources] == [str(desk.resource.public_id)]
    listing = client.get(reverse("scheduling:api-booking-list")).json()
    assert [b["id"] for b in listing["results"]] == [str(rows["mine"].public_id)]
    assert listing["results"][0]["resource"] == str(desk.resource.public_id)
    assert listing["results"][0]["start"] == "2026-03-03T15:00:00Z"


def test_api_booking_filters(desk: Desk, rows: dict[str, Any]) -> None:
    booking_of(desk.tenant, desk.resource, "15:00")
    client = client_for(desk.tenant)
    url = reverse("scheduling:api-booking-list")
    later = client.get(url, {"from": "2026-03-03T17:00:00Z"}).json()["results"]
    assert [b["start"] for b in later] == ["2026-03-03T20:00:00Z"]
    assert client.get(url, {"status": "cancelled"}).json()["results"] == []
    assert len(client.get(url, {"resource": str(desk.resource.public_id)}).json()["results"]) == 2
    assert client.get(url, {"from": "yesterday"}).status_code == 400
    assert client.get(url, {"status": "maybe"}).status_code == 400
    assert client.get(url, {"resource": str(desk.other_resource.public_id)}).status_code == 404


def test_api_detail_and_cancel_are_404_for_another_tenants_booking(desk: Desk, rows: dict[str, Any]) -> None:
    theirs: Booking = rows["theirs"]
    client = client_for(desk.tenant, ApiKeyScope.WRITE)
    assert client.get(reverse("scheduling:api-booking-detail", args=[theirs.public_id])).status_code == 404
    assert client.post(reverse("scheduling:api-booking-cancel", args=[theirs.public_id])).status_code == 404
    assert client.get(reverse("scheduling:api-booking-detail", args=["nonsense"])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == BookingStatus.CONFIRMED


def test_api_cancel_needs_a_write_key(desk: Desk, rows: dict[str, Any]) -> None:
    mine: Booking = rows["mine"]
    url = reverse("scheduling:api-booking-cancel", args=[mine.public_id])
    assert client_for(desk.tenant).post(url).status_code == 403
    response = client_for(desk.tenant, ApiKeyScope.WRITE).post(url)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    detail = client_for(desk.tenant).get(reverse("scheduling:api-booking-detail", args=[mine.public_id]))
    assert detail.json()["status"] == "cancelled" and detail.json()["cancelled_at"]


def test_api_needs_a_key(desk: Desk) -> None:
    assert APIClient().get(reverse("scheduling:api-booking-list")).status_code == 401
