"""``OpenAIRealtimeEngine``: the OpenAI Realtime API (GA protocol) over a raw WebSocket.

Audio is G.711 mu-law both ways (``audio/pcmu``), so Twilio's bytes are forwarded untouched and
the model's bytes go straight back to the caller. The server does turn detection (server or
semantic VAD) and interrupts its own response when the caller talks; the session tells us what
the caller really heard (``playback_interrupted``) and we truncate the model's memory to match.

One reader task owns the socket's receive side; every ``send_*`` call writes directly. The
``openai`` package is deliberately not used: this path must stay small and fast, and tests check
every message we send against the official models instead.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import itertools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.engines.base import Engine, EngineError, ToolResult
from calls.bridge.engines.openai_realtime.conversation import ConversationTracker
from calls.bridge.engines.openai_realtime.handlers import Handler, ServerEventHandlers
from calls.bridge.engines.openai_realtime.options import (
    RealtimeOptions,
    greeting_response,
    redact_url,
    stage_fields,
)
from calls.bridge.frames import (
    EngineEvent,
    EngineFailure,
)

logger = logging.getLogger(__name__)

# session.updated echoes the whole session (prompt + tool schemas); audio deltas are small.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
EVENT_QUEUE_SIZE = 4096  # back-pressure on the socket if the session stops consuming
SESSION_UPDATE_TIMEOUT_S = 10.0


class OpenAIRealtimeEngine(ServerEventHandlers, Engine):
    name = "openai_realtime"

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        # Raises EngineError at construction on a malformed setting, before any call audio.
        self.options = RealtimeOptions.from_settings(settings)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[EngineEvent | None] = asyncio.Queue(maxsize=EVENT_QUEUE_SIZE)
        self._conversation = ConversationTracker()
        self._caller_partial: dict[str, list[str]] = {}
        self._event_ids = itertools.count(1)
        self._closed = False
        self._ended = False
        self._stage: StageSpec | None = None
        # Response bookkeeping: only one response may be active at a time on the server.
        self._active_response: str | None = None
        self._cancel_sent: set[str] = set()
        self._creates_in_flight: collections.OrderedDict[str, dict[str, Any] | None] = (
            collections.OrderedDict()
        )
        self._queued_response: dict[str, Any] | None = None
        self._has_queued_response = False
        # Items we created that the server has not confirmed yet, and whether the active
        # response was created after all of ours (then it already answers them).
        self._unacked_items: set[str] = set()
        self._active_covers_ours = True
        self._metadata_echoed = False
        self._item_events: dict[str, str] = {}  # conversation.item.create event id -> item id
        self._item_ids = itertools.count(1)
        self._first_audio_seen: set[str] = set()
        self._first_text_seen: set[str] = set()
        self._failed_responses = 0
        # Tool calls the session has not answered yet; the reply waits until all are answered.
        self._pending_tool_calls: set[str] = set()
        self._speak_after_tools = False
        # session.update acknowledgements, FIFO (session.updated carries no event id).
        self._session_acks: collections.deque[tuple[str, asyncio.Future[None]]] = collections.deque()
        self._handlers: dict[str, Handler] = self._build_handlers()

    # ================================================================== lifecycle

    async def connect(self, stage: StageSpec) -> None:
        if self._ws is not None or self._closed:
            raise EngineError("openai_realtime: connect() called twice or after close()")
        opts = self.options
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        try:
            async with asyncio.timeout(opts.connect_timeout_s):
                self._ws = await ws_connect(
                    opts.url,
                    additional_headers=headers,
                    compression=None,  # permessage-deflate costs ~20% CPU on this link
                    max_size=MAX_MESSAGE_BYTES,
                    proxy=True if opts.use_env_proxy else None,
                    open_timeout=None,  # the surrounding timeout covers the whole set-up
                    close_timeout=2,
                    user_agent_header="voxsaas",
                )
                await self._expect("session.created")
                await self._send_session_update(opts.session_config(stage))
                await self._expect("session.updated")
        except TimeoutError as exc:
            await self._abort_connect()
            raise EngineError(f"openai_realtime: no session from {redact_url(opts.url)} in time") from exc
        except websockets.InvalidStatus as exc:
            await self._abort_connect()
            status = exc.response.status_code
            raise EngineError(
                f"openai_realtime: {redact_url(opts.url)} refused the connection (HTTP {status})"
            ) from exc
        except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
            await self._abort_connect()
            raise EngineError(f"openai_realtime: cannot reach {redact_url(opts.url)}: {exc}") from exc
        except BaseException:  # EngineError from set-up, or the caller cancelled us
            await self._abort_connect()
            raise
        self._stage = stage
        self._reader = asyncio.create_task(self._read_loop(), name="openai-realtime-reader")
        if self.settings.greeting:
            await self._request_response(greeting_response(stage, self.settings.greeting))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        reader, self._reader = self._reader, None
        ws, self._ws = self._ws, None
        try:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            if ws is not None:
                await ws.close()
        finally:
            for _, ack in self._session_acks:
                if not ack.done():
                    ack.set_exception(EngineError("openai_realtime: engine closed"))
                    ack.exception()  # retrieved: nobody may be waiting for it
            self._session_acks.clear()
            self._end_events()

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # a later iterator must end too
                return
            yield event

    # ================================================================== session -> engine

    async def send_audio(self, mulaw: bytes) -> None:
        if not mulaw or self._ws is None:
            return
        # Hand-built JSON: this runs 50 times a second per call and the payload is plain base64.
        audio = binascii.b2a_base64(mulaw, newline=False).decode("ascii")
        await self._send_text('{"type":"input_audio_buffer.append","audio":"' + audio + '"}')

    async def send_caller_text(self, text: str) -> None:
        if self._ws is None:
            return
        await self._cancel_active_response()
        await self._create_item(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        )
        await self._request_response(None)

    async def send_tool_result(self, call_id: str, result: ToolResult) -> None:
        if self._ws is None:
            return
        if call_id not in self._pending_tool_calls:
            logger.warning("openai_realtime: result for unknown or already answered tool call %s", call_id)
        if result.new_stage is not None:
            # Sent first so the reply below already runs with the new prompt and tools.
            await self._send_session_update(stage_fields(result.new_stage))
            self._stage = result.new_stage
        await self._create_item({"type": "function_call_output", "call_id": call_id, "output": result.output})
        self._pending_tool_calls.discard(call_id)
        self._speak_after_tools = self._speak_after_tools or result.speak
        if not self._pending_tool_calls and self._speak_after_tools:
            self._speak_after_tools = False
            await self._request_response(None)

    async def switch_stage(self, stage: StageSpec) -> None:
        """Swap prompt and tools mid-call; returns once the server applied them."""
        if self._ws is None:
            raise EngineError("openai_realtime: not connected")
        ack = await self._send_session_update(stage_fields(stage))
        try:
            async with asyncio.timeout(SESSION_UPDATE_TIMEOUT_S):
                await asyncio.shield(ack)  # shield: a timeout must not cancel the shared future
        except TimeoutError as exc:
            raise EngineError("openai_realtime: session.update not acknowledged in time") from exc
        self._stage = stage

    async def playback_interrupted(self, item_id: str | None, heard_ms: int) -> None:
        if self._ws is None:
            return
        await self._cancel_active_response()
        target = item_id or self._conversation.last_audio_item
        item = self._conversation.agent_items.get(target) if target else None
        if item is None:
            logger.debug("openai_realtime: interruption of unknown item %s, nothing to truncate", target)
            return
        item.muted = True  # audio still in flight for it must never reach the caller
        # The server rejects an end beyond the audio it generated; what we received is a safe bound.
        audio_end_ms = max(0, min(int(heard_ms), item.audio_ms))
        if item.audio_done and audio_end_ms >= item.audio_ms:
            return  # the caller heard all of it: the model's memory is already right
        await self._send(
            {
                "type": "conversation.item.truncate",
                "item_id": item.item_id,
                "content_index": 0,
                "audio_end_ms": audio_end_ms,
            }
        )

    # ================================================================== sending

    def _next_event_id(self) -> str:
        return f"vox_{next(self._event_ids)}"

    async def _send(self, event: dict[str, Any]) -> str:
        event_id = self._next_event_id()
        await self._send_text(json.dumps({**event, "event_id": event_id}))
        return event_id

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(text)
        except websockets.ConnectionClosed:
            # The reader reports the drop as EngineFailure; senders must not crash the pumps.
            logger.debug("openai_realtime: send after the socket closed, dropped")

    async def _send_session_update(self, session: dict[str, Any]) -> asyncio.Future[None]:
        """Send a ``session.update``; the future resolves on its ``session.updated`` and fails
        on an ``error`` naming its event id."""
        session = {"type": "realtime", **session}
        event_id = self._next_event_id()
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._session_acks.append((event_id, ack))
        await self._send_text(
            json.dumps({"type": "session.update", "event_id": event_id, "session": session})
        )
        return ack

    async def _create_item(self, item: dict[str, Any]) -> None:
        # Our own item id, so the server's conversation.item.added tells us it is in.
        item_id = f"vox_item_{next(self._item_ids)}"
        event_id = self._next_event_id()
        self._unacked_items.add(item_id)
        self._item_events[event_id] = item_id  # before sending: the reply may beat the await
        event = {"type": "conversation.item.create", "event_id": event_id, "item": {"id": item_id, **item}}
        await self._send_text(json.dumps(event))

    async def _request_response(self, params: dict[str, Any] | None) -> None:
        """``response.create``, or later if a response is active (a second one would be refused
        and the caller would hear nothing)."""
        if self._active_response is not None or self._creates_in_flight:
            self._queued_response, self._has_queued_response = params, True
            return
        event_id = self._next_event_id()
        # The tag comes back in response.created: that response is ours, not a VAD one.
        response = dict(params or {})
        response["metadata"] = {**response.get("metadata", {}), "vox_request": event_id}
        self._creates_in_flight[event_id] = params
        await self._send_text(
            json.dumps({"type": "response.create", "event_id": event_id, "response": response})
        )

    async def _cancel_active_response(self) -> None:
        response_id = self._active_response
        if response_id is None or response_id in self._cancel_sent:
            return
        self._cancel_sent.add(response_id)
        for item in self._conversation.items_of_response(response_id):
            item.muted = True
        await self._send({"type": "response.cancel", "response_id": response_id})

    # ================================================================== receiving

    async def _expect(self, wanted: str) -> dict[str, Any]:
        """Read until ``wanted`` during set-up (before the reader task exists)."""
        assert self._ws is not None
        while True:
            message = self._parse(await self._ws.recv())
            if message is None:
                continue
            kind = message["type"]
            if kind == wanted:
                if wanted == "session.updated" and self._session_acks:
                    self._session_acks.popleft()[1].set_result(None)
                return message
            if kind == "error":
                error = message.get("error") or {}
                raise EngineError(
                    f"openai_realtime: session set-up failed: {error.get('code')}: {error.get('message')}"
                )
            await self._dispatch(message)

    async def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        reason = "openai_realtime: connection closed by the server"
        try:
            async for raw in ws:
                message = self._parse(raw)
                if message is not None:
                    await self._dispatch(message)
                if self._ended:
                    return
        except websockets.ConnectionClosed as exc:
            reason = f"openai_realtime: connection lost ({exc})"
        except Exception as exc:  # a bug here must still end the call audibly, not hang it
            logger.exception("openai_realtime: reader crashed")
            reason = f"openai_realtime: reader crashed: {exc!r}"
        else:
            if ws.close_code is not None:
                detail = f" {ws.close_reason}" if ws.close_reason else ""
                reason = f"openai_realtime: connection closed (code {ws.close_code}{detail})"
        if not self._closed:
            await self._fail(reason)

    @staticmethod
    def _parse(raw: str | bytes) -> dict[str, Any] | None:
        if isinstance(raw, bytes):
            logger.warning("openai_realtime: unexpected binary frame (%d bytes) ignored", len(raw))
            return None
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("openai_realtime: malformed message ignored: %.200s", raw)
            return None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            logger.warning("openai_realtime: message without a type ignored: %.200s", raw)
            return None
        return message

    async def _dispatch(self, message: dict[str, Any]) -> None:
        handler = self._handlers.get(message["type"])
        if handler is None:
            return  # rate_limits.updated, content_part.*, conversation.item.done, ...
        try:
            await handler(message)
        except Exception as exc:
            # A server message of an unexpected shape must never end the call.
            logger.warning(
                "openai_realtime: could not handle %s (%s: %s): %.300s",
                message["type"],
                type(exc).__name__,
                exc,
                message,
            )

    async def _emit(self, event: EngineEvent) -> None:
        if not self._ended:
            await self._events.put(event)

    def _end_events(self) -> None:
        if self._ended:
            return
        self._ended = True
        while self._events.full():
            self._events.get_nowait()  # the consumer is gone; the end marker must get in
        self._events.put_nowait(None)

    async def _fail(self, message: str) -> None:
        if self._ended:
            return
        logger.error("%s", message)
        await self._emit(EngineFailure(message))
        self._end_events()

    async def _abort_connect(self) -> None:
        self._session_acks.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    # ------------------------------------------------------------------ used by the handlers

    async def _send_queued_response(self) -> None:
        if self._has_queued_response and self._active_response is None and not self._creates_in_flight:
            params, self._queued_response, self._has_queued_response = self._queued_response, None, False
            await self._request_response(params)
