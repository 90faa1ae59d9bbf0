"""Agent pages: list, create, the editor (draft), tools per stage, publish."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from agents.dashboard.services import agent_create, agent_tools_set, agent_update
from agents.forms import (
    ADVANCED,
    BASICS,
    CONVERSATION,
    RECORDING,
    STAGE_PROMPTS,
    TIMEOUTS,
    TRANSFER,
    VERIFICATION,
    AgentCorporaForm,
    AgentCreateForm,
    AgentForm,
    AgentToolsForm,
    PublishForm,
    ToolChoice,
    builtin_choices,
)
from agents.models import Agent, AgentRevision, AgentTool, Tool
from agents.services import agent_config, agent_corpora_set, agent_publish, agent_template_errors
from agents.templating import CALL_VARIABLES, CONTACT_FIELDS
from tenants.access import access_agent_by_public_id
from tenants.dashboard.base import AuthedRequest, Workspace, form_errors_from, page, tenant_page

RECENT_REVISIONS = 8


@require_safe
@tenant_page()
def agent_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    agents = (
        Agent.objects.filter(tenant=ws.tenant)
        .select_related("published_revision")
        .only(
            "public_id",
            "name",
            "engine",
            "voice",
            "language",
            "verification_enabled",
            "updated_at",
            "published_revision__number",
            "published_revision__published_at",
        )
        .annotate(numbers=Count("phone_numbers"))
        .order_by("name")
    )
    return page(request, ws, "dashboard/agents/list.html", {"agents": agents}, section="agents")


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page(read="editor")
def agent_new(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = AgentCreateForm(request.POST or None, default_engine=settings.DEFAULT_ENGINE)
    if request.method == "POST" and form.is_valid():
        try:
            agent = agent_create(tenant=ws.tenant, fields=form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{agent.name} is created. Fine-tune it, then publish.")
            return redirect("dashboard:agent", slug=ws.tenant.slug, public_id=agent.public_id)
    return page(request, ws, "dashboard/agents/new.html", {"form": form}, section="agents")


def tool_choices(ws: Workspace) -> list[ToolChoice]:
    tools = Tool.objects.filter(tenant=ws.tenant).only("public_id", "name", "description").order_by("name")
    own = [
        ToolChoice(key=f"tool_{t.public_id.hex}", name=t.name, description=t.description, tool=t)
        for t in tools
    ]
    return builtin_choices() + own


def tools_form(ws: Workspace, agent: Agent, data: Any = None) -> AgentToolsForm:
    choices = tool_choices(ws)
    by_tool_pk = {c.tool.pk: c.key for c in choices if c.tool is not None}
    enabled: dict[str, tuple[bool, bool]] = {}
    for link in AgentTool.objects.filter(tenant=ws.tenant, agent=agent):
        key = link.builtin or by_tool_pk.get(link.tool_id or 0, "")
        enabled[key] = (link.in_verification, link.in_main)
    return AgentToolsForm(data, choices=choices, enabled=enabled)


def variable_hints(agent: Agent) -> list[tuple[str, str]]:
    """``{{ name }}`` tokens a template may use, with what they hold."""
    hints = [("{{ " + name + " }}", text) for name, text in CALL_VARIABLES.items()]
    hints += [
        ("{{ contact." + name + " }}", "The verified caller's " + name.replace("_", " ") + ".")
        for name in CONTACT_FIELDS
    ]
    hints += [
        ("{{ " + name + " }}", f"Your variable (default: {value!r}).")
        for name, value in agent.custom_variables.items()
    ]
    return hints


def _draft_differs(agent: Agent) -> bool:
    """Whether the draft has changes that calls don't use yet."""
    published = agent.published_revision
    return published is None or agent_config(agent) != published.config


@require_http_methods(["GET", "HEAD", "POST"])
@tenant_page()
def agent_edit(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    stored_errors = agent_template_errors(agent)  # before the form touches the instance
    draft_differs = _draft_differs(agent)
    hints = variable_hints(agent)
    form = AgentForm(request.POST or None, instance=agent)
    if request.method == "POST" and form.is_valid():
        try:
            agent_update(tenant=ws.tenant, agent=agent, changes=form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "Draft saved. Publish it to use it on calls.")
            return redirect("dashboard:agent", slug=ws.tenant.slug, public_id=agent.public_id)
    elif request.method == "POST":
        messages.error(request, "The draft was not saved: please correct the fields marked below.")
    revisions = AgentRevision.objects.filter(tenant=ws.tenant, agent_id=agent.pk).select_related(
        "published_by"
    )
    context = {
        "agent": agent,
        "form": form,
        "groups": _groups(form),
        "prompts": [form[name] for name in STAGE_PROMPTS],
        "tools_form": tools_form(ws, agent),
        "corpora_form": corpora_form(ws, agent),
        "publish_form": PublishForm(),
        "stored_errors": stored_errors,
        "draft_differs": draft_differs,
        "revisions": revisions.order_by("-number")[:RECENT_REVISIONS],
        "hints": hints,
    }
    return page(request, ws, "dashboard/agents/edit.html", context, section="agents")


def _groups(form: AgentForm) -> list[tuple[str, str, list[Any]]]:
    """The editor's sections: (id, title, bound fields)."""
    sections = [
        ("basics", "Engine and voice", BASICS),
        ("conversation", "Conversation", CONVERSATION),
        ("verification", "Verification", VERIFICATION),
        ("transfer", "Transfer", TRANSFER),
        ("timeouts", "Timeouts", TIMEOUTS),
        ("recording", "Recording", RECORDING),
        ("advanced", "Advanced", ADVANCED),
    ]
    return [(key, title, [form[name] for name in names]) for key, title, names in sections]


@require_POST
@tenant_page()
def agent_tools(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = tools_form(ws, agent, request.POST)
    if form.is_valid():
        selections = form.selections()
        builtins = {c.builtin: selections[c.key] for c in form.choices if c.builtin}
        tools = {c.tool: selections[c.key] for c in form.choices if c.tool is not None}
        agent_tools_set(tenant=ws.tenant, agent=agent, builtins=builtins, tools=tools)
        messages.success(request, "Tools saved to the draft. Publish to use them on calls.")
    return redirect(reverse("dashboard:agent", args=[ws.tenant.slug, agent.public_id]) + "#tools")


def corpora_form(ws: Workspace, agent: Agent, data: Any = None) -> AgentCorporaForm:
    current = [
        str(public_id)
        for public_id in agent.corpora.filter(tenant=ws.tenant).values_list("public_id", flat=True)
    ]
    return AgentCorporaForm(data, tenant_id=ws.tenant.pk, initial={"corpora": current})


@require_POST
@tenant_page()
def agent_corpora(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = corpora_form(ws, agent, request.POST)
    if form.is_valid():
        ids = [str(corpus.public_id) for corpus in form.cleaned_data["corpora"]]
        agent_corpora_set(tenant=ws.tenant, agent=agent, corpus_ids=ids)
        messages.success(request, "Knowledge bases saved to the draft. Publish to use them on calls.")
    else:
        messages.error(request, "Choose knowledge bases from this workspace.")
    return redirect(reverse("dashboard:agent", args=[ws.tenant.slug, agent.public_id]) + "#knowledge")


@require_POST
@tenant_page()
def agent_publish_view(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    form = PublishForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        revision = agent_publish(tenant=ws.tenant, agent=agent, user=request.user, note=note)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            messages.error(request, f"Not published: {field.replace('_', ' ')}: {' '.join(errors)}")
    else:
        messages.success(request, f"Published revision {revision.number}. New calls use it now.")
    return redirect("dashboard:agent", slug=ws.tenant.slug, public_id=agent.public_id)
