"""``Server-Timing`` response header: the time Django spent on a request and its SQL queries.

Installed first in ``MIDDLEWARE`` only when the ``SERVER_TIMING`` setting is on (off by
default: timings tell an outsider something about the data behind an endpoint). Benchmarks
(``bench/api_lists.py``) and operators chasing a slow endpoint turn it on and read, per response::

    Server-Timing: app;dur=12.41, cpu;dur=8.90, db;dur=3.02;desc="5 queries"

``app`` runs from this middleware's entry to its exit: every other middleware, authentication,
throttling, the view, its queries (connecting included) and the rendering of the body; not the
ASGI server's own parsing and sending, nor the wait for a thread. ``cpu`` is the CPU time the
request's thread used over the same span: on a busy machine ``app`` includes waiting for a CPU,
``cpu`` does not. ``db`` is the time spent inside the database driver's ``execute`` calls on the
default connection, and how many there were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponseBase


class _QueryClock:
    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


class ServerTimingMiddleware:
    """Sync on purpose: placed first, it runs in the same thread as the (sync) views below it,
    so the connection it watches is the one the view uses."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        clock = _QueryClock()
        started, cpu_started = time.perf_counter(), time.thread_time()
        with connection.execute_wrapper(clock):
            response = self.get_response(request)
        total_ms = (time.perf_counter() - started) * 1000
        cpu_ms = (time.thread_time() - cpu_started) * 1000
        response["Server-Timing"] = (
            f"app;dur={total_ms:.2f}, cpu;dur={cpu_ms:.2f}, "
            f'db;dur={clock.seconds * 1000:.2f};desc="{clock.count} queries"'
        )
        return response
