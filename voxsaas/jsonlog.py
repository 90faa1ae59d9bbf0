"""Log lines that say which call they belong to, as plain text or as one JSON object per line.

The media-stream consumer binds the call (``bind_call``) once it knows it; the binding lives in a
context variable, so every task the call starts and every ``database_sync_to_async`` thread it
hops to (asgiref copies the context) logs with the same call id, and nothing else does.
``CallContextFilter`` copies it onto each record; ``JsonFormatter`` writes the record as JSON.

Only a fixed set of fields is written: nothing a caller of ``log.info(..., extra=...)`` attaches
is dumped wholesale, so a secret can't ride along by accident.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class CallLogContext:
    call_id: str
    tenant_id: int


_current_call: ContextVar[CallLogContext | None] = ContextVar("voxsaas_log_call", default=None)

# Extra fields a log call may add (the structured access log uses them); anything else is ignored.
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "client", "worker")


def bind_call(*, call_id: str, tenant_id: int) -> None:
    """Tag every log line of the current task (and the tasks and threads it starts from now on)."""
    _current_call.set(CallLogContext(call_id=call_id, tenant_id=tenant_id))


@contextlib.contextmanager
def call_logging(*, call_id: str, tenant_id: int) -> Iterator[None]:
    """``bind_call`` for a block of synchronous code (a Celery task handling one call)."""
    token = _current_call.set(CallLogContext(call_id=call_id, tenant_id=tenant_id))
    try:
        yield
    finally:
        _current_call.reset(token)


def current_call() -> CallLogContext | None:
    return _current_call.get()


class CallContextFilter(logging.Filter):
    """Adds ``call_id``, ``tenant_id`` and ``call_tag`` (" call=<id>" or "") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current_call.get()
        record.call_id = context.call_id if context else None
        record.tenant_id = context.tenant_id if context else None
        record.call_tag = f" call={context.call_id}" if context else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, call_id and
    tenant_id when a call is bound, the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id is None:  # a handler without the filter: read the context directly
            context = _current_call.get()
            call_id, tenant_id = (context.call_id, context.tenant_id) if context else (None, None)
        else:
            tenant_id = getattr(record, "tenant_id", None)
        if call_id is not None:
            entry["call_id"] = call_id
            entry["tenant_id"] = tenant_id
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
