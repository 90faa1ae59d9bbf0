"""Phone numbers: connect with a new or existing Twilio account, the token stays write-only."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.urls import reverse

from tenants.models import PhoneNumber, TelephonyAccount
from tests.dashboard.conftest import World, signed_in

CONNECT = reverse("dashboard:number-connect", args=["acme"])
SID = "AC" + "c" * 32
TOKEN = "a-very-secret-auth-token-value"


def test_connect_with_a_new_account_keeps_the_token_secret(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    response = client.post(
        CONNECT,
        {
            "number": "+1 555 777 0000",
            "label": "Support",
            "agent": str(world.a.agent.public_id),
            "account": "",
            "account_label": "Second Twilio",
            "account_sid": SID,
            "auth_token": TOKEN,
        },
        follow=True,
    )
    assert response.status_code == 200
    phone = PhoneNumber.objects.get(number="+15557770000")
    assert phone.tenant == world.a.tenant and phone.agent == world.a.agent and phone.label == "Support"
    account = phone.telephony_account
    assert account.account_sid == SID and account.auth_token == TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM tenants_telephonyaccount WHERE id = %s", [account.pk])
        stored = str(cursor.fetchone()[0])
    assert TOKEN not in stored and stored  # encrypted at rest
    for url in (
        reverse("dashboard:numbers", args=["acme"]),
        reverse("dashboard:telephony-account", args=["acme", account.public_id]),
    ):
        assert TOKEN not in client.get(url).content.decode()
    assert "https://voice.example.test/twilio/voice" in response.content.decode()
    assert "https://voice.example.test/twilio/status" in response.content.decode()


def test_connect_with_an_existing_account(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    response = client.post(CONNECT, {"number": "+15557770001", "account": str(world.a.account.public_id)})
    assert response.status_code == 302
    assert PhoneNumber.objects.get(number="+15557770001").telephony_account == world.a.account
    assert TelephonyAccount.objects.filter(tenant=world.a.tenant).count() == 1


def test_connect_validates_with_clear_messages(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    html = client.post(CONNECT, {"number": "555", "account": "", "auth_token": TOKEN}).content.decode()
    assert "E.164" in html
    assert "Enter the account SID" in html
    assert TOKEN not in html  # a rejected form does not echo the token back
    taken = client.post(CONNECT, {"number": world.b.number.number, "account": str(world.a.account.public_id)})
    assert "already connected to a workspace" in taken.content.decode()
    bad_sid = client.post(
        CONNECT, {"number": "+15557770002", "account": "", "account_sid": "AC123", "auth_token": "t"}
    )
    assert "A Twilio account SID is AC + 32 hex." in bad_sid.content.decode()
    assert not TelephonyAccount.objects.filter(account_sid="AC123").exists()
    assert not PhoneNumber.objects.filter(number="+15557770002").exists()


def test_choose_the_answering_agent(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    url = reverse("dashboard:number", args=["acme", world.a.number.public_id])
    response = client.post(
        url, {"label": "Main", "agent": "", "telephony_account": str(world.a.account.public_id)}
    )
    assert response.status_code == 302
    world.a.number.refresh_from_db()
    assert world.a.number.agent is None and world.a.number.label == "Main" and not world.a.number.is_active


def test_replace_the_auth_token_or_keep_it(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    url = reverse("dashboard:telephony-account", args=["acme", world.a.account.public_id])
    client.post(url, {"label": "Renamed", "account_sid": world.a.account.account_sid, "auth_token": ""})
    world.a.account.refresh_from_db()
    assert (
        world.a.account.label == "Renamed"
        and world.a.account.auth_token == "auth-token-of-tenant-a-0123456789"
    )
    client.post(
        url, {"label": "Renamed", "account_sid": world.a.account.account_sid, "auth_token": "rotated-token"}
    )
    world.a.account.refresh_from_db()
    assert world.a.account.auth_token == "rotated-token"
    assert 'value="rotated-token"' not in client.get(url).content.decode()
