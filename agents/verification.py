"""Verifying a caller against the tenant's contact directory.

Caller ID is a hint (it narrows the candidates), never proof: a secret (PIN or date of birth)
must match. A PIN alone is only accepted when the candidates are narrowed to few contacts by
caller ID, account number or name, so a guessed PIN can't unlock a random contact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.hashers import check_password, make_password

from agents.models import Contact
from tenants.models import Tenant

MAX_CANDIDATES = 3  # beyond this, the identifying details are too vague to try a secret against

_SPOKEN_DIGITS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "to": "2",
    "too": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "ate": "8",
    "nine": "9",
}
_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}


def normalise_digits(text: str) -> str:
    """'one two three four' / '1 2 3 4' / '12-34' -> '1234'."""
    out = []
    for token in re.findall(r"[a-z]+|\d", text.lower()):
        if token.isdigit():
            out.append(token)
        elif token in _SPOKEN_DIGITS:
            out.append(_SPOKEN_DIGITS[token])
    return "".join(out)


def normalise_date(text: str) -> str | None:
    """'1990-03-14', '14/03/1990' (day first), 'march 14 1990', '14 march 1990' -> '1990-03-14'."""
    text = text.strip().lower()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    month = next((_MONTHS[w] for w in re.findall(r"[a-z]+", text) if w in _MONTHS), None)
    try:
        if month and len(numbers) == 2:
            day, year = (numbers[0], numbers[1]) if numbers[1] > 31 else (numbers[1], numbers[0])
            return date(year, month, day).isoformat()
        if len(numbers) == 3 and numbers[2] > 31:
            return date(numbers[2], numbers[1], numbers[0]).isoformat()
    except ValueError:
        return None
    return None


def hash_secret(value: str) -> str:
    return make_password(value)


@dataclass(frozen=True)
class VerificationResult:
    verified: bool
    contact_public_id: str = ""
    contact_fields: dict[str, str] = field(default_factory=dict)
    reason: str = ""


def verify_against_directory(
    *,
    tenant: Tenant,
    caller_number: str,
    pin: str = "",
    date_of_birth: str = "",
    account_number: str = "",
    name: str = "",
) -> VerificationResult:
    pin_digits = normalise_digits(pin) if pin else ""
    dob = normalise_date(date_of_birth) if date_of_birth else None
    if not pin_digits and not dob:
        return VerificationResult(False, reason="no_secret_given")

    candidates = Contact.objects.filter(tenant=tenant)
    if account_number:
        candidates = candidates.filter(
            account_number=normalise_digits(account_number) or account_number.strip()
        )
    elif name:
        candidates = candidates.filter(name__iexact=name.strip())
    elif caller_number:
        candidates = candidates.filter(phones__tenant=tenant, phones__number=caller_number)
    else:
        return VerificationResult(False, reason="no_identifier")
    rows = list(candidates.distinct()[: MAX_CANDIDATES + 1])
    if not rows:
        return VerificationResult(False, reason="no_match")
    if len(rows) > MAX_CANDIDATES:
        return VerificationResult(False, reason="ambiguous")

    matches = [
        contact
        for contact in rows
        if (pin_digits and contact.pin_hash and check_password(pin_digits, contact.pin_hash))
        or (dob and contact.dob_hash and check_password(dob, contact.dob_hash))
    ]
    if len(matches) != 1:
        return VerificationResult(False, reason="no_match")
    contact = matches[0]
    fields = {"name": contact.name, "email": contact.email, "account_number": contact.account_number}
    fields.update({str(k): str(v) for k, v in contact.custom_fields.items()})
    return VerificationResult(True, contact_public_id=str(contact.public_id), contact_fields=fields)
