"""Settings come from the environment only; malformed values stop start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c",
    "ALLOWED_HOSTS": "voice.example.com",
    "PUBLIC_BASE_URL": "https://voice.example.com",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://voxsaas@127.0.0.1:5432/voxsaas",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only what a shell needs, so variables set for the test run itself don't leak in.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV") if k in os.environ}
    clean.update(env)
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x@h/db", "DATABASE_URL must be a sqlite:// or postgres:// URL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL must be a sqlite:// or postgres:// URL"),
        ("DATABASE_URL", "postgres://u@h:5432/", "DATABASE_URL must name a database"),
        ("FIELD_ENCRYPTION_KEYS", "short", "FIELD_ENCRYPTION_KEYS: key #1 is not a Fernet key"),
        ("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode() + ",bad", "key #2 is not a Fernet key"),
        ("FIELD_ENCRYPTION_KEYS", " , ", "FIELD_ENCRYPTION_KEYS must hold at least one key"),
        ("REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL must be a redis:// or rediss:// URL"),
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("PUBLIC_BASE_URL", "voice.example.com", "PUBLIC_BASE_URL must be an absolute URL"),
        ("TWILIO_API_BASE_URL", "ftp://x", "TWILIO_API_BASE_URL must be an absolute URL"),
        ("SECRET_KEY", "short", "SECRET_KEY must be set to a random value"),
    ],
)
def test_malformed_values_fail_with_a_clear_message(name: str, value: str, message: str) -> None:
    result = _manage("check", **{**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_missing_secrets_fail_when_debug_is_off() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "FIELD_ENCRYPTION_KEYS"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set" in result.stderr


def test_production_values_pass_check_deploy() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_debug_mode_needs_no_configuration() -> None:
    result = _manage("check", DEBUG="true", DATABASE_URL="sqlite:///:memory:")
    assert result.returncode == 0, result.stderr
