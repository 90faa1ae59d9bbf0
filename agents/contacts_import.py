"""Importing contacts from a CSV file, for the REST API and the dashboard.

Columns (a header row is required; order is free, names are case-insensitive):
``name`` (required), ``phone`` (E.164; several separated by ``;``), ``email``,
``account_number``, ``pin``, ``date_of_birth``. Unknown columns refuse the whole file, so a typo
in a header never drops a column silently. Every row is created in its own savepoint: valid rows
are kept, each invalid row is reported with its line number and field, nothing half-written.

``check_only=True`` runs every check without writing (and without hashing PINs and dates of
birth, the slow part), for a preview: it also flags rows that look like contacts already in the
directory or like an earlier row of the same file, since an import always creates new contacts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from agents.models import Contact, ContactPhone
from agents.services import contact_check, contact_create
from tenants.models import Tenant

COLUMNS = ("name", "phone", "email", "account_number", "pin", "date_of_birth")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
MAX_REPORTED_ERRORS = 200
MAX_PREVIEW_ROWS = 50
PROGRESS_EVERY = 25  # rows between two progress reports
_LOOKUP_CHUNK = 500  # values per IN (...) when looking for contacts already in the directory


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


@dataclass(frozen=True)
class RowPreview:
    """A valid row as it would be imported; secrets only as "given or not"."""

    line: int
    name: str
    phones: tuple[str, ...]
    email: str
    account_number: str
    has_pin: bool
    has_date_of_birth: bool


@dataclass
class ImportResult:
    created: list[Contact] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_rows: int = 0  # rows refused (errors beyond MAX_REPORTED_ERRORS are counted, not listed)
    ready: int = 0  # valid rows: created, or (check_only) that would be
    preview: list[RowPreview] = field(default_factory=list)  # check_only: the first valid rows
    warnings: list[RowError] = field(default_factory=list)  # check_only: likely duplicates
    warning_rows: int = 0


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
    check_only: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Create a contact per valid row of the CSV ``upload``; report the others. ``check_only``
    writes nothing (a preview); ``progress`` is told how many rows are done now and then."""
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
    if len(columns) == 1 and ";" in columns[0] and "," not in columns[0]:
        raise ImportRejected(
            "The columns are separated by semicolons; save the file as CSV with commas "
            '(in Excel: "CSV UTF-8 (Comma delimited)").'
        )
    if unknown or "name" not in columns or len(set(columns)) != len(columns):
        raise ImportRejected(
            f"The first line must name the columns, once each, from: {', '.join(COLUMNS)} "
            f"(name is required). Found: {', '.join(columns)}."
        )
    result = ImportResult()
    seen: list[tuple[int, list[str], str]] = []  # check_only: (line, phones, account) of valid rows
    # Read every row first, so a file with too many rows is refused before anything is created.
    data_rows = list(_data_rows(reader, result))
    if len(data_rows) > max_rows:
        raise ImportRejected(f"At most {max_rows} contacts per file; split it into smaller files.")
    for done, (line, values) in enumerate(data_rows):
        if progress is not None and done and done % PROGRESS_EVERY == 0:
            progress(done)
        if len(values) != len(columns):
            _refuse(result, RowError(line, "", f"Expected {len(columns)} values, found {len(values)}."))
            continue
        row = {name: value.strip() for name, value in zip(columns, values, strict=True)}
        if not row["name"]:
            _refuse(result, RowError(line, "name", "A contact needs a name."))
            continue
        phones = list(dict.fromkeys(p.strip() for p in row.get("phone", "").split(";") if p.strip()))
        row_email, row_account = row.get("email", ""), row.get("account_number", "")
        pin, date_of_birth = row.get("pin", ""), row.get("date_of_birth", "")
        try:
            if check_only:
                contact_check(
                    tenant=tenant,
                    name=row["name"],
                    phones=phones,
                    email=row_email,
                    account_number=row_account,
                    pin=pin,
                    date_of_birth=date_of_birth,
                )
            else:
                with transaction.atomic():
                    contact = contact_create(
                        tenant=tenant,
                        name=row["name"],
                        phones=phones,
                        email=row_email,
                        account_number=row_account,
                        pin=pin,
                        date_of_birth=date_of_birth,
                    )
                result.created.append(contact)
        except ValidationError as exc:
            for column, message in _row_errors(exc) or [("", "Invalid row.")]:
                _refuse(result, RowError(line, column, message), count=False)
            result.error_rows += 1
            continue
        result.ready += 1
        if check_only:
            seen.append((line, phones, row_account))
            if len(result.preview) < MAX_PREVIEW_ROWS:
                result.preview.append(
                    RowPreview(
                        line=line,
                        name=row["name"],
                        phones=tuple(phones),
                        email=row_email,
                        account_number=row_account,
                        has_pin=bool(pin),
                        has_date_of_birth=bool(date_of_birth),
                    )
                )
    if progress is not None:
        progress(len(data_rows))
    if check_only:
        _warn_duplicates(tenant, seen, result)
    return result


def _data_rows(reader: Any, result: ImportResult) -> Iterator[tuple[int, list[str]]]:
    """(line, values) of every non-blank row; an unreadable line is reported and ends the file."""
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            _refuse(result, RowError(reader.line_num, "", f"Unreadable CSV: {exc}"))
            return
        if any(value.strip() for value in values):  # blank lines are allowed
            yield reader.line_num, values


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _LOOKUP_CHUNK):
        yield values[start : start + _LOOKUP_CHUNK]


def _warn_duplicates(tenant: Tenant, seen: list[tuple[int, list[str], str]], result: ImportResult) -> None:
    """Flag valid rows sharing a phone number or account number with a contact already in the
    directory, or with an earlier row of the file (an import always creates new contacts)."""
    numbers = sorted({number for _, phones, _ in seen for number in phones})
    accounts = sorted({account for _, _, account in seen if account})
    known_numbers: set[str] = set()
    for chunk in _chunks(numbers):
        known_numbers.update(
            ContactPhone.objects.filter(tenant=tenant, number__in=chunk).values_list("number", flat=True)
        )
    known_accounts: set[str] = set()
    for chunk in _chunks(accounts):
        known_accounts.update(
            Contact.objects.filter(tenant=tenant, account_number__in=chunk).values_list(
                "account_number", flat=True
            )
        )
    first_line: dict[str, int] = {}
    for line, phones, account in seen:
        reason = ""
        for number in phones:
            if number in known_numbers:
                reason = f"A contact with {number} is already in the directory."
            elif number in first_line:
                reason = f"Line {first_line[number]} has the same number {number}."
            if reason:
                break
        if not reason and account:
            if account in known_accounts:
                reason = f"A contact with account number {account} is already in the directory."
            elif f"#{account}" in first_line:
                reason = f"Line {first_line[f'#{account}']} has the same account number."
        for key in [*phones, f"#{account}" if account else ""]:
            if key:
                first_line.setdefault(key, line)
        if reason:
            result.warning_rows += 1
            if len(result.warnings) < MAX_REPORTED_ERRORS:
                result.warnings.append(RowError(line, "", reason))


def _refuse(result: ImportResult, error: RowError, *, count: bool = True) -> None:
    if len(result.errors) < MAX_REPORTED_ERRORS:
        result.errors.append(error)
    if count:
        result.error_rows += 1
