"""Pre-call personalisation: ask the tenant's system about the caller before the agent speaks.

A strict timeout (the agent's ``precall_timeout_ms``, default 1.5 s) bounds it, and any failure
(timeout, error status, bad JSON, a refused address) just means the call proceeds with default
variables: a slow CRM must never leave a caller in silence.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings

from voxsaas import safehttp

log = logging.getLogger(__name__)

MAX_VARIABLES = 50
MAX_VALUE_CHARS = 500


def parse_variables(payload: Any) -> dict[str, str]:
    """Keep string-like top-level values of a JSON object (or of its "variables" member)."""
    if isinstance(payload, dict) and isinstance(payload.get("variables"), dict):
        payload = payload["variables"]
    if not isinstance(payload, dict):
        return {}
    variables: dict[str, str] = {}
    for key, value in list(payload.items())[:MAX_VARIABLES]:
        if isinstance(key, str) and key.isidentifier() and isinstance(value, str | int | float | bool):
            variables[key.lower()[:40]] = str(value)[:MAX_VALUE_CHARS]
    return variables


async def fetch_precall_variables(
    *, url: str, timeout_ms: int, caller: str, called: str, agent_id: str
) -> dict[str, str]:
    body = json.dumps({"caller": caller, "called": called, "agent_id": agent_id}).encode()
    try:
        response = await safehttp.request_async(
            "POST",
            url,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout_s=max(0.1, timeout_ms / 1000),
            allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES,
            max_bytes=64 * 1024,
        )
    except safehttp.SafeHttpError as exc:
        log.info("pre-call personalisation skipped: %s", exc)
        return {}
    if response.status_code != 200:
        log.info("pre-call personalisation answered %s; using defaults", response.status_code)
        return {}
    try:
        return parse_variables(json.loads(response.body))
    except ValueError:
        log.info("pre-call personalisation answered non-JSON; using defaults")
        return {}
