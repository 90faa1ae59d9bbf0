"""A throwaway PostgreSQL database for one bench run (``voxsaas_bench_<pid>``), dropped at the end.

Shared by ``api_lists.py`` and ``webhook_drain.py``. Only a server on this machine is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def server_url(explicit: str | None) -> str:
    """The server to create the database on: ``--database-url``, else a postgres ``DATABASE_URL``
    from the environment, else the local default."""
    if explicit:
        return explicit
    from_env = os.environ.get("DATABASE_URL", "")
    return from_env if from_env.startswith(("postgres://", "postgresql://")) else DEFAULT_SERVER


@contextmanager
def throwaway_database(database_url: str, *, keep: bool = False) -> Iterator[str]:
    """Yield the URL of an empty database of this run's own, and drop it afterwards (unless
    ``keep``: then its name is printed so it can be inspected and dropped by hand)."""
    import psycopg

    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit("the database must be a postgres:// URL")
    if parts.hostname not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the bench only uses a database on this machine")
    name = f"voxsaas_bench_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        if keep:
            print(f"kept database {name} (drop it with: dropdb -h 127.0.0.1 -U postgres {name})")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def io_stall_total_us() -> int | None:
    """Microseconds some task of this machine has waited for I/O since boot (Linux pressure
    stall information), or None where it is not available. Two readings give the share of a run
    during which the disk held something up: a shared database server's stalls show up here."""
    try:
        with open("/proc/pressure/io") as pressure:
            some = pressure.readline().split()
    except OSError:
        return None
    return int(some[-1].removeprefix("total="))
