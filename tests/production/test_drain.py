"""Graceful drain of a real server process (``python -m voxsaas.serve``) on SIGTERM.

A call in progress when the signal arrives goes on and ends normally; meanwhile the worker reports
not ready and refuses new media streams; once its calls are over it exits 0 on its own. At the
drain deadline a call still running is ended cleanly by the worker itself.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallStatus
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.e2e.conftest import place_inbound_call
from tests.e2e.server import LiveServer, live_server
from tests.fakes.twilio import FakeTwilioCaller, FakeTwilioRest, new_sid
from tests.production.conftest import connect_caller, wait_db

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


async def _readiness(server: LiveServer) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(server.http_url + "/readyz")).status_code


async def _wait_readiness(server: LiveServer, status: int, timeout_s: float = 10.0) -> None:
    """The signal is handled by another process: poll its readiness (bounded)."""
    async with asyncio.timeout(timeout_s):
        while await _readiness(server) != status:  # noqa: ASYNC110 - another process: no event
            await asyncio.sleep(0.05)


async def _metric(server: LiveServer, name: str) -> float:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            server.http_url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
    assert response.status_code == 200, response.text
    for line in response.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def _heard_more(caller: FakeTwilioCaller, bytes_more: int = 1600) -> None:
    """The echo engine plays the caller's own audio back: the call is alive while this grows."""
    before = len(caller.played)
    await caller.wait_for(lambda: len(caller.played) >= before + bytes_more, timeout_s=10)


async def _exit_code(server: LiveServer, timeout_s: float = 20.0) -> int:
    async with asyncio.timeout(timeout_s):
        return await server.process.wait()


async def test_sigterm_lets_the_active_call_finish_refuses_new_streams_then_exits(
    echo_agent: Telephony,
) -> None:
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(
            TWILIO_API_BASE_URL=rest.base_url,
            DRAIN_TIMEOUT_S="60",
            DRAIN_UNLISTEN_AFTER_S="60",  # keep listening: this test checks readiness and refusal
            METRICS_TOKEN=METRICS_TOKEN,
        ) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        await wait_db(lambda: Call.objects.filter(status=CallStatus.IN_PROGRESS).exists())
        await _heard_more(caller)
        assert await _readiness(server) == 200
        assert await _metric(server, "voxsaas_active_calls") == 1
        assert await _metric(server, "voxsaas_draining") == 0

        server.process.send_signal(signal.SIGTERM)
        await _wait_readiness(server, 503)
        assert await _metric(server, "voxsaas_draining") == 1

        # The call in progress goes on: the caller still hears the echo of their own audio.
        await _heard_more(caller)
        assert server.process.returncode is None

        # A new stream reaching this worker (the balancer had not noticed yet) is refused.
        late = await place_inbound_call(server.http_url, new_sid("CA"))
        refused = await connect_caller(server.ws_url, late, rest)
        async with asyncio.timeout(10):
            await refused.closed.wait()
        assert refused.closed_by_server and refused.close_code == 1013
        assert await _metric(server, "voxsaas_media_streams_refused_total") == 1
        await _heard_more(caller)  # still unaffected

        # The caller hangs up: the worker has nothing left and stops by itself.
        await caller.hang_up()
        assert await _exit_code(server) == 0
        await caller.aclose()
        await refused.aclose()

    first = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
    assert first.end_reason == "caller_hangup"
    assert first.ended_at is not None and first.status == CallStatus.COMPLETED
    never_bound = await sync_to_async(Call.objects.get)(twilio_call_sid=late.call_sid)
    assert never_bound.stream_sid == "" and never_bound.answered_at is None


async def test_drain_deadline_ends_the_remaining_call_cleanly_and_stops_listening(
    echo_agent: Telephony,
) -> None:
    async with (
        FakeTwilioRest(ACCOUNT_A, TOKEN_A) as rest,
        live_server(
            TWILIO_API_BASE_URL=rest.base_url, DRAIN_TIMEOUT_S="2", DRAIN_UNLISTEN_AFTER_S="0"
        ) as server,
    ):
        answer = await place_inbound_call(server.http_url, new_sid("CA"))
        caller = await connect_caller(server.ws_url, answer, rest)
        await wait_db(lambda: Call.objects.filter(status=CallStatus.IN_PROGRESS).exists())
        await _heard_more(caller)

        server.process.send_signal(signal.SIGTERM)
        # The listening socket closes at once (DRAIN_UNLISTEN_AFTER_S=0): new connections are
        # refused, so a balancer retries them elsewhere, while the call goes on.
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                except OSError:
                    break
                writer.close()
                await writer.wait_closed()
                await asyncio.sleep(0.05)  # polling another process's socket state
        await _heard_more(caller)

        # Past the deadline the worker ends the call itself (the caller never hung up) and exits 0.
        async with asyncio.timeout(15):
            await caller.closed.wait()
        assert caller.closed_by_server
        assert await _exit_code(server) == 0
        await caller.aclose()

    call = await sync_to_async(Call.objects.get)(twilio_call_sid=answer.call_sid)
    assert call.end_reason == "worker_shutdown"
    assert call.ended_at is not None and call.status == CallStatus.COMPLETED
    assert call.duration_s is not None and call.duration_s >= 1
