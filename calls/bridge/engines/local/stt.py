"""Offline speech-to-text: WebRTC VAD turn detection + PocketSphinx streaming recognition.

Audio path: mu-law 8 kHz -> s16le 8 kHz (VAD runs here, on the loop) -> ``Resampler`` to 16 kHz
-> PocketSphinx (the bundled US English model is a 16 kHz model; ``audioop.ratecv``'s plain
interpolation leaves some mirrored energy above 4 kHz, which measured BETTER on telephone
fixtures than a clean windowed-sinc upsample: 11% vs 25% WER decoding whole files).

Threading: PocketSphinx holds the GIL while it decodes (its Cython wrapper does not release
it), so a thread alone would not keep the loop free. Decoding therefore runs in a worker thread
in pieces of ``PIECE_MS`` of audio: between two pieces Python's switch interval hands the GIL
back to the loop, so the longest stall is one piece (~10-20 ms of CPU). The second search pass
(``fwdflat``) is off for the same reason: it runs inside ``end_utt`` and held the GIL for ~100 ms
per 3 s utterance; without it end_utt takes ~10 ms and the WER on the fixtures was no worse.

Capacity: decoding costs ~0.1-0.3 s of CPU per second of caller speech, all under the one GIL of
the process, so one process serves only a handful of simultaneously SPEAKING callers: this is
the development/offline engine, scaled by processes, not a high-density one.

Decoders cost ~0.4 s and ~90 MB to build (dictionary + language-model search tree), so they are
pooled per process and reused by the next call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Executor
from typing import Any, Literal

from calls.bridge.audio import Resampler, ulaw_to_pcm16
from calls.bridge.config import EngineSettings
from calls.bridge.engines.local.vad import FRAME_BYTES_PCM, TurnDetector, VadSettings
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    PartialTranscript,
    SpeechStarted,
    SpeechToText,
    SttEvent,
)

logger = logging.getLogger(__name__)

DECODER_RATE = 16_000
PIECE_MS = 40  # audio per process_raw call: bounds how long the GIL is held at once
PIECE_BYTES = DECODER_RATE * 2 * PIECE_MS // 1000
MAX_BATCH_MS = 1000  # audio per thread hop, so an end-of-turn never waits behind a long backlog
FRAME_BYTES_MULAW = FRAME_BYTES_PCM // 2

# fwdflat off: see the module docstring. Beams stay at PocketSphinx's defaults: twice wider
# beams doubled the CPU for no gain on the fixtures (bench/local_wer.py).
DEFAULT_DECODER_OPTIONS: dict[str, Any] = {"fwdflat": False, "loglevel": "ERROR"}
DIGITS_SEARCH = "digits"
# A much lower word insertion penalty for the grammar only: with the default (and 0.2) the grammar
# search inserted "eight" between "two" and "three"; the language-model search is unaffected.
DIGITS_WIP = 0.01
DEFAULT_WIP = 0.65  # PocketSphinx's default, for the language-model search

DIGITS_GRAMMAR = """#JSGF V1.0;
grammar digits;
public <utterance> = [<lead>] <digit>+ | <escape>;
<lead> = [my | the] (pin | pin number | pass code | code | account number | number) [is] | it is | it's;
<digit> = [double] (zero | oh | one | two | three | four | five | six | seven | eight | nine);
<escape> = i don't know | i don't have (it | one) | i forgot | i don't remember | no | yes | goodbye
    | agent | operator | (can i | i want to) speak to (a person | a human | someone | an agent)
    | (repeat | say) that again;
"""


class _DecoderPool:
    """Idle PocketSphinx decoders, reused across calls (thread-safe)."""

    def __init__(self, max_idle: int = 2) -> None:
        self._idle: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        self._lock = threading.Lock()
        self.max_idle = max_idle

    @staticmethod
    def _key(options: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, repr(v)) for k, v in options.items()))

    def acquire(self, options: Mapping[str, Any]) -> Any:
        with self._lock:
            idle = self._idle.get(self._key(options))
            decoder = idle.pop() if idle else None
        return _reset(decoder if decoder is not None else _build_decoder(options))

    def release(self, options: Mapping[str, Any], decoder: Any) -> None:
        with self._lock:
            idle = self._idle.setdefault(self._key(options), [])
            if len(idle) < self.max_idle:
                idle.append(decoder)


def _build_decoder(options: Mapping[str, Any]) -> Any:
    from pocketsphinx import Decoder  # native library: loaded only by processes that use it

    decoder = Decoder(samprate=DECODER_RATE, **options)
    # The language-model search was built above with the default penalty; the grammar search
    # reads the (changed) config when it is built here.
    decoder.config["wip"] = DIGITS_WIP
    decoder.add_jsgf_string(DIGITS_SEARCH, DIGITS_GRAMMAR)
    return decoder


def _reset(decoder: Any) -> Any:
    """A pooled decoder starts each call like a new one: the front end's adaptive state (noise
    floor estimate, cepstral mean) left by the previous caller is dropped. Without this, results
    depended on who called before (a round trip that always passed alone failed in a suite).
    A CMN start tuned on the fixtures was tried and measured worse (11% vs 9%): the default
    ``cmninit`` adapts within the first utterance."""
    decoder.reinit_feat()
    return decoder


DECODERS = _DecoderPool()

_Command = tuple[Literal["start"], str] | tuple[Literal["audio"], bytes] | tuple[Literal["end"], None]


class LocalSpeechToText(SpeechToText):
    """VAD-gated PocketSphinx, streaming: the decoder is fed while the caller speaks, so the
    final transcript is ready ~10 ms after the end-of-turn silence.

    Events: ``SpeechStarted`` when the VAD starts a turn (on the loop, not behind the decoder),
    ``PartialTranscript`` every ``partial_interval_ms`` of speech when the hypothesis changed,
    ``FinalTranscript`` at the end of the turn (or ``force_endpoint``), possibly empty for noise.
    """

    def __init__(
        self,
        *,
        vad: VadSettings | None = None,
        decoder_options: Mapping[str, Any] | None = None,
        partial_interval_ms: int = 400,
        executor: Executor | None = None,
    ) -> None:
        self._detector = TurnDetector(vad)
        self._options = {**DEFAULT_DECODER_OPTIONS, **dict(decoder_options or {})}
        self._partial_interval_ms = partial_interval_ms
        self._executor = executor
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue()
        self._commands: deque[_Command] = deque()
        self._wakeup = asyncio.Event()
        self._pending = b""
        self._mode: Literal["speech", "digits"] = "speech"
        self._decoder: Any = None
        self._decoder_lock = threading.Lock()  # one thread job at a time touches the decoder
        self._in_utterance = False
        self._wip = float(self._options.get("wip", DEFAULT_WIP))
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_settings(
        cls, settings: EngineSettings, *, executor: Executor | None = None
    ) -> LocalSpeechToText:
        extra = dict(settings.extra or {})
        options = extra.get("pocketsphinx", {})
        if not isinstance(options, dict):
            raise ValueError("local engine: extra.pocketsphinx must be an object of decoder options")
        partial = extra.get("partial_interval_ms", 400)
        if isinstance(partial, bool) or not isinstance(partial, int) or partial < 100:
            raise ValueError("local engine: extra.partial_interval_ms must be an integer >= 100")
        return cls(
            vad=VadSettings.from_engine_settings(settings),
            decoder_options=options,
            partial_interval_ms=partial,
            executor=executor,
        )

    # ------------------------------------------------------------------------ interface

    async def start(self) -> None:
        if self._worker is not None:
            return
        loop = asyncio.get_running_loop()
        self._decoder = await loop.run_in_executor(self._executor, DECODERS.acquire, self._options)
        self._worker = loop.create_task(self._decode_loop(), name="local-stt-decoder")

    async def send_audio(self, mulaw: bytes) -> None:
        if self._worker is None or self._closed:
            return
        data = self._pending + mulaw
        usable = len(data) - len(data) % FRAME_BYTES_MULAW
        self._pending = data[usable:]
        for offset in range(0, usable, FRAME_BYTES_MULAW):
            step = self._detector.process(ulaw_to_pcm16(data[offset : offset + FRAME_BYTES_MULAW]))
            if step.event == "start":
                self._detector.use_digits_timing(self._mode == "digits")
                self._events.put_nowait(SpeechStarted())
                self._command(("start", self._mode))
            if step.audio:
                self._command(("audio", step.audio))
            if step.event == "end":
                self._command(("end", None))

    async def force_endpoint(self) -> None:
        if self._detector.in_turn:
            self._detector.end_turn()
            self._command(("end", None))

    def set_mode(self, mode: Literal["speech", "digits"]) -> None:
        """Takes effect at the next turn (a running utterance keeps its search)."""
        self._mode = mode
        if not self._detector.in_turn:
            self._detector.use_digits_timing(mode == "digits")

    async def events(self) -> AsyncIterator[SttEvent]:
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._events.put_nowait(None)
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.wait([self._worker])
        if self._decoder is not None:
            decoder, self._decoder = self._decoder, None
            # Waits (under the lock) for a decode job still running in its thread, then returns
            # the decoder to the pool for the next call.
            await asyncio.get_running_loop().run_in_executor(self._executor, self._release, decoder)

    # ------------------------------------------------------------------------ decoding

    def _command(self, command: _Command) -> None:
        self._commands.append(command)
        self._wakeup.set()

    async def _decode_loop(self) -> None:
        loop = asyncio.get_running_loop()
        resampler = Resampler(8000, DECODER_RATE)
        since_partial_ms = 0
        last_partial = ""
        while True:
            if not self._commands:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            kind, payload = self._commands.popleft()
            if kind == "start":
                assert isinstance(payload, str)
                resampler = Resampler(8000, DECODER_RATE)  # a turn is a new, discontinuous stream
                since_partial_ms, last_partial = 0, ""
                await loop.run_in_executor(self._executor, self._begin, payload)
            elif kind == "audio":
                assert isinstance(payload, bytes)
                batch = [payload]
                while self._commands and self._commands[0][0] == "audio" and len(batch) * 20 < MAX_BATCH_MS:
                    batch.append(self._commands.popleft()[1])  # type: ignore[arg-type]
                pcm = resampler.process(b"".join(batch))
                since_partial_ms += len(batch) * 20
                want_partial = since_partial_ms >= self._partial_interval_ms
                hypothesis = await loop.run_in_executor(self._executor, self._feed, pcm, want_partial)
                if want_partial:
                    since_partial_ms = 0
                    if hypothesis and hypothesis != last_partial:
                        last_partial = hypothesis
                        self._events.put_nowait(PartialTranscript(hypothesis))
            else:
                text = await loop.run_in_executor(self._executor, self._finish)
                self._events.put_nowait(FinalTranscript(text))

    # Thread side: each holds the decoder lock for its whole job.

    def _begin(self, mode: str) -> None:
        with self._decoder_lock:
            decoder = self._decoder
            if decoder is None:
                return
            if self._in_utterance:
                decoder.end_utt()
            # Searches read the word insertion penalty when activated: set the one for this mode.
            decoder.config["wip"] = DIGITS_WIP if mode == "digits" else self._wip
            decoder.activate_search(DIGITS_SEARCH if mode == "digits" else "_default")
            decoder.start_utt()
            self._in_utterance = True

    def _feed(self, pcm: bytes, want_hypothesis: bool) -> str:
        with self._decoder_lock:
            decoder = self._decoder
            if decoder is None or not self._in_utterance:
                return ""
            for offset in range(0, len(pcm), PIECE_BYTES):
                decoder.process_raw(pcm[offset : offset + PIECE_BYTES], False, False)
            if not want_hypothesis:
                return ""
            hypothesis = decoder.hyp()
            return str(hypothesis.hypstr) if hypothesis is not None else ""

    def _finish(self) -> str:
        with self._decoder_lock:
            decoder = self._decoder
            if decoder is None or not self._in_utterance:
                return ""
            decoder.end_utt()
            self._in_utterance = False
            hypothesis = decoder.hyp()
            return str(hypothesis.hypstr).strip() if hypothesis is not None else ""

    def _release(self, decoder: Any) -> None:
        with self._decoder_lock:
            if self._in_utterance:
                decoder.end_utt()
                self._in_utterance = False
            DECODERS.release(self._options, decoder)
