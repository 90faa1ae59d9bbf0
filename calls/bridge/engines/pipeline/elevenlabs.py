"""ElevenLabs streaming text-to-speech over the ``stream-input`` WebSocket, mu-law 8 kHz out.

One socket per utterance: ``stream-input`` has no cancel message, so barge-in closes the socket
(at once, without a closing handshake) and the next utterance needs a fresh one. Per utterance:

1. init ``{"text": " ", voice_settings, generation_config: {chunk_length_schedule}}``;
2. each sentence from the input iterator as ``{"text": sentence + " ", "try_trigger_generation":
   true}``; with ``flush="first"`` (default) the first sentence also carries ``flush: true`` so
   it is spoken at once even when shorter than the first chunk length, while later sentences
   (which arrive while the first is playing) keep the server's buffering for better prosody;
3. end of input -> EOS ``{"text": ""}``: the server generates what is left, sends
   ``{"isFinal": true}`` and closes. ``flush`` is for keeping a socket open across utterances,
   which single-context ``stream-input`` cannot cancel mid-way, so EOS is the right end here.

Warm socket (``keep_warm``): after each utterance, and on ``prewarm()``, the next socket is
opened and initialised in the background, so the next reply skips the TCP + TLS + WebSocket
handshake (several round trips before the first audio). ``inactivity_timeout`` (max 180 s)
keeps it usable while the caller talks; a warm socket older than that, closed, or failing before
its first audio is replaced by a fresh one and the text sent so far is replayed, so warmth never
costs an utterance.
A reply with no text at all (a tool-call-only turn) hands its untouched socket back to the warm
slot. The warm socket is owned: ``close()`` cancels its opening and closes it. It may count
against the account's concurrency limit while idle (?): set ``keep_warm=False`` if that matters.

Failures raise ``ElevenLabsError`` (a ``ComponentError``) with the close code or HTTP status.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from calls.bridge.engines.pipeline.cloud import (
    WEBSOCKET_LOGGER,
    ComponentError,
    abort_websocket,
    handshake_refusal,
    websocket_url,
)
from calls.bridge.engines.pipeline.components import TextToSpeech

log = logging.getLogger(__name__)

EOS = json.dumps({"text": ""})
WARM_MARGIN_S = 10.0  # retire a warm socket this long before the server's inactivity timeout


class ElevenLabsError(ComponentError):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__("elevenlabs", message, code=code)


@dataclass(slots=True)
class _Socket:
    ws: ClientConnection
    opened_at: float


@dataclass(slots=True)
class _Utterance:
    """The text side of one utterance. The pump task reads the input iterator and sends; every
    payload is recorded so a replacement socket can be brought up to date (``switch``). The lock
    makes "record + send" and "switch + replay" atomic with respect to each other."""

    ws: ClientConnection
    sent: list[str] = field(default_factory=list)
    eos_sent: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def pump(self, text: AsyncIterator[str], flush: str) -> None:
        first = True
        async for piece in text:
            if not piece or not piece.strip():
                continue  # an empty text message would mean end-of-stream to the server
            message: dict[str, Any] = {
                "text": piece if piece.endswith(" ") else piece + " ",
                "try_trigger_generation": True,
            }
            if flush == "every" or (flush == "first" and first):
                message["flush"] = True
            first = False
            await self._send(json.dumps(message))
        if self.sent:  # no text at all (a tool-call-only turn): the socket stays unused and reusable
            await self._send(EOS)
            self.eos_sent = True

    async def _send(self, payload: str) -> None:
        async with self.lock:
            self.sent.append(payload)
            # On a closed socket the receiving side sees the close and decides: replace or fail.
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(payload)

    async def switch(self, ws: ClientConnection) -> None:
        async with self.lock:
            self.ws = ws
            for payload in self.sent:
                await ws.send(payload)


class ElevenLabsTextToSpeech(TextToSpeech):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        voice_id: str,
        model_id: str = "eleven_flash_v2_5",
        voice_settings: Mapping[str, Any] | None = None,
        chunk_length_schedule: Sequence[int] = (50, 120, 160, 250),
        flush: Literal["first", "every", "never"] = "first",
        language_code: str | None = None,
        auto_mode: bool = False,
        keep_warm: bool = True,
        inactivity_timeout_s: int = 180,
        extra_params: Mapping[str, str | int | bool] | None = None,
        connect_timeout_s: float = 5.0,
        audio_timeout_s: float = 10.0,
        max_message_bytes: int = 1 << 20,
        use_env_proxy: bool = False,
    ) -> None:
        """``audio_timeout_s``: after the end of input, the longest wait for the next message.
        ``auto_mode`` lets the server drop its chunk schedule (ElevenLabs recommends it only for
        whole sentences, which is what the pipeline sends)."""
        if not voice_id:
            raise ValueError("ElevenLabs voice_id is empty")
        if not all(50 <= n <= 500 for n in chunk_length_schedule) or not chunk_length_schedule:
            raise ValueError("chunk_length_schedule values must be within 50..500")
        if not 1 <= inactivity_timeout_s <= 180:
            raise ValueError("inactivity_timeout_s must be within 1..180")
        params: dict[str, str | int] = {
            "model_id": model_id,
            "output_format": "ulaw_8000",  # Twilio's codec: the bytes go out untouched
            "inactivity_timeout": inactivity_timeout_s,
        }
        if language_code:
            params["language_code"] = language_code
        if auto_mode:
            params["auto_mode"] = "true"
        for key, value in (extra_params or {}).items():
            params[key] = ("true" if value else "false") if isinstance(value, bool) else value
        base = websocket_url(base_url)
        self.url = f"{base}/v1/text-to-speech/{quote(voice_id, safe='')}/stream-input?{urlencode(params)}"
        init: dict[str, Any] = {
            "text": " ",  # the protocol's required first message
            "generation_config": {"chunk_length_schedule": list(chunk_length_schedule)},
        }
        if voice_settings:
            init["voice_settings"] = dict(voice_settings)
        self._init_message = json.dumps(init)
        self._api_key = api_key
        self._flush = flush
        self._keep_warm = keep_warm
        self._warm_life_s = max(inactivity_timeout_s - WARM_MARGIN_S, 1.0)
        self._connect_timeout_s = connect_timeout_s
        self._audio_timeout_s = audio_timeout_s
        self._max_message_bytes = max_message_bytes
        self._use_env_proxy = use_env_proxy
        self._warm: asyncio.Task[_Socket] | None = None
        self._live: set[ClientConnection] = set()  # sockets of utterances in progress
        self._closed = False

    # ------------------------------------------------------------------------------ sockets

    def prewarm(self) -> None:
        """Open and initialise the next utterance's socket in the background (idempotent).
        Call it when the caller starts a turn to hide the handshake behind the caller's speech."""
        if self._closed or self._warm is not None:
            return
        self._warm = asyncio.get_running_loop().create_task(self._open(), name="elevenlabs-prewarm")
        self._warm.add_done_callback(_retrieve_exception)

    async def _open(self) -> _Socket:
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                ws = await connect(
                    self.url,
                    additional_headers={"xi-api-key": self._api_key},
                    user_agent_header="voxsaas",
                    compression=None,  # audio is base64 in JSON: deflate only burns CPU
                    max_size=self._max_message_bytes,
                    open_timeout=None,  # covered by the timeout block
                    close_timeout=1.0,
                    proxy=True if self._use_env_proxy else None,
                    logger=WEBSOCKET_LOGGER,  # never logs handshake headers (API keys)
                )
        except InvalidStatus as exc:
            raise ElevenLabsError(handshake_refusal(exc), code=exc.response.status_code) from exc
        except TimeoutError as exc:
            raise ElevenLabsError(f"no connection within {self._connect_timeout_s:g} s") from exc
        except (InvalidHandshake, OSError) as exc:
            raise ElevenLabsError(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        try:
            await ws.send(self._init_message)
        except ConnectionClosed as exc:
            raise await self._explain_close(ws, exc) from exc
        except BaseException:
            abort_websocket(ws)
            raise
        return _Socket(ws, asyncio.get_running_loop().time())

    async def _take(self) -> tuple[_Socket, bool]:
        """The warm socket if it is still good (waiting for one still being opened beats
        starting over), else a fresh one. Returns (socket, was_warm)."""
        task, self._warm = self._warm, None
        if task is not None:
            try:
                # wait() rather than await: our cancellation must not cancel the opening
                await asyncio.wait({task})
            except asyncio.CancelledError:
                self._adopt(task)
                raise
            error = None if task.cancelled() else task.exception()
            if task.cancelled() or error is not None:
                log.info("elevenlabs: warm socket failed (%s); opening a fresh one", error)
            else:
                sock = task.result()
                age = asyncio.get_running_loop().time() - sock.opened_at
                if sock.ws.state is State.OPEN and age < self._warm_life_s:
                    return sock, True
                abort_websocket(sock.ws)
        return await self._open(), False

    def _adopt(self, task: asyncio.Task[_Socket]) -> None:
        """Keep an opening socket owned: as the warm one if the slot is free, else dropped."""
        if self._warm is None and not self._closed:
            self._warm = task
            return
        task.cancel()
        task.add_done_callback(_abort_result)

    # ---------------------------------------------------------------------------- synthesis

    async def synthesize(self, text: AsyncIterator[str]) -> AsyncGenerator[bytes, None]:
        """Yield mu-law audio as it arrives, while ``text`` is still being produced. Cancel the
        iteration (or ``aclose()`` it) to stop at once: the socket is dropped immediately."""
        if self._closed:
            raise ElevenLabsError("synthesize() after close()")
        sock, warm = await self._take()
        utterance = _Utterance(sock.ws)
        self._live.add(sock.ws)
        loop = asyncio.get_running_loop()
        pump = loop.create_task(utterance.pump(text, self._flush), name="elevenlabs-text")
        receiving: asyncio.Task[str | bytes] | None = None
        finished = False
        unused = False  # no text came: the socket goes back to the warm slot untouched
        failed = False  # no prewarm after a failure: the next socket would likely fail the same way
        got_audio = False
        try:
            while True:
                if receiving is None:
                    receiving = loop.create_task(utterance.ws.recv(), name="elevenlabs-recv")
                if not pump.done():
                    await asyncio.wait({receiving, pump}, return_when=asyncio.FIRST_COMPLETED)
                    failure = pump.exception() if pump.done() else None
                    if failure is not None:
                        raise failure  # the input iterator failed: its error is the story
                    if pump.done() and not utterance.sent:
                        unused = True
                        return
                    if not receiving.done():
                        continue
                else:
                    # All text is sent: from here on, silence from the server is a fault.
                    await asyncio.wait({receiving}, timeout=self._audio_timeout_s)
                    if not receiving.done():
                        raise ElevenLabsError(f"no audio for {self._audio_timeout_s:g} s after end of input")
                raw_task, receiving = receiving, None
                try:
                    chunk, final = self._parse(raw_task.result(), utterance.eos_sent)
                except (ConnectionClosed, ElevenLabsError) as exc:
                    if isinstance(exc, ConnectionClosed) and utterance.eos_sent and _close_code(exc) == 1000:
                        finished = True  # closed normally after EOS without an isFinal: done too
                        return
                    if self._closed:
                        return
                    if not warm or got_audio:
                        raise self._as_error(exc) from exc
                    # A warm socket that died while idle: replace it, replay the text so far.
                    log.info("elevenlabs: warm socket unusable (%s); replacing it", exc)
                    warm = False
                    self._live.discard(utterance.ws)
                    abort_websocket(utterance.ws)
                    fresh = await self._open()
                    self._live.add(fresh.ws)
                    try:
                        await utterance.switch(fresh.ws)
                    except ConnectionClosed as closed:
                        raise self._as_error(closed) from closed
                    continue
                if chunk:
                    got_audio = True
                    yield chunk
                if final:
                    finished = True
                    return
        except Exception:
            failed = True
            raise
        finally:
            # Order matters for barge-in: drop the socket first, then tidy up.
            ws = utterance.ws
            self._live.discard(ws)
            if unused and self._warm is None and not self._closed and ws.state is State.OPEN:
                self._warm = loop.create_task(_returned(sock), name="elevenlabs-warm")
            elif not finished:
                abort_websocket(ws)
            pump.cancel()
            tasks: set[asyncio.Task[Any]] = {pump}
            if receiving is not None:
                receiving.cancel()
                tasks.add(receiving)
            if self._keep_warm and not self._closed and not failed:
                self.prewarm()  # after a barge-in too: the next reply is coming soon
            await asyncio.wait(tasks)  # owned tasks end here, not later
            if finished and ws.state is not State.CLOSED:
                try:  # normal end: the server closes right after isFinal, a short handshake
                    await ws.close()
                except BaseException:
                    abort_websocket(ws)
                    raise

    def _parse(self, raw: str | bytes, eos_sent: bool) -> tuple[bytes | None, bool]:
        if isinstance(raw, bytes):
            log.warning("elevenlabs: unexpected binary message (%d bytes) ignored", len(raw))
            return None, False
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("elevenlabs: malformed message ignored: %.200s", raw)
            return None, False
        if not isinstance(message, dict):
            log.warning("elevenlabs: non-object message ignored: %.200s", raw)
            return None, False
        chunk: bytes | None = None
        audio = message.get("audio")
        if isinstance(audio, str) and audio:
            try:
                chunk = base64.b64decode(audio, validate=True)
            except (binascii.Error, ValueError):
                log.warning("elevenlabs: undecodable audio ignored")
        elif "audio" not in message and ("error" in message or "message" in message):
            code = message.get("code")
            raise ElevenLabsError(
                f"{message.get('error', 'error')}: {str(message.get('message', ''))[:300]}",
                code=code if isinstance(code, int) else None,
            )
        final = message.get("isFinal") is True
        if final and not eos_sent:
            log.debug("elevenlabs: isFinal before end of input ignored")
            final = False
        return chunk, final

    async def _explain_close(self, ws: ClientConnection, exc: ConnectionClosed) -> ElevenLabsError:
        """The server explains a refusal in a message sent just before its close frame: read
        what is left on the closed socket to report that rather than a bare close code."""
        try:
            async with asyncio.timeout(1.0):
                while True:
                    self._parse(await ws.recv(), eos_sent=False)
        except ElevenLabsError as explained:
            return explained
        except (ConnectionClosed, TimeoutError):
            return self._as_error(exc)
        finally:
            abort_websocket(ws)

    @staticmethod
    def _as_error(exc: Exception) -> ElevenLabsError:
        if isinstance(exc, ElevenLabsError):
            return exc
        code = _close_code(exc)
        reason = exc.rcvd.reason if isinstance(exc, ConnectionClosed) and exc.rcvd else ""
        return ElevenLabsError(f"socket closed: {code}" + (f" ({reason[:200]})" if reason else ""), code=code)

    async def close(self) -> None:
        """Drop sockets of utterances in progress, cancel or close the warm one. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for ws in list(self._live):
            abort_websocket(ws)
        self._live.clear()
        task, self._warm = self._warm, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is None:
            await task.result().ws.close()  # opened just before the cancel: close it politely


async def _returned(sock: _Socket) -> _Socket:
    """An unused socket, put back in the warm slot (which holds tasks)."""
    return sock


def _close_code(exc: Exception) -> int | None:
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return exc.rcvd.code
    return None


def _abort_result(task: asyncio.Task[_Socket]) -> None:
    if not task.cancelled() and task.exception() is None:
        abort_websocket(task.result().ws)


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    # A failed prewarm is reported when the socket is taken; retrieving here keeps asyncio from
    # logging "exception was never retrieved" when it is never taken.
    if not task.cancelled():
        task.exception()
