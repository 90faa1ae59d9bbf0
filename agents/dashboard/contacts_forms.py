"""Forms of the contact directory pages: search, the contact editor and the CSV import."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from agents.contacts_import import COLUMNS, MAX_IMPORT_BYTES
from agents.templating import CONTACT_FIELDS
from tenants.models import e164_validator

MAX_PHONES = 20  # as the REST API
MAX_CUSTOM_FIELDS = 30
MAX_CUSTOM_VALUE = 500  # as the REST API
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")  # usable as {{ contact.<name> }} in prompts
_PHONE_SEPARATORS = re.compile(r"[\n,;]+")
_PHONE_FORMATTING = re.compile(r"[\s().\-]")


class WriteOnlyInput(forms.TextInput):
    """A text input that never renders a value back: secrets are typed in, never shown."""

    def format_value(self, value: Any) -> None:
        return None


class ContactSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, phone, email or account number"}
        ),
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[("name", "Name A-Z"), ("recent", "Recently changed")],
    )


def parse_phones(text: str) -> list[str]:
    """Numbers separated by new lines, commas or semicolons. Spaces, dots, dashes and brackets
    inside an international number are forgiven (+1 (555) 123-0000); the rest must be E.164."""
    numbers: list[str] = []
    problems: list[str] = []
    for raw in _PHONE_SEPARATORS.split(text):
        raw = raw.strip()
        if not raw:
            continue
        number = _PHONE_FORMATTING.sub("", raw) if raw.startswith("+") else raw
        try:
            e164_validator(number)
        except ValidationError:
            problems.append(
                f"{raw!r} is not an international number: start with + and the country code, "
                "like +15551230000."
            )
            continue
        if number in numbers:
            problems.append(f"{number} is listed twice.")
            continue
        numbers.append(number)
    if len(numbers) > MAX_PHONES:
        problems.append(f"At most {MAX_PHONES} numbers per contact.")
    if problems:
        raise ValidationError(problems)
    return numbers


def format_custom_fields(fields: dict[str, Any]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in fields.items())


def parse_custom_fields(text: str, *, existing: frozenset[str] = frozenset()) -> dict[str, str]:
    """``name: value`` lines. New names must be usable in prompts; names the contact already
    has (perhaps set through the API) are kept as they are."""
    fields: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name:
            problems.append(f"Line {number}: write each field as name: value.")
        elif name not in existing and not FIELD_NAME.match(name):
            problems.append(
                f"Line {number}: {name!r} is not a field name (lower-case letters, digits and _, "
                "starting with a letter)."
            )
        elif name in CONTACT_FIELDS:
            problems.append(f"Line {number}: {name!r} is a standard field; use the box above.")
        elif name in fields:
            problems.append(f"Line {number}: {name!r} is given twice.")
        elif len(value) > MAX_CUSTOM_VALUE:
            problems.append(f"Line {number}: a value is at most {MAX_CUSTOM_VALUE} characters.")
        else:
            fields[name] = value
    if len(fields) > MAX_CUSTOM_FIELDS:
        problems.append(f"At most {MAX_CUSTOM_FIELDS} custom fields.")
    if problems:
        raise ValidationError(problems)
    return fields


class ContactForm(forms.Form):
    """A contact and its verification details. The PIN and date of birth are write-only: the
    directory keeps only their hashes, so the form can say whether one is set, never what."""

    name = forms.CharField(max_length=200)
    email = forms.EmailField(required=False)
    account_number = forms.CharField(
        label="Account number",
        max_length=64,
        required=False,
        help_text="Your own reference for this customer (account, member or CRM id). "
        "Callers can be identified by it.",
    )
    phones = forms.CharField(
        label="Phone numbers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"}),
        help_text="One per line, international form like +15551230000. Caller ID is matched "
        "against these (a hint, never proof).",
    )
    pin = forms.CharField(
        label="PIN",
        required=False,
        max_length=40,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "inputmode": "numeric"}
        ),
        help_text="4 to 12 digits the caller says to prove who they are. Stored hashed.",
    )
    clear_pin = forms.BooleanField(label="Remove the PIN", required=False)
    date_of_birth = forms.CharField(
        label="Date of birth",
        required=False,
        max_length=40,
        widget=WriteOnlyInput(attrs={"type": "date", "autocomplete": "off"}),
        help_text="Another secret a caller can prove themselves with. Stored hashed.",
    )
    clear_date_of_birth = forms.BooleanField(label="Remove the date of birth", required=False)
    custom_fields = forms.CharField(
        label="Custom fields",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
        help_text="One per line as name: value, e.g. plan: gold. Once the caller is verified "
        "the agent can use them, e.g. {{ contact.plan }} in a prompt.",
    )
    notes = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For your team; the agent does not see notes.",
    )

    def __init__(self, *args: Any, existing_fields: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.existing_fields = existing_fields

    def clean_phones(self) -> list[str]:
        return parse_phones(self.cleaned_data.get("phones") or "")

    def clean_custom_fields(self) -> dict[str, str]:
        return parse_custom_fields(
            self.cleaned_data.get("custom_fields") or "", existing=self.existing_fields
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("pin") and data.get("clear_pin"):
            self.add_error("pin", "Either type a new PIN or remove it, not both.")
        if data.get("date_of_birth") and data.get("clear_date_of_birth"):
            self.add_error("date_of_birth", "Either type a new date of birth or remove it, not both.")
        return data


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text=f"UTF-8, a header row naming the columns ({', '.join(COLUMNS)}), "
        f"at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise ValidationError(
                f"The file is larger than {MAX_IMPORT_BYTES // 1024} KB; split it into smaller files."
            )
        return upload


class ContactImportConfirmForm(forms.Form):
    token = forms.CharField(max_length=64, widget=forms.HiddenInput)
