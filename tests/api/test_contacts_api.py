"""Contacts through the API: CRUD, hashed write-only secrets, filters and the CSV import."""

from __future__ import annotations

from django.contrib.auth.hashers import check_password
from django.core.files.uploadedfile import SimpleUploadedFile

from agents.models import Contact
from tests.api.conftest import Keys, api
from tests.conftest import Cast

LIST = "/api/v1/contacts"


def test_crud_with_write_only_secrets(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(
        LIST,
        {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phones": ["+15551230001", "+15551230002"],
            "pin": "1234",
            "date_of_birth": "1990-03-14",
            "custom_fields": {"plan": "gold"},
            "notes": "Prefers mornings.",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "pin" not in body and "date_of_birth" not in body and "pin_hash" not in body
    assert body["has_pin"] is True and body["has_date_of_birth"] is True
    assert body["phones"] == ["+15551230001", "+15551230002"] and body["notes"] == "Prefers mornings."
    contact = Contact.objects.get(public_id=body["id"])
    assert contact.tenant == cast.tenant_a
    assert contact.pin_hash != "1234" and check_password("1234", contact.pin_hash)

    url = f"{LIST}/{body['id']}"
    patched = client.patch(url, {"phones": ["+15551230003"], "pin": "", "name": "Ada K."}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["phones"] == ["+15551230003"] and patched.json()["has_pin"] is False
    contact.refresh_from_db()
    assert contact.pin_hash == "" and contact.dob_hash != "" and contact.name == "Ada K."

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_filters_and_tenant_isolation(cast: Cast, keys: Keys) -> None:
    client = api(keys.write_a)
    client.post(LIST, {"name": "Ada", "phones": ["+15551230001"]}, format="json")
    client.post(LIST, {"name": "Grace Hopper", "phones": ["+15551230002"]}, format="json")
    api(keys.write_b).post(LIST, {"name": "Ada of B", "phones": ["+15551230001"]}, format="json")
    by_phone = client.get(LIST, {"phone": "+15551230001"}).json()["results"]
    assert [c["name"] for c in by_phone] == ["Ada"]
    by_name = client.get(LIST, {"name": "hop"}).json()["results"]
    assert [c["name"] for c in by_name] == ["Grace Hopper"]


def test_validation_errors(keys: Keys) -> None:
    client = api(keys.write_a)
    for body, pointer in (
        ({"name": "X", "phones": ["555-1234"]}, "#/phones"),
        ({"name": "X", "phones": ["+15551230001", "+15551230001"]}, "#/phones"),
        ({"name": "X", "pin": "12"}, "#/pin"),
        ({"name": "X", "date_of_birth": "someday"}, "#/date_of_birth"),
        ({"name": "X", "email": "nope"}, "#/email"),
        ({"name": ""}, "#/name"),
    ):
        response = client.post(LIST, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert pointer in [e["pointer"] for e in response.json()["errors"]], response.json()
    assert not Contact.objects.exists()


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("contacts.csv", text.encode(), content_type="text/csv")


def test_csv_import_creates_valid_rows_and_reports_the_others(cast: Cast, keys: Keys) -> None:
    csv_text = (
        "name,phone,email,account_number,pin,date_of_birth\n"
        "Ada,+15551230001;+15551230009,ada@example.com,A-1,1234,1990-03-14\n"
        ",+15551230002,,,,\n"
        "Bad Phone,555,,,,\n"
        "Bad Pin,+15551230003,,,12,\n"
        "\n"
        "Grace,+15551230004,,,,\n"
    )
    response = api(keys.write_a).post(f"{LIST}/import", {"file": _csv(csv_text)}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] == 2 and body["failed"] == 3
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3, "name"), (4, "phone"), (5, "pin")]
    ada = Contact.objects.get(tenant=cast.tenant_a, name="Ada")
    assert sorted(ada.phones.values_list("number", flat=True)) == ["+15551230001", "+15551230009"]
    assert check_password("1234", ada.pin_hash) and ada.account_number == "A-1"
    assert set(Contact.objects.values_list("name", flat=True)) == {"Ada", "Grace"}


def test_csv_import_refuses_unreadable_files(keys: Keys) -> None:
    client = api(keys.write_a)
    for content in (b"nom,telephone\nAda,+15551230001\n", b"\xff\xfe\x00bad", b""):
        upload = SimpleUploadedFile("c.csv", content, content_type="text/csv")
        response = client.post(f"{LIST}/import", {"file": upload}, format="multipart")
        assert response.status_code == 400, response.content
        assert response.json()["errors"][0]["pointer"] == "#/file"
    big = SimpleUploadedFile("c.csv", b"name\n" + b"x" * (2 * 1024 * 1024 + 10), content_type="text/csv")
    assert client.post(f"{LIST}/import", {"file": big}, format="multipart").status_code == 400
    assert not Contact.objects.exists()
    upload = SimpleUploadedFile("c.csv", b"name\nAda\n", content_type="text/csv")
    assert api(keys.read_a).post(f"{LIST}/import", {"file": upload}, format="multipart").status_code == 403
