"""``FakeOpenAIRealtime``: a local stand-in for the OpenAI Realtime WebSocket API.

It speaks the wire protocol (GA by default, beta event names when the client sends
``OpenAI-Beta: realtime=v1``), runs an energy VAD on the appended audio, answers each caller
turn from a script, and records every client event so tests can assert on what a client sent.
It listens on 127.0.0.1 only. Used by tests, the offline demo and benchmarks.

    async with FakeOpenAIRealtime(turns=[FakeTurn("what time is it", reply="Nine o'clock.")]) as fake:
        settings = EngineSettings(kind="openai_realtime", base_url=fake.url, api_key=fake.api_key)
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Iterable
from typing import Any, Literal

from aiohttp import web

from tests.fakes.openai_realtime.connection import FakeRealtimeConnection
from tests.fakes.openai_realtime.script import FakeTurn

Direction = Literal["received", "sent"]
Predicate = Callable[[dict[str, Any]], bool]


class FakeOpenAIRealtime:
    def __init__(
        self,
        *,
        api_key: str = "sk-fake-realtime-key",
        turns: Iterable[FakeTurn] = (),
        default_turn: FakeTurn | None = None,
        greeting: str = "Hello! How can I help you today?",
        realtime_factor: float | None = None,
        chunk_ms: int = 100,
        ms_per_char: int = 60,
        transcription_lag_chunks: int = 2,
        path: str = "/v1/realtime",
        max_message_bytes: int = 16 * 1024 * 1024,
        record_audio: bool = True,
    ) -> None:
        """``turns`` answer caller turns in order, then ``default_turn``. ``realtime_factor``
        paces agent audio at that multiple of real time (None: as fast as possible).
        ``transcription_lag_chunks``: the caller's transcription is sent after that many audio
        chunks of the reply, as the real service does (it transcribes asynchronously).
        ``record_audio=False`` keeps audio appends and deltas out of ``received``/``sent`` so a
        long benchmark does not hold every frame in memory."""
        self.api_key = api_key
        self.turns: collections.deque[FakeTurn] = collections.deque(turns)
        self.default_turn = default_turn or FakeTurn(transcript="", reply="Sorry, could you say that again?")
        self.greeting = greeting
        self.realtime_factor = realtime_factor
        self.chunk_ms = chunk_ms
        self.ms_per_char = ms_per_char
        self.transcription_lag_chunks = transcription_lag_chunks
        self.path = path
        self.max_message_bytes = max_message_bytes
        self.record_audio = record_audio
        self.connections: list[FakeRealtimeConnection] = []
        self.rejected: list[dict[str, str]] = []  # handshakes refused (bad key, no model)
        self.unstalled = asyncio.Event()
        self.unstalled.set()
        self.producing = asyncio.Event()  # cleared: the model stops generating (stall)
        self.producing.set()
        self.stall_points: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._waiters: list[tuple[Callable[[], dict[str, Any] | None], asyncio.Future[dict[str, Any]]]] = []

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self) -> FakeOpenAIRealtime:
        app = web.Application()
        app.router.add_get(self.path, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self.resume()
        for connection in self.connections:
            if not connection.ws.closed:
                await connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> FakeOpenAIRealtime:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}{self.path}"

    # ---------------------------------------------------------------------------- script

    def add_turns(self, *turns: FakeTurn) -> None:
        self.turns.extend(turns)

    def next_turn(self) -> FakeTurn:
        return self.turns.popleft() if self.turns else self.default_turn

    # ---------------------------------------------------------------------------- inspection

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every client event received, over all connections, in arrival order per connection."""
        return [event for connection in self.connections for event in connection.received]

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [event for connection in self.connections for event in connection.sent]

    def received_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.received]

    async def wait_for(
        self,
        event_type: str,
        *,
        count: int = 1,
        where: Predicate | None = None,
        direction: Direction = "received",
        timeout_s: float = 5.0,
    ) -> dict[str, Any]:
        """The ``count``-th event of ``event_type`` (received from, or sent to, clients) that
        matches ``where``, waiting for it. Times out with the event types seen so far."""

        def find() -> dict[str, Any] | None:
            events = self.received if direction == "received" else self.sent
            matches = [e for e in events if e.get("type") == event_type and (where is None or where(e))]
            return matches[count - 1] if len(matches) >= count else None

        found = find()
        if found is not None:
            return found
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (find, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            seen = [e.get("type") for e in (self.received if direction == "received" else self.sent)]
            raise AssertionError(
                f"no {direction} {event_type!r} #{count} within {timeout_s}s; saw {seen}"
            ) from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def notify(self) -> None:
        """Called by connections on every event: completes the waiters that are satisfied."""
        for find, future in list(self._waiters):
            if not future.done():
                found = find()
                if found is not None:
                    future.set_result(found)

    # ---------------------------------------------------------------------------- controls

    def stall(self) -> None:
        """The model hangs: no more output is generated or sent. The server keeps receiving and
        recording client events (and answering them once resumed)."""
        self.producing.clear()
        self.unstalled.clear()

    def stall_after(self, event_type: str) -> None:
        """Stall right after the next server event of ``event_type``: nothing after it is
        generated or sent until ``resume()``; a response in progress stays active meanwhile."""
        self.stall_points.add(event_type)

    def resume(self) -> None:
        self.producing.set()
        self.unstalled.set()

    def release(self) -> None:
        """Let held replies (``FakeTurn.hold_after_ms``) go on."""
        for connection in self.connections:
            connection.release()

    async def drop(self) -> None:
        """Cut every connection without a close frame, as a network failure would."""
        for connection in self.connections:
            transport = connection.request.transport
            if transport is not None:
                transport.abort()

    async def close_connections(self, code: int = 1011, message: str = "server closing") -> None:
        """Close every connection cleanly with ``code``."""
        for connection in self.connections:
            await connection.ws.close(code=code, message=message.encode())

    def inject(self, payload: str | dict[str, Any]) -> None:
        """Send a raw message (possibly malformed) to every client, bypassing the protocol."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        for connection in self.connections:
            connection.send_raw(text)

    # ---------------------------------------------------------------------------- handshake

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            self.rejected.append({"reason": "invalid_api_key"})
            error = {
                "type": "invalid_request_error",
                "code": "invalid_api_key",
                "param": None,
                "message": "Incorrect API key provided.",
            }
            return web.json_response({"error": error}, status=401)
        if not request.query.get("model"):
            self.rejected.append({"reason": "missing_model"})
            error = {
                "type": "invalid_request_error",
                "code": "missing_model",
                "param": "model",
                "message": "Missing required parameter: 'model'.",
            }
            return web.json_response({"error": error}, status=400)
        ws = web.WebSocketResponse(max_msg_size=self.max_message_bytes, autoping=True)
        await ws.prepare(request)
        connection = FakeRealtimeConnection(self, request, ws)
        self.connections.append(connection)
        self.notify()
        await connection.run()
        return ws
