"""The shared life cycle of the aiohttp-based fakes: serve on 127.0.0.1 at a free port,
``start``/``stop`` or ``async with``. A fake only declares its routes."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LocalAiohttpServer:
    """Base of a fake service. Subclasses implement ``add_routes``. ``handler_cancellation``
    is on: a client that goes away cancels its handler, as a real server stops generating."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.add_routes(app)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
