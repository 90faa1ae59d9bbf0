"""Small synchronisation primitives shared by the session's tasks."""

from __future__ import annotations

import asyncio


class SessionEnd(Exception):
    """Raised by a session task to end the TaskGroup after an end reason was decided."""


class Pulse:
    """Wakes every current waiter once; cheaper and clearer than Condition for "something moved".

    Pulsed on the audio path (every agent frame, every drained mark echo), waited on rarely: the
    event exists only while someone waits, so a pulse nobody waits for costs an attribute read."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def pulse(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self, timeout_s: float | None = None) -> bool:
        event = self._event
        if event is None:
            event = self._event = asyncio.Event()
        if timeout_s is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await event.wait()
        except TimeoutError:
            return False
        return True
