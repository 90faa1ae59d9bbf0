"""The call path under load: N concurrent simulated Twilio calls against the real consumer.

Run from the repository root (takes ~1 minute per calls-count and server; see bench/README.md):

    .venv/bin/python bench/bridge_load.py --calls 50,200,500
    .venv/bin/python bench/bridge_load.py --calls 100 --servers daphne --profile-dir /tmp/prof

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
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import pickle
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _loadgen  # noqa: E402 - bench/ is not a package

ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = ROOT.parent / "shared" / "audio"
PUBLIC_BASE_URL = "https://voice.example.test"
ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "bench-auth-token-" + "0123456789abcdef"
TO_NUMBER = "+15550009999"
FROM_NUMBER = "+15552223333"
SERVERS = ("relay", "daphne")
P99_BUDGET_MS = 20.0
LOOP_LAG_LIMIT_MS = 20.0
STARVED_PCT = 10.0  # the server waited for a CPU this share of the window: the machine was too busy

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


@contextmanager
def bench_database(database_url: str | None, workdir: Path) -> Iterator[str]:
    """Yield the URL of an empty database that is this run's alone, and remove it afterwards."""
    if database_url is None:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit("--database-url must be a postgres:// URL (SQLite is the default)")
    if parts.hostname not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the bench only uses a database on this machine")
    name = f"voxsaas_bench_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(database_url: str) -> dict[str, str]:
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
    return env


def prepare_database(env: dict[str, str]) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    for argv, what in ((["migrate", "--noinput"], "migrate"), (["shell", "-c", SEED], "seed")):
        done = subprocess.run(
            manage + argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"manage.py {what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


# ----------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server in its own process group, logging to a file; ``stop()`` always ends it."""

    def __init__(self, kind: str, env: dict[str, str], log_path: Path, gc_mode: str = "off") -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = log_path
        if kind == "daphne":
            # ``--daphne-gc``: the same daphne CLI, started through a wrapper that times collections.
            launcher = ["-m", "daphne"] if gc_mode == "off" else [str(ROOT / "bench" / "_daphne_gc.py")]
            env = {**env, "BENCH_GC_FREEZE": "1" if gc_mode == "freeze" else "0"}
            argv = [
                sys.executable,
                *launcher,
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "voxsaas.asgi:application",
            ]
        else:
            argv = [sys.executable, str(ROOT / "bench" / "minimal_relay.py"), "--port", str(self.port)]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.ps = psutil.Process(self.process.pid)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}" + ("/twilio/media-stream" if self.kind == "daphne" else "/")

    @property
    def http_base(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.kind == "daphne" else None

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)  # the port is not open yet; no event to wait on across processes
        raise RuntimeError(f"{self.kind} did not listen within {timeout_s:.0f} s:\n{self.log_tail()}")

    def cpu_wait_s(self) -> float:
        return runqueue_wait_s(self.process.pid)

    def cpu_s(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_warnings(self) -> Counter[str]:
        """WARNING/ERROR lines of the server log, by message (numbers stripped)."""
        self._log.flush()
        found: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            for level in (" WARNING ", " ERROR ", "Traceback"):
                if level in line:
                    text = line.split(level, 1)[1] if level != "Traceback" else line
                    found["".join("#" if c.isdigit() else c for c in text)[:120]] += 1
                    break
        return found

    def gc_pauses(self, start: float, end: float) -> str:
        """Collections inside [start, end) from ``_daphne_gc.py``'s exit line (after ``stop()``)."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("GC-PAUSES "):
                data = json.loads(line.removeprefix("GC-PAUSES "))
                parts = []
                for gen in (1, 2):
                    pauses = [ms for t, g, ms in data["events"] if g == gen and start <= t < end]
                    parts.append(
                        f"gen{gen} {len(pauses)} collections, max {max(pauses, default=0):.1f} ms, "
                        f"total {sum(pauses):.0f} ms"
                    )
                young = data["gen0"]
                parts.append(f"gen0 (whole run) {young['n']}, max {young['max_ms']:.1f} ms")
                return "; ".join(parts)
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            kill_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (Linux schedstat): the
    time other processes on the machine took from it. 0 where schedstat is not available."""
    total_ns = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError, ValueError, IndexError):
                total_ns += int((task / "schedstat").read_text().split()[1])
    except OSError:
        return 0.0
    return total_ns / 1e9


def kill_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


# ------------------------------------------------------------------------------------- phase


@dataclass
class PhaseFigures:
    server: str
    calls: int
    ramp_s: float
    window_s: float
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
    server_cpu_pct: float = 0.0  # of one core, over the window
    server_cpu_s: float = 0.0
    ramp_cpu_pct: float = 0.0  # server CPU during ramp + settle (call set-ups and early streaming)
    echoes_in_window: int = 0
    server_starved_pct: float = 0.0  # of the window, runnable but waiting for a CPU
    generator_starved_pct: float = 0.0  # same, average of the generator processes
    cpu_pct_per_call: float = 0.0
    rss_base_mb: float = 0.0
    rss_window_mb: float = 0.0
    mb_per_call: float = 0.0
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

    @property
    def us_per_frame(self) -> float | None:
        """Server CPU per echoed frame (media in, media + mark out, mark echo in)."""
        return 1e6 * self.server_cpu_s / self.echoes_in_window if self.echoes_in_window else None

    @property
    def calls_per_core(self) -> float | None:
        """What one fully busy core would carry at this cost per frame (50 frames/s per call)."""
        us = self.us_per_frame
        return 1e6 / (us * 50) if us else None

    @property
    def server_starved(self) -> bool:
        return self.server_starved_pct > STARVED_PCT

    @property
    def generator_limited(self) -> bool:
        return self.loop_lag_p99_ms is not None and self.loop_lag_p99_ms > LOOP_LAG_LIMIT_MS

    @property
    def verdict(self) -> str:
        if self.generator_errors or self.frames_window == 0:
            return "FAILED"
        over = self.lat_p99_ms is None or self.lat_p99_ms >= P99_BUDGET_MS or self.lost_window > 0
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


def run_load(
    server: Server,
    *,
    calls: int,
    generators: int,
    ramp_s: float,
    settle_s: float,
    duration_s: float,
    grace_s: float,
    workdir: Path,
    profile_path: Path | None = None,
    figures: PhaseFigures | None = None,
) -> PhaseFigures:
    """Run one load phase against a running server; fill and return its figures."""
    figures = figures or PhaseFigures(server.kind, calls, ramp_s, duration_s)
    target = _loadgen.Target(
        ws_url=server.ws_url, http_base=server.http_base, public_base_url=PUBLIC_BASE_URL,
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to_number=TO_NUMBER, from_number=FROM_NUMBER,
        sid_prefix=secrets.token_hex(4),
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
        out = workdir / f"gen-{server.kind}-{calls}-{g}.pickle"
        out.unlink(missing_ok=True)
        child = ctx.Process(
            target=_loadgen.run_generator,
            args=(target, schedule, str(AUDIO_DIR), str(out), overall_s),
            daemon=True,
        )
        child.start()
        procs.append((child, out))
    profiler: subprocess.Popen[bytes] | None = None
    try:
        gen_ps = [psutil.Process(p.pid) for p, _ in procs if p.pid is not None]
        sleep_until(t0)
        ramp_cpu0 = server.cpu_s()
        sleep_until(window_start)
        cpu0, gen0 = server.cpu_s(), _cpu_of(gen_ps)
        figures.ramp_cpu_pct = 100 * (cpu0 - ramp_cpu0) / max(0.1, window_start - t0)
        figures.window_bounds = (window_start, window_end)
        wait0, gen_wait0 = server.cpu_wait_s(), sum(runqueue_wait_s(p.pid) for p in gen_ps)
        if profile_path is not None:
            profiler = start_profiler(server.process.pid, duration_s, profile_path)
        sleep_until(window_end)
        cpu1, gen1 = server.cpu_s(), _cpu_of(gen_ps)
        wait1, gen_wait1 = server.cpu_wait_s(), sum(runqueue_wait_s(p.pid) for p in gen_ps)
        figures.server_cpu_s = cpu1 - cpu0
        figures.server_starved_pct = 100 * (wait1 - wait0) / duration_s
        figures.generator_starved_pct = 100 * (gen_wait1 - gen_wait0) / duration_s / len(gen_ps)
        figures.rss_window_mb = server.rss_mb()
        figures.load_avg = os.getloadavg()[0]
        figures.server_cpu_pct = 100 * (cpu1 - cpu0) / duration_s
        figures.cpu_pct_per_call = figures.server_cpu_pct / calls
        figures.generator_cpu_pct = 100 * (gen1 - gen0) / duration_s
        deadline = time.monotonic() + overall_s
        for proc, _ in procs:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for proc, _ in procs:
            if proc.is_alive():
                figures.generator_errors.append(f"generator {proc.pid} did not finish: killed")
                proc.kill()
                proc.join(timeout=5)
        if profiler is not None:
            try:
                profiler.wait(timeout=duration_s + 30)
            except subprocess.TimeoutExpired:
                profiler.kill()
    reports: list[_loadgen.GeneratorReport] = []
    for _, out in procs:
        if out.exists():
            reports.append(pickle.loads(out.read_bytes()))  # noqa: S301 - our own child's file
    _summarise(figures, reports, window_start)
    return figures


def _cpu_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


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


def run_phase(
    kind: str, calls: int, args: argparse.Namespace, env: dict[str, str], workdir: Path
) -> PhaseFigures:
    ramp_s = args.ramp if args.ramp is not None else max(3.0, calls / 50)
    figures = PhaseFigures(kind, calls, ramp_s, args.duration)
    server = Server(kind, env, workdir / f"{kind}-{calls}.log", gc_mode=args.daphne_gc)
    try:
        server.wait_ready()
        # Warm-up: first-request imports (engine module, templates, DB connection) are not per-call memory.
        warm = run_load(
            server,
            calls=2,
            generators=1,
            ramp_s=0.2,
            settle_s=0.0,
            duration_s=1.0,
            grace_s=2.0,
            workdir=workdir,
        )
        if warm.frames_window == 0 or warm.lost_window:
            figures.generator_errors.append(f"warm-up failed: {warm.errors} {warm.generator_errors}")
            figures.server_log = dict(server.log_warnings().most_common(8))
            return figures
        time.sleep(1.0)
        figures.rss_base_mb = server.rss_mb()
        profile_path = args.profile_dir / f"{kind}-{calls}.txt" if args.profile_dir else None
        run_load(
            server, calls=calls, generators=args.generators, ramp_s=ramp_s, settle_s=args.settle,
            duration_s=args.duration, grace_s=args.grace, workdir=workdir, profile_path=profile_path,
            figures=figures,
        )  # fmt: skip
        figures.mb_per_call = (figures.rss_window_mb - figures.rss_base_mb) / calls
        figures.server_log = dict(server.log_warnings().most_common(8))
        if profile_path is not None and profile_path.exists():
            figures.profile = summarise_profile(profile_path)
    finally:
        server.stop()
        if kind == "daphne" and args.daphne_gc != "off" and figures.window_bounds:
            figures.gc = server.gc_pauses(*figures.window_bounds)
        if args.log_dir is not None:
            args.log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(server.log_path, args.log_dir / server.log_path.name)
    return figures


# ----------------------------------------------------------------------------------- profile


def start_profiler(pid: int, duration_s: float, path: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found (pip install py-spy): no profile", file=sys.stderr)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s))), "--rate", "200",
        "--format", "raw", "--full-filenames", "--nonblocking", "--output", str(path),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame_parts(frame: str) -> tuple[str, str]:
    """``"func (path:line)"`` -> (``func``, ``path``)."""
    name, _, rest = frame.partition(" (")
    return name, rest.rsplit(":", 1)[0]


def _area(path: str) -> str:
    """Which package a leaf frame's file belongs to."""
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(ROOT) + "/"):
        return "ours: " + path.removeprefix(str(ROOT) + "/").split("/", 1)[0]
    if "/lib/python3" in path:
        stdlib = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
        return "stdlib: " + stdlib.split("/", 1)[0].removesuffix(".py")
    return "other"


def summarise_profile(path: Path, top: int = 18) -> str:
    """Inclusive and self sample shares from py-spy's collapsed stacks: where the server's CPU goes,
    by package, and which of OUR functions are on the hot path."""
    total = idle = 0
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    by_area: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf_name, leaf_file = _frame_parts(frames[-1])
        if leaf_file.endswith("/selectors.py") and leaf_name.endswith("select"):
            idle += count  # waiting for the network: not CPU
            continue
        total += count
        seen: set[str] = set()
        for frame in frames:
            name, file = _frame_parts(frame)
            if file.startswith(str(ROOT) + "/") and "/.venv/" not in file:
                key = f"{name} ({file.removeprefix(str(ROOT) + '/')})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
        self_time[f"{leaf_name} ({leaf_file.rsplit('/', 2)[-2:][-1]})"] += count
        by_area[_area(leaf_file)] += count
    if not total:
        return "(no samples)"
    lines = [
        f"{total} busy samples (+{idle} idle in select), shares of busy samples",
        "self time by package:",
    ]
    lines += [f"  {100 * n / total:5.1f}%  {area}" for area, n in by_area.most_common(12)]
    lines.append("our functions, inclusive (on the stack):")
    lines += [f"  {100 * n / total:5.1f}%  {key}" for key, n in inclusive.most_common(top)]
    lines.append("top self time, any code:")
    lines += [f"  {100 * n / total:5.1f}%  {key}" for key, n in self_time.most_common(top)]
    return "\n".join(lines)


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
    return "\n".join(out)


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
    args = parser.parse_args(argv)
    args.call_counts = [int(n) for n in args.calls.split(",") if n.strip()]
    args.server_kinds = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.call_counts or min(args.call_counts) < 1 or any(s not in SERVERS for s in args.server_kinds):
        parser.error("--calls must be positive integers, --servers a subset of relay,daphne")
    if not args.database_url and os.environ.get("DATABASE_URL", "").startswith("postgres"):
        args.database_url = os.environ["DATABASE_URL"]  # a server to create the throwaway database on
    if args.postgres and not args.database_url:
        args.database_url = "postgres://postgres@127.0.0.1:5432/postgres"
    return args


def _run_and_report(
    kind: str, calls: int, args: argparse.Namespace, env: dict[str, str], workdir: Path
) -> PhaseFigures:
    started = time.monotonic()
    print(f"-- {kind}, {calls} calls ...", flush=True)
    figures = run_phase(kind, calls, args, env, workdir)
    print(
        f"   p50 {_ms(figures.lat_p50_ms)} ms, p99 {_ms(figures.lat_p99_ms)} ms, "
        f"lost {figures.lost_window}/{figures.frames_window}, CPU {figures.server_cpu_pct:.0f}% "
        f"({_ms(figures.us_per_frame)} µs/frame), {figures.verdict} [{time.monotonic() - started:.0f} s]",
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
    with tempfile.TemporaryDirectory(prefix="bridge-load-") as tmp:
        workdir = Path(tmp)
        with bench_database(args.database_url, workdir) as database_url:
            env = server_env(database_url)
            print(f"database: {database_url.split('://')[0]}; migrating and seeding ...", flush=True)
            prepare_database(env)
            print(
                f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; window {args.duration:g} s, "
                f"{args.generators} generator processes",
                flush=True,
            )
            try:
                for calls in args.call_counts:
                    for kind in args.server_kinds:
                        results.append(_run_and_report(kind, calls, args, env, workdir))
            except KeyboardInterrupt:
                print("interrupted: the figures so far", flush=True)
    print(render(results))
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
        payload: list[dict[str, Any]] = [asdict(r) | {"verdict": r.verdict} for r in results]
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
