"""Graceful drain of one ASGI worker process: finish the calls you have, take no new ones, exit.

``WorkerState`` is what this process is doing: the call tasks it runs and whether it is
draining. It is process-local on purpose: it describes the process, not a call (a call's state
lives in the database, so any worker can serve its webhooks, viewers and hang-up button).

``DrainController.begin()`` is called on SIGTERM (see ``voxsaas.serve``):

1. ``draining`` turns on: ``/readyz`` answers 503 so the load balancer stops routing here, and
   the media-stream consumer refuses new streams (close 1013, "try again later");
2. after ``unlisten_after_s`` the listening socket closes, so a balancer that only notices dead
   upstreams (no active health checks) gets "connection refused" and retries another worker;
3. once no call is left, or ``timeout_s`` has passed, the server stops and the process exits 0.
   Calls still running at the deadline are cancelled and given ``cancel_grace_s`` to end
   cleanly (last transcript flush, call marked ended, post-call work queued).

A second SIGTERM stops at once. Pure asyncio: no Django here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 10.0


class WorkerState:
    def __init__(self) -> None:
        self.draining = False
        self.drain_started_at: float | None = None  # time.time() of the SIGTERM
        self._calls: set[asyncio.Task[Any]] = set()
        self._idle_waiters: list[asyncio.Future[None]] = []

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def call_started(self, task: asyncio.Task[Any]) -> None:
        """Track a call task until it is done (called by the consumer right after creating it)."""
        self._calls.add(task)
        task.add_done_callback(self._call_finished)

    def _call_finished(self, task: asyncio.Task[Any]) -> None:
        self._calls.discard(task)
        if not self._calls:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def start_draining(self) -> None:
        if not self.draining:
            self.draining = True
            self.drain_started_at = time.time()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no call is running; ``False`` if some still are after ``timeout_s``."""
        if not self._calls:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            return False
        finally:
            if waiter in self._idle_waiters:
                self._idle_waiters.remove(waiter)
        return True

    async def cancel_calls(self, grace_s: float = CANCEL_GRACE_S) -> int:
        """Cancel every running call and wait (bounded) for them to wind down. Returns how many
        were cancelled."""
        running = [task for task in self._calls if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=grace_s)
        return len(running)


# The process's own state, shared by the consumer, the probes and the metrics.
worker = WorkerState()


class DrainController:
    def __init__(
        self,
        state: WorkerState,
        *,
        timeout_s: float,
        unlisten_after_s: float,
        stop_listening: Callable[[], None],
        stop_server: Callable[[], None],
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self.state = state
        self.timeout_s = timeout_s
        self.unlisten_after_s = unlisten_after_s
        self._stop_listening = stop_listening
        self._stop_server = stop_server
        self.cancel_grace_s = cancel_grace_s
        self.task: asyncio.Task[Any] | None = None
        self.finished = asyncio.Event()

    def begin(self) -> None:
        """SIGTERM: start draining; a second one stops the server now."""
        if self.task is not None:
            log.warning(
                "second SIGTERM while draining: stopping now with %d call(s)", self.state.active_calls
            )
            self._stop_server()
            return
        self.state.start_draining()
        log.warning(
            "SIGTERM: draining; %d call(s) in progress, waiting up to %.0f s",
            self.state.active_calls,
            self.timeout_s,
        )
        self.task = asyncio.get_running_loop().create_task(self._drain(), name="worker-drain")

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        unlisten = loop.call_later(self.unlisten_after_s, self._unlisten)
        try:
            if await self.state.wait_idle(self.timeout_s):
                log.warning("drained: no call left")
            else:
                log.error(
                    "drain timeout (%.0f s): ending %d call(s) still in progress",
                    self.timeout_s,
                    self.state.active_calls,
                )
                await self.state.cancel_calls(self.cancel_grace_s)
        finally:
            unlisten.cancel()
            self.finished.set()
            self._stop_server()

    def _unlisten(self) -> None:
        log.info("draining: closing the listening socket")
        with contextlib.suppress(Exception):
            self._stop_listening()
