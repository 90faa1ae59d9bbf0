"""Tool arguments from JSON Schemas, for the demo dialogue policy.

A tenant names its parameters as it likes (``date`` or ``day``, ``pin`` or ``digits``,
``start`` with ``format: date-time`` ...), so the policy never assumes a name: each property of
a tool's schema is matched to something the caller said by its name, ``format`` and
``description``, then typed as the schema asks (string / integer, ``enum``, ``maxLength``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any


@dataclass
class Facts:
    """What the policy knows when it fills arguments."""

    text: str  # the caller's last message
    today: date
    digits: str | None = None
    birth_date: date | None = None
    name: str | None = None
    day: date | None = None
    time: time | None = None
    reason: str | None = None
    booking_id: str | None = None


def _concept(name: str, schema: dict[str, Any]) -> str:
    key = name.lower()
    description = str(schema.get("description") or "").lower()
    fmt = schema.get("format")
    if "birth" in key or key == "dob" or "date of birth" in description:
        return "birth_date"
    if any(part in key for part in ("pin", "digit", "passcode", "code", "account")):
        return "digits"
    if any(part in key for part in ("query", "question", "search")) or key in ("q", "text", "prompt"):
        return "query"
    if fmt == "date-time" or any(part in key for part in ("datetime", "date_time", "start", "when", "slot")):
        return "datetime"
    if fmt == "date" or "date" in key or key == "day":
        return "date"
    if fmt == "time" or "time" in key or key == "hour":
        return "time"
    if any(part in key for part in ("duration", "minutes", "length")):
        return "duration"
    if "reason" in key or key in ("summary", "notes", "purpose", "title", "subject", "description", "topic"):
        return "reason"
    if "name" in key:
        return "name"
    if key == "id" or key.endswith("_id") or key.endswith("id"):
        return "id"
    return "unknown"


def _raw_value(concept: str, facts: Facts) -> Any:
    if concept == "birth_date":
        return facts.birth_date.isoformat() if facts.birth_date else None
    if concept == "digits":
        return facts.digits
    if concept == "query":
        return facts.text or None
    if concept == "datetime":
        if facts.day and facts.time:
            return datetime.combine(facts.day, facts.time).isoformat(timespec="seconds")
        return None
    if concept == "date":
        return facts.day.isoformat() if facts.day else None
    if concept == "time":
        return facts.time.strftime("%H:%M") if facts.time else None
    if concept == "duration":
        return 30  # minutes: a demo default nobody is asked about
    if concept == "reason":
        return facts.reason or facts.text or None
    if concept == "name":
        return facts.name
    if concept == "id":
        return facts.booking_id
    return None


def _typed(value: Any, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if "integer" in kinds and not isinstance(value, int):
        value = int(value) if isinstance(value, str) and value.isdigit() else None
    elif "number" in kinds and not isinstance(value, int | float):
        value = float(value) if isinstance(value, str) and value.replace(".", "", 1).isdigit() else None
    elif "string" in kinds and not isinstance(value, str):
        value = str(value)
    if isinstance(value, str) and isinstance(schema.get("maxLength"), int):
        value = value[: schema["maxLength"]]
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return None
    return value


def fill_arguments(schema: dict[str, Any], facts: Facts) -> tuple[dict[str, Any], list[str]]:
    """Arguments for every property we know a value for, and the REQUIRED ones we do not (the
    policy asks the caller for the first of those)."""
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        raw = _raw_value(_concept(name, prop), facts)
        if raw is None and isinstance(prop.get("enum"), list) and name in schema.get("required", []):
            raw = prop["enum"][0]
        value = _typed(raw, prop) if raw is not None else None
        if value is not None:
            arguments[name] = value
    missing = [name for name in schema.get("required", []) if name not in arguments]
    return arguments, missing


def label_for(name: str) -> str:
    """How to ask for a parameter: ``pin`` -> "PIN", ``date_of_birth`` -> "date of birth"."""
    concept = _concept(name, {})
    if concept == "digits":
        return "PIN" if "account" not in name.lower() else "account number"
    if concept == "birth_date":
        return "date of birth"
    if concept in ("datetime", "date"):
        return "day and time"
    return name.replace("_", " ").replace("-", " ").lower()


def result_fields(output: Any, keys: tuple[str, ...]) -> Any:
    """The first of ``keys`` in a tool result (top level, or inside ``data``/``result``)."""
    if not isinstance(output, dict):
        return None
    for key in keys:
        if key in output:
            return output[key]
    for wrapper in ("data", "result"):
        inner = output.get(wrapper)
        if isinstance(inner, dict):
            for key in keys:
                if key in inner:
                    return inner[key]
    return None
