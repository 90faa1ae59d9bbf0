"""A deliberately tiny template language for greetings and prompts: ``{{ name }}`` and
``{{ contact.field }}``, nothing else (no logic, no attribute access, no filters).

Tenants write these templates, so they must not be able to execute anything, and a typo must
be an error when the agent is saved, not silence in the middle of a call. ``validate`` checks
every name against the variables the call will have; ``render`` substitutes values and never
fails at call time (a variable that has no value renders as an empty string).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}(\.[a-z][a-z0-9_]{0,40})?$")

# Variables every call has. Contact fields ("contact.name", "contact.<custom>") exist once the
# caller is verified; before that they render empty.
CALL_VARIABLES: dict[str, str] = {
    "caller_number": "The caller's phone number (E.164), or 'anonymous'.",
    "called_number": "The number the caller dialled.",
    "tenant_name": "Your business name.",
    "local_date": "Today's date in your time zone, e.g. Tuesday 3 March 2026.",
    "local_time": "The current time in your time zone, e.g. 3:05 PM.",
    "local_weekday": "Today's weekday in your time zone.",
    "agent_name": "The agent's name.",
}
CONTACT_FIELDS = ("name", "email", "account_number")


class TemplateError(ValueError):
    """A template refers to something that does not exist, or is malformed."""


@dataclass(frozen=True)
class TemplateCheck:
    names: tuple[str, ...]


def placeholders(template: str) -> list[str]:
    return [match.group(1) for match in _PLACEHOLDER.finditer(template)]


def validate(
    template: str, *, extra_variables: Iterable[str] = (), contact_fields: Iterable[str] = ()
) -> TemplateCheck:
    """Raise ``TemplateError`` naming the first unknown or malformed placeholder."""
    stray = _PLACEHOLDER.sub("", template)
    if "{{" in stray or "}}" in stray:
        raise TemplateError("Unbalanced '{{' or '}}' in the template.")
    known = set(CALL_VARIABLES) | set(extra_variables)
    known_contact = set(CONTACT_FIELDS) | set(contact_fields)
    names = placeholders(template)
    for name in names:
        if not _NAME.match(name):
            raise TemplateError(f"'{{{{ {name} }}}}' is not a variable name (use letters, digits and _).")
        if name.startswith("contact."):
            if name.split(".", 1)[1] not in known_contact:
                raise TemplateError(
                    f"Unknown contact field '{name}'. Known: {', '.join(sorted(known_contact))}."
                )
        elif "." in name or name not in known:
            raise TemplateError(f"Unknown variable '{name}'. Known: {', '.join(sorted(known))}.")
    return TemplateCheck(tuple(names))


def render(template: str, variables: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), "")), template)
