"""``UltravoxEngine``: one Ultravox call over the ``serverWebSocket`` medium.

``connect`` creates the call over REST (``POST {base_url}/api/calls``) and joins its
``joinUrl``. On the socket, binary frames are raw s16le PCM at 8 kHz both ways (we ask Ultravox
for Twilio's rate, so converting is one table lookup per sample: mu-law <-> linear), and text
frames are JSON data messages. Ultravox runs VAD, turn-taking, the model and TTS; this class maps
its messages to bridge ``EngineEvent``s and the session's answers back to data messages.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, WebSocketException

from calls.bridge.audio import MulawResampler
from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.engines.base import Engine, EngineError, ToolResult
from calls.bridge.engines.ultravox import wire
from calls.bridge.engines.ultravox.turns import CallerTurnTracker
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineFailure,
    EngineHangUp,
    EngineMetric,
    ToolCall,
    Transcript,
)

logger = logging.getLogger(__name__)

_EVENT_QUEUE_SIZE = 1024  # a full queue pauses the reader, which pushes back on Ultravox via TCP
_MAX_OPEN_TRANSCRIPTS = 32  # ordinals still receiving deltas; more means a misbehaving peer
_MAX_TRANSCRIPT_CHARS = 20_000
_MAX_PENDING_TOOLS = 64
_CLOSE_TIMEOUT_S = 2.0
_READER_TASK = "ultravox-reader"

DataHandler = Callable[[dict[str, Any]], Awaitable[None]]


class UltravoxEngine(Engine):
    """Bridge engine for Ultravox Realtime. Knobs come from ``settings.extra``
    (see ``wire.UltravoxOptions``); ``settings.base_url`` is required (e.g.
    ``https://api.ultravox.ai``)."""

    name = "ultravox"

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        self.options = wire.UltravoxOptions.from_extra(settings.extra)
        self.call_id: str | None = None  # Ultravox's callId, for logs and support requests
        self._ws: ClientConnection | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._events: asyncio.Queue[EngineEvent | None] = asyncio.Queue(maxsize=_EVENT_QUEUE_SIZE)
        self._closed = False  # close() was called
        self._finished = False  # a terminal event (hang-up / failure) is queued
        self._stage: StageSpec | None = None
        self._pending_tools: set[str] = set()
        self._stage_switches: collections.deque[tuple[StageSpec, asyncio.Future[None]]] = collections.deque()
        self._transcripts: dict[tuple[str, int], str] = {}
        self._turns = CallerTurnTracker(self.options.speech_rms_threshold, wire.SAMPLE_RATE)
        self._utterance_seq = 0
        self._utterance_id: str | None = None
        # The session speaks mu-law; Ultravox s16le at the rate we asked for (8 kHz, so this is
        # a pure codec step). It also keeps a sample split across two binary frames.
        self._codec = MulawResampler(wire.SAMPLE_RATE)
        self._last_pong = 0.0
        self._pong_seen = False
        self._handlers: dict[str, DataHandler] = {
            "state": self._on_state,
            "transcript": self._on_transcript,
            "client_tool_invocation": self._on_tool_invocation,
            "playback_clear_buffer": self._on_clear_buffer,
            "pong": self._on_pong,
            "call_started": self._on_call_started,
            "debug": self._on_debug,
        }

    @property
    def stage(self) -> StageSpec | None:
        """The stage Ultravox is running now (updated when a new stage is sent)."""
        return self._stage

    # ------------------------------------------------------------------------------- lifecycle

    async def connect(self, stage: StageSpec) -> None:
        if self._ws is not None or self._closed:
            raise EngineError("UltravoxEngine.connect() may be called once, before close()")
        if not self.settings.base_url:
            raise EngineError("Ultravox base URL is not configured")
        body = wire.create_call_body(self.settings, stage, self.options)
        join_url = await self._create_call(body)
        try:
            ws = await connect(
                wire.join_url_with_api_version(join_url),
                compression=None,  # deflate costs ~20% CPU on audio that does not compress
                max_size=self.options.max_message_bytes,
                open_timeout=self.options.open_timeout_s or None,
                close_timeout=_CLOSE_TIMEOUT_S,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise EngineError(f"could not join the Ultravox call: {type(exc).__name__}: {exc}") from exc
        if self._closed:  # close() ran while we were joining: do not leak the socket
            await ws.close()
            raise EngineError("engine closed while connecting")
        self._ws = ws
        self._stage = stage
        self._last_pong = asyncio.get_running_loop().time()
        self._spawn(self._read_loop(ws), _READER_TASK)
        if self.options.ping_interval_s > 0:
            self._spawn(self._heartbeat(), "ultravox-heartbeat")
        logger.info("joined Ultravox call %s", self.call_id)

    async def _create_call(self, body: dict[str, Any]) -> str:
        url = self.settings.base_url.rstrip("/") + "/api/calls"
        headers = {wire.API_KEY_HEADER: self.settings.api_key}
        try:
            async with httpx.AsyncClient(timeout=self.options.http_timeout_s or None) as client:
                response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EngineError(f"Ultravox create-call request failed: {type(exc).__name__}") from exc
        if response.status_code != 201:
            snippet = wire.response_snippet(response.text, self.settings.api_key)
            raise EngineError(f"Ultravox refused the call: HTTP {response.status_code}: {snippet}")
        try:
            payload = response.json()
            join_url = payload["joinUrl"]
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError("Ultravox create-call response has no joinUrl") from exc
        if not isinstance(join_url, str):
            raise EngineError("Ultravox create-call response has no joinUrl")
        call_id = payload.get("callId")
        self.call_id = call_id if isinstance(call_id, str) else None
        return join_url

    async def close(self) -> None:
        """Close the socket, which ends the Ultravox call; nothing else is sent (a ``hang_up``
        would make the agent speak). Idempotent."""
        if self._closed:
            return
        self._closed = True
        # The reader keeps draining the socket during the close handshake (otherwise websockets'
        # bounded receive queue stops reading, Ultravox cannot send its close frame, and we
        # wait out the close timeout). Free the event queue so it is not stuck on a full one.
        self._discard_events()
        for task in self._tasks:
            if task.get_name() != _READER_TASK:
                task.cancel()
        try:
            if self._ws is not None:
                try:
                    await self._ws.close()
                except Exception:  # the peer may already be gone; nothing left to do with it
                    logger.debug("closing the Ultravox socket failed", exc_info=True)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while self._stage_switches:
                _, future = self._stage_switches.popleft()
                if not future.done():
                    future.set_exception(EngineError("engine closed"))
            self._discard_events()
            self._events.put_nowait(None)  # wake a waiting events() consumer

    def _discard_events(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    async def events(self) -> AsyncGenerator[EngineEvent, None]:
        while not self._closed:
            event = await self._events.get()
            if event is None:
                return
            yield event
            if self._closed:
                return

    # ---------------------------------------------------------------------------- session API

    async def send_audio(self, mulaw: bytes) -> None:
        pcm = self._codec.mulaw_to_pcm(mulaw)
        self._turns.on_caller_audio(pcm)
        await self._send(pcm)

    async def send_caller_text(self, text: str) -> None:
        self._turns.on_caller_input()
        await self._send_json(wire.user_text_message(text))

    async def send_tool_result(self, call_id: str, result: ToolResult) -> None:
        if call_id not in self._pending_tools:
            # Ultravox already gave up on it (tool timeout) or it was answered: a second answer
            # would be at best ignored, at worst confuse the frozen conversation.
            logger.warning("dropping result for unknown Ultravox invocation %r", call_id)
            return
        self._pending_tools.discard(call_id)
        await self._send_json(wire.tool_result_message(call_id, result, self.options))
        if result.new_stage is not None:
            self._stage = result.new_stage

    async def playback_interrupted(self, item_id: str | None, heard_ms: int) -> None:
        """Nothing to send. Ultravox decides barge-in itself (it tells us with
        ``playback_clear_buffer``), and it knows how much of the utterance the caller heard
        from its own playback clock: it streams ahead of real time only up to
        ``clientBufferSizeMs`` and assumes real-time playback, so it truncates the agent's
        message in its history without help. The protocol has no truncate message anyway."""
        logger.debug("barge-in on %s after %d ms (Ultravox truncates on its own)", item_id, heard_ms)

    async def switch_stage(self, stage: StageSpec) -> None:
        """Change stage outside a tool answer.

        Ultravox changes stage only through a tool result with ``responseType: new-stage``. So
        every stage selects an internal client tool, and a ``forced_agent_message`` with a
        ``toolCalls`` entry makes the agent call it at its next opportunity; we answer that
        invocation with the new stage. Returns once the stage was sent; raises ``EngineError``
        when Ultravox does not invoke the tool within ``stage_switch_timeout_s``.
        """
        if not self.options.stage_switch_tool:
            raise EngineError("stage switching is disabled (extra.stage_switch_tool = false)")
        if self._ws is None or self._closed or self._finished:
            raise EngineError("the Ultravox call is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (stage, future)
        self._stage_switches.append(entry)
        await self._send_json(wire.forced_stage_switch_message(f"stage-{uuid.uuid4().hex[:12]}"))
        try:
            await asyncio.wait_for(future, self.options.stage_switch_timeout_s)
        except TimeoutError:
            raise EngineError("Ultravox did not apply the stage switch in time") from None
        finally:
            with contextlib.suppress(ValueError):
                self._stage_switches.remove(entry)

    # -------------------------------------------------------------------------------- sending

    async def _send(self, data: bytes) -> None:
        ws = self._ws
        if ws is None or self._closed or self._finished:
            return
        # The reader reports how the call ended; the audio pump must not crash on a closed socket.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(data)

    async def _send_json(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or self._closed or self._finished:
            logger.debug("not sending %s: the Ultravox call is not running", message.get("type"))
            return
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed:
            logger.debug("Ultravox socket closed before %s was sent", message.get("type"))

    # -------------------------------------------------------------------------------- receiving

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _emit(self, event: EngineEvent) -> None:
        if not self._finished and not self._closed:
            await self._events.put(event)

    async def _finish(self, event: EngineHangUp | EngineFailure) -> None:
        """Queue the terminal event, then the end of the stream; later events are dropped."""
        if self._finished or self._closed:
            return
        await self._events.put(event)
        self._finished = True
        await self._events.put(None)

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if self._closed or self._finished:
                    continue  # only draining now, so the close handshake can complete
                if isinstance(message, bytes):
                    await self._on_audio(message)
                else:
                    await self._on_text(message)
        except ConnectionClosedError:
            pass  # close code and reason are read below, the same way for both outcomes
        except Exception as exc:  # a bug here must end the call cleanly, not hang it
            logger.exception("Ultravox reader crashed")
            await self._finish(EngineFailure(f"Ultravox reader error: {type(exc).__name__}"))
            return
        if self._closed or self._finished:
            return
        code, reason = ws.close_code, ws.close_reason or ""
        if code == 1000:
            # Ultravox closes normally when the call ends on its side: the agent's hangUp tool,
            # maxDuration reached, a hang-up tool result.
            logger.info("Ultravox ended call %s (%s)", self.call_id, reason or "normal close")
            await self._finish(EngineHangUp(reason="agent_hangup"))
        else:
            detail = f"code {code}" + (f": {reason[:120]}" if reason else "")
            logger.warning("Ultravox socket for call %s closed abnormally (%s)", self.call_id, detail)
            await self._finish(EngineFailure(f"Ultravox connection lost ({detail})"))

    async def _heartbeat(self) -> None:
        """Data-level ping: detects an Ultravox call that stalled while TCP (and the WebSocket's
        own pings) stay healthy, so the session can play its fallback instead of dead air.

        The deadline is armed by the first pong: should a deployment not answer pings (``pong``
        can be switched off in ``dataMessages``), the detector stays off instead of failing
        every call."""
        loop = asyncio.get_running_loop()
        interval = self.options.ping_interval_s
        while True:
            await asyncio.sleep(interval)
            silent_for = loop.time() - self._last_pong
            if self._pong_seen and silent_for > interval + self.options.pong_timeout_s:
                logger.warning("Ultravox call %s stopped answering pings", self.call_id)
                message = f"Ultravox stopped responding ({silent_for:.1f} s without pong)"
                await self._finish(EngineFailure(message))
                if self._ws is not None:
                    await self._ws.close()  # ends the stalled call; the reader stays quiet now
                return
            await self._send_json(wire.ping_message(time.time()))

    async def _on_audio(self, data: bytes) -> None:
        mulaw = self._codec.pcm_to_mulaw(data)
        if not mulaw:
            return
        if self._utterance_id is None:
            self._utterance_seq += 1
            self._utterance_id = f"ultravox-agent-{self._utterance_seq}"
            await self._emit(EngineMetric("tts_first_audio", asyncio.get_running_loop().time()))
        await self._emit(AgentAudio(mulaw, self._utterance_id))

    async def _end_utterance(self) -> None:
        item_id, self._utterance_id = self._utterance_id, None
        self._codec = MulawResampler(wire.SAMPLE_RATE)  # a stray half sample belongs to the old one
        if item_id is not None:
            await self._emit(AgentAudioDone(item_id))

    async def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            logger.warning("malformed JSON from Ultravox: %r", text[:200])
            return
        if not isinstance(message, dict):
            logger.warning("Ultravox data message is not an object: %r", text[:200])
            return
        kind = message.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            logger.debug("ignoring Ultravox message of type %r", kind)
            return
        try:
            await handler(message)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("malformed Ultravox %s message (%s): %r", kind, exc, text[:200])

    async def _on_state(self, message: dict[str, Any]) -> None:
        state = message["state"]
        if not isinstance(state, str):
            raise TypeError("state is not a string")
        previous = self._turns.state
        if previous == "speaking" and state != "speaking":
            await self._end_utterance()
        if self._turns.on_state(state):
            await self._emit(CallerTurnEnded())

    async def _on_transcript(self, message: dict[str, Any]) -> None:
        role, ordinal = message["role"], message["ordinal"]
        if role not in ("user", "agent"):
            raise ValueError(f"unknown role {role!r}")
        if not isinstance(ordinal, int) or isinstance(ordinal, bool):
            raise TypeError("ordinal is not an integer")
        final = message.get("final") is True
        text, delta = message.get("text"), message.get("delta")
        key = (role, ordinal)
        previous = self._transcripts.get(key, "")
        if isinstance(text, str):
            full = text
        elif isinstance(delta, str):
            full = previous + delta
        else:
            full = previous
        full = full[:_MAX_TRANSCRIPT_CHARS]
        if final:
            self._transcripts.pop(key, None)
        else:
            if full == previous and key in self._transcripts:
                return  # nothing new to report
            self._transcripts[key] = full
            if len(self._transcripts) > _MAX_OPEN_TRANSCRIPTS:
                self._transcripts.pop(next(iter(self._transcripts)))
        await self._emit(Transcript("caller" if role == "user" else "agent", full, final, ordinal))
        if role == "user" and final:
            await self._emit(EngineMetric("stt_final", asyncio.get_running_loop().time()))
            if self._turns.on_user_transcript_final():
                await self._emit(CallerTurnEnded())

    async def _on_tool_invocation(self, message: dict[str, Any]) -> None:
        invocation_id, name = message["invocationId"], message["toolName"]
        if not isinstance(invocation_id, str) or not invocation_id or not isinstance(name, str):
            raise TypeError("invocationId/toolName must be strings")
        if name == wire.STAGE_SWITCH_TOOL and self.options.stage_switch_tool:
            await self._answer_stage_switch(invocation_id)
            return
        arguments = message.get("parameters", {})
        if not isinstance(arguments, dict | str):
            logger.warning("Ultravox sent non-object parameters for %s; passing {}", name)
            arguments = {}
        if len(self._pending_tools) >= _MAX_PENDING_TOOLS:
            self._pending_tools.pop()  # bound the set; a real call never has this many in flight
        self._pending_tools.add(invocation_id)
        await self._emit(ToolCall(call_id=invocation_id, name=name, arguments=arguments))

    async def _answer_stage_switch(self, invocation_id: str) -> None:
        while self._stage_switches:
            stage, future = self._stage_switches.popleft()
            if future.done():
                continue  # its switch_stage() already timed out
            await self._send_json(wire.stage_switch_result(invocation_id, stage, self.options))
            self._stage = stage
            future.set_result(None)
            return
        logger.warning("the model called %s on its own; answering with an error", wire.STAGE_SWITCH_TOOL)
        await self._send_json(wire.stray_stage_switch_result(invocation_id))

    async def _on_clear_buffer(self, message: dict[str, Any]) -> None:
        # Barge-in: report first (the session clears Twilio's buffer at once), then close the
        # interrupted utterance so the next agent audio gets a fresh item id.
        self._turns.on_caller_input()
        await self._emit(CallerSpeechStarted())
        await self._end_utterance()

    async def _on_pong(self, message: dict[str, Any]) -> None:
        self._last_pong = asyncio.get_running_loop().time()
        self._pong_seen = True

    async def _on_call_started(self, message: dict[str, Any]) -> None:
        call_id = message.get("callId")
        if isinstance(call_id, str) and self.call_id is None:
            self.call_id = call_id
        logger.debug("Ultravox call %s started", self.call_id)

    async def _on_debug(self, message: dict[str, Any]) -> None:
        logger.debug("Ultravox debug: %s", str(message.get("message"))[:500])
