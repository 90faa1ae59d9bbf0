"""A faithful fake of AssemblyAI Universal-Streaming v3 (``wss://.../v3/ws``).

What it checks, like the real service: the raw-key ``Authorization`` header (else close 4001),
the query parameters (``sample_rate``, ``encoding``, ``speech_model``...; else Error + close 3006),
and that every binary message holds 50-1000 ms of audio (else Error + close 3007). Optionally, that
audio does not arrive faster than real time (``realtime_limit``; else close 4029: off by default so
tests can stream as fast as they like).

What it does: ``Begin`` on connect; a per-session energy VAD on the decoded audio (20 ms frames),
all timing on the audio clock (bytes received), never the wall clock, so results do not depend on
how fast a test sends. A turn starts with the first speech frame (plus a ``SpeechStarted``
message for u3 models), emits ``Turn`` partials revealing the turn's scripted text word by word as
speech goes on, and ends after ``min_turn_silence`` ms of silence (or ``ForceEndpoint``,
or ``Terminate``) with an unformatted ``end_of_turn`` Turn, followed by the formatted copy when
``format_turns=true``. ``UpdateConfiguration`` changes the silence; ``Terminate`` ->
``Termination`` + close 1000. Everything received is recorded per session.

Use: ``async with FakeAssemblyAI(scripts=["yes that is correct"]) as fake: ... fake.url``.
"""

from __future__ import annotations

import asyncio
import audioop
import json
import re
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from tests.audio import AUDIO_DIR
from tests.fakes.local_server import LocalAiohttpServer

SPEECH_MODELS = {
    "universal-streaming-english",
    "universal-streaming-multilingual",
    "u3-rt-pro",
    "u3-rt-pro-beta-1",
    "u3-pro",
    "universal-3-5-pro",
    "whisper-rt",
}
FRAME_MS = 20
# Real caller speech (8 kHz mu-law WAVs), tests/data/audio.
CALLER_AUDIO_DIR = AUDIO_DIR


def caller_audio(name: str) -> bytes:
    """The raw mu-law bytes of a caller-speech WAV (format tag 7), header dropped: exactly what a
    Twilio media stream carries."""
    raw = (CALLER_AUDIO_DIR / name).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{name} is not a WAV file")
    offset = 12
    while offset + 8 <= len(raw):
        chunk_id, size = raw[offset : offset + 4], struct.unpack("<I", raw[offset + 4 : offset + 8])[0]
        if chunk_id == b"fmt " and struct.unpack("<H", raw[offset + 8 : offset + 10])[0] != 7:
            raise ValueError(f"{name} is not mu-law (format tag 7)")
        if chunk_id == b"data":
            return raw[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)
    raise ValueError(f"{name} has no data chunk")


@dataclass
class AssemblyAISession:
    """Everything one client connection did, for assertions."""

    query: dict[str, str]
    headers: Mapping[str, str]  # case-insensitive, like HTTP
    chunk_sizes: list[int] = field(default_factory=list)  # bytes per binary message
    control: list[dict[str, Any]] = field(default_factory=list)  # JSON messages received
    sent: list[dict[str, Any]] = field(default_factory=list)  # JSON messages sent
    finals: list[str] = field(default_factory=list)  # end-of-turn transcripts (last copy)
    audio_ms: float = 0.0
    close_code: int | None = None  # set when the fake closed the socket
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: web.WebSocketResponse | None = None

    @property
    def client_went_away(self) -> bool:
        """The client closed or dropped the connection (the fake did not close it)."""
        return self.ended.is_set() and self.close_code is None

    async def send_raw(self, data: str | bytes) -> None:
        """Inject any message (malformed ones included) into this session."""
        assert self._ws is not None
        if isinstance(data, bytes):
            await self._ws.send_bytes(data)
        else:
            await self._ws.send_str(data)


class FakeAssemblyAI(LocalAiohttpServer):
    def __init__(
        self,
        *,
        api_key: str = "test-assemblyai-key",
        scripts: Sequence[str] = ("hello there",),
        ms_per_word: int = 250,
        speech_rms: int = 300,
        realtime_limit: float | None = None,
    ) -> None:
        """``scripts[i]`` is what the caller says in turn ``i`` (the last one repeats)."""
        super().__init__()
        self.api_key = api_key
        self.scripts = list(scripts) or ["hello"]
        self.ms_per_word = ms_per_word
        self.speech_rms = speech_rms
        self.realtime_limit = realtime_limit
        self.sessions: list[AssemblyAISession] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v3/ws", self._handle)

    # ------------------------------------------------------------------------------ session

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        session = AssemblyAISession(query=dict(request.query), headers=CIMultiDict(request.headers), _ws=ws)
        self.sessions.append(session)
        try:
            await self._run(ws, session)
        except ConnectionError:
            pass  # the client went away while we were sending
        finally:
            session.ended.set()
        return ws

    async def _run(self, ws: web.WebSocketResponse, session: AssemblyAISession) -> None:
        if session.headers.get("Authorization") != self.api_key:
            await _close(ws, session, 4001, "Not Authorized")
            return
        problem = _check_query(session.query)
        if problem:
            await _send(ws, session, {"type": "Error", "error_code": 3006, "error": problem})
            await _close(ws, session, 3006, problem)
            return
        turns = _Turns(self, ws, session)
        await _send(
            ws, session, {"type": "Begin", "id": str(uuid.uuid4()), "expires_at": int(time.time()) + 3600}
        )
        started = time.monotonic()
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                data: bytes = message.data
                session.chunk_sizes.append(len(data))
                ms = len(data) / turns.bytes_per_ms
                if not 50 <= ms <= 1000:
                    text = (
                        f"Input Duration Error: Input Duration Violation: {ms:.1f} ms. "
                        "Expected between 50 and 1000 ms"
                    )
                    await _send(ws, session, {"type": "Error", "error_code": 3007, "error": text})
                    await _close(ws, session, 3007, "Input duration violation")
                    return
                session.audio_ms += ms
                elapsed_ms = (time.monotonic() - started) * 1000
                if (
                    self.realtime_limit is not None
                    and session.audio_ms > elapsed_ms * self.realtime_limit + 1000
                ):
                    await _close(ws, session, 4029, "Client sent audio too fast")
                    return
                await turns.audio(data)
            elif message.type == WSMsgType.TEXT:
                try:
                    control = json.loads(message.data)
                    kind = control["type"]
                except (ValueError, KeyError, TypeError):
                    await _close(ws, session, 4100, "Endpoint received invalid JSON")
                    return
                session.control.append(control)
                if kind == "ForceEndpoint":
                    await turns.end_turn()
                elif kind == "Terminate":
                    await turns.end_turn()
                    seconds = int(session.audio_ms / 1000)
                    await _send(
                        ws,
                        session,
                        {
                            "type": "Termination",
                            "audio_duration_seconds": seconds,
                            "session_duration_seconds": seconds,
                        },
                    )
                    await _close(ws, session, 1000, "")
                    return
                elif kind == "UpdateConfiguration":
                    turns.configure(control)
                elif kind != "KeepAlive":
                    await _close(ws, session, 4101, "Endpoint received a message with an invalid schema")
                    return


class _Turns:
    """The turn machine of one session: energy VAD on the audio clock + scripted words."""

    def __init__(self, fake: FakeAssemblyAI, ws: web.WebSocketResponse, session: AssemblyAISession) -> None:
        self.fake, self.ws, self.session = fake, ws, session
        query = session.query
        self.mulaw = query.get("encoding", "pcm_s16le") == "pcm_mulaw"
        rate = int(query.get("sample_rate", "16000"))
        self.bytes_per_ms = rate / 1000 * (1 if self.mulaw else 2)
        self.frame_bytes = int(self.bytes_per_ms * FRAME_MS)
        self.format_turns = query.get("format_turns", "false") == "true"
        self.u3 = query.get("speech_model", "").startswith(("u3", "universal-3"))
        self.end_silence_ms = int(
            query.get("min_turn_silence", query.get("min_end_of_turn_silence_when_confident", 400))
        )
        self.turn_order = 0
        self.script = ""
        self.turn_words: list[str] = []
        self.in_turn = False
        self.turn_start_ms = 0.0
        self.speech_ms = 0
        self.silence_ms = 0
        self.revealed = 0
        self.clock_ms = 0.0
        self.pending = b""

    def configure(self, update: dict[str, Any]) -> None:
        silence = update.get("min_turn_silence", update.get("min_end_of_turn_silence_when_confident"))
        if isinstance(silence, int):
            self.end_silence_ms = silence

    async def audio(self, data: bytes) -> None:
        data = self.pending + data
        usable = len(data) - len(data) % self.frame_bytes
        self.pending = data[usable:]
        for offset in range(0, usable, self.frame_bytes):
            frame = data[offset : offset + self.frame_bytes]
            pcm = audioop.ulaw2lin(frame, 2) if self.mulaw else frame
            speech = audioop.rms(pcm, 2) > self.fake.speech_rms
            self.clock_ms += FRAME_MS
            if speech:
                if not self.in_turn:
                    await self.start_turn()
                self.speech_ms += FRAME_MS
                self.silence_ms = 0
            elif self.in_turn:
                self.silence_ms += FRAME_MS
                if self.silence_ms >= self.end_silence_ms:
                    await self.end_turn()
                    continue
            if self.in_turn:
                count = min(len(self.turn_words), 1 + self.speech_ms // self.fake.ms_per_word)
                if count != self.revealed:
                    self.revealed = count
                    await self.send_turn(count, end_of_turn=False, formatted=False)

    async def start_turn(self) -> None:
        self.in_turn, self.speech_ms, self.silence_ms, self.revealed = True, 0, 0, 0
        self.turn_start_ms = self.clock_ms
        self.script = self.fake.scripts[min(self.turn_order, len(self.fake.scripts) - 1)]
        self.turn_words = re.sub(r"[^\w\s']", " ", self.script.lower()).split()
        if self.u3:  # u3 models announce speech themselves (fast barge-in)
            await _send(self.ws, self.session, {"type": "SpeechStarted", "timestamp": int(self.clock_ms)})

    async def end_turn(self) -> None:
        if not self.in_turn:
            return
        await self.send_turn(len(self.turn_words), end_of_turn=True, formatted=False)
        if self.format_turns:
            await self.send_turn(len(self.turn_words), end_of_turn=True, formatted=True)
        self.in_turn = False
        self.turn_order += 1

    async def send_turn(self, count: int, *, end_of_turn: bool, formatted: bool) -> None:
        words = self.turn_words[:count]
        final_count = count if end_of_turn else count - 1  # the newest word is still moving
        transcript = _formatted(self.script) if formatted else " ".join(words[:final_count])
        step = self.fake.ms_per_word
        message = {
            "type": "Turn",
            "turn_order": self.turn_order,
            "turn_is_formatted": formatted,
            "end_of_turn": end_of_turn,
            "transcript": transcript,
            "end_of_turn_confidence": 0.9 if end_of_turn else 0.1,
            "words": [
                {
                    "start": int(self.turn_start_ms + i * step),
                    "end": int(self.turn_start_ms + (i + 1) * step - 40),
                    "text": word,
                    "confidence": 0.95,
                    "word_is_final": i < final_count,
                }
                for i, word in enumerate(words)
            ],
        }
        if end_of_turn and (formatted or not self.format_turns):
            self.session.finals.append(transcript)
        await _send(self.ws, self.session, message)


def _check_query(query: dict[str, str]) -> str | None:
    rate = query.get("sample_rate", "16000")
    if not rate.isdigit() or int(rate) <= 0:
        return "sample_rate must be a positive integer"
    if query.get("encoding", "pcm_s16le") not in ("pcm_s16le", "pcm_mulaw"):
        return f"unsupported encoding {query.get('encoding')!r} for this fake"
    if query.get("speech_model") not in SPEECH_MODELS:
        return f"speech_model is required and must be one of {sorted(SPEECH_MODELS)}"
    for key in ("format_turns",):
        if key in query and query[key] not in ("true", "false"):
            return f"{key} must be true or false"
    for key in ("min_turn_silence", "max_turn_silence", "min_end_of_turn_silence_when_confident"):
        if key in query and not query[key].isdigit():
            return f"{key} must be an integer (ms)"
    if "end_of_turn_confidence_threshold" in query:
        try:
            value = float(query["end_of_turn_confidence_threshold"])
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            return "end_of_turn_confidence_threshold must be within 0..1"
    if "keyterms_prompt" in query:
        try:
            terms = json.loads(query["keyterms_prompt"])
        except ValueError:
            terms = None
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            return "keyterms_prompt must be a JSON array of strings"
    return None


def _formatted(script: str) -> str:
    text = script.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


async def _send(ws: web.WebSocketResponse, session: AssemblyAISession, message: dict[str, Any]) -> None:
    session.sent.append(message)
    await ws.send_str(json.dumps(message))


async def _close(ws: web.WebSocketResponse, session: AssemblyAISession, code: int, reason: str) -> None:
    session.close_code = code
    await ws.close(code=code, message=reason.encode())
