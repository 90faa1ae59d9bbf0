"""Offline text-to-speech: eSpeak NG, in-process through ctypes (``espeakng-loader`` ships the
library and its voice data, so nothing is downloaded or installed system-wide).

eSpeak NG keeps global state (one voice, one synthesis callback per process) and is not
thread-safe, so every synthesis in the process runs on ONE worker thread, one sentence at a
time. That is the throughput limit: a sentence costs a few milliseconds (formant synthesis runs
hundreds of times faster than real time, see ``tests/bridge/test_local_tts.py``), so one thread
serves many calls, but a call's first audio can wait behind other calls' sentences.

The C library runs with the GIL released (ctypes), and calls back into Python per ~100 ms
buffer; each buffer is resampled 22.05 -> 8 kHz, mu-law encoded and handed to the loop, so
audio streams while the sentence is still being synthesized. Cancelling the consumer flags the
job: the next callback tells eSpeak to stop, and a job still queued never starts.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from calls.bridge.audio import Resampler, pcm16_to_ulaw
from calls.bridge.config import EngineSettings
from calls.bridge.engines.pipeline.components import TextToSpeech

logger = logging.getLogger(__name__)

# Of the US voices tried, one PocketSphinx understood at least as well as any in round trips
# (a rough proxy for intelligibility over the phone).
DEFAULT_VOICE = "en-us+m3"
DEFAULT_RATE_WPM = 150  # slower than eSpeak's 175: phone audio and a synthetic voice
BUFFER_MS = 100  # eSpeak calls back with this much audio at a time

_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
# int callback(short *wav, int numsamples, espeak_EVENT *events)
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(eq=False)
class _Job:
    text: str
    voice: str
    rate_wpm: int
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes | BaseException | None]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def deliver(self, item: bytes | BaseException | None) -> None:
        if self.cancelled.is_set():
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancelled.set()


class _Espeak:
    """The process's single eSpeak NG instance; only ever touched from its worker thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._lib: Any = None
        self._sample_rate = 0
        self._callback: Any = None  # keep the ctypes callback alive as long as the library
        self._current: _Job | None = None
        self._resampler: Resampler | None = None
        self._voice = ""
        self._rate = 0
        self.bad_voices: set[str] = set()

    def submit(self, job: _Job) -> None:
        self._executor.submit(self._run, job)

    # worker thread ------------------------------------------------------------------------

    def _load(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, data, 0)
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise (data at {data.decode()!r})")
        self._callback = _SYNTH_CALLBACK(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)
        self._lib, self._sample_rate = lib, rate

    def _run(self, job: _Job) -> None:
        if job.cancelled.is_set():
            return  # barge-in while queued: never started
        try:
            if self._lib is None:
                self._load()
            self._configure(job)
            self._current = job
            self._resampler = Resampler(self._sample_rate, 8000)
            data = job.text.encode("utf-8") + b"\0"
            status = self._lib.espeak_Synth(data, len(data), 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None)
            if status != 0 and not job.cancelled.is_set():
                raise RuntimeError(f"eSpeak NG synthesis failed with status {status}")
            job.deliver(None)
        except BaseException as exc:  # hand every failure to the waiting coroutine
            job.deliver(exc)
        finally:
            self._current = None

    def _configure(self, job: _Job) -> None:
        voice = job.voice if job.voice not in self.bad_voices else DEFAULT_VOICE
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                # An unknown voice (e.g. a cloud voice id left on the agent) must not silence
                # the call: speak with the default voice and say so once in the log.
                logger.warning("eSpeak NG has no voice %r; using %r", voice, DEFAULT_VOICE)
                self.bad_voices.add(voice)
                voice = DEFAULT_VOICE
                if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise RuntimeError(f"eSpeak NG default voice {voice!r} is missing")
            self._voice = voice
        if job.rate_wpm != self._rate:
            self._lib.espeak_SetParameter(_ESPEAK_RATE, job.rate_wpm, 0)
            self._rate = job.rate_wpm

    def _on_audio(self, wav: Any, samples: int, _events: Any) -> int:
        job, resampler = self._current, self._resampler
        if job is None or resampler is None or job.cancelled.is_set():
            return 1  # non-zero: eSpeak stops this synthesis
        if samples > 0 and wav:
            pcm = ctypes.string_at(wav, samples * 2)
            mulaw = pcm16_to_ulaw(resampler.process(pcm))
            if mulaw:
                job.deliver(mulaw)
        return 0


_ENGINE: _Espeak | None = None
_ENGINE_LOCK = threading.Lock()


def _espeak() -> _Espeak:
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Espeak()
        return _ENGINE


class LocalTextToSpeech(TextToSpeech):
    """eSpeak NG voice ``voice`` (an eSpeak voice name, optionally with a variant:
    ``en-us``, ``en-gb-x-rp``, ``en-us+f3``) at ``rate_wpm`` words per minute."""

    def __init__(self, *, voice: str = DEFAULT_VOICE, rate_wpm: int = DEFAULT_RATE_WPM) -> None:
        if not 80 <= rate_wpm <= 450:
            raise ValueError(f"local engine: speech rate must be 80..450 words per minute, got {rate_wpm}")
        self.voice = voice or DEFAULT_VOICE
        self.rate_wpm = rate_wpm

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> LocalTextToSpeech:
        """``voice`` names an eSpeak voice (empty: the default); ``extra["speech_rate_wpm"]``."""
        rate = settings.extra.get("speech_rate_wpm", DEFAULT_RATE_WPM)
        if isinstance(rate, bool) or not isinstance(rate, int):
            raise ValueError(f"local engine: extra.speech_rate_wpm must be an integer, got {rate!r}")
        return cls(voice=settings.voice.strip() or DEFAULT_VOICE, rate_wpm=rate)

    async def synthesize(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        async for piece in text:
            piece = _clean(piece)
            if not piece:
                continue
            job = _Job(piece, self.voice, self.rate_wpm, loop, asyncio.Queue())
            _espeak().submit(job)
            try:
                while (item := await job.queue.get()) is not None:
                    if isinstance(item, BaseException):
                        raise RuntimeError(f"eSpeak NG failed: {item}") from item
                    yield item
            finally:
                job.cancelled.set()


def _clean(text: str) -> str:
    # No SSML is enabled, but control characters (and NUL, which ends a C string) are dropped.
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()
