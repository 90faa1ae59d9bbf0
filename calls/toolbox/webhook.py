"""Tenant HTTP webhook tools, called during a live call.

Request: ``POST`` (or ``GET`` with the arguments as query parameters) to the tool's URL through
``voxsaas.safehttp`` (SSRF-guarded: resolved once, address checked and pinned, no redirects,
bounded body and deadline). The JSON body is::

    {"tool": "lookup_order", "arguments": {...}, "call": {"id": "...", "caller": "+1...",
     "called": "+1...", "verified": true}}

Signature: ``X-VoxSaaS-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-VoxSaaS-Timestamp`` (Unix seconds); receivers recompute it and reject old timestamps. For
``GET`` the signed body is the query string. The response must be JSON within the tool's size
limit; anything else is a structured error the model can recover from.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from channels.db import database_sync_to_async
from django.conf import settings

from agents.models import Tool
from calls.bridge.ports import ToolExecutionError
from voxsaas import safehttp

if TYPE_CHECKING:
    from calls.toolbox import CallRuntime

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-VoxSaaS-Signature"
TIMESTAMP_HEADER = "X-VoxSaaS-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def prepare_request(
    tool: Tool, arguments: dict[str, Any], call: dict[str, Any], *, now: float | None = None
) -> PreparedRequest:
    """The exact request a tool call sends (also shown by the dashboard's "test this tool")."""
    timestamp = int(now if now is not None else time.time())
    headers = {str(k): str(v) for k, v in (tool.headers or {}).items()}
    if tool.secret_headers:
        try:
            headers.update({str(k): str(v) for k, v in json.loads(tool.secret_headers).items()})
        except (ValueError, AttributeError):
            log.warning("tool %s has unreadable secret headers; sending without them", tool.pk)
    url = tool.url
    if tool.method == "GET":
        query = urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()})
        url = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        body = b""
        signed = query.encode()
    else:
        body = json.dumps(
            {"tool": tool.name, "arguments": arguments, "call": call}, separators=(",", ":")
        ).encode()
        signed = body
        headers["Content-Type"] = "application/json"
    headers[TIMESTAMP_HEADER] = str(timestamp)
    headers[SIGNATURE_HEADER] = sign(tool.signing_secret, timestamp, signed)
    headers["User-Agent"] = "VoxSaaS-Tools/1"
    return PreparedRequest(tool.method, url, headers, body)


def interpret_response(tool_name: str, response: safehttp.SafeResponse) -> Any:
    if not 200 <= response.status_code < 300:
        raise ToolExecutionError(f"The {tool_name} service answered with status {response.status_code}.")
    if response.truncated:
        raise ToolExecutionError(f"The {tool_name} service sent a response that is too large.")
    if not response.body.strip():
        return {"ok": True}
    try:
        return json.loads(response.body)
    except ValueError:
        raise ToolExecutionError(f"The {tool_name} service did not answer with JSON.") from None


def _load_tool(tenant_id: int, tool_id: str) -> Tool:
    tool = Tool.objects.filter(tenant_id=tenant_id, public_id=tool_id).first()
    if tool is None:
        raise ToolExecutionError("This tool is no longer available.")
    return tool


async def call_webhook_tool(
    *, runtime: CallRuntime, entry: dict[str, Any], arguments: dict[str, Any], verified: bool
) -> Any:
    tool = await database_sync_to_async(_load_tool)(runtime.tenant_id, str(entry.get("tool_id", "")))
    call = {
        "id": runtime.call_public_id,
        "caller": runtime.caller_number,
        "called": runtime.called_number,
        "verified": verified,
    }
    prepared = prepare_request(tool, arguments, call)
    try:
        response = await safehttp.request_async(
            prepared.method,
            prepared.url,
            content=prepared.body or None,
            headers=prepared.headers,
            timeout_s=tool.timeout_s,
            max_bytes=tool.max_response_bytes,
            allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES,
        )
    except safehttp.BlockedAddress:
        raise ToolExecutionError(f"The {tool.name} service is not reachable from here.") from None
    except safehttp.SafeHttpTimeout:
        raise ToolExecutionError(f"The {tool.name} service did not answer in time.") from None
    except safehttp.SafeHttpError:
        raise ToolExecutionError(f"The {tool.name} service could not be reached.") from None
    return interpret_response(tool.name, response)


def test_webhook_tool(
    *, tool: Tool, arguments: dict[str, Any]
) -> tuple[PreparedRequest, safehttp.SafeResponse | str]:
    """For the dashboard: send one real request and return it with the response (or the error)."""
    prepared = prepare_request(tool, arguments, {"id": "test", "caller": "", "called": "", "verified": False})
    try:
        response = safehttp.request(
            prepared.method,
            prepared.url,
            content=prepared.body or None,
            headers=prepared.headers,
            timeout_s=tool.timeout_s,
            max_bytes=tool.max_response_bytes,
            allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES,
        )
    except safehttp.SafeHttpError as exc:
        return prepared, str(exc)
    return prepared, response


def verify_with_webhook(*, runtime: CallRuntime, url: str, arguments: dict[str, Any]) -> Any:
    """Ask the tenant's own system whether the caller is who they say. The request carries what
    the caller gave; the answer must be ``{"verified": bool, "contact": {"name": ..., ...}}``."""
    from agents.verification import VerificationResult

    body = json.dumps(
        {"caller": runtime.caller_number, "called": runtime.called_number, **arguments}
    ).encode()
    try:
        response = safehttp.request(
            "POST",
            url,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout_s=5.0,
            allow_private=settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES,
        )
        answer = interpret_response("verification", response)
    except (safehttp.SafeHttpError, ToolExecutionError) as exc:
        log.info("verification webhook failed: %s", exc)
        return VerificationResult(False, reason="verifier_unavailable")
    if not isinstance(answer, dict) or answer.get("verified") is not True:
        return VerificationResult(False, reason="no_match")
    raw_contact = answer.get("contact")
    contact: dict[str, Any] = raw_contact if isinstance(raw_contact, dict) else {}
    fields = {str(k): str(v)[:200] for k, v in contact.items()}
    return VerificationResult(True, contact_public_id="", contact_fields=fields)
