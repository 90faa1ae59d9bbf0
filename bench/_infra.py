"""The shared services of ``bridge_load.py``: its throwaway database, its Redis database, and what
they cost during a phase.

- ``bench_database``: a temporary SQLite file, or ``voxsaas_bench_<pid>`` created on a local
  PostgreSQL server and dropped at the end.
- ``bench_redis``: a Redis database number of the run's own (``redis://127.0.0.1:6379/11``),
  flushed at the start and at the end. Only a server on this machine is accepted.
- ``PostgresMonitor``: the connections the workers hold on the bench database (sampled through
  the phase: its maximum is what a fleet has to provision) and the CPU of their backends.
- ``RedisMonitor``: the Redis server's CPU and commands over a window. Redis is one process for
  the whole machine, so the figure includes whatever else used it meanwhile (an upper bound).
- ``call_workers``: which worker bound each call's stream (``Call.worker_id``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

LOCAL_HOSTS = ("127.0.0.1", "localhost", None)
MONITOR_NAME = "bridge_load-monitor"  # the monitor's own connections are not counted
OTHER_BACKENDS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name <> %s"
)


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
    if parts.hostname not in LOCAL_HOSTS:
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


def _redis_client(url: str) -> Any:
    import redis

    if urlsplit(url).hostname not in LOCAL_HOSTS:
        raise SystemExit("the bench only uses a Redis server on this machine")
    return redis.Redis.from_url(url, socket_timeout=5)


@contextmanager
def bench_redis(url: str | None) -> Iterator[str | None]:
    """Flush the run's Redis database before and after (channel layer, cache, Celery queue)."""
    if url is None:
        yield None
        return
    client = _redis_client(url)
    try:
        client.ping()
    except Exception as exc:
        raise SystemExit(f"Redis at {url} is not reachable: {exc}") from None
    client.flushdb()
    try:
        yield url
    finally:
        with suppress(Exception):
            client.flushdb()
        client.close()


def _rows(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(sql.replace("%s", "?"), params))
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return list(conn.execute(sql, params))


def call_workers(database_url: str, call_sid_prefix: str) -> dict[str, str]:
    """``twilio_call_sid`` -> ``worker_id`` of the worker that bound its stream, for one phase's calls."""
    rows = _rows(
        database_url,
        "SELECT twilio_call_sid, worker_id FROM calls_call WHERE twilio_call_sid LIKE %s",
        (call_sid_prefix + "%",),
    )
    return {str(sid): str(worker or "") for sid, worker in rows}


class PostgresMonitor:
    """Connections to the bench database and their backends' CPU. ``sample()`` runs in a thread
    during a phase (every 0.5 s); ``None`` everywhere for SQLite."""

    def __init__(self, database_url: str) -> None:
        self.enabled = database_url.startswith(("postgres://", "postgresql://"))
        self.database_url = database_url
        self.max_connections = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def _backends(self) -> list[int]:
        if self._conn is None:
            import psycopg

            self._conn = psycopg.connect(self.database_url, autocommit=True, application_name=MONITOR_NAME)
        rows = self._conn.execute(OTHER_BACKENDS.replace("count(*)", "pid"), (MONITOR_NAME,)).fetchall()
        return [int(pid) for (pid,) in rows]

    def connections(self) -> int:
        return len(self._backends()) if self.enabled else 0

    def backend_cpu(self) -> dict[int, float]:
        """CPU seconds of each backend serving the bench database (readable as root or postgres)."""
        if not self.enabled:
            return {}
        cpu: dict[int, float] = {}
        for pid in self._backends():
            with suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                cpu[pid] = float(times.user + times.system)
        return cpu

    def start_sampling(self) -> None:
        if not self.enabled:
            return
        self.max_connections = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="pg-monitor", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, application_name=MONITOR_NAME) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(OTHER_BACKENDS, (MONITOR_NAME,)).fetchone() or (0,)
                self.max_connections = max(self.max_connections, int(count))
                self._stop.wait(0.5)

    def stop_sampling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        self.stop_sampling()
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two ``backend_cpu()`` readings (backends that ended in between are lost:
    a lower bound when connections churn)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class RedisMonitor:
    def __init__(self, url: str | None) -> None:
        self.enabled = url is not None
        self._client = _redis_client(url) if url is not None else None
        self._process: psutil.Process | None = None
        if self._client is not None:
            with suppress(Exception, psutil.Error):
                self._process = psutil.Process(int(self._client.info("server")["process_id"]))

    def reading(self) -> tuple[float, int]:
        """(CPU seconds of the Redis server, commands it processed so far)."""
        if self._client is None:
            return 0.0, 0
        cpu = 0.0
        if self._process is not None:
            with suppress(psutil.Error):
                times = self._process.cpu_times()
                cpu = float(times.user + times.system)
        try:
            commands = int(self._client.info("stats")["total_commands_processed"])
        except Exception:
            commands = 0
        return cpu, commands

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
