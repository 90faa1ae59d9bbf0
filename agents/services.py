"""Writes for agents, revisions, tools and contacts. Keyword-only, atomic, tenant explicit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agents import templating
from agents.builtins import builtin_spec
from agents.models import Agent, AgentCorpus, AgentRevision, AgentTool, Contact, ContactPhone, Tool
from agents.verification import hash_secret, normalise_date, normalise_digits
from tenants.models import Tenant, e164_validator

TEMPLATED_FIELDS = ("greeting", "verification_prompt", "main_prompt", "summary_prompt", "handover_line")


def agent_template_errors(agent: Agent) -> dict[str, str]:
    """Field -> message for every template that refers to an unknown variable."""
    errors = {}
    for field in TEMPLATED_FIELDS:
        try:
            templating.validate(getattr(agent, field) or "", extra_variables=agent.custom_variables.keys())
        except templating.TemplateError as exc:
            errors[field] = str(exc)
    return errors


def tool_schema_errors(parameters: Any) -> str | None:
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        return 'The parameters schema must be a JSON object with "type": "object".'
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        return f"Invalid JSON Schema: {exc.message}"
    return None


def _tool_entry(agent_tool: AgentTool) -> dict[str, Any]:
    if agent_tool.builtin:
        spec = builtin_spec(agent_tool.builtin)
        entry: dict[str, Any] = {"kind": "builtin", "name": spec.name, "description": spec.description}
        entry.update({"parameters": spec.parameters, "timeout_s": spec.timeout_s})
    else:
        tool = agent_tool.tool
        assert tool is not None
        entry = {
            "kind": "webhook",
            "tool_id": str(tool.public_id),
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "timeout_s": tool.timeout_s,
            "url": tool.url,
            "method": tool.method,
        }
    entry.update({"in_verification": agent_tool.in_verification, "in_main": agent_tool.in_main})
    return entry


AGENT_CONFIG_FIELDS = (
    "name",
    "engine",
    "model",
    "voice",
    "language",
    "temperature",
    "greeting",
    "verification_enabled",
    "verification_prompt",
    "main_prompt",
    "summary_prompt",
    "max_duration_s",
    "silence_timeout_s",
    "silence_reminder",
    "transfer_number",
    "recording_enabled",
    "recording_announcement",
    "summary_schema",
    "llm_base_url",
    "llm_model",
    "verification_max_attempts",
    "verification_failure_action",
    "verification_webhook_url",
    "transfer_failure_action",
    "handover_line",
    "precall_url",
    "precall_timeout_ms",
    "custom_variables",
)


def agent_config(agent: Agent) -> dict[str, Any]:
    """The complete configuration of the agent as it is now (what a revision freezes)."""
    config: dict[str, Any] = {name: getattr(agent, name) for name in AGENT_CONFIG_FIELDS}
    config["agent_id"] = str(agent.public_id)
    tools = (
        AgentTool.objects.filter(tenant_id=agent.tenant_id, agent=agent).select_related("tool").order_by("pk")
    )
    config["tools"] = [_tool_entry(t) for t in tools]
    config["corpus_ids"] = [
        str(public_id)
        for public_id in agent.corpora.filter(tenant_id=agent.tenant_id).values_list("public_id", flat=True)
    ]
    return config


@transaction.atomic
def agent_publish(*, tenant: Tenant, agent: Agent, user: User | None = None, note: str = "") -> AgentRevision:
    """Freeze the agent's current configuration as its next immutable revision."""
    locked = Agent.objects.select_for_update().get(tenant=tenant, pk=agent.pk)
    errors = agent_template_errors(locked)
    if errors:
        raise ValidationError(errors)
    number = (AgentRevision.objects.filter(agent=locked).aggregate(n=Max("number"))["n"] or 0) + 1
    revision = AgentRevision.objects.create(
        tenant=tenant,
        agent=locked,
        number=number,
        config=agent_config(locked),
        published_by=user,
        note=note[:200],
    )
    locked.published_revision = revision
    locked.save(update_fields=["published_revision"])
    agent.published_revision = revision
    return revision


@transaction.atomic
def agent_tool_enable(
    *,
    tenant: Tenant,
    agent: Agent,
    builtin: str = "",
    tool: Tool | None = None,
    in_verification: bool = False,
    in_main: bool = True,
) -> AgentTool:
    if tool is not None and tool.tenant_id != tenant.pk:
        raise ValidationError("Unknown tool.")
    if agent.tenant_id != tenant.pk:
        raise ValidationError("Unknown agent.")
    agent_tool, _ = AgentTool.objects.update_or_create(
        tenant=tenant,
        agent=agent,
        builtin=builtin,
        tool=tool,
        defaults={"in_verification": in_verification, "in_main": in_main},
    )
    return agent_tool


def contact_check(
    *,
    tenant: Tenant,
    name: str,
    phones: Sequence[str] = (),
    pin: str = "",
    date_of_birth: str = "",
    email: str = "",
    account_number: str = "",
    custom_fields: dict[str, str] | None = None,
    notes: str = "",
) -> tuple[Contact, list[str]]:
    """Every check ``contact_create`` makes, without writing or hashing anything (a CSV preview
    runs it on thousands of rows; a PIN hash costs a good fraction of a second). Returns the
    unsaved contact and its cleaned phone numbers, or raises the same ``ValidationError``."""
    contact = Contact(tenant=tenant, name=name, email=email, account_number=account_number, notes=notes)
    contact.custom_fields = custom_fields or {}
    _secret_values(pin=pin, date_of_birth=date_of_birth)
    contact.full_clean(exclude=["pin_hash", "dob_hash"], validate_unique=False)
    return contact, _clean_phones(phones)


@transaction.atomic
def contact_create(
    *,
    tenant: Tenant,
    name: str,
    phones: Sequence[str] = (),
    pin: str = "",
    date_of_birth: str = "",
    email: str = "",
    account_number: str = "",
    custom_fields: dict[str, str] | None = None,
    notes: str = "",
) -> Contact:
    contact, numbers = contact_check(
        tenant=tenant,
        name=name,
        phones=phones,
        pin=pin,
        date_of_birth=date_of_birth,
        email=email,
        account_number=account_number,
        custom_fields=custom_fields,
        notes=notes,
    )
    _set_secrets(contact, pin=pin, date_of_birth=date_of_birth)
    contact.save()
    ContactPhone.objects.bulk_create(
        [ContactPhone(tenant=tenant, contact=contact, number=number) for number in numbers]
    )
    return contact


def _secret_values(*, pin: str, date_of_birth: str) -> tuple[str, str]:
    """The normalised PIN digits and ISO date of birth ("" where not given), or a ValidationError."""
    digits = dob = ""
    if pin:
        digits = normalise_digits(pin)
        if not 4 <= len(digits) <= 12:
            raise ValidationError({"pin": "A PIN is 4 to 12 digits."})
    if date_of_birth:
        dob = normalise_date(date_of_birth) or ""
        if not dob:
            raise ValidationError({"date_of_birth": "Use a date like 1990-03-14."})
    return digits, dob


def _set_secrets(contact: Contact, *, pin: str, date_of_birth: str) -> None:
    digits, dob = _secret_values(pin=pin, date_of_birth=date_of_birth)
    if digits:
        contact.pin_hash = hash_secret(digits)
    if dob:
        contact.dob_hash = hash_secret(dob)


@transaction.atomic
def agent_corpora_set(*, tenant: Tenant, agent: Agent, corpus_ids: Sequence[str]) -> None:
    """Give the agent exactly these corpora (public ids of the tenant's own corpora)."""
    from agents.knowledge.models import Corpus

    if agent.tenant_id != tenant.pk:
        raise ValidationError("Unknown agent.")
    corpora = list(Corpus.objects.filter(tenant=tenant, public_id__in=list(corpus_ids)))
    if len(corpora) != len(set(corpus_ids)):
        raise ValidationError("Unknown corpus.")
    AgentCorpus.objects.filter(tenant=tenant, agent=agent).exclude(corpus__in=corpora).delete()
    for corpus in corpora:
        AgentCorpus.objects.get_or_create(tenant=tenant, agent=agent, corpus=corpus)


@dataclass(frozen=True)
class AgentToolChoice:
    """One tool an agent should offer: a built-in (by name) or one of the tenant's webhook tools."""

    builtin: str = ""
    tool: Tool | None = None
    in_verification: bool = False
    in_main: bool = True


@transaction.atomic
def agent_tools_replace(
    *, tenant: Tenant, agent: Agent, choices: Sequence[AgentToolChoice]
) -> list[AgentTool]:
    """Make the agent's enabled tools exactly ``choices``; everything else is disabled. A choice
    offered in neither stage counts as disabled. Takes effect for calls at the next publish."""
    row = Agent.objects.select_for_update().filter(tenant=tenant, pk=agent.pk).first()
    if row is None:
        raise ValidationError("Unknown agent.")
    wanted = [c for c in choices if c.in_verification or c.in_main]
    keep_builtins = {c.builtin for c in wanted if c.builtin}
    keep_tools = {c.tool.pk for c in wanted if c.tool is not None}
    AgentTool.objects.filter(tenant=tenant, agent=row).exclude(builtin="").exclude(
        builtin__in=keep_builtins
    ).delete()
    AgentTool.objects.filter(tenant=tenant, agent=row, tool__isnull=False).exclude(
        tool__in=keep_tools
    ).delete()
    return [
        agent_tool_enable(
            tenant=tenant,
            agent=row,
            builtin=c.builtin,
            tool=c.tool,
            in_verification=c.in_verification,
            in_main=c.in_main,
        )
        for c in wanted
    ]


def _clean_phones(phones: Sequence[str]) -> list[str]:
    numbers = [str(number).strip() for number in phones]
    if len(set(numbers)) != len(numbers):
        raise ValidationError({"phones": "A number is listed twice."})
    for number in numbers:
        try:
            e164_validator(number)
        except ValidationError:
            raise ValidationError(
                {"phones": f"{number!r} is not an E.164 number like +15551230000."}
            ) from None
    return numbers


@transaction.atomic
def contact_update(
    *,
    tenant: Tenant,
    contact: Contact,
    changes: Mapping[str, Any] | None = None,
    phones: Sequence[str] | None = None,
    pin: str | None = None,
    date_of_birth: str | None = None,
) -> Contact:
    """Change a contact. ``changes``: name, email, account_number, custom_fields, notes.
    ``phones``: the complete new list (None keeps them). Secrets: None keeps the stored hash,
    "" removes it, a value replaces it (stored hashed)."""
    allowed = {"name", "email", "account_number", "custom_fields", "notes"}
    unknown = set(changes or {}) - allowed
    if unknown:
        raise TypeError(f"Unknown contact fields: {sorted(unknown)}")
    row = Contact.objects.select_for_update().filter(tenant=tenant, pk=contact.pk).first()
    if row is None:
        raise ValidationError("Unknown contact.")
    for name, value in (changes or {}).items():
        setattr(row, name, value)
    if pin == "":
        row.pin_hash = ""
    if date_of_birth == "":
        row.dob_hash = ""
    _set_secrets(row, pin=pin or "", date_of_birth=date_of_birth or "")
    row.full_clean(exclude=["tenant", "pin_hash", "dob_hash"])
    row.save()
    if phones is not None:
        numbers = _clean_phones(phones)
        ContactPhone.objects.filter(tenant=tenant, contact=row).exclude(number__in=numbers).delete()
        existing = set(
            ContactPhone.objects.filter(tenant=tenant, contact=row).values_list("number", flat=True)
        )
        ContactPhone.objects.bulk_create(
            [ContactPhone(tenant=tenant, contact=row, number=n) for n in numbers if n not in existing]
        )
    return row


@transaction.atomic
def contact_delete(*, tenant: Tenant, contact: Contact) -> None:
    Contact.objects.filter(tenant=tenant, pk=contact.pk).delete()
