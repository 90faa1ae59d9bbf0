"""Encryption at rest for third-party secrets (Twilio auth tokens, engine API keys, webhook
secrets), with key rotation.

``FIELD_ENCRYPTION_KEYS`` holds Fernet keys; the first encrypts and all decrypt (MultiFernet).
To rotate: put a new key first, run ``manage.py rotate_encryption_keys`` (re-encrypts every
value under the newest key), then remove the old key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Stored values carry a marker so a plaintext value can never be mistaken for a ciphertext.
_PREFIX = "enc1:"


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in keys])


def fernet() -> MultiFernet:
    # Keyed on the configured tuple so tests that override the setting get a fresh MultiFernet.
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(plaintext: str) -> str:
    return _PREFIX + fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_str(stored: str) -> str:
    if not stored.startswith(_PREFIX):
        raise ImproperlyConfigured("An encrypted field holds a value without the encryption marker.")
    try:
        return fernet().decrypt(stored[len(_PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ImproperlyConfigured(
            "An encrypted value cannot be decrypted with FIELD_ENCRYPTION_KEYS "
            "(was a key removed before running rotate_encryption_keys?)."
        ) from None


class EncryptedTextField(models.TextField):
    """A text field stored encrypted. Python code sees plaintext; the database sees ``enc1:...``.

    Not searchable or orderable by value, by design. Empty string is stored as empty string so
    optional secrets need no special casing.
    """

    description = "Text encrypted at rest with the FIELD_ENCRYPTION_KEYS MultiFernet"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(_PREFIX):
            return decrypt_str(value)
        return value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every concrete model with encrypted fields, and those fields' names."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found
