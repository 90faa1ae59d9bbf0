"""Every dashboard URL, built for one tenant's slug from one side's rows. Building A's slug with
B's rows gives the forged cross-tenant URLs."""

from __future__ import annotations

from typing import Any

from tests.dashboard.areas import AREAS
from tests.dashboard.conftest import Side
from tests.dashboard.pagekit import Action, Page, _u

__all__ = ["ACTIONS", "DETAIL_ACTIONS", "DETAIL_PAGES", "HTML_PAGES", "PAGES", "Action", "Page", "snapshot"]


AGENT = lambda s: s.agent.public_id  # noqa: E731 - a tiny accessor table reads best as lambdas
CALL = lambda s: s.call.public_id  # noqa: E731
TOOL = lambda s: s.tool.public_id  # noqa: E731
NUMBER = lambda s: s.number.public_id  # noqa: E731
ACCOUNT = lambda s: s.account.public_id  # noqa: E731
MEMBER = lambda s: s.owner.public_id  # noqa: E731
INVITATION = lambda s: s.invitation.public_id  # noqa: E731
KEY = lambda s: s.key.public_id  # noqa: E731
REVISION = lambda s: s.revision.number  # noqa: E731

PAGES: dict[str, Page] = {
    "overview": Page("viewer", _u("overview")),
    "calls": Page("viewer", _u("calls")),
    "call": Page("viewer", _u("call", CALL), detail=True),
    "call-recording": Page("viewer", _u("call-recording", CALL), detail=True),
    "call-transcript-txt": Page("viewer", _u("call-transcript-txt", CALL), detail=True),
    "call-transcript-json": Page("viewer", _u("call-transcript-json", CALL), detail=True),
    "agents": Page("viewer", _u("agents")),
    "agent-new": Page("editor", _u("agent-new")),
    "agent": Page("viewer", _u("agent", AGENT), detail=True),
    "agent-revisions": Page("viewer", _u("agent-revisions", AGENT), detail=True),
    "agent-revision": Page("viewer", _u("agent-revision", AGENT, REVISION), detail=True),
    "agent-diff": Page(
        "viewer", lambda slug, s: _u("agent-diff", AGENT)(slug, s) + "?left=1&right=draft", detail=True
    ),
    "tools": Page("viewer", _u("tools")),
    "tool-new": Page("editor", _u("tool-new")),
    "tool": Page("viewer", _u("tool", TOOL), detail=True),
    "numbers": Page("viewer", _u("numbers")),
    "number-connect": Page("editor", _u("number-connect")),
    "number": Page("viewer", _u("number", NUMBER), detail=True),
    "telephony-account": Page("editor", _u("telephony-account", ACCOUNT), detail=True),
    "team": Page("viewer", _u("team")),
    "api-keys": Page("viewer", _u("api-keys")),
    "usage": Page("viewer", _u("usage")),
}
for _area in AREAS:
    PAGES.update(_area.PAGES)
HTML_PAGES = [
    name
    for name, page in PAGES.items()
    if page.html and not name.startswith(("call-recording", "call-transcript"))
]
DETAIL_PAGES = [name for name, page in PAGES.items() if page.detail]


def _agent_form(side: Side) -> dict[str, Any]:
    return {
        "name": "Renamed",
        "engine": "local",
        "language": "en",
        "temperature": "0.3",
        "main_prompt": "Forged.",
        "max_duration_s": "900",
        "silence_timeout_s": "20",
        "silence_reminder": "Still there?",
        "verification_max_attempts": "3",
        "verification_failure_action": "end",
        "transfer_failure_action": "return",
        "handover_line": "Hold on.",
        "precall_timeout_ms": "1500",
        "custom_variables": "{}",
        "summary_schema": "{}",
    }


def _tool_form(side: Side) -> dict[str, Any]:
    return {
        "name": "forged_tool",
        "description": "Forged.",
        "parameters": '{"type": "object"}',
        "url": "https://hooks.example.test/x",
        "method": "POST",
        "headers": "{}",
        "timeout_s": "5",
        "max_response_bytes": "1000",
    }


ACTIONS: dict[str, Action] = {
    "agent-new": Action(
        "editor", _u("agent-new"), lambda s: {"name": "X", "engine": "local", "main_prompt": "Hi"}, False
    ),
    "agent": Action("editor", _u("agent", AGENT), _agent_form),
    "agent-tools": Action("editor", _u("agent-tools", AGENT), lambda s: {"end_call__main": "on"}),
    "agent-corpora": Action("editor", _u("agent-corpora", AGENT), lambda s: {"corpora": []}),
    "agent-publish": Action("editor", _u("agent-publish", AGENT), lambda s: {"note": "forged"}),
    "tool-new": Action("editor", _u("tool-new"), _tool_form, False),
    "tool": Action("editor", _u("tool", TOOL), _tool_form),
    "tool-test": Action("editor", _u("tool-test", TOOL), lambda s: {"arguments": '{"order_number": "1"}'}),
    "tool-delete": Action("editor", _u("tool-delete", TOOL), lambda s: {}),
    "number-connect": Action(
        "editor",
        _u("number-connect"),
        lambda s: {"number": "+15559990000", "account": str(s.account.public_id)},
        False,
    ),
    "number": Action(
        "editor",
        _u("number", NUMBER),
        lambda s: {"label": "Forged", "telephony_account": str(s.account.public_id)},
    ),
    "telephony-account": Action(
        "editor",
        _u("telephony-account", ACCOUNT),
        lambda s: {"label": "Forged", "account_sid": s.account.account_sid},
    ),
    "team-invite": Action(
        "admin", _u("team-invite"), lambda s: {"email": "forged@example.com", "role": "viewer"}, False
    ),
    "member-role": Action("admin", _u("member-role", MEMBER), lambda s: {"role": "viewer"}),
    "member-remove": Action("admin", _u("member-remove", MEMBER), lambda s: {}),
    "invitation-revoke": Action("admin", _u("invitation-revoke", INVITATION), lambda s: {}),
    "api-key-new": Action("admin", _u("api-key-new"), lambda s: {"name": "Forged", "scope": "read"}, False),
    "api-key-revoke": Action("admin", _u("api-key-revoke", KEY), lambda s: {}),
}
for _area in AREAS:
    ACTIONS.update(_area.ACTIONS)
DETAIL_ACTIONS = [name for name, action in ACTIONS.items() if action.detail]

ROLE_USERS = {"owner": "owner_a", "admin": "admin_a", "editor": "editor_a", "viewer": "viewer_a"}
RANK = {"viewer": 0, "editor": 1, "admin": 2, "owner": 3}


def snapshot() -> dict[str, list[Any]]:
    """Everything a dashboard write could change, to assert that a refused request changed nothing."""
    from agents.models import Agent, AgentRevision, AgentTool, Tool
    from tenants.models import ApiKey, Invitation, Membership, PhoneNumber, TelephonyAccount

    rows: dict[str, list[Any]] = {
        "agents": list(
            Agent.objects.order_by("pk").values_list("pk", "name", "main_prompt", "published_revision_id")
        ),
        "revisions": list(AgentRevision.objects.order_by("pk").values_list("pk", "number")),
        "agent_tools": list(
            AgentTool.objects.order_by("pk").values_list("pk", "builtin", "tool_id", "in_main")
        ),
        "tools": list(Tool.objects.order_by("pk").values_list("pk", "name", "url", "description")),
        "numbers": list(
            PhoneNumber.objects.order_by("pk").values_list("pk", "number", "label", "agent_id", "is_active")
        ),
        "accounts": list(TelephonyAccount.objects.order_by("pk").values_list("pk", "label", "account_sid")),
        "memberships": list(Membership.objects.order_by("pk").values_list("pk", "role")),
        "invitations": list(
            Invitation.objects.order_by("pk").values_list("pk", "email", "role", "accepted_at")
        ),
        "keys": list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at")),
    }
    for area in AREAS:
        rows.update(area.snapshot())
    return rows
