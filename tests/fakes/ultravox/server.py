"""``FakeUltravox``: an aiohttp server on 127.0.0.1 that speaks Ultravox's REST and WebSocket API.

    async with FakeUltravox(api_key="k", script=Script(turns=[Turn("hi", reply="Hello!")])) as fake:
        settings = EngineSettings(kind="ultravox", api_key="k", base_url=fake.url, ...)
        ...
        call = await fake.wait_for_call()
        await call.wait_until(lambda c: c.turns_taken == 1)

REST: ``POST /api/calls`` (``X-API-Key``, strict body validation -> 400 with a message,
201 with ``callId``/``joinUrl``), ``GET /api/calls/{id}``. WebSocket: ``/calls/{id}/ws``
(see ``call.py``). The same fake backs the offline demo and the benchmarks.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.ultravox.call import FakeUltravoxCall, Script
from tests.fakes.ultravox.validation import BodyError, validate_create_call

MAX_WS_MESSAGE_BYTES = 1 << 20


@dataclass
class CreateCallRequest:
    """Every ``POST /api/calls`` seen, accepted or not."""

    status: int
    headers: dict[str, str]
    body: Any
    error: str | None = None


class FakeUltravox:
    def __init__(self, *, api_key: str = "uv-test-key", script: Script | None = None) -> None:
        self.api_key = api_key
        self.script = script or Script()  # used for calls created from now on
        self.calls: list[FakeUltravoxCall] = []
        self.create_requests: list[CreateCallRequest] = []
        self._calls_by_id: dict[str, FakeUltravoxCall] = {}
        self._forced_failures: list[tuple[int, str]] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        """Base URL for ``EngineSettings.base_url``."""
        if not self._port:
            raise RuntimeError("FakeUltravox is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/calls", self._create_call)
        app.router.add_get("/api/calls/{call_id}", self._get_call)
        app.router.add_get("/calls/{call_id}/ws", self._join)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            # Like a server shutting down: open calls are closed with 1001 (going away).
            for call in self.calls:
                if call.joined.is_set() and not call.ended.is_set():
                    await call.close(1001, "server shutting down")
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUltravox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def fail_next_create(self, status: int, body: str = '{"detail": "scripted failure"}') -> None:
        """Answer the next ``POST /api/calls`` with this status and body (e.g. 500, 429)."""
        self._forced_failures.append((status, body))

    async def wait_for_call(self, index: int = 0, within_s: float = 5.0) -> FakeUltravoxCall:
        """The ``index``-th created call, once a client has joined its WebSocket."""
        async with asyncio.timeout(within_s):
            while len(self.calls) <= index:
                await self._changed.wait()
            call = self.calls[index]
            await call.joined.wait()
        return call

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ---------------------------------------------------------------------------------- REST

    async def _create_call(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        raw = await request.text()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        record = CreateCallRequest(status=0, headers=headers, body=body)
        self.create_requests.append(record)
        if request.headers.get("X-API-Key") != self.api_key:  # header names are case-insensitive
            return self._reject(record, 401, "Invalid API key.")
        if self._forced_failures:
            status, text = self._forced_failures.pop(0)
            record.status, record.error = status, text
            return web.Response(status=status, text=text, content_type="application/json")
        if request.content_type != "application/json":
            return self._reject(record, 415, "Content-Type must be application/json.")
        try:
            validate_create_call(body)
        except BodyError as exc:
            return self._reject(record, 400, str(exc))
        call_id = str(uuid.uuid4())
        call = FakeUltravoxCall(call_id, body, self.script)
        self.calls.append(call)
        self._calls_by_id[call_id] = call
        record.status = 201
        self._notify()
        return web.json_response(self._call_object(call), status=201)

    async def _get_call(self, request: web.Request) -> web.Response:
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response({"detail": "Invalid API key."}, status=401)
        call = self._calls_by_id.get(request.match_info["call_id"])
        if call is None:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response(self._call_object(call))

    def _reject(self, record: CreateCallRequest, status: int, message: str) -> web.Response:
        record.status, record.error = status, message
        self._notify()
        return web.json_response({"detail": message}, status=status)

    def _call_object(self, call: FakeUltravoxCall) -> dict[str, Any]:
        body = call.body
        now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        return {
            "callId": call.call_id,
            "joinUrl": f"ws://127.0.0.1:{self._port}/calls/{call.call_id}/ws",
            "created": now,
            "joined": now if call.joined.is_set() else None,
            "ended": now if call.ended.is_set() else None,
            "endReason": call.end_reason,
            "firstSpeakerSettings": body.get("firstSpeakerSettings", {"agent": {}}),
            "maxDuration": body.get("maxDuration", "3600s"),
            "joinTimeout": body.get("joinTimeout", "30s"),
            "medium": body["medium"],
            "model": body.get("model", "ultravox-v0.7"),
            "voice": body.get("voice"),
            "systemPrompt": body.get("systemPrompt", ""),
            "temperature": body.get("temperature", 0),
            "languageHint": body.get("languageHint"),
            "recordingEnabled": body.get("recordingEnabled", False),
            "metadata": body.get("metadata", {}),
        }

    # ----------------------------------------------------------------------------- WebSocket

    async def _join(self, request: web.Request) -> web.StreamResponse:
        call = self._calls_by_id.get(request.match_info["call_id"])
        if call is None:
            return web.json_response({"detail": "Not found."}, status=404)
        if call.joined.is_set():
            return web.json_response({"detail": "Call already joined."}, status=409)
        ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE_BYTES, compress=False)
        await ws.prepare(request)
        self._notify()
        await call.run(ws, request)
        return ws
