"""Synchronous bodies of the built-in tools (run in a worker thread via database_sync_to_async).

Each re-resolves the tenant from the runtime's tenant id, so nothing here can reach another
tenant's rows.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from agents.verification import VerificationResult, verify_against_directory
from calls.bridge.ports import ToolExecutionError
from calls.models import Call
from tenants.models import Tenant

if TYPE_CHECKING:
    from calls.toolbox import CallRuntime

log = logging.getLogger(__name__)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def current_time(time_zone: str) -> dict[str, str]:
    now = datetime.now(_zone(time_zone))
    return {
        "date": now.date().isoformat(),
        "weekday": now.strftime("%A"),
        "time": now.strftime("%H:%M"),
        "spoken": now.strftime("%A %-d %B, %-I:%M %p"),
        "time_zone": str(now.tzinfo),
    }


def _tenant(runtime: CallRuntime) -> Tenant:
    return Tenant.objects.get(pk=runtime.tenant_id)


def verify_caller(*, runtime: CallRuntime, arguments: dict[str, Any]) -> VerificationResult:
    tenant = _tenant(runtime)
    secret_pin = str(arguments.get("pin") or arguments.get("digits") or "")
    url = str(runtime.config.get("verification_webhook_url") or "")
    if url:
        from calls.toolbox.webhook import verify_with_webhook

        result = verify_with_webhook(runtime=runtime, url=url, arguments=arguments)
    else:
        result = verify_against_directory(
            tenant=tenant,
            caller_number=runtime.caller_number,
            pin=secret_pin,
            date_of_birth=str(arguments.get("date_of_birth") or ""),
            account_number=str(arguments.get("account_number") or ""),
            name=str(arguments.get("name") or ""),
        )
    if result.verified and result.contact_public_id:
        Call.objects.filter(tenant=tenant, pk=runtime.call_pk).update(
            contact_public_id=result.contact_public_id
        )
    return result


def query_knowledge_base(*, runtime: CallRuntime, arguments: dict[str, Any], include_private: bool) -> Any:
    from agents.knowledge.retrieval import knowledge_search

    corpus_ids = list(runtime.config.get("corpus_ids") or [])
    if not corpus_ids:
        raise ToolExecutionError(
            "This agent has no knowledge base; answer from your instructions or offer help."
        )
    passages = knowledge_search(
        tenant=_tenant(runtime),
        corpus_ids=corpus_ids,
        query=str(arguments["query"]),
        max_results=int(arguments.get("max_results", 3)),
        include_private=include_private,
    )
    if not passages:
        return {
            "passages": [],
            "note": "Nothing relevant was found. Say you don't know rather than guessing.",
        }
    return {
        "passages": [
            {"text": p.text, "document": p.document_title, "score": round(float(p.score), 3)}
            for p in passages
        ]
    }


def check_availability(*, runtime: CallRuntime, arguments: dict[str, Any]) -> Any:
    from agents.scheduling import tools as scheduling

    return scheduling.check_availability(tenant=_tenant(runtime), now=timezone.now(), **arguments)


def schedule_meeting(
    *, runtime: CallRuntime, arguments: dict[str, Any], contact: dict[str, str] | None, contact_id: str
) -> Any:
    from agents.scheduling import tools as scheduling

    args = dict(arguments)
    if contact and contact.get("name"):
        args["customer_name"] = contact["name"]  # a verified caller books under their own name
    # Identity comes from the call; the tool's schema refuses these from the model.
    result = scheduling.schedule_meeting(
        tenant=_tenant(runtime),
        customer_phone=runtime.caller_number,
        contact_public_id=contact_id or None,
        source_call_id=runtime.call_public_id,
        now=timezone.now(),
        **args,
    )
    if isinstance(result, dict) and result.get("status") == "booked":
        from calls.webhooks.events import call_scoped_emit

        booking = {k: v for k, v in result.items() if k not in ("status", "message")}
        call_scoped_emit(
            tenant_id=runtime.tenant_id,
            call_pk=runtime.call_pk,
            event_type="booking.created",
            key=str(booking.get("booking_id", "")),
            data={"booking": booking},
        )
    return result


def cancel_meeting(*, runtime: CallRuntime, arguments: dict[str, Any], contact_id: str) -> Any:
    from agents.scheduling import tools as scheduling

    # Who is cancelling comes from the call (caller ID, verified contact), never from the model.
    return scheduling.cancel_meeting(
        tenant=_tenant(runtime),
        customer_phone=runtime.caller_number,
        contact_public_id=contact_id or None,
        now=timezone.now(),
        **arguments,
    )
