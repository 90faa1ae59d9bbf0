"""Run the real product under daphne in a subprocess, against the test database.

The server is started the way production starts it (``python -m voxsaas.serve``: daphne with a
graceful drain on SIGTERM); stopping it drains for at most ``DRAIN_TIMEOUT_S`` (5 s here).

The test process and the server share the database (the test database file on SQLite, the test
database on PostgreSQL), so tests must use ``transactional_db``: rows they create are committed
and visible to the server, and the server's writes are visible back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_BASE_URL = "https://voice.example.test"


def _database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, port: int, process: asyncio.subprocess.Process) -> None:
        self.port = port
        self.process = process

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def live_server(**env_overrides: str) -> AsyncIterator[LiveServer]:
    """``voxsaas.serve`` (daphne) on a free local port, with ``env_overrides`` on top of the
    test run's environment (client base URLs pointing at fakes, for example)."""
    port = _free_port()
    env: dict[str, Any] = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,voice.example.test",
        "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "WARNING"),
        "DRAIN_TIMEOUT_S": "5",  # a test that leaves a call open must not wait long at teardown
        **env_overrides,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voxsaas.serve", "-b", "127.0.0.1", "-p", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=None if os.environ.get("E2E_SHOW_SERVER_LOG") else asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the server exited with {process.returncode} before listening")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)  # polling a port that is not open yet; no event exists
                    continue
                writer.close()
                await writer.wait_closed()
                break
        yield LiveServer(port, process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
