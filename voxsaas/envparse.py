"""Strict parsers for environment values.

``voxsaas/settings.py`` is the only module that reads the environment; it uses these helpers so
that a malformed value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EnvReader:
    """Reads typed values from a mapping (``os.environ`` in production, a dict in tests)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def get_str(self, name: str, default: str | None = None) -> str:
        value = self.environ.get(name)
        if value is None:
            if default is None:
                raise ImproperlyConfigured(f"{name} must be set.")
            return default
        return value

    def get_bool(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}.")

    def get_int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
        return value

    def get_float(self, name: str, default: float, *, minimum: float | None = None) -> float:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ImproperlyConfigured(f"{name} must be a finite number, got {raw!r}.")
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum:g}, got {value:g}.")
        return value

    def get_list(self, name: str, default: list[str]) -> list[str]:
        raw = self.environ.get(name)
        if raw is None:
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def get_url(self, name: str, default: str, *, schemes: tuple[str, ...]) -> str:
        value = self.get_str(name, default).strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise ImproperlyConfigured(
                f"{name} must be an absolute URL with scheme {' or '.join(schemes)}, got {value!r}."
            )
        return value


_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "postgis"}


def parse_database_url(name: str, value: str) -> dict[str, Any]:
    """Parse a database URL, refusing anything that is not SQLite or PostgreSQL."""
    scheme = urlsplit(value).scheme
    if scheme not in _DB_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must be a sqlite:// or postgres:// URL, got scheme {scheme or '(none)'!r}."
        )
    try:
        config = dict(dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from None
    if scheme != "sqlite" and not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database (postgres://user@host:5432/dbname).")
    return config


def parse_redis_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be a redis:// or rediss:// URL, got {value!r}.")
    try:
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port: {value!r}.") from None
    return value


def parse_fernet_keys(name: str, value: str) -> list[str]:
    """Comma-separated Fernet keys (urlsafe base64 of 32 bytes). The first encrypts; all decrypt."""
    keys = [item.strip() for item in value.split(",") if item.strip()]
    if not keys:
        raise ImproperlyConfigured(f"{name} must hold at least one key.")
    for index, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key #{index} is not a Fernet key (urlsafe base64 of 32 bytes). "
                'Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            )
    return keys
