"""Calendar resources, opening hours and time off through the API."""

from __future__ import annotations

from agents.scheduling.models import BusinessHours, Resource, TimeOff
from tests.api.conftest import Keys, api
from tests.conftest import Cast

RESOURCES = "/api/v1/scheduling/resources"
TIME_OFF = "/api/v1/scheduling/time-off"


def test_resource_crud_and_hours(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(
        RESOURCES,
        {"name": "Dr. Smith", "slot_minutes": 30, "time_zone": "Europe/Paris", "tenant": cast.tenant_b.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    resource = Resource.objects.get(public_id=body["id"])
    assert resource.tenant == cast.tenant_a and resource.slot_minutes == 30
    assert body["calendar_feed_url"].endswith(".ics")
    url = f"{RESOURCES}/{body['id']}"

    patched = client.patch(url, {"buffer_minutes": 10, "is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["buffer_minutes"] == 10
    assert client.get(url).json()["is_active"] is False
    assert [r["id"] for r in client.get(RESOURCES).json()["results"]] == [body["id"]]

    week = {
        "intervals": [
            {"weekday": 0, "opens": "09:00", "closes": "12:00"},
            {"weekday": 0, "opens": "13:00", "closes": "17:00"},
            {"weekday": 4, "opens": "10:00", "closes": "00:00"},
        ]
    }
    put = client.put(f"{url}/hours", week, format="json")
    assert put.status_code == 200, put.content
    assert put.json() == week and client.get(f"{url}/hours").json() == week
    assert BusinessHours.objects.filter(resource=resource).count() == 3

    overlapping = {
        "intervals": [
            {"weekday": 1, "opens": "09:00", "closes": "12:00"},
            {"weekday": 1, "opens": "11:00", "closes": "13:00"},
        ]
    }
    assert client.put(f"{url}/hours", overlapping, format="json").status_code == 400
    backwards = client.put(
        f"{url}/hours", {"intervals": [{"weekday": 1, "opens": "12:00", "closes": "09:00"}]}, format="json"
    )
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["pointer"] == "#/intervals/0/closes"
    assert BusinessHours.objects.filter(resource=resource).count() == 3

    assert client.delete(url).status_code == 204
    assert not Resource.objects.filter(pk=resource.pk).exists()


def test_resource_validation_and_scopes(keys: Keys) -> None:
    client = api(keys.write_a)
    bad = client.post(RESOURCES, {"name": "X", "time_zone": "Mars/Olympus", "slot_minutes": 1}, format="json")
    assert bad.status_code == 400
    assert {e["pointer"] for e in bad.json()["errors"]} >= {"#/time_zone"}
    assert api(keys.read_a).post(RESOURCES, {"name": "Y"}, format="json").status_code == 403
    assert not Resource.objects.exists()


def test_time_off(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    resource_id = client.post(RESOURCES, {"name": "Room 1"}, format="json").json()["id"]
    whole = client.post(
        TIME_OFF, {"starts_on": "2030-12-24", "ends_on": "2030-12-26", "reason": "Holidays"}, format="json"
    )
    assert whole.status_code == 201, whole.content
    assert whole.json()["resource"] is None
    one = client.post(
        TIME_OFF, {"resource": resource_id, "starts_on": "2030-08-01", "ends_on": "2030-08-02"}, format="json"
    )
    assert one.status_code == 201 and one.json()["resource"] == resource_id
    assert len(client.get(TIME_OFF).json()["results"]) == 2
    assert [t["id"] for t in client.get(TIME_OFF, {"resource": resource_id}).json()["results"]] == [
        one.json()["id"]
    ]

    backwards = client.post(TIME_OFF, {"starts_on": "2030-08-02", "ends_on": "2030-08-01"}, format="json")
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["pointer"] == "#/ends_on"
    foreign_resource = api(keys.write_b).post(RESOURCES, {"name": "B room"}, format="json").json()["id"]
    refused = client.post(
        TIME_OFF,
        {"resource": foreign_resource, "starts_on": "2030-08-01", "ends_on": "2030-08-01"},
        format="json",
    )
    assert refused.status_code == 400 and refused.json()["errors"][0]["pointer"] == "#/resource"

    assert client.delete(f"{TIME_OFF}/{whole.json()['id']}").status_code == 204
    remaining = TimeOff.objects.filter(tenant=cast.tenant_a).values_list("public_id", flat=True)
    assert [str(public_id) for public_id in remaining] == [one.json()["id"]]
    assert api(keys.read_a).delete(f"{TIME_OFF}/{one.json()['id']}").status_code == 403
