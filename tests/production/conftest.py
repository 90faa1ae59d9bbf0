"""Fixtures for the production tests: real server processes (``tests.e2e.server``), the fake
Twilio caller and REST API, and the standard cast with its telephony."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.api.conftest import allow_private, eager_celery, keys, receiver
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony, telephony
from tests.e2e.conftest import Answer, configure_agent
from tests.e2e.server import PUBLIC_BASE_URL
from tests.fakes.twilio import FakeTwilioCaller, FakeTwilioRest

# Shared fixtures, re-exported for the tests of this folder.
__all__ = ["allow_private", "configure_agent", "eager_celery", "keys", "receiver", "telephony"]

STREAM_SIGNATURE_URL = PUBLIC_BASE_URL.replace("https://", "wss://") + "/twilio/media-stream"


@pytest.fixture
def echo_agent(telephony: Telephony, configure_agent: Callable[..., Any]) -> Telephony:
    """Tenant A's number answered by an agent on the echo engine (no account anywhere)."""
    configure_agent(engine="echo")
    return telephony


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> AsyncIterator[None]:
    """sync_to_async runs ORM calls in a worker thread whose connection would outlive the test
    and block dropping the test database on PostgreSQL."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


async def wait_db(predicate: Callable[[], object], timeout_s: float = 15.0) -> None:
    """Wait until the server process has written what the test expects. It is another process,
    so there is no event to await: this polls the database (bounded)."""
    from asgiref.sync import sync_to_async

    check = sync_to_async(predicate)
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - the server is another process: no event to await
            await asyncio.sleep(0.1)


async def connect_caller(server_ws_url: str, answer: Answer, rest: FakeTwilioRest) -> FakeTwilioCaller:
    """A ``FakeTwilioCaller`` on the answered call's media stream, signed like Twilio and known to
    the fake REST API (so a REST hang-up or redirect ends its stream)."""
    caller = FakeTwilioCaller(
        account_sid=ACCOUNT_A, call_sid=answer.call_sid, custom_parameters={"token": answer.token}
    )
    rest.add_call(answer.call_sid, caller=caller)
    await caller.connect(
        server_ws_url + "/twilio/media-stream", auth_token=TOKEN_A, signature_url=STREAM_SIGNATURE_URL
    )
    return caller
