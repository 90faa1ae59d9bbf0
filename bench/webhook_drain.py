"""10,000 queued webhook deliveries drained by two Celery workers into a receiver that fails 20%.

Run from the repository root (~2-4 minutes per mode; see bench/README.md):

    .venv/bin/python bench/webhook_drain.py                    # normal drain
    .venv/bin/python bench/webhook_drain.py --kill-worker      # kill -9 one worker mid-drain
    .venv/bin/python bench/webhook_drain.py --events 2000      # quicker

What runs:

- a throwaway PostgreSQL database (``voxsaas_bench_<pid>``, dropped at the end) and a Redis
  database of the bench's own (``--redis-url``, default db 12, flushed before and after);
- a receiver on 127.0.0.1 in a child process (aiohttp): it verifies every request's Standard
  Webhooks signature with the ``standardwebhooks`` package, then fails ``--fail-rate`` (20%) of
  the requests at random: HTTP 500, a connection reset (RST) before reading on, a slow answer
  past the delivery timeout *after* accepting the event (the sender sees a timeout and retries:
  the duplicate its idempotency check must absorb), or a slow answer without accepting. Every
  other request goes through the idempotency check (an ``INSERT OR IGNORE`` of the webhook-id in
  SQLite): a new id is accepted and its side effect recorded; a known one is a duplicate,
  answered 200 without a second side effect;
- one tenant with one endpoint (``webhook_endpoint_create``, URL on 127.0.0.1), and ``--events``
  calls whose ``call.ended`` events are emitted through the product's own door,
  ``calls.webhooks.events.call_ended_emit`` -> ``webhooks_emit``: one message and one delivery
  per event, the ``webhooks.deliver`` task enqueued on commit, as in production;
- then two real workers, ``celery -A voxsaas worker`` (``--concurrency`` each, prefork), and one
  ``celery -A voxsaas beat`` (the due-delivery sweep), with the same environment; until every
  delivery is in a terminal state (``--deadline`` bounds the wait).

The SSRF guard is opened for this run only, the way the tests do it: the
``ALLOW_PRIVATE_WEBHOOK_ADDRESSES`` setting (environment of the bench and its workers). Retry
waits and the attempt timeout are shortened through settings (``WEBHOOK_RETRY_DELAYS_S``,
``WEBHOOK_DELIVERY_TIMEOUT_S``, ``WEBHOOK_SWEEP_INTERVAL_S``); everything else is production.

``--kill-worker``: when ``--kill-at`` of the events are delivered, the first worker's whole
process group (main process and pool children) gets SIGKILL, like an OOM kill or a lost host,
and is not restarted. Attempts it had started are recovered when their lease expires (the
attempt timeout + 60 s) by the sweep; messages it had reserved stay unacknowledged in Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pgdb import io_stall_total_us, server_url, throwaway_database  # noqa: E402 - bench/ is not a package

ROOT = Path(__file__).resolve().parent.parent
# How the receiver fails, as shares of all failures (scaled to --fail-rate).
FAILURE_MIX = {"http_500": 0.35, "reset": 0.30, "slow_after_accept": 0.25, "slow_no_accept": 0.10}


# ----------------------------------------------------------------------------------- receiver


def run_receiver(port: int, store: Path, fail_rate: float, slow_s: float, seed: int) -> None:
    """The receiver process: aiohttp on 127.0.0.1:port until SIGTERM."""
    from aiohttp import web
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    verifier = Webhook(os.environ["BENCH_WEBHOOK_SECRET"])
    rng = random.Random(seed)
    db = sqlite3.connect(store, isolation_level=None)
    db.executescript(
        """
        PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
        CREATE TABLE accepted (webhook_id TEXT PRIMARY KEY, at REAL);
        CREATE TABLE effects (webhook_id TEXT, at REAL);
        CREATE TABLE requests (webhook_id TEXT, fate TEXT, outcome TEXT, at REAL);
        """
    )

    def idempotent_accept(webhook_id: str, now: float) -> bool:
        """The receiver's idempotency check: True the first time an id is seen (then the
        event's side effect runs, once), False for a duplicate."""
        new = db.execute("INSERT OR IGNORE INTO accepted VALUES (?, ?)", (webhook_id, now)).rowcount == 1
        if new:
            db.execute("INSERT INTO effects VALUES (?, ?)", (webhook_id, now))
        return new

    def log(webhook_id: str, fate: str, outcome: str) -> None:
        db.execute("INSERT INTO requests VALUES (?, ?, ?, ?)", (webhook_id, fate, outcome, time.time()))

    def pick_fate() -> str:
        roll = rng.random()
        if roll >= fail_rate:
            return "ok"
        roll /= fail_rate
        for fate, share in FAILURE_MIX.items():
            if roll < share:
                return fate
            roll -= share
        return "ok"

    async def hook(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        try:
            verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            log(webhook_id, "-", "bad_signature")
            return web.Response(status=401, text="bad signature")
        fate = pick_fate()
        if fate == "reset":
            log(webhook_id, fate, "reset")
            transport = request.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:  # RST instead of FIN: linger on, timeout 0
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            return web.Response(status=500)  # never reaches the sender
        if fate == "http_500":
            log(webhook_id, fate, "http_500")
            return web.Response(status=500, text="internal error")
        if fate == "slow_no_accept":
            log(webhook_id, fate, "slow_no_accept")
            await asyncio.sleep(slow_s)
            return web.Response(status=503, text="gave up")
        new = idempotent_accept(webhook_id, time.time())
        log(webhook_id, fate, "accepted" if new else "duplicate")
        if fate == "slow_after_accept":
            await asyncio.sleep(slow_s)  # processed, but the answer comes after the sender gave up
        return web.json_response({"received": True, "duplicate": not new})

    app = web.Application()
    app.router.add_post("/hooks", hook)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=512).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        print("receiver ready", flush=True)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())
    db.close()


# ----------------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """A child process in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _wait_for_port(port: int, child: Child, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise SystemExit(f"{child.name} exited:\n{child.tail()}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)  # not listening yet; nothing to wait on across processes
    raise SystemExit(f"{child.name} did not listen within {timeout_s:.0f} s")


# ----------------------------------------------------------------------------------- the run


@dataclass
class Options:
    events: int
    workers: int
    concurrency: int
    fail_rate: float
    timeout_s: float
    retry_delays: str
    sweep_s: int
    kill_worker: bool
    kill_at: float
    deadline_s: float
    seed: int


def bench_env(database_url: str, redis_url: str, opts: Options) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="voxsaas.settings",
        DEBUG="false",
        SECRET_KEY="webhook-drain-bench-" + secrets.token_hex(24),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PUBLIC_BASE_URL="https://voice.example.test",
        LOG_LEVEL="WARNING",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CHANNELS_PREFIX=f"drainbench{os.getpid()}",
        # The receiver listens on 127.0.0.1: the SSRF guard's setting for private addresses,
        # as the tests set it; for this run's processes only.
        ALLOW_PRIVATE_WEBHOOK_ADDRESSES="true",
        WEBHOOK_DELIVERY_TIMEOUT_S=str(opts.timeout_s),
        WEBHOOK_RETRY_DELAYS_S=opts.retry_delays,
        WEBHOOK_SWEEP_INTERVAL_S=str(opts.sweep_s),
        PYTHONUNBUFFERED="1",
    )
    return env


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))] if ordered else 0.0


def seed_and_emit(events: int, receiver_url: str) -> tuple[Any, str, float]:
    """The tenant, its endpoint and ``events`` ended calls; then one ``call.ended`` per call through
    the product's emitter (a transaction each, the delivery task enqueued on commit)."""
    from django.utils import timezone

    from calls.models import Call, CallStatus, Direction
    from calls.webhooks.events import call_ended_emit
    from calls.webhooks.services import webhook_endpoint_create
    from tenants.models import PhoneNumber, TelephonyAccount
    from tenants.services import tenant_create

    tenant = tenant_create(slug="drain", name="Webhook drain bench")
    account = TelephonyAccount.objects.create(tenant=tenant, account_sid="AC" + "d" * 32, auth_token="t")
    number = PhoneNumber.objects.create(tenant=tenant, number="+15550001111", telephony_account=account)
    created = webhook_endpoint_create(tenant=tenant, url=receiver_url, event_types=["call.ended"])
    now = timezone.now()
    calls = Call.objects.bulk_create(
        [
            Call(
                tenant=tenant,
                phone_number=number,
                direction=Direction.INBOUND,
                from_number=f"+1555{i:07d}",
                to_number=number.number,
                status=CallStatus.COMPLETED,
                status_rank=4,
                end_reason="caller_hangup",
                created_at=now - timedelta(minutes=5),
                answered_at=now - timedelta(minutes=5),
                ended_at=now - timedelta(minutes=1),
                duration_s=240,
            )
            for i in range(events)
        ],
        batch_size=2000,
    )
    started = time.perf_counter()
    for call in calls:
        call_ended_emit(tenant_id=tenant.pk, call_pk=call.pk)
    return tenant, created.secret, time.perf_counter() - started


def db_counts(tenant_id: int) -> Counter[str]:
    from django.db.models import Count

    from calls.webhooks.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(tenant_id=tenant_id).values("status").annotate(n=Count("pk"))
    return Counter({row["status"]: row["n"] for row in rows})


def orphaned_attempts(tenant_id: int) -> int:
    """Attempt numbers allocated but never recorded: attempts cut off by a dead worker."""
    from django.db.models import Count, Sum

    from calls.webhooks.models import WebhookAttempt, WebhookDelivery

    allocated = (
        WebhookDelivery.objects.filter(tenant_id=tenant_id).aggregate(n=Sum("attempt_count"))["n"] or 0
    )
    recorded = WebhookAttempt.objects.filter(tenant_id=tenant_id).aggregate(n=Count("pk"))["n"] or 0
    return int(allocated - recorded)


def task_runs(workdir: Path) -> dict[str, int]:
    """From the workers' INFO logs: task runs, and what the sweeps enqueued."""
    runs = {"deliver": 0, "sweeps": 0, "swept": 0, "sweeps_expired": 0}
    for log in workdir.glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "Task webhooks.deliver[" in line and " succeeded in " in line:
                runs["deliver"] += 1
            elif "Task webhooks.dispatch_due[" in line and " succeeded in " in line:
                runs["sweeps"] += 1
                runs["swept"] += int(line.rsplit(":", 1)[1].strip() or 0)
            elif "Discarding revoked task: webhooks.dispatch_due" in line:
                runs["sweeps_expired"] += 1
    return runs


def redis_leftovers(redis_url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(redis_url)
    return {
        "queued": int(client.llen("celery")),
        "unacked": int(client.hlen("unacked")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="prefork processes per worker")
    parser.add_argument("--fail-rate", type=float, default=0.20)
    parser.add_argument("--timeout", type=float, default=2.0, help="WEBHOOK_DELIVERY_TIMEOUT_S")
    parser.add_argument("--retry-delays", default="1,2,4,8,8,8,8,8,8,8", help="WEBHOOK_RETRY_DELAYS_S")
    parser.add_argument("--sweep-interval", type=int, default=5, help="WEBHOOK_SWEEP_INTERVAL_S")
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL the first worker mid-drain")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of events delivered at the kill")
    parser.add_argument("--deadline", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database-url", default=None, help="postgres:// server to create the database on")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the processes' logs here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.port, args.store, args.fail_rate, args.timeout + 1.0, args.seed)
        return
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        raise SystemExit("the bench only uses a Redis on this machine")
    opts = Options(
        events=args.events,
        workers=args.workers,
        concurrency=args.concurrency,
        fail_rate=args.fail_rate,
        timeout_s=args.timeout,
        retry_delays=args.retry_delays,
        sweep_s=args.sweep_interval,
        kill_worker=args.kill_worker,
        kill_at=args.kill_at,
        deadline_s=args.deadline,
        seed=args.seed,
    )
    report = run(opts, server_url(args.database_url), args.redis_url, args.keep_logs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


def run(opts: Options, database_server: str, redis_url: str, keep_logs: Path | None) -> dict[str, Any]:
    import redis

    load_before = os.getloadavg()
    redis.Redis.from_url(redis_url).flushdb()
    children: list[Child] = []
    workdir = Path(tempfile.mkdtemp(prefix="webhook-drain-"))
    try:
        with throwaway_database(database_server) as database_url:
            env = bench_env(database_url, redis_url, opts)
            os.environ.update(env)
            sys.path.insert(0, str(ROOT))
            warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
            import django

            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0, interactive=False)

            port = _free_port()
            receiver_url = f"http://127.0.0.1:{port}/hooks"
            # The secret exists once the endpoint does; the receiver starts after it.
            tenant, secret, emit_s = seed_and_emit(opts.events, receiver_url)
            queued = redis_leftovers(redis_url)["queued"]
            print(
                f"emitted {opts.events:,} call.ended events through call_ended_emit in {emit_s:.1f} s "
                f"({opts.events / emit_s:,.0f}/s); {queued:,} webhooks.deliver tasks queued in Redis",
                flush=True,
            )
            store = workdir / "receiver.sqlite3"
            receiver = Child(
                "receiver",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--receiver",
                    "--port",
                    str(port),
                    "--store",
                    str(store),
                    "--fail-rate",
                    str(opts.fail_rate),
                    "--timeout",
                    str(opts.timeout_s),
                    "--seed",
                    str(opts.seed),
                ],
                {**env, "BENCH_WEBHOOK_SECRET": secret},
                workdir / "receiver.log",
            )
            children.append(receiver)
            _wait_for_port(port, receiver)

            celery = str(Path(sys.executable).parent / "celery")
            started, io_since = time.monotonic(), io_stall_total_us()
            started_wall = datetime.now(UTC)
            beat = Child(
                "beat",
                [
                    celery,
                    "-A",
                    "voxsaas",
                    "beat",
                    "-s",
                    str(workdir / "beat-schedule"),
                    "--loglevel",
                    "WARNING",
                ],
                env,
                workdir / "beat.log",
            )
            children.append(beat)
            workers = [
                Child(
                    f"worker{i + 1}",
                    [
                        celery,
                        "-A",
                        "voxsaas",
                        "worker",
                        "--concurrency",
                        str(opts.concurrency),
                        "--hostname",
                        f"bench{i + 1}@%h",
                        "--loglevel",
                        "INFO",  # one line per task run: how many were no-ops is counted from them
                    ],
                    env,
                    workdir / f"worker{i + 1}.log",
                )
                for i in range(opts.workers)
            ]
            children.extend(workers)
            print(
                f"started {opts.workers} workers x {opts.concurrency} (prefork) and beat; receiver fails "
                f"{opts.fail_rate:.0%} of requests; timeout {opts.timeout_s:g} s, retries after "
                f"{opts.retry_delays} s, sweep every {opts.sweep_s} s",
                flush=True,
            )

            kill: dict[str, Any] = {}
            progress_at = 0.0
            while True:
                counts = db_counts(tenant.pk)
                pending = counts.get("pending", 0)
                done = counts.get("succeeded", 0)
                elapsed = time.monotonic() - started
                if opts.kill_worker and not kill and done >= opts.kill_at * opts.events:
                    workers[0].kill9()
                    kill = {
                        "at_s": elapsed,
                        "delivered_before": done,
                        "at_wall": datetime.now(UTC),
                    }
                    print(f"  {elapsed:6.1f} s: SIGKILL to {workers[0].name}'s process group ({done:,} done)")
                if elapsed - progress_at >= 10:
                    progress_at = elapsed
                    failed = counts.get("failed", 0)
                    print(
                        f"  {elapsed:6.1f} s: {done:,} delivered, {failed} failed, {pending:,} pending",
                        flush=True,
                    )
                if pending == 0:
                    break
                if elapsed > opts.deadline_s:
                    print(f"DEADLINE: {pending} deliveries still pending after {opts.deadline_s:.0f} s")
                    break
                for worker in workers:
                    if not worker.alive() and not (kill and worker is workers[0]):
                        raise SystemExit(f"{worker.name} exited:\n{worker.tail()}")
                time.sleep(0.5)
            drained_s = time.monotonic() - started
            leftovers = redis_leftovers(redis_url)
            for child in reversed(children):
                child.stop()
            report = analyse(tenant.pk, store, opts, started_wall, drained_s, kill, leftovers, queued, emit_s)
            report["task_runs"] = task_runs(workdir)
            runs = report["task_runs"]
            print(
                f"task runs (worker logs): {runs['deliver']:,} webhooks.deliver, of which "
                f"{runs['deliver'] - report['attempts']:,} found nothing due (duplicate messages); "
                f"{runs['sweeps']} sweeps enqueued {runs['swept']:,}, {runs['sweeps_expired']} sweeps "
                f"expired in the queue behind the backlog"
            )
            report["load"] = [load_before, os.getloadavg()]
            io_now = io_stall_total_us()
            if io_since is not None and io_now is not None:
                report["io_stalled_share"] = (io_now - io_since) / 1e6 / drained_s
                print(
                    f"I/O pressure during the drain: some task of this machine waited for the disk "
                    f"{report['io_stalled_share']:.0%} of the time (/proc/pressure/io)"
                )
            print(
                f"load average (1/5/15 min): before {load_before[0]:.2f}/{load_before[1]:.2f}/"
                f"{load_before[2]:.2f}, after {report['load'][1][0]:.2f}/{report['load'][1][1]:.2f}/"
                f"{report['load'][1][2]:.2f}; {os.cpu_count()} CPUs"
            )
            from django.db import connections

            connections.close_all()
            return report
    finally:
        for child in children:
            child.stop(5)
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                (keep_logs / log.name).write_bytes(log.read_bytes())
        shutil.rmtree(workdir, ignore_errors=True)
        with suppress(Exception):
            redis.Redis.from_url(redis_url).flushdb()


def analyse(
    tenant_id: int,
    store: Path,
    opts: Options,
    started_wall: datetime,
    drained_s: float,
    kill: dict[str, Any],
    leftovers: dict[str, int],
    queued: int,
    emit_s: float,
) -> dict[str, Any]:
    from django.db.models import Count, Max, Min, Q

    from calls.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookMessage

    deliveries = WebhookDelivery.objects.filter(tenant_id=tenant_id)
    statuses = Counter(deliveries.values_list("status", flat=True))
    per_delivery = deliveries.annotate(
        recorded=Count("attempts"), succeeded=Count("attempts", filter=Q(attempts__succeeded=True))
    ).values_list("recorded", "succeeded", "attempt_count", "message__public_id")
    histogram = Counter(recorded for recorded, _, _, _ in per_delivery)
    success_per = Counter(succeeded for _, succeeded, _, _ in per_delivery)
    attempts = WebhookAttempt.objects.filter(tenant_id=tenant_id)
    span = attempts.aggregate(first=Min("at"), last=Max("at"))
    errors = Counter(
        "HTTP 200" if a.succeeded else (a.error.split(":")[0].split(" (")[0] if a.error else "?")
        for a in attempts.only("succeeded", "error")
    )
    messages = WebhookMessage.objects.filter(tenant_id=tenant_id).count()
    expected_ids = {f"msg_{public_id.hex}" for *_, public_id in per_delivery}

    db = sqlite3.connect(store)
    requests = Counter(dict(db.execute("SELECT outcome, COUNT(*) FROM requests GROUP BY outcome").fetchall()))
    accepted_ids = {row[0] for row in db.execute("SELECT webhook_id FROM accepted")}
    effects_twice = db.execute(
        "SELECT COUNT(*) FROM (SELECT webhook_id FROM effects GROUP BY webhook_id HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    duplicate_ids = db.execute(
        "SELECT COUNT(DISTINCT webhook_id) FROM requests WHERE outcome = 'duplicate'"
    ).fetchone()[0]
    resent_after_kill = 0
    if kill:
        # Events the receiver had accepted just before the kill and got again once the dead
        # worker's lease had run out: the kill's own duplicates.
        killed_at = kill["at_wall"].timestamp()
        resent_after_kill = db.execute(
            "SELECT COUNT(DISTINCT early.webhook_id) FROM requests early JOIN requests late "
            "ON late.webhook_id = early.webhook_id WHERE early.outcome = 'accepted' "
            "AND early.at BETWEEN ? AND ? AND late.at > ?",
            (killed_at - opts.timeout_s - 1, killed_at, killed_at + opts.timeout_s + 60),
        ).fetchone()[0]
    db.close()

    first, last = span["first"], span["last"]
    drain_s = (last - first).total_seconds() if first and last else 0.0
    to_first_s = (first - started_wall).total_seconds() if first else 0.0
    total_attempts = sum(histogram[n] * n for n in histogram)
    lost = expected_ids - accepted_ids
    report: dict[str, Any] = {
        "events": opts.events,
        "messages": messages,
        "queued": queued,
        "emit_s": emit_s,
        "statuses": dict(statuses),
        "drain_s": drain_s,
        "worker_start_to_first_attempt_s": to_first_s,
        "workers_start_to_drained_s": drained_s,
        "deliveries_per_s": statuses.get("succeeded", 0) / drain_s if drain_s else 0.0,
        "attempts": total_attempts,
        "attempts_histogram": dict(sorted(histogram.items())),
        "attempt_outcomes": dict(errors.most_common()),
        "succeeded_attempts_per_delivery": dict(sorted(success_per.items())),
        "receiver_requests": dict(requests),
        "receiver_accepted": len(accepted_ids),
        "receiver_duplicates": requests.get("duplicate", 0),
        "receiver_duplicate_ids": duplicate_ids,
        "accepted_more_than_once": effects_twice,
        "never_accepted": len(lost),
        "orphaned_attempts": orphaned_attempts(tenant_id),
        "accepted_before_kill_resent": resent_after_kill,
        "kill": kill,
        "redis_after_drain": leftovers,
    }

    n = opts.events
    killed = ", one worker killed" if kill else ""
    rate = total_attempts / drain_s if drain_s else 0.0
    mean = total_attempts / max(1, sum(histogram.values()))
    print(f"\n== webhook drain: {n:,} events, {opts.workers} workers x {opts.concurrency}{killed}")
    print(
        f"drain (first attempt -> last attempt): {drain_s:.1f} s = "
        f"{report['deliveries_per_s']:.0f} deliveries/s, {rate:.0f} attempts/s"
    )
    print(
        f"workers started -> first attempt {to_first_s:.1f} s; -> every delivery terminal {drained_s:.1f} s"
    )
    print(
        f"deliveries: {statuses.get('succeeded', 0):,} succeeded, {statuses.get('failed', 0)} failed, "
        f"{statuses.get('pending', 0)} pending (lost) of {messages:,} messages"
    )
    print(f"attempts per delivery: {dict(sorted(histogram.items()))} (mean {mean:.2f})")
    print(f"attempt outcomes (DB): {dict(errors.most_common())}")
    print(f"succeeded attempts per delivery (DB): {dict(sorted(success_per.items()))}")
    print(f"receiver: {sum(requests.values()):,} requests {dict(requests.most_common())}")
    print(
        f"receiver idempotency: {len(accepted_ids):,} distinct events accepted; "
        f"duplicates seen {requests.get('duplicate', 0)} (of {duplicate_ids} events); "
        f"events whose side effect ran more than once: {effects_twice}; "
        f"events never accepted: {len(lost)}; bad signatures: {requests.get('bad_signature', 0)}"
    )
    if kill:
        print(
            f"kill: at {kill['at_s']:.1f} s with {kill['delivered_before']:,} delivered; attempts cut off "
            f"(number taken, outcome never recorded): {report['orphaned_attempts']}; events the receiver "
            f"had accepted in the seconds before the kill and got again only after the dead worker's "
            f"lease (the kill's duplicates): {resent_after_kill}; "
            f"Redis after the drain: {leftovers['unacked']} messages unacknowledged (the dead "
            f"worker's), {leftovers['queued']} queued"
        )
    exact = success_per.get(1, 0) == messages and statuses.get("succeeded", 0) == messages
    print(
        "VERIFIED: every event has exactly one succeeded delivery (and one succeeded attempt), none lost"
        if exact and not lost and effects_twice == 0
        else "NOT VERIFIED: see the counts above"
    )
    return report


if __name__ == "__main__":
    main()
