"""The call path under load: N concurrent simulated Twilio calls against the real consumer.

Run from the repository root (takes ~1 minute per calls-count and server; see bench/README.md):

    .venv/bin/python bench/bridge_load.py --calls 50,200,500
    .venv/bin/python bench/bridge_load.py --calls 100 --servers daphne --profile-dir /tmp/prof
    .venv/bin/python bench/bridge_load.py --servers daphne --workers 2 --find-max

For each N and each server — ``daphne`` (the product: voxsaas.asgi under daphne, the Channels
``MediaStreamConsumer``, a ``CallSession`` with the echo engine, against an isolated database) and
``relay`` (``bench/minimal_relay.py``: bare ``websockets`` doing the same JSON/base64/mu-law work,
the floor) — a fresh server process is started, warmed up with two short calls, then N simulated
calls (``bench/_loadgen.py``, in ``--generators`` separate processes) ramp up, hold for
``--duration`` seconds of steady window, and hang up. Printed per N: added latency per frame
(p50/p99/max), frames lost, the server's CPU share and memory per call, setup time, the ratio of
ours to the floor, and whether the generator itself kept up.

The database: a temporary SQLite file (migrated with ``manage.py migrate``), or with
``--database-url postgres://...`` (or ``--postgres``) a throwaway database created next to the
one named and dropped at the end. Only 127.0.0.1 is contacted. Every wait is bounded; servers and
generators are killed (process groups) on errors and Ctrl-C.

Several workers (``--workers K``): K server processes behind a local balancer (``--balancer
haproxy``, the default for K > 1; ``reuseport`` or ``shared`` without a balancer process; see
``bench/_cluster.py``), in production configuration: PostgreSQL and ``REDIS_URL`` (channel layer,
cache, Celery broker) on a Redis database of the run's own, flushed at the start. Nothing of a
call may live in one process: its webhook and its media stream normally land on different
workers, and the bench counts how many did. Printed per phase besides the above: each worker's
CPU, streams and memory, the balancer's CPU per frame, the Postgres connections held.

``--find-max`` searches, for each server kind, the largest N with no frame lost and p99 < 20 ms
(step up by ``--growth`` from ``--start``, then bisect to ``--resolution``): "calls sustained",
measured rather than guessed. See bench/README.md, "Several workers behind a balancer".
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing
import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package: its helper modules are imported after the path fix.
import _loadgen  # noqa: E402
from _cluster import BALANCERS, NO_HAPROXY, Cluster, cpu_s_of, haproxy_binary, runqueue_wait_s  # noqa: E402
from _infra import (  # noqa: E402
    PostgresMonitor,
    RedisMonitor,
    bench_database,
    bench_redis,
    call_workers,
    cpu_delta,
)
from _profile import start_profiler, summarise_profile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = ROOT / "tests" / "data" / "audio"
PUBLIC_BASE_URL = "https://voice.example.test"
ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "bench-auth-token-" + "0123456789abcdef"
TO_NUMBER = "+15550009999"
FROM_NUMBER = "+15552223333"
SERVERS = ("relay", "daphne")
P99_BUDGET_MS = 20.0
LOOP_LAG_LIMIT_MS = 20.0
STARVED_PCT = 10.0  # the server waited for a CPU this share of the window: the machine was too busy
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"  # a database number of the bench's own

SEED = f"""
from agents.models import Agent
from agents.services import agent_publish
from tenants.models import PhoneNumber, TelephonyAccount
from tenants.services import tenant_create

tenant = tenant_create(
    slug="bench", name="Bridge load bench", max_concurrent_calls=100000, monthly_minutes=10**6
)
account = TelephonyAccount.objects.create(
    tenant=tenant, account_sid={ACCOUNT_SID!r}, auth_token={AUTH_TOKEN!r}
)
agent = Agent.objects.create(
    tenant=tenant, name="Echo", engine="echo", main_prompt="Repeat the caller.",
    verification_enabled=False, greeting="",
)
PhoneNumber.objects.create(tenant=tenant, number={TO_NUMBER!r}, telephony_account=account, agent=agent)
agent_publish(tenant=tenant, agent=agent)
print("seeded")
"""


# ---------------------------------------------------------------------------------- database


def server_env(database_url: str, redis_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_", "DJANGO_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY="bridge-load-bench-" + secrets.token_hex(24),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost,voice.example.test",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
        DATABASE_URL=database_url,
        # Never used by the echo engine (it does not hang up); pointed at a closed local port anyway.
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    if redis_url is not None:
        # Production's multi-worker configuration: channels-redis layer, Redis cache, Celery broker
        # (post-call tasks are queued for a worker the bench does not run; the database is flushed).
        env.update(REDIS_URL=redis_url, CHANNELS_PREFIX="voxsaas-bench")
    return env


def prepare_database(env: dict[str, str]) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    for argv, what in ((["migrate", "--noinput"], "migrate"), (["shell", "-c", SEED], "seed")):
        done = subprocess.run(
            manage + argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"manage.py {what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


# ------------------------------------------------------------------------------------- phase


@dataclass
class PhaseFigures:
    server: str
    calls: int
    ramp_s: float
    window_s: float
    workers: int = 1
    balancer: str = "none"
    streaming_at_window: int = 0  # calls whose stream had started when the window opened
    failed_calls: int = 0  # calls that never got an echo back
    webhook_retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    frames_window: int = 0
    lost_window: int = 0
    lost_total: int = 0
    corrupt: int = 0
    clears: int = 0
    lat_p50_ms: float | None = None
    lat_p99_ms: float | None = None
    lat_max_ms: float | None = None
    setup_p50_ms: float | None = None
    setup_p99_ms: float | None = None
    webhook_p50_ms: float | None = None
    server_cpu_pct: float = 0.0  # all workers, of one core, over the window
    server_cpu_s: float = 0.0
    worker_cpu_pct: list[float] = field(default_factory=list)  # each worker, of one core
    ramp_cpu_pct: float = 0.0  # server CPU during ramp + settle (call set-ups and early streaming)
    echoes_in_window: int = 0
    server_starved_pct: float = 0.0  # of the window, runnable but waiting for a CPU (worker average)
    generator_starved_pct: float = 0.0  # same, average of the generator processes
    cpu_pct_per_call: float = 0.0
    rss_base_mb: float = 0.0  # all workers
    rss_window_mb: float = 0.0
    worker_rss_mb: list[float] = field(default_factory=list)  # each worker at the window's end
    mb_per_call: float = 0.0
    worker_streams: dict[str, int] = field(default_factory=dict)  # calls bound per worker (Call rows)
    webhook_known: int = 0  # calls whose webhook answer named its worker (HAProxy)
    webhook_elsewhere: int = 0  # ... and whose stream was bound by another worker
    balancer_cpu_s: float = 0.0
    balancer_rss_mb: float = 0.0
    pg_connections_max: int = 0  # connections to the bench database, sampled over the phase
    pg_connections_window: int = 0  # at the window's end
    pg_cpu_s: float = 0.0  # CPU of the backends serving the bench database, over the window
    redis_cpu_s: float = 0.0  # the Redis server's CPU over the window (shared machine: an upper bound)
    redis_commands: int = 0
    generator_cpu_pct: float = 0.0  # all generator processes, of one core, over the window
    loop_lag_p99_ms: float | None = None
    loop_lag_max_ms: float | None = None
    send_late_pct: float = 0.0  # window frames sent > 20 ms after their deadline
    send_lateness_p99_ms: float | None = None
    load_avg: float = 0.0  # 1-minute load average at the end of the window (machine is shared)
    server_log: dict[str, int] = field(default_factory=dict)
    generator_errors: list[str] = field(default_factory=list)
    profile: str = ""
    gc: str = ""  # --daphne-gc: collections during the window
    window_bounds: tuple[float, float] | None = None  # monotonic
    sid_prefix: str = ""
    webhook_by_call: dict[int, str] = field(default_factory=dict)  # call index -> webhook's worker

    def _per_frame(self, cpu_s: float) -> float | None:
        return 1e6 * cpu_s / self.echoes_in_window if self.echoes_in_window else None

    @property
    def us_per_frame(self) -> float | None:
        """Server CPU (all workers) per echoed frame (media in, media + mark out, mark echo in)."""
        return self._per_frame(self.server_cpu_s)

    @property
    def balancer_us_per_frame(self) -> float | None:
        return self._per_frame(self.balancer_cpu_s) if self.balancer.startswith("haproxy") else None

    @property
    def pg_us_per_frame(self) -> float | None:
        return self._per_frame(self.pg_cpu_s) if self.pg_connections_max else None

    @property
    def redis_us_per_frame(self) -> float | None:
        return self._per_frame(self.redis_cpu_s) if self.redis_commands else None

    @property
    def host_us_per_frame(self) -> float | None:
        """Workers + balancer: what the host running them spends per frame."""
        return self._per_frame(self.server_cpu_s + self.balancer_cpu_s)

    @property
    def calls_per_core(self) -> float | None:
        """What one fully busy core would carry at this cost per frame (50 frames/s per call)."""
        us = self.us_per_frame
        return 1e6 / (us * 50) if us else None

    @property
    def host_calls_per_core(self) -> float | None:
        us = self.host_us_per_frame
        return 1e6 / (us * 50) if us else None

    @property
    def server_starved(self) -> bool:
        return self.server_starved_pct > STARVED_PCT

    @property
    def generator_limited(self) -> bool:
        return self.loop_lag_p99_ms is not None and self.loop_lag_p99_ms > LOOP_LAG_LIMIT_MS

    @property
    def sustained(self) -> bool:
        """DESIGN.md's criterion: every call served, no frame lost, p99 added latency < 20 ms."""
        return self.verdict.startswith("ok")

    @property
    def verdict(self) -> str:
        if self.generator_errors or self.frames_window == 0:
            return "FAILED"
        over = (
            self.lat_p99_ms is None
            or self.lat_p99_ms >= P99_BUDGET_MS
            or self.lost_window > 0
            or self.failed_calls > 0
        )
        causes = [
            *(["generator-limited"] if self.generator_limited else []),
            *(["server CPU-starved"] if self.server_starved else []),
        ]
        verdict = "over budget" if over else "ok"
        return f"{verdict} ({', '.join(causes)})" if causes else verdict


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))])


def sleep_until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.monotonic()))


@dataclass
class Monitors:
    """What the shared services cost; both optional (SQLite, no Redis)."""

    postgres: PostgresMonitor | None = None
    redis: RedisMonitor | None = None


def run_load(
    cluster: Cluster,
    *,
    calls: int,
    generators: int,
    ramp_s: float,
    settle_s: float,
    duration_s: float,
    grace_s: float,
    workdir: Path,
    profile_dir: Path | None = None,
    figures: PhaseFigures | None = None,
    monitors: Monitors | None = None,
) -> PhaseFigures:
    """Run one load phase against running servers; fill and return its figures."""
    figures = figures or PhaseFigures(cluster.kind, calls, ramp_s, duration_s)
    monitors = monitors or Monitors()
    figures.sid_prefix = secrets.token_hex(4)
    target = _loadgen.Target(
        ws_url=cluster.ws_url, http_base=cluster.http_base, public_base_url=PUBLIC_BASE_URL,
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to_number=TO_NUMBER, from_number=FROM_NUMBER,
        sid_prefix=figures.sid_prefix,
    )  # fmt: skip
    generators = max(1, min(generators, calls))
    t0 = time.monotonic() + 3.0  # generator processes start and import meanwhile
    window_start = t0 + ramp_s + settle_s
    window_end = window_start + duration_s
    overall_s = window_end - time.monotonic() + grace_s + 20
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[multiprocessing.process.BaseProcess, Path]] = []
    for g in range(generators):
        plan = tuple((i, t0 + ramp_s * i / calls) for i in range(g, calls, generators))
        schedule = _loadgen.Schedule(plan, window_start, window_end, grace_s)
        out = workdir / f"gen-{cluster.kind}-{calls}-{g}.pickle"
        out.unlink(missing_ok=True)
        child = ctx.Process(
            target=_loadgen.run_generator,
            args=(target, schedule, str(AUDIO_DIR), str(out), overall_s),
            daemon=True,
        )
        child.start()
        procs.append((child, out))
    profilers: list[subprocess.Popen[bytes]] = []
    profile_paths: list[Path] = []
    postgres, redis = monitors.postgres, monitors.redis
    try:
        if postgres is not None:
            postgres.start_sampling()
        gen_ps = [psutil.Process(p.pid) for p, _ in procs if p.pid is not None]
        sleep_until(t0)
        ramp_cpu0 = cluster.cpu_s()
        sleep_until(window_start)
        cpu0, gen0 = cluster.cpu_by_worker(), _cpu_of(gen_ps)
        balancer0 = cluster.balancer_cpu_s()
        pg0 = postgres.backend_cpu() if postgres is not None else {}
        redis0 = redis.reading() if redis is not None else (0.0, 0)
        figures.ramp_cpu_pct = 100 * (sum(cpu0) - ramp_cpu0) / max(0.1, window_start - t0)
        figures.window_bounds = (window_start, window_end)
        wait0, gen_wait0 = cluster.cpu_wait_s(), sum(runqueue_wait_s(p.pid) for p in gen_ps)
        if profile_dir is not None:
            for worker in cluster.workers:
                path = profile_dir / f"{cluster.kind}-{calls}-k{cluster.size}-{worker.name}.txt"
                profiler = start_profiler(worker.process.pid, duration_s, path)
                if profiler is not None:
                    profilers.append(profiler)
                    profile_paths.append(path)
        sleep_until(window_end)
        cpu1, gen1 = cluster.cpu_by_worker(), _cpu_of(gen_ps)
        balancer1 = cluster.balancer_cpu_s()
        pg1 = postgres.backend_cpu() if postgres is not None else {}
        redis1 = redis.reading() if redis is not None else (0.0, 0)
        wait1, gen_wait1 = cluster.cpu_wait_s(), sum(runqueue_wait_s(p.pid) for p in gen_ps)
        figures.server_cpu_s = sum(cpu1) - sum(cpu0)
        figures.worker_cpu_pct = [100 * (b - a) / duration_s for a, b in zip(cpu0, cpu1, strict=True)]
        figures.balancer_cpu_s = balancer1 - balancer0
        figures.balancer_rss_mb = cluster.balancer_rss_mb()
        figures.pg_cpu_s = cpu_delta(pg0, pg1)
        figures.pg_connections_window = len(pg1)
        figures.redis_cpu_s, figures.redis_commands = redis1[0] - redis0[0], redis1[1] - redis0[1]
        figures.server_starved_pct = 100 * (wait1 - wait0) / duration_s / cluster.size
        figures.generator_starved_pct = 100 * (gen_wait1 - gen_wait0) / duration_s / len(gen_ps)
        figures.worker_rss_mb = cluster.rss_by_worker()
        figures.rss_window_mb = sum(figures.worker_rss_mb)
        figures.load_avg = os.getloadavg()[0]
        figures.server_cpu_pct = 100 * figures.server_cpu_s / duration_s
        figures.cpu_pct_per_call = figures.server_cpu_pct / calls
        figures.generator_cpu_pct = 100 * (gen1 - gen0) / duration_s
        deadline = time.monotonic() + overall_s
        for proc, _ in procs:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if postgres is not None:
            postgres.stop_sampling()
            figures.pg_connections_max = postgres.max_connections
        for proc, _ in procs:
            if proc.is_alive():
                figures.generator_errors.append(f"generator {proc.pid} did not finish: killed")
                proc.kill()
                proc.join(timeout=5)
        for profiler in profilers:
            try:
                profiler.wait(timeout=duration_s + 30)
            except subprocess.TimeoutExpired:
                profiler.kill()
    reports: list[_loadgen.GeneratorReport] = []
    for _, out in procs:
        if out.exists():
            reports.append(pickle.loads(out.read_bytes()))  # noqa: S301 - our own child's file
    _summarise(figures, reports, window_start)
    existing = [path for path in profile_paths if path.exists()]
    if existing:
        figures.profile = summarise_profile(existing)
    return figures


def _cpu_of(processes: list[psutil.Process]) -> float:
    return sum(cpu_s_of(proc) for proc in processes)


def _summarise(figures: PhaseFigures, reports: list[_loadgen.GeneratorReport], window_start: float) -> None:
    latencies: list[float] = []
    lateness: list[float] = []
    loop_lag: list[float] = []
    setups: list[float] = []
    webhooks: list[float] = []
    errors: Counter[str] = Counter()
    for report in reports:
        if report.error:
            figures.generator_errors.append(report.error)
        latencies.extend(report.latencies_ms)
        lateness.extend(report.lateness_ms)
        loop_lag.extend(report.loop_lag_ms)
        for call in report.calls:
            figures.frames_window += call.sent_window
            figures.echoes_in_window += call.echoes_in_window
            figures.lost_window += call.lost_window
            figures.lost_total += call.lost_total
            figures.corrupt += call.corrupt
            figures.clears += call.clears
            if call.stream_started_at is not None and call.stream_started_at <= window_start:
                figures.streaming_at_window += 1
            if call.setup_s is not None:
                setups.append(call.setup_s * 1000)
            if call.webhook_s is not None:
                webhooks.append(call.webhook_s * 1000)
            if call.webhook_worker:
                figures.webhook_by_call[call.index] = call.webhook_worker
            figures.webhook_retries += call.webhook_retries
            if call.setup_s is None:
                figures.failed_calls += 1  # never got an echo back
            if call.error:
                errors["".join("#" if c.isdigit() else c for c in call.error)[:100]] += 1
    figures.errors = dict(errors.most_common(5))
    figures.lat_p50_ms = percentile(latencies, 50)
    figures.lat_p99_ms = percentile(latencies, 99)
    figures.lat_max_ms = max(latencies) if latencies else None
    figures.setup_p50_ms = percentile(setups, 50)
    figures.setup_p99_ms = percentile(setups, 99)
    figures.webhook_p50_ms = percentile(webhooks, 50)
    figures.loop_lag_p99_ms = percentile(loop_lag, 99)
    figures.loop_lag_max_ms = max(loop_lag) if loop_lag else None
    figures.send_lateness_p99_ms = percentile(lateness, 99)
    late = sum(1 for x in lateness if x > _loadgen.FRAME_S * 1000)
    figures.send_late_pct = 100 * late / len(lateness) if lateness else 0.0


def _where_calls_ran(figures: PhaseFigures, database_url: str) -> None:
    """Streams per worker (``Call.worker_id``) and how many calls had their webhook answered by
    another worker than the one that bound their stream."""
    try:
        streams = call_workers(database_url, f"CA{figures.sid_prefix}")
    except Exception as exc:
        figures.generator_errors.append(f"reading Call rows failed: {exc!r}"[:200])
        return
    figures.worker_streams = dict(sorted(Counter(w.removeprefix("bench-") for w in streams.values()).items()))
    for index, webhook_worker in figures.webhook_by_call.items():
        stream_worker = streams.get(f"CA{figures.sid_prefix}{index:024x}", "").removeprefix("bench-")
        if stream_worker:
            figures.webhook_known += 1
            figures.webhook_elsewhere += stream_worker != webhook_worker


def run_phase(
    kind: str,
    calls: int,
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    monitors: Monitors | None = None,
    database_url: str = "",
) -> PhaseFigures:
    ramp_s = args.ramp if args.ramp is not None else max(3.0, calls / 50)
    figures = PhaseFigures(kind, calls, ramp_s, args.duration, workers=args.workers, balancer=args.balancer)
    tag = f"{calls}-{secrets.token_hex(2)}"
    cluster = Cluster(
        kind, env, workdir, workers=args.workers, balancer=args.balancer, gc_mode=args.daphne_gc, tag=tag
    )
    try:
        cluster.wait_ready()
        # Warm-up: first-request imports (engine module, templates, DB connection) are not per-call
        # memory. Two calls per worker, so that each worker has served some.
        for _attempt in range(2):  # once more if a busy machine made the first one miss its window
            warm = run_load(
                cluster,
                calls=2 * cluster.size,
                generators=1,
                ramp_s=0.2 * cluster.size,
                settle_s=1.0,  # set-up time on a busy machine: the window must see streaming calls
                duration_s=1.0,
                grace_s=2.0,
                workdir=workdir,
            )
            warmed = warm.frames_window > 0 and not warm.lost_window and not warm.failed_calls
            if warmed:
                break
        if not warmed:
            figures.generator_errors.append(
                f"warm-up failed twice: {warm.frames_window} frames in its window, {warm.lost_window} lost, "
                f"{warm.failed_calls} calls without an echo; {warm.errors} {warm.generator_errors}"
            )
            figures.server_log = dict(cluster.log_warnings().most_common(8))
            return figures
        time.sleep(1.0)
        figures.rss_base_mb = sum(cluster.rss_by_worker())
        run_load(
            cluster, calls=calls, generators=args.generators, ramp_s=ramp_s, settle_s=args.settle,
            duration_s=args.duration, grace_s=args.grace, workdir=workdir, profile_dir=args.profile_dir,
            figures=figures, monitors=monitors,
        )  # fmt: skip
        figures.mb_per_call = (figures.rss_window_mb - figures.rss_base_mb) / calls
        figures.server_log = dict(cluster.log_warnings().most_common(8))
        if kind == "daphne" and database_url:
            _where_calls_ran(figures, database_url)
    finally:
        cluster.stop()
        if kind == "daphne" and args.daphne_gc != "off" and figures.window_bounds:
            figures.gc = cluster.gc_pauses(*figures.window_bounds)
        if args.log_dir is not None:
            args.log_dir.mkdir(parents=True, exist_ok=True)
            for path in [w.log_path for w in cluster.workers] + cluster.balancer_files():
                shutil.copy(path, args.log_dir / path.name)
    return figures


# ---------------------------------------------------------------------------------- find max


@dataclass
class Search:
    """``--find-max`` for one server kind: every probe, the largest N sustained and the smallest
    N that was not."""

    server: str
    probes: list[PhaseFigures] = field(default_factory=list)

    @property
    def best(self) -> PhaseFigures | None:
        ok = [p for p in self.probes if p.sustained]
        return max(ok, key=lambda p: p.calls) if ok else None

    @property
    def first_failure(self) -> PhaseFigures | None:
        best = self.best
        over = [p for p in self.probes if not p.sustained and (best is None or p.calls > best.calls)]
        return min(over, key=lambda p: p.calls) if over else None


def find_max(
    kind: str,
    args: argparse.Namespace,
    probe: Any,
) -> Search:
    """Step up from ``--start`` by ``--growth`` while N is sustained, then bisect between the
    largest sustained N and the smallest failed one down to ``--resolution`` calls (or 5%).
    ``probe(kind, n)`` runs one phase; a failed N is tried ``--retries`` more times before it
    counts as failed (one run passing is enough: the criterion is what the server CAN sustain,
    and the other sessions' load on this machine comes and goes). Every probe is kept in the
    record; the search only narrows upward from the best sustained N."""
    search = Search(kind)

    def run(n: int) -> bool:
        for _attempt in range(1 + args.retries):  # a busy machine fails a probe now and then
            figures = probe(kind, n)
            search.probes.append(figures)
            if figures.sustained:
                return True
        return False

    n = args.start
    while n <= args.max_calls:
        if not run(n):
            break
        n = max(n + 1, math.ceil(n * args.growth))
    while True:
        best = search.best
        fail = search.first_failure
        if fail is None:
            break  # sustained up to --max-calls
        low = best.calls if best is not None else 0
        high = fail.calls
        if high - low <= max(args.resolution, math.ceil(0.05 * high)) or high <= 1:
            break
        run((low + high) // 2)
    return search


# ------------------------------------------------------------------------------------ output


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:.1f}" if value < 100 else f"{value:,.0f}")


def _ratio(ours: float | None, floor: float | None) -> str:
    if ours is None or floor is None or floor <= 0:
        return "-"
    return f"x{ours / floor:.1f}"


def render(results: list[PhaseFigures]) -> str:
    out: list[str] = []
    for calls in sorted({r.calls for r in results}):
        rows = [r for r in results if r.calls == calls]
        out.append(f"\n### N = {calls} concurrent calls\n")
        out.append(
            "| server | p50 ms | p99 ms | max ms | frames lost | CPU %/call | CPU µs/frame "
            "| calls/core (CPU) | MB/call | setup p50 ms | server CPU % | starved % srv/gen "
            "| gen lag p99 ms | verdict |"
        )
        out.append("|" + " --- |" * 14)
        for r in rows:
            per_core = f"{r.calls_per_core:.0f}" if r.calls_per_core else "-"
            lost = f"{r.lost_window} / {r.frames_window}"
            out.append(
                f"| {r.server} | {_ms(r.lat_p50_ms)} | {_ms(r.lat_p99_ms)} | {_ms(r.lat_max_ms)} | {lost} "
                f"| {r.cpu_pct_per_call:.2f} | {_ms(r.us_per_frame)} | {per_core} | {r.mb_per_call:.2f} "
                f"| {_ms(r.setup_p50_ms)} | {r.server_cpu_pct:.0f} "
                f"| {r.server_starved_pct:.0f} / {r.generator_starved_pct:.0f} | {_ms(r.loop_lag_p99_ms)} "
                f"| {r.verdict} |"
            )
        by = {r.server: r for r in rows}
        if "daphne" in by and "relay" in by:
            ours, floor = by["daphne"], by["relay"]
            out.append(
                f"| **daphne / relay** | {_ratio(ours.lat_p50_ms, floor.lat_p50_ms)} "
                f"| {_ratio(ours.lat_p99_ms, floor.lat_p99_ms)} "
                f"| {_ratio(ours.lat_max_ms, floor.lat_max_ms)} | "
                f"| {_ratio(ours.cpu_pct_per_call, floor.cpu_pct_per_call)} "
                f"| {_ratio(ours.us_per_frame, floor.us_per_frame)} "
                f"| {_ratio(floor.calls_per_core, ours.calls_per_core)} (floor/ours) "
                f"| {_ratio(ours.mb_per_call, floor.mb_per_call)} | | | | | |"
            )
        for r in rows:
            notes = [
                f"{r.server}: {r.streaming_at_window}/{r.calls} calls streaming at window start",
                f"calls without any echo {r.failed_calls}",
                f"webhook 5xx retried {r.webhook_retries}",
                f"frames lost over the whole call {r.lost_total}",
                f"corrupt echoes {r.corrupt}",
                f"webhook p50 {_ms(r.webhook_p50_ms)} ms",
                f"setup p99 {_ms(r.setup_p99_ms)} ms",
                f"server CPU during ramp+settle {r.ramp_cpu_pct:.0f}%",
                f"RSS {r.rss_base_mb:.0f} -> {r.rss_window_mb:.0f} MB",
                f"generator CPU {r.generator_cpu_pct:.0f}%",
                f"sends >20 ms late {r.send_late_pct:.1f}% (p99 lateness {_ms(r.send_lateness_p99_ms)} ms)",
                f"load avg {r.load_avg:.1f}",
            ]
            out.append("\n- " + "; ".join(notes))
            if r.errors:
                out.append(f"  call errors: {r.errors}")
            if r.gc:
                out.append(f"  garbage collector ({r.server}, --daphne-gc): {r.gc}")
            if r.server_log:
                out.append(f"  server log: {r.server_log}")
            if r.generator_errors:
                out.append(f"  generator: {r.generator_errors}")
    if any(r.workers > 1 or r.balancer != "none" for r in results):
        out.extend(_cluster_rows(results))
    return "\n".join(out)


def _cluster_rows(results: list[PhaseFigures]) -> list[str]:
    """Per phase with several workers or a balancer: where the CPU, the streams and the memory went."""
    out = [
        "\n### Workers and balancer\n",
        "| N | server | K | balancer | p50 ms | p99 ms | lost / sent | CPU % per worker | streams per worker "
        "| webhook on another worker | workers µs/frame | balancer µs/frame | calls/core (workers+balancer) "
        "| RSS MB per worker | MB/call | Postgres conns max | Postgres µs/frame | Redis µs/frame "
        "| starved % srv/gen | load avg | verdict |",
        "|" + " --- |" * 21,
    ]
    for r in results:
        streams = " / ".join(f"{n}" for n in r.worker_streams.values()) or "-"
        elsewhere = f"{r.webhook_elsewhere} / {r.webhook_known}" if r.webhook_known else "-"
        per_core = f"{r.host_calls_per_core:.0f}" if r.host_calls_per_core else "-"
        cpu = " / ".join(f"{c:.0f}" for c in r.worker_cpu_pct)
        rss = " / ".join(f"{m:.0f}" for m in r.worker_rss_mb)
        cells = [
            r.calls, r.server, r.workers, r.balancer, _ms(r.lat_p50_ms), _ms(r.lat_p99_ms),
            f"{r.lost_window} / {r.frames_window}", cpu, streams, elsewhere, _ms(r.us_per_frame),
            _ms(r.balancer_us_per_frame), per_core, rss, f"{r.mb_per_call:.2f}", r.pg_connections_max or "-",
            _ms(r.pg_us_per_frame), _ms(r.redis_us_per_frame),
            f"{r.server_starved_pct:.0f} / {r.generator_starved_pct:.0f}", f"{r.load_avg:.1f}", r.verdict,
        ]  # fmt: skip
        out.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    out.append(
        "\nCPU % per worker is of one core. Postgres µs/frame: the backends serving the bench database; "
        "Redis µs/frame: the whole Redis server (shared with anything else on the machine)."
    )
    return out


def render_search(search: Search, args: argparse.Namespace) -> str:
    best, fail = search.best, search.first_failure
    probes = ", ".join(
        f"{p.calls} {'ok' if p.sustained else 'no'} (p99 {_ms(p.lat_p99_ms)} ms, lost {p.lost_window}, "
        f"load {p.load_avg:.1f})"
        for p in search.probes
    )
    head = f"{search.server}, {args.workers} worker(s), balancer {args.balancer}"
    if best is None:
        sustained = "no N sustained"
    else:
        per_core = f"{best.host_calls_per_core:.0f}" if best.host_calls_per_core else "-"
        balancer = best.balancer_us_per_frame
        sustained = (
            f"**{best.calls} calls sustained** (p50 {_ms(best.lat_p50_ms)} ms, "
            f"p99 {_ms(best.lat_p99_ms)} ms, 0 lost, {_ms(best.us_per_frame)} µs/frame in the workers"
            + (f" + {_ms(balancer)} in the balancer" if balancer else "")
            + f" = {per_core} calls per busy core, {best.mb_per_call:.2f} MB/call, "
            f"load avg {best.load_avg:.1f})"
        )
    if fail is not None:
        causes = fail.verdict.partition("(")[2].rstrip(")")
        beyond = (
            f"; first N over budget {fail.calls} (p99 {_ms(fail.lat_p99_ms)} ms, lost {fail.lost_window}"
            f"{', ' + causes if causes else ''})"
        )
    else:
        beyond = f"; nothing failed up to --max-calls {args.max_calls}"
    return f"- {head}: {sustained}{beyond}.\n  probes: {probes}"


# -------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="50,200,500", help="comma-separated concurrent call counts")
    parser.add_argument("--duration", type=float, default=20.0, help="steady window in seconds")
    parser.add_argument("--ramp", type=float, default=None, help="ramp-up seconds (default max(3, N/50))")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between ramp end and window")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for the last echoes")
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--servers", default=",".join(SERVERS), help="relay,daphne or one of them")
    parser.add_argument("--database-url", default=None, help="postgres://... : run in a throwaway database")
    parser.add_argument(
        "--postgres", action="store_true", help="= --database-url postgres://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--profile-dir", type=Path, default=None, help="py-spy each server over its window")
    parser.add_argument(
        "--daphne-gc",
        choices=("off", "observe", "freeze"),
        default="off",
        help="start daphne through bench/_daphne_gc.py: time its collections (observe), and gc.freeze() "
        "after start-up (freeze). off = plain `python -m daphne`",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the servers' logs here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    several = parser.add_argument_group(
        "several workers (bench/README.md, 'Several workers behind a balancer')"
    )
    several.add_argument("--workers", type=int, default=1, help="server processes (K), default 1")
    several.add_argument(
        "--balancer",
        choices=BALANCERS,
        default=None,
        help="how the K workers are reached: haproxy (HTTP mode, the default for K > 1), haproxy-tcp, "
        "reuseport (K sockets with SO_REUSEPORT), shared (one inherited socket); none = call the one "
        "worker directly (K = 1)",
    )
    several.add_argument(
        "--redis-url",
        default=None,
        help=f"REDIS_URL of the workers; with a balancer the default is {DEFAULT_REDIS_URL} "
        "(flushed at the start and the end); 'none' to run without Redis (one worker only)",
    )
    search = parser.add_argument_group("--find-max: the largest N with no frame lost and p99 < 20 ms")
    search.add_argument("--find-max", action="store_true", help="search N instead of running --calls")
    search.add_argument("--start", type=int, default=None, help="first N of the search (default 10 x K)")
    search.add_argument("--growth", type=float, default=1.5, help="step-up factor while N is sustained")
    search.add_argument("--resolution", type=int, default=3, help="stop bisecting within this many calls")
    search.add_argument("--max-calls", type=int, default=1000, help="never probe above this N")
    search.add_argument("--retries", type=int, default=1, help="run a failed N again this many times")
    args = parser.parse_args(argv)
    args.call_counts = [int(n) for n in args.calls.split(",") if n.strip()]
    args.server_kinds = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.call_counts or min(args.call_counts) < 1 or any(s not in SERVERS for s in args.server_kinds):
        parser.error("--calls must be positive integers, --servers a subset of relay,daphne")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.balancer is None:
        args.balancer = "none" if args.workers == 1 else "haproxy"
    if args.balancer == "none" and args.workers > 1:
        parser.error("several workers need a balancer: --balancer haproxy|reuseport|shared")
    if args.balancer.startswith("haproxy") and haproxy_binary() is None:
        raise SystemExit(NO_HAPROXY)
    if args.growth <= 1 or args.resolution < 1:
        parser.error("--growth must be above 1 and --resolution at least 1")
    args.start = args.start or 10 * args.workers
    if not args.database_url and os.environ.get("DATABASE_URL", "").startswith("postgres"):
        args.database_url = os.environ["DATABASE_URL"]  # a server to create the throwaway database on
    if (args.postgres or args.balancer != "none") and not args.database_url:
        # Several processes share the call state: production's PostgreSQL, never one SQLite file.
        args.database_url = "postgres://postgres@127.0.0.1:5432/postgres"
    if args.redis_url == "none":
        if args.workers > 1:
            parser.error("several workers need Redis (the channel layer carries operators' requests)")
        args.redis_url = None
    elif args.redis_url is None and args.balancer != "none":
        args.redis_url = DEFAULT_REDIS_URL
    return args


def _run_and_report(
    kind: str,
    calls: int,
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    monitors: Monitors,
    database_url: str,
) -> PhaseFigures:
    started = time.monotonic()
    where = f" on {args.workers} workers via {args.balancer}" if args.balancer != "none" else ""
    print(f"-- {kind}, {calls} calls{where} (load average {os.getloadavg()[0]:.1f}) ...", flush=True)
    figures = run_phase(kind, calls, args, env, workdir, monitors, database_url)
    split = ""
    if len(figures.worker_cpu_pct) > 1:
        split = " = " + " + ".join(f"{c:.0f}" for c in figures.worker_cpu_pct)
    balancer = (
        f", balancer {_ms(figures.balancer_us_per_frame)} µs/frame" if figures.balancer_us_per_frame else ""
    )
    print(
        f"   p50 {_ms(figures.lat_p50_ms)} ms, p99 {_ms(figures.lat_p99_ms)} ms, "
        f"lost {figures.lost_window}/{figures.frames_window}, CPU {figures.server_cpu_pct:.0f}%{split} "
        f"({_ms(figures.us_per_frame)} µs/frame{balancer}), load avg {figures.load_avg:.1f}, "
        f"{figures.verdict} [{time.monotonic() - started:.0f} s]",
        flush=True,
    )
    return figures


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not AUDIO_DIR.is_dir():
        raise SystemExit(f"caller audio not found at {AUDIO_DIR}")
    # SIGTERM runs the same clean-up as Ctrl-C (servers and generators are killed in finally blocks);
    # SIGINT explicitly too, since a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    results: list[PhaseFigures] = []
    searches: list[Search] = []
    with tempfile.TemporaryDirectory(prefix="bridge-load-") as tmp:
        workdir = Path(tmp)
        with (
            bench_database(args.database_url, workdir) as database_url,
            bench_redis(args.redis_url) as redis_url,
        ):
            env = server_env(database_url, redis_url)
            print(
                f"database: {database_url.split('://')[0]}; redis: {redis_url or 'none (in-memory layer)'}; "
                f"workers: {args.workers}, balancer: {args.balancer}; migrating and seeding ...",
                flush=True,
            )
            prepare_database(env)
            print(
                f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; window {args.duration:g} s, "
                f"{args.generators} generator processes",
                flush=True,
            )
            monitors = Monitors(PostgresMonitor(database_url), RedisMonitor(redis_url))
            try:
                if args.find_max:
                    for kind in args.server_kinds:
                        search = Search(kind)
                        searches.append(search)

                        def probe(kind: str, n: int) -> PhaseFigures:
                            figures = _run_and_report(kind, n, args, env, workdir, monitors, database_url)
                            results.append(figures)
                            return figures

                        search.probes = find_max(kind, args, probe).probes
                else:
                    for calls in args.call_counts:
                        for kind in args.server_kinds:
                            results.append(
                                _run_and_report(kind, calls, args, env, workdir, monitors, database_url)
                            )
            except KeyboardInterrupt:
                print("interrupted: the figures so far", flush=True)
            finally:
                if monitors.postgres is not None:
                    monitors.postgres.close()
                if monitors.redis is not None:
                    monitors.redis.close()
    print(render(results))
    if searches:
        print("\n### Calls sustained (--find-max: no frame lost, p99 < 20 ms)\n")
        for search in searches:
            print(render_search(search, args))
    if database_url.startswith("sqlite") and any(r.webhook_retries for r in results):
        print(
            "\nNOTE: the voice webhook failed with 5xx on SQLite ('database is locked' when calls arrive "
            "together): setup and loss figures of 'daphne' include that. "
            "Use --postgres for the call path alone."
        )
    for r in results:
        if r.profile:
            print(f"\n#### profile: {r.server}, {r.calls} calls\n```\n{r.profile}\n```")
    if args.json is not None:
        payload: list[dict[str, Any]] = []
        for r in results:
            row = asdict(r) | {"verdict": r.verdict, "sustained": r.sustained}
            row.pop("webhook_by_call")
            payload.append(row)
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
