"""Telephony fixtures: each tenant of the cast gets a Twilio account and a number."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tenants.models import PhoneNumber, TelephonyAccount
from tests.conftest import Cast

ACCOUNT_A = "AC" + "a" * 32
ACCOUNT_B = "AC" + "b" * 32
TOKEN_A = "auth-token-of-tenant-a-0123456789"
TOKEN_B = "auth-token-of-tenant-b-9876543210"
NUMBER_A = "+15550001111"
NUMBER_B = "+15550002222"
CALLER = "+15552223333"


@dataclass
class Telephony:
    cast: Cast
    account_a: TelephonyAccount
    account_b: TelephonyAccount
    number_a: PhoneNumber
    number_b: PhoneNumber


@pytest.fixture
def telephony(cast: Cast) -> Telephony:
    account_a = TelephonyAccount.objects.create(
        tenant=cast.tenant_a, account_sid=ACCOUNT_A, auth_token=TOKEN_A
    )
    account_b = TelephonyAccount.objects.create(
        tenant=cast.tenant_b, account_sid=ACCOUNT_B, auth_token=TOKEN_B
    )
    number_a = PhoneNumber.objects.create(
        tenant=cast.tenant_a, number=NUMBER_A, telephony_account=account_a, agent=cast.agent_a
    )
    number_b = PhoneNumber.objects.create(
        tenant=cast.tenant_b, number=NUMBER_B, telephony_account=account_b, agent=cast.agent_b
    )
    return Telephony(cast, account_a, account_b, number_a, number_b)
