"""AssemblyAI Universal-Streaming (v3) speech-to-text.

One WebSocket per call. Caller audio goes up as binary frames of raw mu-law 8 kHz, exactly the
bytes Twilio delivers (no transcoding), regrouped into 100 ms messages because v3 closes the
session with 3007 when a message holds less than 50 ms or more than 1000 ms of audio. Turn
messages come back and are mapped to the pipeline's events:

- a SpeechStarted message (u3 models), or the first words of a turn -> ``SpeechStarted``
  (barge-in; at most once per turn unless the server itself says so again);
- ``Turn`` with ``end_of_turn: false`` -> ``PartialTranscript`` (words so far, the unfinalised
  last word included: it is the freshest guess);
- a turn is final when ``end_of_turn and (turn_is_formatted or not format_turns)``
  -> ``FinalTranscript``. If the formatted copy does not arrive within ``format_wait_s`` (or the
  next turn starts first), the unformatted text is used so a turn is never lost.

Fatal conditions (refused handshake, Error message, any close we did not ask for) raise
``AssemblyAIError`` (a ``ComponentError``) with the code named. Malformed messages are logged and
skipped. ``events()`` has a single consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from calls.bridge.audio import BYTES_PER_MS_MULAW, MULAW_SILENCE
from calls.bridge.engines.pipeline.cloud import (
    WEBSOCKET_LOGGER,
    ComponentError,
    abort_websocket,
    handshake_refusal,
    websocket_url,
)
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    PartialTranscript,
    SpeechStarted,
    SpeechToText,
    SttEvent,
)

log = logging.getLogger(__name__)

API_VERSION = "2025-05-12"  # what the official SDK pins; keeps message shapes stable
MIN_CHUNK_MS = 50
MAX_CHUNK_MS = 1000

# Close / error codes, as the official SDK names them.
CLOSE_CODES: dict[int, str] = {
    1000: "normal closure",
    1013: "temporary server condition",
    3005: "server error",
    3006: "input validation error",
    3007: "audio chunk duration violation",
    3008: "maximum session duration exceeded",
    3009: "too many concurrent sessions",
    4000: "sample rate must be a positive integer",
    4001: "not authorized",
    4002: "insufficient funds",
    4003: "paid-only feature",
    4029: "client sent audio too fast",
    4031: "session idle for too long",
    4100: "invalid JSON",
    4101: "invalid message schema",
    4102: "too many concurrent streams",
}


def describe_code(code: int | None) -> str:
    if code is None:
        return "no close code"
    return f"{code} {CLOSE_CODES.get(code, 'unknown code')}"


class AssemblyAIError(ComponentError):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__("assemblyai", message, code=code)


@dataclass(slots=True)
class _PendingFinal:
    """An unformatted end of turn waiting for its formatted copy."""

    turn_order: int
    text: str
    deadline: float


class AssemblyAISpeechToText(SpeechToText):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        speech_model: str = "universal-streaming-english",
        format_turns: bool = True,
        end_of_turn_confidence_threshold: float = 0.4,
        min_turn_silence_ms: int = 400,
        max_turn_silence_ms: int = 1280,
        digits_min_turn_silence_ms: int = 1200,
        digits_max_turn_silence_ms: int = 3000,
        keyterms: Sequence[str] = (),
        extra_params: Mapping[str, str | int | float | bool] | None = None,
        chunk_ms: int = 100,
        format_wait_s: float = 1.0,
        connect_timeout_s: float = 5.0,
        terminate_timeout_s: float = 2.0,
        max_message_bytes: int = 1 << 20,
        use_env_proxy: bool = False,
    ) -> None:
        if not MIN_CHUNK_MS <= chunk_ms <= MAX_CHUNK_MS:
            raise ValueError(f"chunk_ms must be within {MIN_CHUNK_MS}..{MAX_CHUNK_MS}")
        self._api_key = api_key
        self._format_turns = format_turns
        # Explicit turn-detection values (never "server default") so digits mode can restore them.
        self._speech_silence = (min_turn_silence_ms, max_turn_silence_ms)
        self._digits_silence = (digits_min_turn_silence_ms, digits_max_turn_silence_ms)
        params: dict[str, str | int | float] = {
            "sample_rate": 8000,
            "encoding": "pcm_mulaw",  # Twilio's bytes as they are
            "speech_model": speech_model,
            "format_turns": "true" if format_turns else "false",
            "end_of_turn_confidence_threshold": end_of_turn_confidence_threshold,
            "min_turn_silence": min_turn_silence_ms,
            "max_turn_silence": max_turn_silence_ms,
        }
        if keyterms:
            params["keyterms_prompt"] = json.dumps(list(keyterms))
        for key, value in (extra_params or {}).items():
            params[key] = ("true" if value else "false") if isinstance(value, bool) else value
        base = websocket_url(base_url)
        if not base.endswith("/v3/ws"):
            base += "/v3/ws"
        self.url = f"{base}?{urlencode(params)}"
        self._chunk_bytes = chunk_ms * BYTES_PER_MS_MULAW
        self._min_chunk_bytes = MIN_CHUNK_MS * BYTES_PER_MS_MULAW
        self._format_wait_s = format_wait_s
        self._connect_timeout_s = connect_timeout_s
        self._terminate_timeout_s = terminate_timeout_s
        self._max_message_bytes = max_message_bytes
        self._use_env_proxy = use_env_proxy

        self.session_id: str | None = None
        self._ws: ClientConnection | None = None
        self._buffer = bytearray()
        self._mode: Literal["speech", "digits"] = "speech"
        self._pending_update: dict[str, Any] | None = None
        self._ready = asyncio.Event()  # start() finished (either way) or close() began
        self._started = False
        self._closing = False
        self._closed = asyncio.Event()
        # turn state, owned by events()
        self._speech_announced = False
        self._last_partial = ""
        self._last_final_turn = -1
        self._pending_final: _PendingFinal | None = None

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect and wait for ``Begin``. Raises ``AssemblyAIError`` on refusal or timeout."""
        if self._started or self._closing:
            raise AssemblyAIError("start() called twice or after close()")
        self._started = True
        ws: ClientConnection | None = None
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                ws = await connect(
                    self.url,
                    additional_headers={"Authorization": self._api_key, "AssemblyAI-Version": API_VERSION},
                    user_agent_header="voxsaas",
                    compression=None,  # per-message deflate costs CPU for nothing on audio
                    max_size=self._max_message_bytes,
                    open_timeout=None,  # the timeout block above covers handshake and Begin
                    close_timeout=1.0,
                    proxy=True if self._use_env_proxy else None,
                    logger=WEBSOCKET_LOGGER,  # never logs handshake headers (API keys)
                )
                await self._await_begin(ws)
            if self._closing:
                raise AssemblyAIError("closed while starting")
            self._ws = ws
        except InvalidStatus as exc:
            raise AssemblyAIError(handshake_refusal(exc), code=exc.response.status_code) from exc
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            raise AssemblyAIError(f"closed before Begin: {describe_code(code)}", code=code) from exc
        except TimeoutError as exc:
            raise AssemblyAIError(f"no Begin within {self._connect_timeout_s:g} s") from exc
        except (InvalidHandshake, OSError) as exc:
            raise AssemblyAIError(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        finally:
            if self._ws is None and ws is not None:
                abort_websocket(ws)
            self._ready.set()

    async def _await_begin(self, ws: ClientConnection) -> None:
        while True:
            message = _decode(await ws.recv())
            if message is None:
                continue
            kind = message.get("type")
            if kind == "Begin":
                self.session_id = str(message.get("id", ""))
                log.debug("assemblyai session %s began", self.session_id)
                return
            if kind == "Error" or (kind is None and "error" in message):
                raise _error_from_message(message)
            log.debug("assemblyai: %r before Begin ignored", kind)

    async def close(self) -> None:
        """Flush buffered audio, send ``Terminate``, give the server ``terminate_timeout_s`` to
        answer ``Termination`` and close; then drop the connection. Idempotent."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self._ready.set()
        ws = self._ws
        try:
            if ws is not None and ws.state is State.OPEN:
                try:
                    await self._flush_buffer(ws)
                    await ws.send(json.dumps({"type": "Terminate"}))
                    async with asyncio.timeout(self._terminate_timeout_s):
                        await ws.wait_closed()
                except (ConnectionClosed, TimeoutError, OSError) as exc:
                    log.debug("assemblyai: no clean termination (%s)", type(exc).__name__)
        finally:
            if ws is not None and ws.state is not State.CLOSED:
                abort_websocket(ws)
            self._closed.set()

    # ---------------------------------------------------------------------------------- audio

    async def send_audio(self, mulaw: bytes) -> None:
        """Buffer to ``chunk_ms`` and send. Audio before ``start()`` or after ``close()`` is
        dropped (there is no session to take it)."""
        ws = self._ws
        if ws is None or self._closing:
            return
        if self._pending_update is not None:
            await self._send(ws, json.dumps(self._pending_update))
            self._pending_update = None
        self._buffer += mulaw
        while len(self._buffer) >= self._chunk_bytes:
            chunk = bytes(self._buffer[: self._chunk_bytes])
            del self._buffer[: self._chunk_bytes]
            await self._send(ws, chunk)

    async def force_endpoint(self) -> None:
        """Send what is buffered, then ``ForceEndpoint``: the server ends the turn at once."""
        ws = self._ws
        if ws is None or self._closing:
            return
        await self._flush_buffer(ws)
        await self._send(ws, json.dumps({"type": "ForceEndpoint"}))

    def set_mode(self, mode: Literal["speech", "digits"]) -> None:
        """Digits (PIN, account number): callers pause between digits, so the turn needs more
        silence before it ends. Sent as ``UpdateConfiguration`` with the next audio (this hook
        is synchronous and audio arrives every 20 ms)."""
        if mode == self._mode:
            return
        self._mode = mode
        low, high = self._digits_silence if mode == "digits" else self._speech_silence
        self._pending_update = {
            "type": "UpdateConfiguration",
            "min_turn_silence": low,
            "max_turn_silence": high,
        }

    async def _flush_buffer(self, ws: ClientConnection) -> None:
        if not self._buffer:
            return
        # A message under 50 ms closes the session (3007): pad the tail with silence instead.
        if len(self._buffer) < self._min_chunk_bytes:
            self._buffer += MULAW_SILENCE * (self._min_chunk_bytes - len(self._buffer))
        chunk = bytes(self._buffer)
        self._buffer.clear()
        await self._send(ws, chunk)

    async def _send(self, ws: ClientConnection, data: bytes | str) -> None:
        try:
            await ws.send(data)
        except ConnectionClosed as exc:
            if self._closing:
                return
            code = exc.rcvd.code if exc.rcvd else None
            raise AssemblyAIError(f"session closed: {describe_code(code)}", code=code) from exc

    # --------------------------------------------------------------------------------- events

    async def events(self) -> AsyncGenerator[SttEvent, None]:
        await self._ready.wait()
        ws = self._ws
        if ws is None:
            if self._closing:
                return
            raise AssemblyAIError("events() without a session: start() failed")
        loop = asyncio.get_running_loop()
        while True:
            pending = self._pending_final
            try:
                if pending is None:
                    raw = await ws.recv()
                else:
                    async with asyncio.timeout_at(pending.deadline):
                        raw = await ws.recv()
            except TimeoutError:
                # The formatted copy is late: the caller is waiting, use the text we have.
                log.info("assemblyai: formatted copy of a turn is late; using the unformatted text")
                for event in self._release_pending():
                    yield event
                continue
            except ConnectionClosed as exc:
                for event in self._release_pending():
                    yield event
                if self._closing:
                    return
                code = exc.rcvd.code if exc.rcvd else None
                reason = exc.rcvd.reason if exc.rcvd else ""
                detail = f"{describe_code(code)}" + (f" ({reason})" if reason else "")
                raise AssemblyAIError(f"session closed: {detail}", code=code) from exc
            for event in self._handle(raw, loop.time()):
                yield event

    def _handle(self, raw: str | bytes, now: float) -> list[SttEvent]:
        message = _decode(raw)
        if message is None:
            return []
        kind = message.get("type")
        if kind == "Turn":
            return self._on_turn(message, now)
        if kind == "SpeechStarted":
            # The server's own VAD (u3 models): the fastest barge-in signal there is.
            self._speech_announced = True
            return [SpeechStarted()]
        if kind == "Termination":
            log.debug("assemblyai session %s terminated: %s", self.session_id, message)
            return self._release_pending()
        if kind == "Error" or (kind is None and "error" in message):
            raise _error_from_message(message)
        if kind == "Warning":
            log.warning("assemblyai warning %s: %s", message.get("warning_code"), message.get("warning"))
        elif kind not in ("Begin", "Heartbeat", "LLMGatewayResponse", "SpeakerRevision"):
            log.debug("assemblyai: unknown message type %r ignored", kind)
        return []

    def _on_turn(self, message: dict[str, Any], now: float) -> list[SttEvent]:
        turn_order = message.get("turn_order")
        transcript = message.get("transcript", "")
        end_of_turn = message.get("end_of_turn", False)
        formatted = message.get("turn_is_formatted", False)
        if (
            not isinstance(turn_order, int)
            or isinstance(turn_order, bool)
            or not isinstance(transcript, str)
            or not isinstance(end_of_turn, bool)
            or not isinstance(formatted, bool)
        ):
            log.warning("assemblyai: malformed Turn message skipped: %.200s", message)
            return []
        events: list[SttEvent] = []
        if self._pending_final is not None and self._pending_final.turn_order != turn_order:
            # A new turn began before the previous one's formatted copy: that copy is not coming.
            events += self._release_pending()
        if turn_order <= self._last_final_turn:
            return events  # the formatted copy of a turn already released, or a stale repeat
        if not end_of_turn:
            text = _partial_text(message, transcript)
            if text:
                if not self._speech_announced:
                    self._speech_announced = True
                    events.append(SpeechStarted())
                if text != self._last_partial:
                    self._last_partial = text
                    events.append(PartialTranscript(text))
            return events
        if self._pending_final is not None:  # same turn: the copy we are waiting for, or a repeat
            if not formatted:
                return events
            self._pending_final = None
            return events + self._finalize(turn_order, transcript)
        if transcript.strip() and not self._speech_announced:
            events.append(SpeechStarted())  # words without partials: still the caller speaking
        self._speech_announced = False
        self._last_partial = ""
        if formatted or not self._format_turns:
            self._pending_final = None
            events += self._finalize(turn_order, transcript)
        else:
            self._pending_final = _PendingFinal(turn_order, transcript, now + self._format_wait_s)
        return events

    def _release_pending(self) -> list[SttEvent]:
        pending, self._pending_final = self._pending_final, None
        if pending is None:
            return []
        return self._finalize(pending.turn_order, pending.text)

    def _finalize(self, turn_order: int, text: str) -> list[SttEvent]:
        self._last_final_turn = turn_order
        text = text.strip()
        if not text:
            log.debug("assemblyai: empty turn %d ignored", turn_order)
            return []
        return [FinalTranscript(text)]


def _decode(raw: str | bytes) -> dict[str, Any] | None:
    if isinstance(raw, bytes):
        log.warning("assemblyai: unexpected binary message (%d bytes) ignored", len(raw))
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        log.warning("assemblyai: malformed message ignored: %.200s", raw)
        return None
    if not isinstance(message, dict):
        log.warning("assemblyai: non-object message ignored: %.200s", raw)
        return None
    return message


def _partial_text(message: dict[str, Any], transcript: str) -> str:
    """All words heard so far, the unfinalised tail included; falls back to ``transcript``."""
    words = message.get("words")
    if isinstance(words, list):
        texts = [w["text"] for w in words if isinstance(w, dict) and isinstance(w.get("text"), str)]
        joined = " ".join(t for t in texts if t)
        if joined:
            return joined
    return transcript.strip()


def _error_from_message(message: dict[str, Any]) -> AssemblyAIError:
    code = message.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    text = str(message.get("error", "error"))[:300]
    prefix = f"{describe_code(code)}: " if code is not None else ""
    return AssemblyAIError(f"{prefix}{text}", code=code)
