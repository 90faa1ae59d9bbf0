"""Prometheus metrics. Each process exposes its own: the web workers at ``/metrics`` (see
``voxsaas.probes``), a Celery worker on ``WORKER_METRICS_ADDRESS``.

Nothing here runs per audio frame. Frame counts are read from the live sessions' own counters
when Prometheus scrapes (``MediaFrameCollector``), and everything else a call reports (end
reason, engine errors, turn latencies) is recorded once, when the call ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from voxsaas.drain import worker

TURN_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)

ACTIVE_CALLS = Gauge("voxsaas_active_calls", "Calls this worker process is bridging now.")
ACTIVE_CALLS.set_function(lambda: worker.active_calls)
DRAINING = Gauge("voxsaas_draining", "1 while this worker drains (SIGTERM received), else 0.")
DRAINING.set_function(lambda: 1.0 if worker.draining else 0.0)
CALLS_ENDED = Counter(
    "voxsaas_calls_ended_total", "Calls this worker finished bridging, by end reason.", ["reason"]
)
ENGINE_ERRORS = Counter(
    "voxsaas_engine_errors_total", "Calls whose speech engine failed or could not be reached.", ["engine"]
)
TURN_LATENCY = Histogram(
    "voxsaas_turn_latency_seconds",
    "From the end of the caller's turn to the first agent audio sent to the caller.",
    buckets=TURN_LATENCY_BUCKETS,
)
STREAMS_REFUSED = Counter(
    "voxsaas_media_streams_refused_total", "Media streams refused because the worker was draining."
)
WEBHOOK_DELIVERIES = Counter(
    "voxsaas_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: succeeded, retrying (failed, another attempt is "
    "scheduled), failed (no attempt left, endpoint gone or disabled).",
    ["outcome"],
)
CALLS_REAPED = Counter(
    "voxsaas_calls_reaped_total", "Calls ended with reason worker_lost because their worker stopped beating."
)


class FrameCounts(Protocol):
    frames_in: int
    frames_out: int


class MediaFrameCollector(Collector):
    """``voxsaas_media_frames_total{direction}``: frames relayed by this process. Live sessions
    count in their own plain integers; a scrape adds them to the totals of finished calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes may run in a thread while calls end on the loop
        self._live: dict[int, FrameCounts] = {}
        self._done_in = 0
        self._done_out = 0

    def track(self, counts: FrameCounts) -> None:
        with self._lock:
            self._live[id(counts)] = counts

    def finish(self, counts: FrameCounts) -> None:
        with self._lock:
            if self._live.pop(id(counts), None) is not None:
                self._done_in += counts.frames_in
                self._done_out += counts.frames_out

    def totals(self) -> tuple[int, int]:
        with self._lock:
            live = list(self._live.values())
            return (
                self._done_in + sum(c.frames_in for c in live),
                self._done_out + sum(c.frames_out for c in live),
            )

    def collect(self) -> Iterator[CounterMetricFamily]:
        frames_in, frames_out = self.totals()
        family = CounterMetricFamily(
            "voxsaas_media_frames",
            "Media frames relayed (in: from callers, out: to callers).",
            labels=["direction"],
        )
        family.add_metric(["in"], frames_in)
        family.add_metric(["out"], frames_out)
        yield family


MEDIA_FRAMES = MediaFrameCollector()
REGISTRY.register(MEDIA_FRAMES)


def record_call_end(
    *, reason: str, engine: str, engine_failed: bool, turn_latencies_ms: Iterable[int]
) -> None:
    CALLS_ENDED.labels(reason=reason[:40]).inc()
    if engine_failed:
        ENGINE_ERRORS.labels(engine=engine[:24] or "unknown").inc()
    for latency_ms in turn_latencies_ms:
        if latency_ms >= 0:
            TURN_LATENCY.observe(latency_ms / 1000)


def start_worker_exporter(address: str, *, multiprocess_dir: str = "") -> None:
    """Serve this Celery worker's metrics on ``host:port`` (a daemon thread). With the prefork
    pool, tasks run in child processes: ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, set
    before the worker starts) shares their counters through files, summed here."""
    host, _, port = address.rpartition(":")
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0", registry=registry)  # noqa: S104
