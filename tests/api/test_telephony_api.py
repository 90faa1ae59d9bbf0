"""Telephony accounts (write-only auth token) and phone numbers (same-tenant references)."""

from __future__ import annotations

from django.db import connection

from tenants.models import PhoneNumber, TelephonyAccount
from tests.api.conftest import Keys, api
from tests.calls.conftest import Telephony

ACCOUNTS = "/api/v1/telephony-accounts"
NUMBERS = "/api/v1/phone-numbers"
SID = "AC" + "c" * 32
TOKEN = "a-brand-new-auth-token-0123456789"


def test_auth_token_is_write_only_and_encrypted(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(ACCOUNTS, {"label": "Main", "account_sid": SID, "auth_token": TOKEN}, format="json")
    assert created.status_code == 201, created.content
    assert "auth_token" not in created.json()
    account = TelephonyAccount.objects.get(public_id=created.json()["id"])
    assert account.tenant == telephony.cast.tenant_a and account.auth_token == TOKEN

    listed = client.get(ACCOUNTS).json()["results"]
    fetched = client.get(f"{ACCOUNTS}/{account.public_id}").json()
    assert all("auth_token" not in row for row in [*listed, fetched])
    assert TOKEN not in str(listed) + str(fetched)
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM tenants_telephonyaccount WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert TOKEN not in stored

    rotated = client.patch(
        f"{ACCOUNTS}/{account.public_id}", {"auth_token": "rotated-token-xyz"}, format="json"
    )
    assert rotated.status_code == 200 and "auth_token" not in rotated.json()
    account.refresh_from_db()
    assert account.auth_token == "rotated-token-xyz"


def test_bad_account_sid_is_refused(keys: Keys, telephony: Telephony) -> None:
    response = api(keys.write_a).post(ACCOUNTS, {"account_sid": "nope", "auth_token": TOKEN}, format="json")
    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/account_sid"]


def test_phone_number_crud(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    created = client.post(
        NUMBERS,
        {
            "number": "+15550003333",
            "label": "Sales",
            "telephony_account": str(telephony.account_a.public_id),
            "agent": str(telephony.cast.agent_a.public_id),
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["telephony_account"] == str(telephony.account_a.public_id)
    assert body["agent"] == str(telephony.cast.agent_a.public_id)
    number = PhoneNumber.objects.get(public_id=body["id"])
    assert number.tenant == telephony.cast.tenant_a

    unassigned = client.patch(
        f"{NUMBERS}/{number.public_id}", {"agent": None, "is_active": False}, format="json"
    )
    assert unassigned.status_code == 200
    number.refresh_from_db()
    assert number.agent is None and not number.is_active

    numbers = {row["number"] for row in client.get(NUMBERS).json()["results"]}
    assert numbers == {"+15550001111", "+15550003333"}
    assert client.delete(f"{NUMBERS}/{number.public_id}").status_code == 204
    assert not PhoneNumber.objects.filter(pk=number.pk).exists()


def test_another_tenants_account_or_agent_cannot_be_used(telephony: Telephony, keys: Keys) -> None:
    client = api(keys.write_a)
    foreign_account = client.post(
        NUMBERS,
        {"number": "+15550004444", "telephony_account": str(telephony.account_b.public_id)},
        format="json",
    )
    made_up = client.post(
        NUMBERS,
        {"number": "+15550004444", "telephony_account": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )
    assert foreign_account.status_code == made_up.status_code == 400
    assert foreign_account.json() == made_up.json()
    assert foreign_account.json()["errors"][0]["pointer"] == "#/telephony_account"

    foreign_agent = client.patch(
        f"{NUMBERS}/{telephony.number_a.public_id}",
        {"agent": str(telephony.cast.agent_b.public_id)},
        format="json",
    )
    assert foreign_agent.status_code == 400
    telephony.number_a.refresh_from_db()
    assert telephony.number_a.agent == telephony.cast.agent_a
    assert not PhoneNumber.objects.filter(number="+15550004444").exists()


def test_account_in_use_cannot_be_deleted(telephony: Telephony, keys: Keys) -> None:
    response = api(keys.write_a).delete(f"{ACCOUNTS}/{telephony.account_a.public_id}")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert TelephonyAccount.objects.filter(pk=telephony.account_a.pk).exists()
