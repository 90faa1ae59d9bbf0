"""Importing contacts from a CSV file, for the REST API and the dashboard.

Columns (a header row is required; order is free, names are case-insensitive):
``name`` (required), ``phone`` (E.164; several separated by ``;``), ``email``,
``account_number``, ``pin``, ``date_of_birth``. Unknown columns refuse the whole file, so a typo
in a header never drops a column silently. Every row is created in its own savepoint: valid rows
are kept, each invalid row is reported with its line number and field, nothing half-written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import IO

from django.core.exceptions import ValidationError
from django.db import transaction

from agents.models import Contact
from agents.services import contact_create
from tenants.models import Tenant

COLUMNS = ("name", "phone", "email", "account_number", "pin", "date_of_birth")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
MAX_REPORTED_ERRORS = 200


class ImportRejected(Exception):
    """The file as a whole cannot be imported (size, encoding, header); nothing was created."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line of the file, the header being line 1
    field: str  # a column name, or "" for the whole row
    message: str


@dataclass
class ImportResult:
    created: list[Contact] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_rows: int = 0  # rows refused (errors beyond MAX_REPORTED_ERRORS are counted, not listed)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected("The file is not UTF-8 text; save it as CSV (UTF-8).") from None


def _row_errors(exc: ValidationError) -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        found: list[tuple[str, str]] = []
        for name, errors in exc.error_dict.items():
            column = "phone" if name in ("phones", "number") else name
            column = column if column in COLUMNS else ""
            found += [(column, message) for error in errors for message in error.messages]
        return found
    return [("", message) for message in exc.messages]


def contacts_import_csv(
    *,
    tenant: Tenant,
    upload: IO[bytes],
    max_bytes: int = MAX_IMPORT_BYTES,
    max_rows: int = MAX_IMPORT_ROWS,
) -> ImportResult:
    """Create a contact per valid row of the CSV ``upload``; report the others."""
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImportRejected(f"The file is larger than {max_bytes // 1024} KB; split it into smaller files.")
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportRejected(f"Line 1: {exc}") from None
    if not header:
        raise ImportRejected("The file is empty; the first line names the columns.")
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown or "name" not in columns or len(set(columns)) != len(columns):
        raise ImportRejected(
            f"The first line must name the columns, once each, from: {', '.join(COLUMNS)} "
            f"(name is required). Found: {', '.join(columns)}."
        )
    result = ImportResult()
    rows = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            _refuse(result, RowError(reader.line_num, "", f"Unreadable CSV: {exc}"))
            break
        if not any(value.strip() for value in values):
            continue  # blank lines are allowed
        rows += 1
        if rows > max_rows:
            raise ImportRejected(f"At most {max_rows} contacts per file; split it into smaller files.")
        line = reader.line_num
        if len(values) != len(columns):
            _refuse(result, RowError(line, "", f"Expected {len(columns)} values, found {len(values)}."))
            continue
        row = {name: value.strip() for name, value in zip(columns, values, strict=True)}
        if not row["name"]:
            _refuse(result, RowError(line, "name", "A contact needs a name."))
            continue
        phones = list(dict.fromkeys(p.strip() for p in row.get("phone", "").split(";") if p.strip()))
        try:
            with transaction.atomic():
                contact = contact_create(
                    tenant=tenant,
                    name=row["name"],
                    phones=phones,
                    pin=row.get("pin", ""),
                    date_of_birth=row.get("date_of_birth", ""),
                    email=row.get("email", ""),
                    account_number=row.get("account_number", ""),
                )
        except ValidationError as exc:
            for column, message in _row_errors(exc) or [("", "Invalid row.")]:
                _refuse(result, RowError(line, column, message), count=False)
            result.error_rows += 1
            continue
        result.created.append(contact)
    return result


def _refuse(result: ImportResult, error: RowError, *, count: bool = True) -> None:
    if len(result.errors) < MAX_REPORTED_ERRORS:
        result.errors.append(error)
    if count:
        result.error_rows += 1
