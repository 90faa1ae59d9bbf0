"""``FakeTwilioCaller``: Twilio's side of a bidirectional Media Stream (PROTOCOLS.md 1.3).

What it does, like Twilio:

- sends ``connected``, then ``start`` (``customParameters`` included), then a ``media`` frame
  every 20 ms in real time (``chunk``, ``timestamp`` and ``sequenceNumber`` as strings, one
  sequence counter across all messages); silence (0xFF) between and after utterances;
- keeps a FIFO playback buffer of the agent audio it receives, draining at 8 bytes/ms; echoes a
  ``mark`` when playback reaches it (at once if the buffer is empty); on ``clear`` empties the
  buffer and echoes every pending mark at once;
- ``hang_up()`` sends ``stop`` and closes; notices when the server closes the socket.

It records what happened for assertions: every server message in order (``log``), media sizes,
marks, echoes, clears (with the bytes they dropped), protocol errors the server made, and the
agent audio actually *played* (``played`` bytes and ``played_wav()`` on the stream timeline).

Two links: ``connect(url)`` is a real ``websockets`` client (127.0.0.1 only, no compression);
``link_in_memory()`` returns a ``QueueTransport`` wired straight to the fake, for session tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from calls.bridge.transport import QueueTransport
from tests.fakes.twilio.wav import mulaw_wav_bytes, read_mulaw_wav

logger = logging.getLogger(__name__)

FRAME_BYTES = 160
FRAME_S = 0.020
BYTES_PER_S = 8000
SILENCE_FRAME = b"\xff" * FRAME_BYTES
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class ReceivedMark:
    name: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class MarkEcho:
    name: str
    at_ms: int
    cleared: bool  # echoed because of a clear, not because playback reached it


@dataclass(frozen=True, slots=True)
class ClearRecord:
    at_ms: int
    dropped_bytes: int  # queued agent audio thrown away
    played_bytes: int  # agent audio played in total when the clear arrived


@dataclass(frozen=True, slots=True)
class Utterance:
    start_ms: int  # stream time of its first frame
    end_ms: int  # stream time just after its last frame


class FakeTwilioCaller:
    def __init__(
        self,
        *,
        account_sid: str | None = None,
        call_sid: str | None = None,
        stream_sid: str | None = None,
        custom_parameters: dict[str, str] | None = None,
        stream_silence: bool = True,
    ) -> None:
        self.account_sid = account_sid or new_sid("AC")
        self.call_sid = call_sid or new_sid("CA")
        self.stream_sid = stream_sid or new_sid("MZ")
        self.custom_parameters = dict(custom_parameters or {})
        self.stream_silence = stream_silence
        # observations
        self.log: list[tuple[int, str]] = []  # (stream ms, event) of every server message
        self.media_sizes: list[int] = []
        self.media_times_ms: list[int] = []
        self.marks_received: list[ReceivedMark] = []
        self.mark_echoes: list[MarkEcho] = []
        self.clears: list[ClearRecord] = []
        self.errors: list[str] = []  # protocol mistakes the server made
        self.played = bytearray()  # agent audio in the order it played
        self._timeline = bytearray()  # agent audio placed on the stream clock
        self.frames_sent = 0
        self.closed = asyncio.Event()
        self.closed_by_server = False
        self.close_code: int | None = None
        # state
        self._seq = 0
        self._chunk = 0
        self._started_at: float | None = None
        self._ended = False
        self._fifo: deque[bytes | str] = deque()  # audio chunks and mark names, in order
        self._play_clock = 0.0  # loop time at which the head of the FIFO (re)starts playing
        self._player_wakeup = asyncio.Event()
        self._changed = asyncio.Event()
        self._utterances: deque[tuple[bytes, asyncio.Future[Utterance]]] = deque()
        self._current: tuple[memoryview, int, asyncio.Future[Utterance], int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._send_text: Callable[[str], Awaitable[None]] | None = None
        self._close_link: Callable[[], Awaitable[None]] | None = None
        self._ws: ClientConnection | None = None

    # ------------------------------------------------------------------------------ links

    def link_in_memory(self, *, max_pending: int = 500) -> QueueTransport:
        """Wire the fake to a ``QueueTransport`` (what a Channels consumer would build)."""
        transport = QueueTransport(
            send_text=self._deliver_from_server, close=self._server_closes, max_pending=max_pending
        )

        async def send(text: str) -> None:
            transport.feed(text)

        async def close() -> None:
            transport.feed_closed()

        self._send_text = send
        self._close_link = close
        return transport

    async def connect(
        self,
        url: str,
        *,
        auth_token: str | None = None,
        signature_url: str | None = None,
        start: bool = True,
    ) -> None:
        """Open the media-stream WebSocket like Twilio (signed when ``auth_token`` is given;
        ``signature_url`` is the public ``wss://`` URL the server validates against)."""
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            raise ValueError("the fake only connects to the local machine")
        headers: dict[str, str] = {}
        if auth_token is not None:
            validator = RequestValidator(auth_token)
            headers["X-Twilio-Signature"] = validator.compute_signature(signature_url or url, {})
        self._ws = ws = await connect(
            url,
            additional_headers=headers,
            compression=None,
            proxy=None,
            open_timeout=5,
            ping_interval=None,
        )
        self._send_text = ws.send
        self._close_link = ws.close
        self._spawn(self._receive_loop(ws))
        if start:
            await self.start()

    async def _receive_loop(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self.errors.append("server sent a binary frame")
                    continue
                await self._deliver_from_server(message)
        except ConnectionClosed:
            pass
        code = ws.close_code if ws.close_code is not None else 1006
        await self._server_closes(code)

    # ------------------------------------------------------------------------------ clock

    def now_ms(self) -> int:
        if self._started_at is None:
            return 0
        return int((asyncio.get_running_loop().time() - self._started_at) * 1000)

    # ----------------------------------------------------------------------------- sending

    async def start(self) -> None:
        """Send ``connected`` and ``start``, then stream media in real time."""
        if self._send_text is None:
            raise RuntimeError("link the fake first (connect() or link_in_memory())")
        self._started_at = asyncio.get_running_loop().time()
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, numbered=False)
        await self._send(
            {
                "event": "start",
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": self.custom_parameters,
                },
            }
        )
        self._spawn(self._stream_media())
        self._spawn(self._player())

    async def _send(self, message: dict[str, Any], *, numbered: bool = True) -> None:
        if self._send_text is None or (self._ended and message.get("event") != "stop"):
            return
        if numbered:
            self._seq += 1
            message = {"event": message["event"], "sequenceNumber": str(self._seq), **message}
            if message["event"] != "connected":
                message["streamSid"] = self.stream_sid
        try:
            await self._send_text(json.dumps(message))
        except ConnectionClosed:
            await self._server_closes(1006)

    def queue_speech(self, mulaw: bytes) -> asyncio.Future[Utterance]:
        """Queue caller speech without waiting; the future resolves when its last frame is sent."""
        future: asyncio.Future[Utterance] = asyncio.get_running_loop().create_future()
        self._utterances.append((mulaw, future))
        return future

    async def say(self, mulaw: bytes) -> Utterance:
        """Speak (in real time, 20 ms frames) and return once the last frame was sent."""
        return await self.queue_speech(mulaw)

    async def say_wav(self, path: str | Path) -> Utterance:
        return await self.say(read_mulaw_wav(path))

    async def send_dtmf(self, digit: str) -> None:
        await self._send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})

    async def send_raw(self, text: str) -> None:
        """Send anything (hostile-input tests)."""
        if self._send_text is not None:
            await self._send_text(text)

    def _next_frame(self, at_ms: int) -> bytes | None:
        if self._current is None and self._utterances:
            audio, future = self._utterances.popleft()
            self._current = (memoryview(audio), 0, future, at_ms)
        if self._current is None:
            return SILENCE_FRAME if self.stream_silence else None
        view, offset, future, start_ms = self._current
        frame = bytes(view[offset : offset + FRAME_BYTES])
        offset += FRAME_BYTES
        if offset >= len(view):
            self._current = None
            if not future.done():
                future.set_result(
                    Utterance(start_ms=start_ms, end_ms=at_ms + FRAME_BYTES * 1000 // BYTES_PER_S)
                )
        else:
            self._current = (view, offset, future, start_ms)
        if len(frame) < FRAME_BYTES:
            frame += b"\xff" * (FRAME_BYTES - len(frame))
        return frame

    async def _stream_media(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._started_at is not None
        next_at = self._started_at
        while not self._ended:
            timestamp = int(round((next_at - self._started_at) * 1000))
            frame = self._next_frame(timestamp)
            if frame is not None:
                self._chunk += 1
                payload = base64.b64encode(frame).decode("ascii")
                media = {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(timestamp),
                    "payload": payload,
                }
                await self._send({"event": "media", "media": media})
                self.frames_sent += 1
            next_at += FRAME_S
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                next_at = loop.time()  # a stalled loop: resume in real time instead of bursting

    async def hang_up(self) -> None:
        """The caller hangs up: ``stop``, then a normal close."""
        if self._ended:
            return
        await self._send(
            {"event": "stop", "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}
        )
        self._ended = True
        self._player_wakeup.set()
        if self._close_link is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._close_link()
        self.closed.set()
        self._pulse()

    async def end_stream(self) -> None:
        """Twilio ends the ``<Connect><Stream>`` (REST hang-up or redirect): same as a hang-up."""
        await self.hang_up()

    # --------------------------------------------------------------------------- receiving

    async def _deliver_from_server(self, text: str) -> None:
        if self._ended:
            return
        try:
            message = json.loads(text)
        except ValueError:
            self.errors.append("server sent non-JSON")
            return
        if not isinstance(message, dict):
            self.errors.append("server sent a non-object")
            return
        event = message.get("event")
        now = asyncio.get_running_loop().time()
        at_ms = self.now_ms()
        self.log.append((at_ms, str(event)))
        if message.get("streamSid") != self.stream_sid:
            self.errors.append(f"{event}: missing or wrong streamSid")
            return
        if event == "media":
            await self._on_media(message, now, at_ms)
        elif event == "mark":
            mark = message.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if not isinstance(name, str):
                self.errors.append("mark without mark.name")
                return
            self.marks_received.append(ReceivedMark(name, at_ms))
            await self._echo(self._advance(now), cleared=False)
            if self._fifo:
                self._fifo.append(name)
            else:
                await self._echo([name], cleared=False)  # nothing buffered: echo at once
        elif event == "clear":
            await self._echo(self._advance(now), cleared=False)
            dropped = sum(len(item) for item in self._fifo if isinstance(item, bytes))
            pending = [item for item in self._fifo if isinstance(item, str)]
            self._fifo.clear()
            self.clears.append(ClearRecord(at_ms, dropped, len(self.played)))
            await self._echo(pending, cleared=True)
        else:
            self.errors.append(f"unknown event {event!r}")
        self._player_wakeup.set()
        self._pulse()

    async def _on_media(self, message: dict[str, Any], now: float, at_ms: int) -> None:
        media = message.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            self.errors.append("media without media.payload")
            return
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            self.errors.append("media payload is not base64")
            return
        self.media_sizes.append(len(audio))
        self.media_times_ms.append(at_ms)
        await self._echo(self._advance(now), cleared=False)
        if not self._fifo:  # the buffer ran dry: this audio starts playing now
            self._play_clock = now
        self._fifo.append(audio)

    def _advance(self, now: float) -> list[str]:
        """Play buffered audio up to ``now``; return the marks playback reached."""
        reached: list[str] = []
        while self._fifo:
            head = self._fifo[0]
            if isinstance(head, str):
                self._fifo.popleft()
                reached.append(head)
                continue
            playable = int((now - self._play_clock) * BYTES_PER_S)
            if playable <= 0:
                break
            take = min(playable, len(head))
            self._record_played(head[:take], self._play_clock)
            self._play_clock += take / BYTES_PER_S
            if take == len(head):
                self._fifo.popleft()
            else:
                self._fifo[0] = head[take:]
        return reached

    def _record_played(self, audio: bytes, at: float) -> None:
        self.played.extend(audio)
        if self._started_at is None:
            return
        offset = max(0, int((at - self._started_at) * BYTES_PER_S))
        if offset > len(self._timeline):
            self._timeline.extend(b"\xff" * (offset - len(self._timeline)))
        self._timeline[offset : offset + len(audio)] = audio

    async def _echo(self, names: list[str], *, cleared: bool) -> None:
        for name in names:
            self.mark_echoes.append(MarkEcho(name, self.now_ms(), cleared))
            await self._send({"event": "mark", "mark": {"name": name}})

    async def _player(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._ended:
            now = loop.time()
            reached = self._advance(now)
            if reached:
                await self._echo(reached, cleared=False)
                self._pulse()
                continue
            self._player_wakeup.clear()
            if not self._fifo:
                await self._player_wakeup.wait()
                continue
            ahead = 0
            for item in self._fifo:
                if isinstance(item, str):
                    break
                ahead += len(item)
            delay = self._play_clock + ahead / BYTES_PER_S - now
            try:
                async with asyncio.timeout(max(0.001, delay)):
                    await self._player_wakeup.wait()
            except TimeoutError:
                pass

    async def _server_closes(self, code: int) -> None:
        if self.closed.is_set():
            return
        self.closed_by_server = not self._ended
        self.close_code = code
        self._ended = True
        self._player_wakeup.set()
        self.closed.set()
        self._pulse()

    # ------------------------------------------------------------------------------ helpers

    @property
    def buffered_bytes(self) -> int:
        return sum(len(item) for item in self._fifo if isinstance(item, bytes))

    def played_wav(self) -> bytes:
        """What the caller heard, as a mu-law WAV on the stream clock (silence where none)."""
        return mulaw_wav_bytes(bytes(self._timeline))

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], object], timeout_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (re-checked whenever the fake's state changes)."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                changed = self._changed
                try:
                    async with asyncio.timeout(0.05):  # also re-check on time (played audio grows)
                        await changed.wait()
                except TimeoutError:
                    pass

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop everything the fake started (idempotent)."""
        self._ended = True
        self._player_wakeup.set()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        for _audio, future in self._utterances:
            future.cancel()
        self.closed.set()

    async def __aenter__(self) -> FakeTwilioCaller:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
