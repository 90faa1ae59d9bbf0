"""The tools of one live call, executed on the Django side of the bridge.

The ``CallSession`` has already checked that the tool is offered in the current stage and that
its arguments match the tool's JSON Schema; ``end_call`` never gets here (the session waits for
the agent's last words itself). Each built-in is a method; tenant HTTP tools go through
``webhook.py``. Database work is one ``database_sync_to_async`` hop per tool call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from calls.bridge.ports import ToolContext, ToolExecutionError
from calls.bridge.tools import EndCall, SwitchStage, ToolOutput, TransferCall
from calls.toolbox import builtin_ops
from calls.twilio.tokens import make_dial_token
from calls.twilio.twiml import dial

log = logging.getLogger(__name__)


@dataclass
class CallRuntime:
    """What the executor knows about its call (built by the consumer after binding)."""

    tenant_id: int
    call_pk: int
    call_public_id: str
    caller_number: str
    called_number: str
    config: dict[str, Any]  # the agent revision's config
    time_zone: str = "UTC"
    variables: dict[str, str] = field(default_factory=dict)


class CallToolExecutor:
    def __init__(self, runtime: CallRuntime) -> None:
        self.runtime = runtime
        self.verified_contact: dict[str, str] | None = None
        self.contact_public_id = ""
        self.failed_attempts = 0

    @property
    def verified(self) -> bool:
        return self.verified_contact is not None

    async def execute(self, name: str, arguments: dict[str, Any], context: ToolContext) -> Any:
        handler = getattr(self, f"_tool_{name}", None)
        if handler is not None:
            return await handler(arguments)
        entry = next(
            (
                t
                for t in self.runtime.config.get("tools", [])
                if t.get("name") == name and t.get("kind") == "webhook"
            ),
            None,
        )
        if entry is None:
            raise ToolExecutionError(f"The tool {name!r} is not available on this call.")
        from calls.toolbox.webhook import call_webhook_tool

        return await call_webhook_tool(
            runtime=self.runtime, entry=entry, arguments=arguments, verified=self.verified
        )

    # ------------------------------------------------------------------------------ built-ins

    async def _tool_current_time(self, arguments: dict[str, Any]) -> Any:
        return builtin_ops.current_time(self.runtime.time_zone)

    async def _tool_verify_caller(self, arguments: dict[str, Any]) -> Any:
        if self.verified:
            return {"verified": True, "note": "The caller is already verified."}
        result = await database_sync_to_async(builtin_ops.verify_caller)(
            runtime=self.runtime, arguments=arguments
        )
        if result.verified:
            self.verified_contact = result.contact_fields
            self.contact_public_id = result.contact_public_id
            return ToolOutput(
                {"verified": True, "contact": {"name": result.contact_fields.get("name", "")}},
                SwitchStage("main"),
            )
        self.failed_attempts += 1
        max_attempts = int(self.runtime.config.get("verification_max_attempts", 3))
        if self.failed_attempts < max_attempts:
            return {
                "verified": False,
                "attempts_left": max_attempts - self.failed_attempts,
                "instruction": "Tell the caller the details did not match and ask them to try again.",
            }
        if self.runtime.config.get("verification_failure_action") == "transfer" and self.runtime.config.get(
            "transfer_number"
        ):
            return ToolOutput(
                {
                    "verified": False,
                    "locked_out": True,
                    "instruction": "Say you are transferring them to a colleague.",
                },
                TransferCall(self._dial_twiml()),
            )
        return ToolOutput(
            {
                "verified": False,
                "locked_out": True,
                "instruction": "Apologise, say you could not verify them, and say goodbye.",
            },
            EndCall("verification_failed"),
        )

    async def _tool_query_knowledge_base(self, arguments: dict[str, Any]) -> Any:
        return await database_sync_to_async(builtin_ops.query_knowledge_base)(
            runtime=self.runtime,
            arguments=arguments,
            include_private=self.verified or not self._has_verification(),
        )

    async def _tool_check_availability(self, arguments: dict[str, Any]) -> Any:
        return await database_sync_to_async(builtin_ops.check_availability)(
            runtime=self.runtime, arguments=arguments
        )

    async def _tool_schedule_meeting(self, arguments: dict[str, Any]) -> Any:
        self._require_verified_if_needed()
        return await database_sync_to_async(builtin_ops.schedule_meeting)(
            runtime=self.runtime,
            arguments=arguments,
            contact=self.verified_contact,
            contact_id=self.contact_public_id,
        )

    async def _tool_cancel_meeting(self, arguments: dict[str, Any]) -> Any:
        self._require_verified_if_needed()
        return await database_sync_to_async(builtin_ops.cancel_meeting)(
            runtime=self.runtime, arguments=arguments
        )

    async def _tool_transfer_to_human(self, arguments: dict[str, Any]) -> Any:
        if not self.runtime.config.get("transfer_number"):
            raise ToolExecutionError(
                "No human colleague can take the call right now; offer to help or take a message."
            )
        handover = self.runtime.config.get("handover_line") or "Please hold while I transfer you."
        return ToolOutput({"transferring": True, "say_exactly": handover}, TransferCall(self._dial_twiml()))

    # ------------------------------------------------------------------------------ helpers

    def _has_verification(self) -> bool:
        from calls.config_snapshot import uses_verification

        return uses_verification(self.runtime.config)

    def _require_verified_if_needed(self) -> None:
        if self._has_verification() and not self.verified:
            raise ToolExecutionError("The caller must be verified first.")

    def _dial_twiml(self) -> str:
        token = make_dial_token(call_public_id=self.runtime.call_public_id, tenant_id=self.runtime.tenant_id)
        return dial(
            number=str(self.runtime.config["transfer_number"]),
            caller_id=self.runtime.called_number,
            timeout_s=30,
            action=f"{settings.PUBLIC_BASE_URL}/twilio/dial-action?t={token}",
        )
