"""Verifying callers against the contact directory: caller ID is a hint, a secret is proof."""

from __future__ import annotations

import pytest
from django.db import connection

from agents.services import contact_create
from agents.verification import normalise_date, normalise_digits, verify_against_directory
from tests.conftest import Cast

CALLER = "+15552223333"


@pytest.fixture
def contacts(cast: Cast) -> None:
    contact_create(
        tenant=cast.tenant_a,
        name="Ann Archer",
        phones=[CALLER],
        pin="1234",
        date_of_birth="1990-03-14",
        account_number="4567",
        custom_fields={"tier": "gold"},
    )
    contact_create(tenant=cast.tenant_a, name="Bob Baker", phones=["+15550009999"], pin="9999")
    contact_create(tenant=cast.tenant_b, name="Ann Archer", phones=[CALLER], pin="5555")


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [("one two three four", "1234"), ("1 2 3 4", "1234"), ("twelve", ""), ("oh four", "04")],
)
def test_normalise_digits(spoken: str, digits: str) -> None:
    assert normalise_digits(spoken) == digits


@pytest.mark.parametrize(
    ("spoken", "iso"),
    [
        ("1990-03-14", "1990-03-14"),
        ("march 14 1990", "1990-03-14"),
        ("14 March 1990", "1990-03-14"),
        ("14/03/1990", "1990-03-14"),
        ("february 30 1990", None),
        ("yesterday", None),
    ],
)
def test_normalise_date(spoken: str, iso: str | None) -> None:
    assert normalise_date(spoken) == iso


def test_pin_with_caller_id_verifies_and_returns_contact_fields(cast: Cast, contacts: None) -> None:
    result = verify_against_directory(tenant=cast.tenant_a, caller_number=CALLER, pin="one two three four")
    assert result.verified
    assert result.contact_fields["name"] == "Ann Archer"
    assert result.contact_fields["tier"] == "gold"


def test_date_of_birth_with_account_number_verifies(cast: Cast, contacts: None) -> None:
    result = verify_against_directory(
        tenant=cast.tenant_a,
        caller_number="",
        date_of_birth="march 14 1990",
        account_number="four five six seven",
    )
    assert result.verified


@pytest.mark.parametrize(
    "kwargs",
    [
        {"caller_number": CALLER, "pin": "0000"},  # wrong PIN
        {"caller_number": CALLER},  # no secret at all: caller ID is never proof
        {"caller_number": "+15558887777", "pin": "1234"},  # unknown caller, no identifier
        {"caller_number": "", "pin": "1234"},  # withheld caller ID, no identifier
        {"caller_number": "+15550009999", "pin": "1234"},  # Ann's PIN from Bob's phone
    ],
)
def test_failures(cast: Cast, contacts: None, kwargs: dict[str, str]) -> None:
    assert not verify_against_directory(tenant=cast.tenant_a, **kwargs).verified


def test_another_tenants_contact_never_verifies(cast: Cast, contacts: None) -> None:
    # Tenant B's Ann has PIN 5555; it must not verify in tenant A, and A's PIN not in B.
    assert not verify_against_directory(tenant=cast.tenant_a, caller_number=CALLER, pin="5555").verified
    assert not verify_against_directory(tenant=cast.tenant_b, caller_number=CALLER, pin="1234").verified
    assert verify_against_directory(tenant=cast.tenant_b, caller_number=CALLER, pin="5555").verified


def test_secrets_are_stored_hashed(cast: Cast, contacts: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pin_hash, dob_hash FROM agents_contact")
        rows = cursor.fetchall()
    flat = " ".join(str(v) for row in rows for v in row)
    assert "1234" not in flat and "1990-03-14" not in flat
    assert all(row[0].startswith("pbkdf2_") for row in rows)
