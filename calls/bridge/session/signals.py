"""Small synchronisation primitives shared by the session's tasks."""

from __future__ import annotations

import asyncio


class SessionEnd(Exception):
    """Raised by a session task to end the TaskGroup after an end reason was decided."""


class Pulse:
    """Wakes every current waiter once; cheaper and clearer than Condition for "something moved"."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def pulse(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout_s: float | None = None) -> bool:
        event = self._event
        if timeout_s is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await event.wait()
        except TimeoutError:
            return False
        return True
