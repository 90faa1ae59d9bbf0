"""Transcript segments and call events, buffered in memory and flushed in batches.

Nothing here runs on the audio path: the pumps only append to bounded deques; a timer task
hands batches to the ``CallRecorder``. A failed flush is logged and the batch goes back to the
front of the buffers for the next tick, so a database hiccup never kills the call and a crash
loses at most one flush interval. Delivery is at-least-once: if the session is torn down while a
flush is in flight, the final flush sends that batch again (recorders upsert segments by
``(speaker, ordinal)``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from calls.bridge.frames import Speaker, Transcript
from calls.bridge.ports import CallRecorder, EventEntry, TranscriptEntry
from calls.bridge.session.outcome import SessionCounters

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFERED = 5000  # per buffer; beyond it the oldest unflushed entries are dropped
FLUSH_TIMEOUT_S = 10.0
MAX_TEXT_CHARS = 10_000


class CallJournal:
    def __init__(
        self,
        recorder: CallRecorder,
        counters: SessionCounters,
        now_ms: Callable[[], int],
        *,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        self._recorder = recorder
        self._counters = counters
        self._now_ms = now_ms
        self._max = max_buffered
        self._event_seq = 0
        self._segments: deque[TranscriptEntry] = deque()
        self._events: deque[EventEntry] = deque()
        self._speech_start: dict[Speaker, int] = {}
        self._open: dict[tuple[Speaker, int], int] = {}
        self._partial: dict[tuple[Speaker, int], str] = {}  # latest text of an open segment
        self._final: set[tuple[Speaker, int]] = set()
        self._lock = asyncio.Lock()  # one flush at a time (periodic vs final)
        self._failures_in_a_row = 0

    @property
    def pending(self) -> tuple[int, int]:
        return len(self._segments), len(self._events)

    # ------------------------------------------------------------------------------- input

    def event(self, kind: str, payload: dict[str, Any] | None = None, at_ms: int | None = None) -> None:
        when = self._now_ms() if at_ms is None else at_ms
        self._event_seq += 1
        self._events.append(EventEntry(type=kind, payload=payload or {}, at_ms=when, seq=self._event_seq))
        self._counters.events += 1
        self._trim(self._events)

    def speech_started(self, speaker: Speaker, at_ms: int) -> None:
        """Speech of ``speaker`` began (VAD or first agent audio): the next final starts here."""
        self._speech_start.setdefault(speaker, at_ms)

    def transcript(self, frame: Transcript, end_ms: int) -> TranscriptEntry | None:
        """Track a transcript frame; returns the entry when a final closes an ordinal."""
        key = (frame.speaker, frame.ordinal)
        if key in self._final:
            return None  # a repeated final (engine resend): the first one stands
        now = self._now_ms()
        started = self._open.setdefault(key, self._speech_start.get(frame.speaker, now))
        if not frame.final:
            if frame.text.strip():
                self._partial[key] = frame.text
            if len(self._open) > self._max:  # partials that never finalise must not pile up
                oldest = next(iter(self._open))
                del self._open[oldest]
                self._partial.pop(oldest, None)
            return None
        del self._open[key]
        self._partial.pop(key, None)
        self._speech_start.pop(frame.speaker, None)
        self._final.add(key)
        entry = TranscriptEntry(
            speaker=frame.speaker,
            text=frame.text[:MAX_TEXT_CHARS],
            ordinal=frame.ordinal,
            start_ms=min(started, end_ms),
            end_ms=end_ms,
        )
        self._segments.append(entry)
        self._counters.transcript_segments += 1
        self._trim(self._segments)
        return entry

    def close_open(self) -> None:
        """The call is over: an utterance still in progress (the caller hung up on the agent
        mid-sentence, the engine died mid-reply) is kept with its latest partial text instead of
        being lost with the session."""
        now = self._now_ms()
        for key, started in list(self._open.items()):
            text = self._partial.pop(key, "").strip()
            del self._open[key]
            if not text:
                continue
            speaker, ordinal = key
            self._final.add(key)
            self._segments.append(
                TranscriptEntry(
                    speaker=speaker,
                    text=text[:MAX_TEXT_CHARS],
                    ordinal=ordinal,
                    start_ms=min(started, now),
                    end_ms=now,
                )
            )
            self._counters.transcript_segments += 1
        self._trim(self._segments)

    def _trim(self, buffer: deque[Any]) -> None:
        while len(buffer) > self._max:
            buffer.popleft()
            self._counters.dropped_entries += 1
            if self._counters.dropped_entries in (1, 100, 1000):
                logger.warning("call journal full: dropped %d entries", self._counters.dropped_entries)

    # ------------------------------------------------------------------------------ output

    async def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Hand everything buffered to the recorder. ``True`` when nothing is left pending."""
        async with self._lock:
            if not self._segments and not self._events:
                return True
            segments = sorted(self._segments, key=lambda s: s.ordinal)
            events = list(self._events)
            self._segments.clear()
            self._events.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._recorder.flush(segments, events)
            except asyncio.CancelledError:
                self._put_back(segments, events)
                raise
            except Exception:
                self._failures_in_a_row += 1
                self._counters.flush_failures += 1
                log = logger.exception if self._failures_in_a_row <= 3 else logger.warning
                log("flushing %d segments / %d events failed; retrying next tick", len(segments), len(events))
                self._put_back(segments, events)
                return False
            self._failures_in_a_row = 0
            self._counters.flushes += 1
            return True

    def _put_back(self, segments: list[TranscriptEntry], events: list[EventEntry]) -> None:
        self._segments.extendleft(reversed(segments))
        self._events.extendleft(reversed(events))
        self._trim(self._segments)
        self._trim(self._events)

    async def run_periodic(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.flush()

    async def final_flush(self, attempts: int = 2, timeout_s: float = 5.0) -> bool:
        for attempt in range(attempts):
            if await self.flush(timeout_s):
                return True
            if attempt + 1 < attempts:
                await asyncio.sleep(0.2)
        logger.error("final flush failed; %d segments / %d events lost", *self.pending)
        return False
