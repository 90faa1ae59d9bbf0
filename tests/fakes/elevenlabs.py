"""A faithful fake of ElevenLabs' ``stream-input`` WebSocket text-to-speech.

``/v1/text-to-speech/{voice_id}/stream-input?model_id=...&output_format=ulaw_8000``. Like the real
service it wants an API key (``xi-api-key`` header, or ``xi-api-key`` / ``authorization`` in the
first message; else an error message + close 1008), a first message whose ``text`` is a single
space (its ``generation_config.chunk_length_schedule`` is honoured), then text messages. Text is
buffered; generation happens when the buffer reaches the schedule's next length, on
``flush: true``, on every message with ``auto_mode=true``, and at end of stream
(``{"text": ""}``), after which it sends ``{"isFinal": true}`` and closes 1000. No text for
``inactivity_timeout`` seconds (default 20) -> ``input_timeout_exceeded`` + close 1008.

Audio is a 400 Hz tone in the requested format (``ulaw_8000``, ``pcm_8000``, ``pcm_16000``),
``ms_per_char`` long per character (about natural speech rate), sent as ``{"audio": base64,
"alignment": ..., "normalizedAlignment": ...}`` chunks of ``chunk_ms``. Everything is recorded per
session: texts received, what was generated, whether the client went away.
"""

from __future__ import annotations

import asyncio
import audioop
import base64
import functools
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from tests.fakes.local_server import LocalAiohttpServer

FORMATS = {"ulaw_8000": (8000, 1), "pcm_8000": (8000, 2), "pcm_16000": (16000, 2)}  # rate, bytes/sample
DEFAULT_SCHEDULE = [120, 160, 250, 290]


@dataclass
class ElevenLabsSession:
    index: int  # 0-based, in the order sockets were opened
    voice_id: str
    query: dict[str, str]
    headers: Mapping[str, str]  # case-insensitive, like HTTP
    init: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)  # after init, as received
    generations: list[str] = field(default_factory=list)  # text of each generation
    audio_chunks: int = 0
    audio_bytes: int = 0
    eos: bool = False
    close_code: int | None = None  # set when the fake closed the socket
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    initialised: asyncio.Event = field(default_factory=asyncio.Event)  # the " " message arrived
    first_text: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages if isinstance(m.get("text"), str)]

    @property
    def client_went_away(self) -> bool:
        """The client closed or dropped the socket before the fake closed it."""
        return self.ended.is_set() and self.close_code is None


class FakeElevenLabs(LocalAiohttpServer):
    def __init__(
        self,
        *,
        api_key: str = "test-elevenlabs-key",
        ms_per_char: int = 60,
        min_ms: int = 200,
        chunk_ms: int = 250,
        first_audio_delay_s: float = 0.0,
        before_audio: Sequence[str | bytes] = (),
        fail_on_first_text: Collection[int] = (),
    ) -> None:
        """``before_audio``: raw messages (malformed ones, for robustness tests) sent before the
        first audio chunk of every session. ``first_audio_delay_s`` emulates synthesis time.
        ``fail_on_first_text``: indexes of sessions (0-based) that answer their first text with
        an error and close 1008, like a socket the service has dropped."""
        super().__init__()
        self.api_key = api_key
        self.ms_per_char = ms_per_char
        self.min_ms = min_ms
        self.chunk_ms = chunk_ms
        self.first_audio_delay_s = first_audio_delay_s
        self.before_audio = list(before_audio)
        self.fail_on_first_text = set(fail_on_first_text)
        self.sessions: list[ElevenLabsSession] = []
        self._opened = asyncio.Condition()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_sessions(self, count: int) -> list[ElevenLabsSession]:
        """Wait until ``count`` sockets have been opened (prewarming opens them unprompted)."""
        async with self._opened:
            await self._opened.wait_for(lambda: len(self.sessions) >= count)
        return self.sessions

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/text-to-speech/{voice_id}/stream-input", self._handle)

    # -------------------------------------------------------------------------------- serving

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        session = ElevenLabsSession(
            len(self.sessions),
            request.match_info["voice_id"],
            dict(request.query),
            CIMultiDict(request.headers),
        )
        self.sessions.append(session)
        async with self._opened:
            self._opened.notify_all()
        try:
            await _Synthesis(self, ws, session).run()
        except ConnectionError:
            pass  # the client went away while we were sending
        finally:
            session.ended.set()
        return ws


class _Synthesis:
    def __init__(self, fake: FakeElevenLabs, ws: web.WebSocketResponse, session: ElevenLabsSession) -> None:
        self.fake, self.ws, self.session = fake, ws, session
        self.buffer = ""
        self.schedule = list(DEFAULT_SCHEDULE)
        self.step = 0
        self.sent_audio = False
        self.auto_mode = session.query.get("auto_mode") == "true"
        self.format = session.query.get("output_format", "mp3_44100_128")

    async def run(self) -> None:
        query = self.session.query
        if not query.get("model_id"):
            await self.fail("invalid_request", "model_id is required")
            return
        if self.format not in FORMATS:
            await self.fail("invalid_output_format", f"this fake supports {sorted(FORMATS)}")
            return
        header_ok = self.session.headers.get("xi-api-key") == self.fake.api_key
        if "xi-api-key" in self.session.headers and not header_ok:
            await self.fail("invalid_api_key", "Invalid API key")
            return
        timeout = float(query.get("inactivity_timeout", "20"))
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), timeout)
            except TimeoutError:
                await self.fail(
                    "input_timeout_exceeded",
                    f"Have not received a new text input within the timeout of {timeout:g} seconds.",
                )
                return
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            try:
                data = json.loads(message.data) if message.type == WSMsgType.TEXT else None
            except ValueError:
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                await self.fail("invalid_message", "every message must be a JSON object with a text field")
                return
            if self.session.init is None:
                if not (header_ok or _key_in(data, self.fake.api_key)):
                    await self.fail("invalid_api_key", "Invalid API key")
                    return
                if data["text"] != " ":
                    await self.fail(
                        "invalid_message", "the first message must have text set to a single space"
                    )
                    return
                self.session.init = data
                self.session.initialised.set()
                schedule = (data.get("generation_config") or {}).get("chunk_length_schedule")
                if isinstance(schedule, list) and schedule:
                    self.schedule = [int(n) for n in schedule]
                continue
            self.session.messages.append(data)
            text = data["text"]
            if text == "":
                self.session.eos = True
                await self.generate()
                await self.send({"isFinal": True})
                self.session.close_code = 1000
                await self.ws.close(code=1000)
                return
            if not self.session.first_text.is_set() and self.session.index in self.fake.fail_on_first_text:
                await self.fail("connection_dropped", "Simulated failure: the socket was dropped")
                return
            self.session.first_text.set()
            self.buffer += text
            threshold = self.schedule[min(self.step, len(self.schedule) - 1)]
            if data.get("flush") is True or self.auto_mode or len(self.buffer.strip()) >= threshold:
                await self.generate()

    async def generate(self) -> None:
        text = " ".join(self.buffer.split())
        self.buffer = ""
        if not text:
            return
        self.step += 1
        self.session.generations.append(text)
        if not self.sent_audio:
            self.sent_audio = True
            if self.fake.first_audio_delay_s:
                await asyncio.sleep(self.fake.first_audio_delay_s)  # emulated synthesis time
            for raw in self.fake.before_audio:
                await (self.ws.send_bytes(raw) if isinstance(raw, bytes) else self.ws.send_str(raw))
        rate, width = FORMATS[self.format]
        total_ms = max(self.fake.min_ms, len(text) * self.fake.ms_per_char)
        per_char = total_ms / len(text)
        for start_ms in range(0, total_ms, self.fake.chunk_ms):
            length_ms = min(self.fake.chunk_ms, total_ms - start_ms)
            audio = _tone(rate, width, start_ms, length_ms)
            chars = [i for i in range(len(text)) if start_ms <= i * per_char < start_ms + length_ms]
            alignment = {
                "chars": [text[i] for i in chars],
                "charStartTimesMs": [int(i * per_char - start_ms) for i in chars],
                "charDurationsMs": [int(per_char)] * len(chars),
            }
            self.session.audio_chunks += 1
            self.session.audio_bytes += len(audio)
            await self.send(
                {
                    "audio": base64.b64encode(audio).decode(),
                    "isFinal": None,
                    "normalizedAlignment": alignment,
                    "alignment": alignment,
                }
            )

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def fail(self, error: str, text: str) -> None:
        await self.send({"message": text, "error": error, "code": 1008})
        self.session.close_code = 1008
        await self.ws.close(code=1008, message=text[:120].encode())


def _key_in(message: dict[str, Any], key: str) -> bool:
    return message.get("xi-api-key") == key or message.get("authorization") == f"Bearer {key}"


@functools.cache
def _period(rate: int, width: int, hz: int) -> bytes:
    """One period of the tone (400 Hz divides 8 and 16 kHz evenly), computed once."""
    samples = b"".join(
        int(6000 * math.sin(2 * math.pi * n / (rate // hz))).to_bytes(2, "little", signed=True)
        for n in range(rate // hz)
    )
    return audioop.lin2ulaw(samples, 2) if width == 1 else samples


def _tone(rate: int, width: int, start_ms: int, length_ms: int, hz: int = 400) -> bytes:
    """A continuous tone segment: the phase follows the absolute position so chunks join cleanly."""
    period = _period(rate, width, hz)
    offset = (start_ms * rate // 1000 * width) % len(period)
    size = length_ms * rate // 1000 * width
    repeated = period * (size // len(period) + 2)
    return repeated[offset : offset + size]
