"""Secrets at rest: round trip, ciphertext in the database, and key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tenants.models import TelephonyAccount
from tests.conftest import Cast

TOKEN = "twilio-auth-token-0123456789abcdef"


def _stored_token(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM tenants_telephonyaccount WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def test_round_trip_and_ciphertext_differs_from_plaintext(cast: Cast) -> None:
    account = TelephonyAccount.objects.create(
        tenant=cast.tenant_a, account_sid="AC" + "1" * 32, auth_token=TOKEN
    )
    stored = _stored_token(account.pk)
    assert stored.startswith("enc1:")
    assert TOKEN not in stored
    assert TelephonyAccount.objects.get(pk=account.pk).auth_token == TOKEN


def test_same_plaintext_encrypts_differently_each_time(cast: Cast) -> None:
    one = TelephonyAccount.objects.create(tenant=cast.tenant_a, account_sid="AC" + "1" * 32, auth_token=TOKEN)
    two = TelephonyAccount.objects.create(tenant=cast.tenant_a, account_sid="AC" + "2" * 32, auth_token=TOKEN)
    assert _stored_token(one.pk) != _stored_token(two.pk)


def test_rotation_keeps_values_readable_after_the_old_key_is_gone(cast: Cast) -> None:
    key1 = Fernet.generate_key().decode()
    key2 = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[key1]):
        account = TelephonyAccount.objects.create(
            tenant=cast.tenant_a, account_sid="AC" + "1" * 32, auth_token=TOKEN
        )
        before = _stored_token(account.pk)

    with override_settings(FIELD_ENCRYPTION_KEYS=[key2, key1]):
        # Both keys decrypt; the new one is first, so the command re-encrypts under it.
        assert TelephonyAccount.objects.get(pk=account.pk).auth_token == TOKEN
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
        after = _stored_token(account.pk)
    assert after != before

    with override_settings(FIELD_ENCRYPTION_KEYS=[key2]):
        assert TelephonyAccount.objects.get(pk=account.pk).auth_token == TOKEN

    with override_settings(FIELD_ENCRYPTION_KEYS=[key1]), pytest.raises(ImproperlyConfigured, match="rotate"):
        TelephonyAccount.objects.get(pk=account.pk)


def test_empty_secret_stays_empty(cast: Cast) -> None:
    account = TelephonyAccount.objects.create(
        tenant=cast.tenant_a, account_sid="AC" + "1" * 32, auth_token=""
    )
    assert _stored_token(account.pk) == ""
    assert TelephonyAccount.objects.get(pk=account.pk).auth_token == ""
