"""Contact imports from the dashboard: a checked file waits for the go-ahead, then a background
job imports it and reports its progress.

Why a job: creating a contact hashes its PIN and date of birth (PBKDF2, a good fraction of a
second each), so a file of a few hundred rows outlasts any sensible HTTP request. Why the cache:
both the waiting file and the job's state are short-lived and must be visible to every web
process and the Celery worker (the cache is Redis whenever Redis is configured; without Redis
Celery runs tasks inline, in the same process as the locmem cache).

The waiting file can hold PINs and dates of birth in clear, so it is compressed and encrypted
with the FIELD_ENCRYPTION_KEYS Fernet keys, kept for at most ``PENDING_TTL``, and deleted as the
job starts. Every key carries the tenant's id: another tenant's token is simply not found.
"""

from __future__ import annotations

import io
import secrets
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from agents.contacts_import import ImportRejected, RowError, contacts_import_csv
from tenants.access import TenantObjectNotFound
from tenants.crypto import fernet
from tenants.models import Tenant

PENDING_TTL = 60 * 60  # seconds to confirm a preview
STATUS_TTL = 24 * 60 * 60  # how long the outcome of an import stays visible
STALLED_AFTER = timedelta(minutes=10)  # a running job that reported nothing for this long died
TOKEN_BYTES = 18

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def _pending_key(tenant_id: int, token: str) -> str:
    return f"contacts-import:pending:{tenant_id}:{token}"


def _status_key(tenant_id: int, token: str) -> str:
    return f"contacts-import:status:{tenant_id}:{token}"


@dataclass(frozen=True)
class ImportJob:
    """What the status page shows about one import."""

    token: str
    state: str
    filename: str
    total: int  # rows in the file (valid or not)
    done: int = 0
    created: int = 0
    error_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    message: str = ""  # why a failed import failed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED)

    @property
    def stalled(self) -> bool:
        """Running, but silent for so long that its worker must have died."""
        return (
            self.state == RUNNING
            and self.updated_at is not None
            and timezone.now() - self.updated_at > STALLED_AFTER
        )

    @property
    def percent(self) -> int:
        return 100 if self.finished or not self.total else min(99, self.done * 100 // self.total)


def _encode(job: ImportJob) -> dict[str, Any]:
    return {
        "state": job.state,
        "filename": job.filename,
        "total": job.total,
        "done": job.done,
        "created": job.created,
        "error_rows": job.error_rows,
        "errors": [(e.line, e.field, e.message) for e in job.errors],
        "message": job.message,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "updated_at": timezone.now().isoformat(),
    }


def _decode(token: str, raw: dict[str, Any]) -> ImportJob:
    return ImportJob(
        token=token,
        state=raw["state"],
        filename=raw["filename"],
        total=raw["total"],
        done=raw["done"],
        created=raw["created"],
        error_rows=raw["error_rows"],
        errors=[RowError(line, column, message) for line, column, message in raw["errors"]],
        message=raw["message"],
        started_at=datetime.fromisoformat(raw["started_at"]) if raw["started_at"] else None,
        finished_at=datetime.fromisoformat(raw["finished_at"]) if raw["finished_at"] else None,
        updated_at=datetime.fromisoformat(raw["updated_at"]),
    )


def contact_import_stage(*, tenant: Tenant, data: bytes, filename: str, rows: int) -> str:
    """Keep a checked file until the user confirms it (or ``PENDING_TTL`` passes); its token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    sealed = fernet().encrypt(zlib.compress(data))
    cache.set(
        _pending_key(tenant.pk, token),
        {"file": sealed, "filename": filename[:200], "rows": rows},
        PENDING_TTL,
    )
    return token


def contact_import_start(*, tenant: Tenant, token: str) -> ImportJob | None:
    """Queue the import of a staged file; None when it is unknown or has expired. Confirming
    twice starts one job (the second call gets the first one's state)."""
    pending = cache.get(_pending_key(tenant.pk, token))
    if pending is None:
        existing = cache.get(_status_key(tenant.pk, token))
        return _decode(token, existing) if existing is not None else None
    job = ImportJob(token=token, state=QUEUED, filename=pending["filename"], total=pending["rows"])
    if cache.add(_status_key(tenant.pk, token), _encode(job), STATUS_TTL):
        from agents.tasks import contacts_import_run

        # After the caller's transaction, if any (without Redis, Celery runs the job right then,
        # inside this request).
        tenant_id = tenant.pk
        transaction.on_commit(lambda: contacts_import_run.delay(tenant_id, token))
    return contact_import_job(tenant=tenant, token=token)


def contact_import_job(*, tenant: Tenant, token: str) -> ImportJob:
    """The state of one of this tenant's imports; another tenant's token is not found (404)."""
    if not token or len(token) > 64:
        raise TenantObjectNotFound("No import found.")
    raw = cache.get(_status_key(tenant.pk, token))
    if raw is None:
        raise TenantObjectNotFound("No import found.")
    return _decode(token, raw)


def _save(tenant_id: int, job: ImportJob) -> None:
    cache.set(_status_key(tenant_id, job.token), _encode(job), STATUS_TTL)


def contact_import_run(*, tenant_id: int, token: str) -> None:
    """The job: import the staged file, recording progress and the outcome. Runs once: the
    staged file is deleted as it starts, so a redelivered task finds nothing to do."""
    raw = cache.get(_status_key(tenant_id, token))
    if raw is None or raw["state"] != QUEUED:
        return
    job = _decode(token, raw)
    pending = cache.get(_pending_key(tenant_id, token))
    cache.delete(_pending_key(tenant_id, token))
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    now = timezone.now()
    if pending is None or tenant is None:
        message = "The file waited too long to be imported; upload it again."
        _save(tenant_id, _with(job, state=FAILED, message=message, finished_at=now))
        return
    try:
        data = zlib.decompress(fernet().decrypt(pending["file"]))
    except (InvalidToken, zlib.error):
        message = "The file could not be read back (the encryption keys changed); upload it again."
        _save(tenant_id, _with(job, state=FAILED, message=message, finished_at=now))
        return
    running = _with(job, state=RUNNING, started_at=now)
    _save(tenant_id, running)

    def progress(done: int) -> None:
        _save(tenant_id, _with(running, done=done))

    try:
        result = contacts_import_csv(tenant=tenant, upload=io.BytesIO(data), progress=progress)
    except ImportRejected as exc:
        _save(tenant_id, _with(running, state=FAILED, message=exc.message, finished_at=timezone.now()))
        return
    except Exception:
        message = "The import stopped unexpectedly. Contacts created before that point are kept."
        _save(tenant_id, _with(running, state=FAILED, message=message, finished_at=timezone.now()))
        raise
    finished = _with(
        running,
        state=DONE,
        done=job.total,
        created=len(result.created),
        error_rows=result.error_rows,
        errors=result.errors,
        finished_at=timezone.now(),
    )
    _save(tenant_id, finished)


def _with(job: ImportJob, **changes: Any) -> ImportJob:
    return replace(job, **changes)
