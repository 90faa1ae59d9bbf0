"""Settings come from the environment only; malformed values stop start-up naming the variable."""

from __future__ import annotations

import json
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
        ("WEBHOOK_RETRY_DELAYS_S", "30,1.5", "WEBHOOK_RETRY_DELAYS_S must be comma-separated whole seconds"),
        ("WEBHOOK_RETRY_DELAYS_S", "30,0", "WEBHOOK_RETRY_DELAYS_S must list at least one delay of 1 s"),
        ("WEBHOOK_DELIVERY_TIMEOUT_S", "soon", "WEBHOOK_DELIVERY_TIMEOUT_S must be a number"),
        ("WEBHOOK_DELIVERY_TIMEOUT_S", "nan", "WEBHOOK_DELIVERY_TIMEOUT_S must be a finite number"),
        ("WEBHOOK_SWEEP_INTERVAL_S", "0", "WEBHOOK_SWEEP_INTERVAL_S must be at least 1"),
        (
            "DATABASE_POOL_MIN_SIZE",
            "20",
            "DATABASE_POOL_MIN_SIZE (20) must not exceed DATABASE_POOL_MAX_SIZE",
        ),
        ("SERVER_TIMING", "maybe", "SERVER_TIMING must be a boolean"),
        ("WEBHOOK_ETA_MAX_S", "3600", "WEBHOOK_ETA_MAX_S (3600) must be below BROKER_VISIBILITY_TIMEOUT_S"),
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


def test_postgres_connections_are_pooled_per_process() -> None:
    """Under ASGI a persistent connection is never reused (each request has its own thread
    context): without the pool every API request opened a connection (bench/api_lists.py)."""
    show = (
        "import json; from django.conf import settings; db = settings.DATABASES['default']; "
        "print(json.dumps([db['OPTIONS'].get('pool'), db['CONN_MAX_AGE']]))"
    )
    pooled = _manage("shell", "--verbosity", "0", "-c", show, **PRODUCTION_ENV)
    assert pooled.returncode == 0, pooled.stderr
    assert json.loads(pooled.stdout.splitlines()[-1]) == [{"min_size": 1, "max_size": 10, "timeout": 10.0}, 0]
    unpooled = _manage("shell", "--verbosity", "0", "-c", show, **PRODUCTION_ENV, DATABASE_POOL_MAX_SIZE="0")
    assert json.loads(unpooled.stdout.splitlines()[-1]) == [None, 60]
