"""Probes (/healthz, /readyz, /metrics) in front of Django, the metrics a worker reports, and
structured logs that carry the call id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from calls.webhooks.models import DeliveryStatus, WebhookDelivery
from calls.webhooks.services import webhook_endpoint_create, webhooks_emit
from tests.calls.conftest import Telephony
from tests.fakes.webhook_receiver import FakeWebhookReceiver
from voxsaas import metrics, probes
from voxsaas.drain import worker
from voxsaas.jsonlog import CallContextFilter, JsonFormatter, bind_call, call_logging
from voxsaas.probes import ProbeApp

TOKEN = "a-long-metrics-token-0123456789"


async def _behind(scope: Any, receive: Any, send: Any) -> None:
    """What Django would be: answers 299 so the test sees the request got through."""
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ProbeApp(_behind))
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.3.7:8000") as http:
        yield http


@pytest.fixture
def draining() -> Iterator[None]:
    worker.draining = True
    yield
    worker.draining = False


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -------------------------------------------------------------------------------- probes


@pytest.mark.django_db
async def test_probes_answer_on_any_host_and_everything_else_goes_to_django(
    client: httpx.AsyncClient, settings: Any
) -> None:
    settings.REDIS_URL = None
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"draining": False, "database": "ok"}}
    passed = await client.get("/api/v1/calls")
    assert (passed.status_code, passed.text) == (299, "/api/v1/calls")
    assert (await client.post("/readyz")).status_code == 405


@pytest.mark.django_db
@pytest.mark.usefixtures("draining")
async def test_a_draining_worker_is_not_ready(client: httpx.AsyncClient, settings: Any) -> None:
    settings.REDIS_URL = None
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["draining"] is True
    assert (await client.get("/healthz")).status_code == 200  # still alive: don't restart it


@pytest.mark.django_db
async def test_unreachable_database_or_redis_is_not_ready(
    client: httpx.AsyncClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"draining": False, "database": "ok", "redis": "unreachable"}

    def broken() -> None:
        raise ConnectionError("database is down")

    settings.REDIS_URL = None
    monkeypatch.setattr(probes, "_ping_database", broken)
    response = await client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"] == "unreachable"
    assert "down" not in response.text  # no internals in the answer


async def test_metrics_need_the_bearer_token(client: httpx.AsyncClient, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert (await client.get("/metrics")).status_code == 404  # off without a token
    settings.METRICS_TOKEN = TOKEN
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert wrong.status_code == 401
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "voxsaas_active_calls",
        "voxsaas_draining",
        "voxsaas_media_frames_total",
        "voxsaas_engine_errors_total",
        "voxsaas_turn_latency_seconds_bucket",
        "voxsaas_webhook_deliveries_total",
    ):
        assert f"# TYPE {name.removesuffix('_bucket').removesuffix('_total')}" in response.text, name


# ------------------------------------------------------------------------------- metrics


async def test_active_calls_gauge_follows_the_call_tasks() -> None:
    release = asyncio.Event()
    before = sample("voxsaas_active_calls")
    task = asyncio.create_task(release.wait())
    worker.call_started(task)
    assert sample("voxsaas_active_calls") == before + 1
    release.set()
    await task
    assert sample("voxsaas_active_calls") == before


def test_frames_count_live_calls_and_stay_monotonic_when_they_end() -> None:
    class Counts:
        frames_in = 0
        frames_out = 0

    collector = metrics.MediaFrameCollector()
    call = Counts()
    collector.track(call)
    call.frames_in, call.frames_out = 50, 48
    assert collector.totals() == (50, 48)  # read at scrape time, no per-frame metric update
    call.frames_in, call.frames_out = 100, 99
    collector.finish(call)
    collector.finish(call)  # twice: counted once
    assert collector.totals() == (100, 99)


def test_call_end_records_reason_engine_errors_and_turn_latencies() -> None:
    ended = sample("voxsaas_calls_ended_total", reason="engine_error")
    errors = sample("voxsaas_engine_errors_total", engine="ultravox")
    turns = sample("voxsaas_turn_latency_seconds_count")
    fast = sample("voxsaas_turn_latency_seconds_bucket", le="0.4")
    metrics.record_call_end(
        reason="engine_error", engine="ultravox", engine_failed=True, turn_latencies_ms=[350, 1200]
    )
    assert sample("voxsaas_calls_ended_total", reason="engine_error") == ended + 1
    assert sample("voxsaas_engine_errors_total", engine="ultravox") == errors + 1
    assert sample("voxsaas_turn_latency_seconds_count") == turns + 2
    assert sample("voxsaas_turn_latency_seconds_bucket", le="0.4") == fast + 1


@pytest.mark.usefixtures("allow_private", "eager_celery")
def test_webhook_delivery_outcomes_are_counted(
    telephony: Telephony, receiver: FakeWebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    webhook_endpoint_create(tenant=telephony.cast.tenant_a, url=receiver.url, event_types=["call.ended"])
    retrying = sample("voxsaas_webhook_deliveries_total", outcome="retrying")
    succeeded = sample("voxsaas_webhook_deliveries_total", outcome="succeeded")
    receiver.script(500, 200)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks_emit(
            tenant_id=telephony.cast.tenant_a.pk,
            event_type="call.ended",
            payload={},
            dedup_key="call.ended:x",
        )
    assert sample("voxsaas_webhook_deliveries_total", outcome="retrying") == retrying + 1
    from calls.webhooks.delivery import attempt_delivery

    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        attempt_delivery(
            tenant_id=delivery.tenant_id,
            delivery_pk=delivery.pk,
            trigger="automatic",
            timeout_s=5,
            allow_private=True,
        )
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
    assert sample("voxsaas_webhook_deliveries_total", outcome="succeeded") == succeeded + 1


# ---------------------------------------------------------------------------------- logs


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(CallContextFilter())
    logger = logging.getLogger("tests.production.jsonlog")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_every_line_of_a_call_carries_its_id_in_tasks_and_threads() -> None:
    log, stream = _logger(JsonFormatter())

    async def call() -> None:
        log.info("before binding")
        bind_call(call_id="c-123", tenant_id=7)
        log.info("bound")
        await asyncio.create_task(asyncio.to_thread(log.warning, "from a thread %s", "hop"))

    await asyncio.create_task(call())
    log.info("another call's neighbour")
    first, bound, hop, after = _lines(stream)
    assert "call_id" not in first and "call_id" not in after
    assert (bound["call_id"], bound["tenant_id"], bound["message"]) == ("c-123", 7, "bound")
    assert (hop["call_id"], hop["level"], hop["message"]) == ("c-123", "WARNING", "from a thread hop")
    assert set(bound) == {"ts", "level", "logger", "message", "call_id", "tenant_id"}
    assert bound["ts"].endswith("+00:00")


def test_json_lines_keep_exceptions_and_only_known_extra_fields() -> None:
    log, stream = _logger(JsonFormatter())
    with call_logging(call_id="c-9", tenant_id=3):
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed", extra={"status": 500, "auth_token": "secret-value"})
    (line,) = _lines(stream)
    assert line["call_id"] == "c-9" and line["status"] == 500
    assert "ValueError: boom" in line["exc"]
    assert "secret-value" not in json.dumps(line)


def test_plain_lines_name_the_call_too() -> None:
    log, stream = _logger(logging.Formatter("%(levelname)s%(call_tag)s %(message)s"))
    log.info("idle")
    with call_logging(call_id="c-1", tenant_id=1):
        log.info("talking")
    assert stream.getvalue().splitlines() == ["INFO idle", "INFO call=c-1 talking"]
