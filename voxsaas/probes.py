"""Liveness, readiness and metrics, answered in front of Django (an ASGI wrapper).

Load balancers and Prometheus reach each worker by its own address (``10.0.3.7:8000``), not by the
public host name, and over plain HTTP: Django would refuse the host (``ALLOWED_HOSTS``) or
redirect to HTTPS. So these three paths never enter Django; everything else does, untouched.

- ``GET /healthz``: 200 while the process serves (liveness).
- ``GET /readyz``: 200 when the database and Redis (if configured) answer and the worker is not
  draining, else 503 with which check failed (readiness: route new calls here or not).
- ``GET /metrics``: Prometheus text for this process, with ``Authorization: Bearer
  <METRICS_TOKEN>``; 404 when no token is configured, 401 with a wrong one. A token, not an
  address allow-list: behind a proxy every request comes from the proxy's private address (or
  claims any address in X-Forwarded-For), so an address can't tell Prometheus from the internet.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from voxsaas import metrics as _metrics  # noqa: F401 - registers this process's metrics
from voxsaas.drain import worker

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

CHECK_TIMEOUT_S = 2.0
JSON = b"application/json"


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _ping_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _check(name: str, probe: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe()
    except Exception as exc:
        log.warning("readiness: %s unreachable: %s", name, type(exc).__name__)
        return "unreachable"
    return "ok"


async def readiness() -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {"draining": worker.draining}
    probes: dict[str, Callable[[], Awaitable[None]]] = {"database": database_sync_to_async(_ping_database)}
    redis_url = settings.REDIS_URL
    if redis_url:
        probes["redis"] = lambda: _ping_redis(redis_url)
    results = await asyncio.gather(*(_check(name, probe) for name, probe in probes.items()))
    checks.update(zip(probes, results, strict=True))
    ready = not worker.draining and all(result == "ok" for result in results)
    return ready, checks


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class ProbeApp:
    """Answers the probe paths; passes every other request to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in ("/healthz", "/readyz", "/metrics"):
            await self.app(scope, receive, send)
            return
        if scope.get("method") != "GET":
            await _respond(send, 405, b'{"error": "GET only"}', JSON)
        elif path == "/healthz":
            await _respond(send, 200, b'{"status": "ok"}', JSON)
        elif path == "/readyz":
            ready, checks = await readiness()
            body = json.dumps({"status": "ready" if ready else "not_ready", "checks": checks}).encode()
            await _respond(send, 200 if ready else 503, body, JSON)
        else:
            await self._metrics(scope, send)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        expected = settings.METRICS_TOKEN
        if not expected:
            await _respond(send, 404, b'{"error": "metrics are off (set METRICS_TOKEN)"}', JSON)
            return
        if not hmac.compare_digest(_bearer(scope).encode(), expected.encode()):
            await _respond(send, 401, b'{"error": "bearer token required"}', JSON)
            return
        await _respond(send, 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST.encode())


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
