"""Dashboard forms of the agents app: the agent editor, tools per stage, publishing, tools."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agents.knowledge.models import Corpus
from agents.models import Agent, BuiltinTool, Tool
from agents.services import agent_template_errors, tool_schema_errors
from agents.templating import CALL_VARIABLES

VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
PROMPT_ROWS = 14

BASICS = ("name", "engine", "model", "voice", "language", "temperature")
CONVERSATION = ("greeting", "silence_reminder", "handover_line")
STAGE_PROMPTS = ("verification_prompt", "main_prompt", "summary_prompt")
VERIFICATION = (
    "verification_enabled",
    "verification_max_attempts",
    "verification_failure_action",
    "verification_webhook_url",
)
TRANSFER = ("transfer_number", "transfer_failure_action")
TIMEOUTS = ("max_duration_s", "silence_timeout_s")
RECORDING = ("recording_enabled", "recording_announcement")
ADVANCED = (
    "llm_base_url",
    "llm_model",
    "precall_url",
    "precall_timeout_ms",
    "custom_variables",
    "summary_schema",
)
AGENT_FIELDS = (
    BASICS + CONVERSATION + STAGE_PROMPTS + VERIFICATION + TRANSFER + TIMEOUTS + RECORDING + ADVANCED
)

if TYPE_CHECKING:
    AgentModelForm = forms.ModelForm[Agent]
    ToolModelForm = forms.ModelForm[Tool]
else:  # django-stubs' generics aren't subscriptable at run time (no django_stubs_ext monkeypatch)
    AgentModelForm = ToolModelForm = forms.ModelForm

PROMPT_HELP = {
    "verification_prompt": "Runs first when verification is on: confirm who the caller is.",
    "main_prompt": "The conversation once the caller is verified (or straight away).",
    "summary_prompt": "After the call: how to summarise it. Empty uses a default.",
}


def _json_widget(rows: int = 6) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "class": "mono", "spellcheck": "false"})


class PrettyJSONField(forms.JSONField):
    """JSON shown indented in its textarea (the default renders one long line)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


class AgentForm(AgentModelForm):
    """Every setting of the agent's draft. Templates are checked against the variables a call
    has, so a typo is a form error now rather than silence in the middle of a call."""

    class Meta:
        model = Agent
        fields = AGENT_FIELDS
        widgets = {
            "greeting": forms.Textarea(attrs={"rows": 2}),
            "verification_prompt": forms.Textarea(attrs={"rows": PROMPT_ROWS}),
            "main_prompt": forms.Textarea(attrs={"rows": PROMPT_ROWS}),
            "summary_prompt": forms.Textarea(attrs={"rows": PROMPT_ROWS}),
            "custom_variables": _json_widget(4),
            "summary_schema": _json_widget(8),
        }
        field_classes = {"custom_variables": PrettyJSONField, "summary_schema": PrettyJSONField}
        labels = {
            "max_duration_s": "Maximum call length (seconds)",
            "silence_timeout_s": "Silence before a reminder (seconds)",
            "precall_timeout_ms": "Pre-call lookup timeout (ms)",
            "llm_base_url": "LLM base URL",
            "llm_model": "LLM model",
            "precall_url": "Pre-call lookup URL",
            "verification_webhook_url": "Verification webhook URL",
            "verification_max_attempts": "Attempts allowed",
            "verification_failure_action": "When verification fails",
            "transfer_failure_action": "When nobody answers the transfer",
            "transfer_number": "Transfer number",
            "verification_enabled": "Verify callers before the main conversation",
            "recording_enabled": "Record calls",
        }
        help_texts = {**PROMPT_HELP, "transfer_number": "E.164. Empty: the agent cannot transfer."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["main_prompt"].required = True

    def clean_custom_variables(self) -> dict[str, str]:
        value = self.cleaned_data.get("custom_variables") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError(
                'Use a JSON object of names and default values, like {"plan": "basic"}.'
            )
        for name, default in value.items():
            if not VARIABLE_NAME.match(name):
                raise forms.ValidationError(
                    f"'{name}' is not a variable name (lower-case letters, digits, _)."
                )
            if name in CALL_VARIABLES:
                raise forms.ValidationError(f"'{name}' is a built-in variable; choose another name.")
            if not isinstance(default, str | int | float | bool):
                raise forms.ValidationError(f"The default of '{name}' must be text or a number.")
        return {name: str(default) for name, default in value.items()}

    def clean_summary_schema(self) -> dict[str, Any]:
        value = self.cleaned_data.get("summary_schema")
        if value in ({}, None, ""):
            return {}
        if not isinstance(value, dict) or value.get("type") != "object":
            raise forms.ValidationError(
                'Use a JSON Schema with "type": "object", or {} for no structured fields.'
            )
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise forms.ValidationError(f"Invalid JSON Schema: {exc.message}") from None
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        probe = Agent(
            **{name: data.get(name) or "" for name in ("greeting", *STAGE_PROMPTS, "handover_line")}
        )
        probe.custom_variables = data.get("custom_variables") or {}
        for field, message in agent_template_errors(probe).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        return data


class AgentCreateForm(AgentModelForm):
    class Meta:
        model = Agent
        fields = ("name", "engine", "greeting", "main_prompt")
        widgets = {
            "greeting": forms.Textarea(attrs={"rows": 2}),
            "main_prompt": forms.Textarea(attrs={"rows": 8}),
        }
        help_texts = {"main_prompt": "What the agent does. You can refine everything after creating it."}

    def __init__(self, *args: Any, default_engine: str, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"engine": default_engine})
        super().__init__(*args, **kwargs)
        self.fields["main_prompt"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        probe = Agent(greeting=data.get("greeting") or "", main_prompt=data.get("main_prompt") or "")
        for field, message in agent_template_errors(probe).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        return data


@dataclass(frozen=True)
class ToolChoice:
    """One row of the agent's tools table: a built-in or one of the tenant's webhook tools."""

    key: str
    name: str
    description: str
    builtin: str = ""
    tool: Tool | None = None


class AgentToolsForm(forms.Form):
    """Two checkboxes per available tool: offered in the verification stage, in the main stage.
    Only the tenant's own tools are fields, so another tenant's tool id is never read."""

    def __init__(
        self, *args: Any, choices: list[ToolChoice], enabled: dict[str, tuple[bool, bool]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.choices = choices
        for choice in choices:
            in_verification, in_main = enabled.get(choice.key, (False, False))
            self.fields[f"{choice.key}__verification"] = forms.BooleanField(
                required=False, initial=in_verification, label=f"{choice.name}: verification stage"
            )
            self.fields[f"{choice.key}__main"] = forms.BooleanField(
                required=False, initial=in_main, label=f"{choice.name}: main stage"
            )

    def rows(self) -> list[tuple[ToolChoice, forms.BoundField, forms.BoundField]]:
        return [(c, self[f"{c.key}__verification"], self[f"{c.key}__main"]) for c in self.choices]

    def selections(self) -> dict[str, tuple[bool, bool]]:
        return {
            c.key: (
                bool(self.cleaned_data[f"{c.key}__verification"]),
                bool(self.cleaned_data[f"{c.key}__main"]),
            )
            for c in self.choices
        }


def builtin_choices() -> list[ToolChoice]:
    return [
        ToolChoice(key=value, name=value, description=str(label), builtin=value)
        for value, label in BuiltinTool.choices
    ]


class AgentCorporaForm(forms.Form):
    """The knowledge-base corpora the agent may search (the tenant's own corpora only)."""

    corpora = forms.ModelMultipleChoiceField(
        queryset=Corpus.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Knowledge bases",
        help_text="Searched by the query_knowledge_base tool (enable it under Tools).",
    )

    def __init__(self, *args: Any, tenant_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["corpora"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Corpus.objects.filter(tenant_id=tenant_id).only("public_id", "name").order_by("name")


class PublishForm(forms.Form):
    note = forms.CharField(
        max_length=200,
        required=False,
        label="What changed?",
        widget=forms.TextInput(attrs={"placeholder": "Optional note"}),
    )


class RevisionCompareForm(forms.Form):
    """``draft`` or a revision number on either side."""

    left = forms.CharField(max_length=12, label="From")
    right = forms.CharField(max_length=12, label="To")

    def clean_left(self) -> str:
        return _revision_ref(self.cleaned_data["left"])

    def clean_right(self) -> str:
        return _revision_ref(self.cleaned_data["right"])


def _revision_ref(value: str) -> str:
    value = value.strip().lower()
    if value != "draft" and not value.isdigit():
        raise forms.ValidationError("Choose a revision number or the draft.")
    return value


EXAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_number": {
            "type": "string",
            "description": "The order number the caller gives.",
            "maxLength": 32,
        },
        "include_items": {"type": "boolean", "default": False},
    },
    "required": ["order_number"],
    "additionalProperties": False,
}


class ToolForm(ToolModelForm):
    """A webhook tool. The signing secret and secret headers are write-only: never rendered back;
    empty keeps the stored value."""

    signing_secret_input = forms.CharField(
        required=False,
        max_length=200,
        label="Signing secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="HMAC key for the X-VoxSaaS-Signature header. Empty: keep the current one "
        "(a new tool gets a random one, shown once).",
    )
    secret_headers_input = forms.CharField(
        required=False,
        label="Secret headers",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text='JSON object, e.g. {"Authorization": "Bearer …"}. Stored encrypted. '
        "Empty: keep the current ones.",
    )
    clear_secret_headers = forms.BooleanField(required=False, label="Remove the stored secret headers")

    class Meta:
        model = Tool
        fields = (
            "name",
            "description",
            "parameters",
            "url",
            "method",
            "headers",
            "timeout_s",
            "max_response_bytes",
        )
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "parameters": _json_widget(14),
            "headers": _json_widget(3),
        }
        field_classes = {"parameters": PrettyJSONField, "headers": PrettyJSONField}
        labels = {
            "parameters": "Parameters (JSON Schema)",
            "url": "URL",
            "timeout_s": "Timeout (seconds)",
            "max_response_bytes": "Largest response (bytes)",
        }

    def __init__(self, *args: Any, tenant_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant_id = tenant_id
        if not self.instance.pk and not self.is_bound:
            self.initial.setdefault("parameters", EXAMPLE_SCHEMA)

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"])
        clash = Tool.objects.filter(tenant_id=self.tenant_id, name=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("Another tool already has this name.")
        return name

    def clean_parameters(self) -> dict[str, Any]:
        value = self.cleaned_data.get("parameters")
        error = tool_schema_errors(value)
        if error:
            raise forms.ValidationError(error)
        assert isinstance(value, dict)
        return value

    def clean_headers(self) -> dict[str, str]:
        return _header_object(self.cleaned_data.get("headers") or {})

    def clean_secret_headers_input(self) -> str:
        raw = str(self.cleaned_data.get("secret_headers_input") or "").strip()
        if not raw:
            return ""
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("Enter a valid JSON object.") from None
        return json.dumps(_header_object(value))


def _header_object(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise forms.ValidationError(
            'Use a JSON object of header names and text values, like {"X-Team": "ops"}.'
        )
    for name in value:
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name):
            raise forms.ValidationError(f"'{name}' is not a valid header name.")
    return value


class ToolTestForm(forms.Form):
    arguments = forms.CharField(
        widget=_json_widget(8),
        label="Sample arguments",
        help_text="A JSON object, as the model would send it.",
    )

    def clean_arguments(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["arguments"])
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The arguments must be a JSON object.")
        return value
