"""A readable diff between two agent configurations (revisions or the draft), field by field.

Text fields get a word-level diff (prompts are usually long single paragraphs, where a line
diff would only say "everything changed"); structured values (tools, schemas) a line diff of
their pretty-printed JSON.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import FieldDoesNotExist

from agents.models import Agent
from agents.services import AGENT_CONFIG_FIELDS

Op = Literal["same", "add", "del", "gap"]
IGNORED = frozenset({"agent_id"})
_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Piece:
    op: Op
    text: str


@dataclass(frozen=True)
class FieldDiff:
    field: str
    label: str
    inline: bool  # True: ``pieces`` flow as text; False: ``pieces`` are lines
    pieces: list[Piece]


def _label(field: str) -> str:
    try:
        name = str(getattr(Agent._meta.get_field(field), "verbose_name", field))
    except FieldDoesNotExist:
        name = field.replace("_", " ")
    return name[:1].upper() + name[1:]


def _ordered_keys(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    known = [*AGENT_CONFIG_FIELDS, "tools", "corpus_ids"]
    rest = sorted((set(left) | set(right)) - set(known))
    return [k for k in [*known, *rest] if k not in IGNORED and (k in left or k in right)]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _word_diff(old: str, new: str) -> list[Piece]:
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("del", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("add", "".join(b[j1:j2])))
    return pieces


def _line_diff(old: str, new: str) -> list[Piece]:
    pieces: list[Piece] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            pieces.append(Piece("gap", "…"))
        elif line.startswith("+"):
            pieces.append(Piece("add", line[1:]))
        elif line.startswith("-"):
            pieces.append(Piece("del", line[1:]))
        else:
            pieces.append(Piece("same", line[1:]))
    return pieces


def config_diff(left: dict[str, Any], right: dict[str, Any]) -> list[FieldDiff]:
    """The fields that differ between two configurations, in the editor's order."""
    diffs = []
    for key in _ordered_keys(left, right):
        old, new = left.get(key), right.get(key)
        if old == new:
            continue
        if isinstance(old, str | None) and isinstance(new, str | None):
            diffs.append(FieldDiff(key, _label(key), True, _word_diff(old or "", new or "")))
        else:
            diffs.append(FieldDiff(key, _label(key), False, _line_diff(_pretty(old), _pretty(new))))
    return diffs
