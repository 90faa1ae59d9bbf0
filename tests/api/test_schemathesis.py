"""Schemathesis: requests generated from our OpenAPI schema, sent through the WSGI app with a
write API key, must never produce a server error. Twilio is a local fake, so generated outbound
calls never leave the machine; examples are bounded to keep the run short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from agents.services import agent_publish
from tests.api.conftest import Keys
from tests.calls.conftest import ACCOUNT_A, TOKEN_A, Telephony
from tests.fakes.background import BackgroundLoop
from tests.fakes.twilio import FakeTwilioRest


def _wsgi_app() -> Any:
    """Django's WSGI handler as a real server runs it, except that (like Django's own test client)
    it must not close the test's database connection when a request finishes."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    return get_wsgi_application()


# The schema needs no database: it is generated from the code.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", _wsgi_app())


@pytest.fixture
def api_world(settings: Any, telephony: Telephony) -> Iterator[None]:
    settings.API_THROTTLE_RATE = "100000/minute"
    agent_publish(tenant=telephony.cast.tenant_a, agent=telephony.cast.agent_a)
    with BackgroundLoop() as loop:
        fake = FakeTwilioRest(ACCOUNT_A, TOKEN_A)
        settings.TWILIO_API_BASE_URL = loop.run(fake.start())
        yield
        loop.run(fake.stop())


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: Any, keys: Keys, api_world: None) -> None:
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    case.call_and_validate(headers={"Authorization": f"Bearer {keys.write_a}"}, checks=[not_a_server_error])
