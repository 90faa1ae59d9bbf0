"""The tenant's webhook tools: list, editor, delete, and "test this tool"."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from jsonschema import Draft202012Validator

from agents.access import access_tool_by_public_id
from agents.dashboard.services import tool_create, tool_delete, tool_update
from agents.forms import EXAMPLE_SCHEMA, ToolForm, ToolTestForm
from agents.models import Tool
from tenants.dashboard.base import (
    AuthedRequest,
    Workspace,
    form_errors_from,
    is_htmx,
    no_store,
    page,
    tenant_page,
)

MASK = "••••••"
STRING_FORMAT_SAMPLES = {
    "date": "1990-03-14",
    "date-time": "2026-03-14T15:00:00Z",
    "time": "15:00:00",
    "email": "name@example.com",
    "uri": "https://example.com/",
}
MAX_SHOWN_BODY = 20_000


@require_safe
@tenant_page()
def tool_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    tools = (
        Tool.objects.filter(tenant=ws.tenant)
        .only("public_id", "name", "description", "url", "method", "updated_at")
        .annotate(agents=Count("agent_tools"))
        .order_by("name")
    )
    return page(request, ws, "dashboard/tools/list.html", {"tools": tools}, section="tools")


def _model_fields(form: ToolForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in ToolForm.Meta.fields}


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def tool_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = ToolForm(request.POST or None, tenant_id=ws.tenant.pk)
    if request.method == "POST" and form.is_valid():
        try:
            saved = tool_create(
                tenant=ws.tenant,
                fields=_model_fields(form),
                signing_secret=form.cleaned_data["signing_secret_input"],
                secret_headers=form.cleaned_data["secret_headers_input"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(
                request, f"The tool {saved.tool.name} is created. Enable it on an agent to use it."
            )
            if saved.generated_secret:
                context = {"tool": saved.tool, "secret": saved.generated_secret}
                return no_store(page(request, ws, "dashboard/tools/created.html", context, section="tools"))
            return redirect("dashboard:tool", slug=ws.tenant.slug, public_id=saved.tool.public_id)
    context = {"form": form, "example_schema": json.dumps(EXAMPLE_SCHEMA, indent=2)}
    return page(request, ws, "dashboard/tools/edit.html", context, section="tools")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page()
def tool_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    tool = access_tool_by_public_id(tenant=ws.tenant, public_id=public_id)
    has_secret_headers = bool(tool.secret_headers)
    form = ToolForm(request.POST or None, instance=tool, tenant_id=ws.tenant.pk)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        secret_headers = "" if data["clear_secret_headers"] else (data["secret_headers_input"] or None)
        try:
            tool_update(
                tenant=ws.tenant,
                tool=tool,
                changes=_model_fields(form),
                signing_secret=data["signing_secret_input"],
                secret_headers=secret_headers,
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(
                request, "Tool saved. Agents using it see the change when they are next published."
            )
            return redirect("dashboard:tool", slug=ws.tenant.slug, public_id=tool.public_id)
    stored = access_tool_by_public_id(tenant=ws.tenant, public_id=public_id) if form.is_bound else tool
    context = {
        "tool": stored,
        "form": form,
        "has_secret_headers": has_secret_headers,
        "example_schema": json.dumps(EXAMPLE_SCHEMA, indent=2),
        "test_form": ToolTestForm(
            initial={"arguments": json.dumps(example_arguments(stored.parameters), indent=2)}
        ),
    }
    return page(request, ws, "dashboard/tools/edit.html", context, section="tools")


@require_POST
@tenant_page()
def tool_delete_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    tool = access_tool_by_public_id(tenant=ws.tenant, public_id=public_id)
    tool_delete(tenant=ws.tenant, tool=tool)
    messages.success(request, f"The tool {tool.name} is deleted.")
    return redirect("dashboard:tools", slug=ws.tenant.slug)


# ----------------------------------------------------------------------------- test this tool


@dataclass(frozen=True)
class RequestShown:
    method: str
    url: str
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class ToolTestResult:
    arguments_errors: list[str] = field(default_factory=list)
    request: RequestShown | None = None
    sent: bool = False  # False: the sender is not available in this build; the request is a preview
    status: int | None = None
    elapsed_ms: int | None = None
    response_body: str = ""
    truncated: bool = False
    error: str = ""


def example_arguments(schema: Any) -> dict[str, Any]:
    """A plausible argument object for ``schema``, to start the test from."""
    if not isinstance(schema, dict):
        return {}
    samples: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if "default" in spec:
            samples[name] = spec["default"]
        elif spec.get("examples"):
            samples[name] = spec["examples"][0]
        elif spec.get("enum"):
            samples[name] = spec["enum"][0]
        elif kind == "string" and spec.get("format") in STRING_FORMAT_SAMPLES:
            samples[name] = STRING_FORMAT_SAMPLES[spec["format"]]
        else:
            samples[name] = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(
                kind if isinstance(kind, str) else "", "example"
            )
    return samples


def argument_errors(schema: dict[str, Any], arguments: dict[str, Any]) -> list[str]:
    """Every way ``arguments`` breaks the schema, each prefixed with where (like the live call)."""
    errors = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.absolute_path))
    return [
        (("/".join(str(p) for p in e.absolute_path) + ": ") if e.absolute_path else "") + e.message
        for e in errors
    ]


def _sender() -> Callable[..., Any] | None:
    """The live sender, when calls.toolbox provides it (otherwise the page shows a preview)."""
    try:
        from calls.toolbox.webhook import test_webhook_tool
    except ImportError:
        return None
    return test_webhook_tool


def _masked(tool: Tool, headers: dict[str, str]) -> dict[str, str]:
    try:
        secret_names = {str(k).lower() for k in json.loads(tool.secret_headers or "{}")}
    except ValueError:
        secret_names = set()
    return {k: (MASK if k.lower() in secret_names else v) for k, v in headers.items()}


def _pretty_body(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    with contextlib.suppress(ValueError):  # not JSON: shown as it came
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return text[:MAX_SHOWN_BODY]


def run_tool_test(tool: Tool, arguments: dict[str, Any]) -> ToolTestResult:
    errors = argument_errors(tool.parameters, arguments)
    if errors:
        return ToolTestResult(arguments_errors=errors)
    sender = _sender()
    if sender is None:
        body = {"tool": tool.name, "arguments": arguments, "call": {"id": "test", "verified": False}}
        preview = RequestShown(
            tool.method, tool.url, _masked(tool, dict(tool.headers or {})), _pretty_body(json.dumps(body))
        )
        return ToolTestResult(request=preview)
    prepared, outcome = sender(tool=tool, arguments=arguments)
    shown = RequestShown(
        prepared.method, prepared.url, _masked(tool, dict(prepared.headers)), _pretty_body(prepared.body)
    )
    if isinstance(outcome, str):
        return ToolTestResult(request=shown, sent=True, error=outcome)
    return ToolTestResult(
        request=shown,
        sent=True,
        status=outcome.status_code,
        elapsed_ms=outcome.elapsed_ms,
        response_body=_pretty_body(outcome.body),
        truncated=outcome.truncated,
    )


@require_POST
@tenant_page()
def tool_test(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    tool = access_tool_by_public_id(tenant=ws.tenant, public_id=public_id)
    test_form = ToolTestForm(request.POST)
    result = run_tool_test(tool, test_form.cleaned_data["arguments"]) if test_form.is_valid() else None
    context = {"tool": tool, "test_form": test_form, "result": result}
    if is_htmx(request):
        return no_store(page(request, ws, "dashboard/tools/_test_result.html", context, section="tools"))
    context.update(
        {
            "form": ToolForm(instance=tool, tenant_id=ws.tenant.pk),
            "has_secret_headers": bool(tool.secret_headers),
            "example_schema": json.dumps(EXAMPLE_SCHEMA, indent=2),
        }
    )
    return no_store(page(request, ws, "dashboard/tools/edit.html", context, section="tools"))
