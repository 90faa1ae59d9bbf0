"""Pre-call personalisation: the tenant's CRM supplies variables, and a slow or broken CRM
never holds the call beyond the timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from calls.precall import fetch_precall_variables, parse_variables


def test_parse_variables_keeps_simple_values_only() -> None:
    payload = {
        "variables": {"customer_name": "Ann", "tier": 2, "vip": True, "nested": {"x": 1}, "bad key": "x"}
    }
    assert parse_variables(payload) == {"customer_name": "Ann", "tier": "2", "vip": "True"}
    assert parse_variables(["not", "an", "object"]) == {}
    assert parse_variables({"plan": "x" * 10_000})["plan"] == "x" * 500


@pytest.fixture
async def crm() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/slow":
            await release.wait()  # answers only when the test ends
        if request.path == "/fail":
            return web.Response(status=500)
        if request.path == "/html":
            return web.Response(text="<html>", content_type="text/html")
        body = await request.json()
        return web.json_response({"customer_name": "Ann", "caller": body["caller"]})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    release.set()
    await runner.cleanup()


async def _fetch(url: str, timeout_ms: int = 300) -> dict[str, str]:
    return await fetch_precall_variables(
        url=url, timeout_ms=timeout_ms, caller="+15552223333", called="+15550001111", agent_id="a"
    )


async def test_variables_come_from_the_crm(crm: str, settings: Any) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True
    assert await _fetch(crm + "/lookup") == {"customer_name": "Ann", "caller": "+15552223333"}


@pytest.mark.parametrize("path", ["/slow", "/fail", "/html"])
async def test_a_slow_or_broken_crm_means_defaults_within_the_timeout(
    crm: str, settings: Any, path: str
) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True
    started = time.monotonic()
    assert await _fetch(crm + path, timeout_ms=300) == {}
    assert time.monotonic() - started < 2.0  # bounded by the 300 ms timeout (plus scheduling slack)


async def test_an_internal_address_is_refused(crm: str, settings: Any) -> None:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = False
    assert await _fetch(crm + "/lookup") == {}
