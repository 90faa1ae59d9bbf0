"""What the caller has really heard: a model of the provider's playback buffer.

Twilio queues outbound audio and plays it in real time; a ``mark`` placed after some audio is
echoed back when playback reaches it, and ``clear`` drops the queue and echoes *every* pending
mark at once (PROTOCOLS.md 1.3.3). So an echo alone cannot tell "played" from "cleared": the
tracker remembers which marks were outstanding at each clear and ignores their echoes.

Mark names identify the utterance and the cumulative bytes sent for it before the mark:
``"{seq}:{item}:{bytes}"`` (``seq`` counts utterances in this call, ``item`` is the engine's item
id, shortened). The last echoed mark is a lower bound of what was heard; elapsed stream time since
that echo (playback runs at 8 bytes/ms) refines it, clamped to what was actually sent.

The tracker is pure bookkeeping (no I/O): the session passes stream-clock milliseconds in and
sends the commands it returns, so this module is easy to test and cheap on the hot path.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from calls.bridge.audio import BYTES_PER_MS_MULAW, FRAME_BYTES, FrameChunker
from calls.bridge.frames import PlaceMark, PlayAudio, TelephonyCommand

MARK_ITEM_CHARS = 32
DEFAULT_MARK_EVERY_BYTES = 8000  # at least one mark per second of audio inside long chunks
MAX_INTERRUPTED_ITEMS = 64


@dataclass(slots=True, eq=False)
class Utterance:
    """One agent utterance as sent to the provider."""

    seq: int
    item_id: str | None
    sent_bytes: int = 0
    acked_bytes: int = 0
    # Playback position known at a point in stream time: (bytes, stream ms). ``None`` while the
    # utterance waits behind earlier audio in the provider's queue.
    anchor_bytes: int = 0
    anchor_ms: int | None = None
    done: bool = False  # the engine said it finished producing audio for it
    marks_outstanding: int = 0
    marked_bytes: int = 0  # sent_bytes at the last mark placed

    @property
    def sent_ms(self) -> int:
        return self.sent_bytes // BYTES_PER_MS_MULAW

    def heard_ms(self, now_ms: int) -> int:
        """Lower bound from echoes, refined with elapsed stream time, clamped to what was sent."""
        acked_ms = self.acked_bytes // BYTES_PER_MS_MULAW
        if self.anchor_ms is None:
            return acked_ms
        estimate = self.anchor_bytes // BYTES_PER_MS_MULAW + max(0, now_ms - self.anchor_ms)
        return max(acked_ms, min(estimate, self.sent_ms))


@dataclass(frozen=True, slots=True)
class SentMark:
    name: str
    utterance: Utterance
    cumulative_bytes: int


@dataclass(slots=True)
class PlaybackPlan:
    """Commands to send, in order, for one piece of agent audio."""

    commands: list[TelephonyCommand] = field(default_factory=list)
    audio_bytes: int = 0
    play_at_ms: int = 0  # modelled stream time at which the first byte of this audio plays
    started_utterance: bool = False  # the first audio of a new utterance is in this plan
    dropped: bool = False  # audio of an interrupted item arriving late: not played


@dataclass(frozen=True, slots=True)
class Interruption:
    """The result of a barge-in: what to tell the engine and to record."""

    item_id: str | None
    seq: int
    heard_ms: int
    sent_ms: int
    acked_ms: int


@dataclass(frozen=True, slots=True)
class MarkEcho:
    utterance: Utterance
    cumulative_bytes: int
    drained: bool  # no sent mark is outstanding any more


class PlaybackTracker:
    """Chunks agent audio into frames, places marks and tracks their echoes."""

    def __init__(
        self, frame_bytes: int = FRAME_BYTES, *, mark_every_bytes: int = DEFAULT_MARK_EVERY_BYTES
    ) -> None:
        self._chunker = FrameChunker(frame_bytes)
        self._mark_every = max(frame_bytes, mark_every_bytes)
        self._seq = 0
        self._current: Utterance | None = None
        self._outstanding: deque[SentMark] = deque()
        self._stale: set[str] = set()  # marks outstanding at a clear: their echoes mean nothing
        self._interrupted_items: deque[str] = deque(maxlen=MAX_INTERRUPTED_ITEMS)
        self._buffer_end_ms = 0  # modelled stream time at which the provider's queue runs dry
        self.idle_since_ms = 0  # stream time at which the caller last stopped hearing the agent
        self.drained = asyncio.Event()  # set while no sent mark is outstanding
        self.drained.set()
        self.marks_sent = 0
        self.marks_echoed = 0
        self.stale_echoes = 0

    # ----------------------------------------------------------------------------- queries

    @property
    def current(self) -> Utterance | None:
        """The utterance audio is currently being added to (``None`` after done or a clear)."""
        return self._current

    @property
    def has_unplayed(self) -> bool:
        """Audio was sent (or is held in the chunker) that the caller has not finished hearing."""
        return bool(self._outstanding) or self._chunker.pending > 0

    @property
    def playing(self) -> Utterance | None:
        """The utterance the caller is hearing now (the oldest with an outstanding mark)."""
        if self._outstanding:
            return self._outstanding[0].utterance
        if self._chunker.pending and self._current is not None:
            return self._current
        return None

    def unplayed_ms(self, now_ms: int) -> int:
        """Modelled audio still queued at the provider, in ms (0 when drained)."""
        if not self._outstanding:
            return self._chunker.pending // BYTES_PER_MS_MULAW
        return max(0, self._buffer_end_ms - now_ms)

    def was_interrupted(self, item_id: str | None) -> bool:
        return item_id is not None and item_id in self._interrupted_items

    # ------------------------------------------------------------------------------ output

    def audio(self, mulaw: bytes, item_id: str | None, now_ms: int) -> PlaybackPlan:
        """Plan frames (and marks) for a chunk of agent audio of any size."""
        plan = PlaybackPlan()
        if item_id is not None and item_id in self._interrupted_items:
            plan.dropped = True  # the engine was told to stop this item; late deltas are not played
            return plan
        current = self._current
        if current is not None and (current.item_id != item_id or current.done):
            self._finish_current(plan, now_ms)
            current = None
        if current is None:
            self._seq += 1
            current = self._current = Utterance(seq=self._seq, item_id=item_id)
            plan.started_utterance = True
            if not self._outstanding:
                # Nothing queued at the provider: this audio starts playing right away.
                current.anchor_ms = max(now_ms, self._buffer_end_ms)
        self._emit_frames(plan, current, self._chunker.push(mulaw), now_ms)
        return plan

    def done(self, item_id: str | None, now_ms: int) -> PlaybackPlan:
        """The engine finished an utterance: send the held tail and its mark."""
        plan = PlaybackPlan()
        current = self._current
        if current is not None and (item_id is None or current.item_id == item_id):
            self._finish_current(plan, now_ms)
        return plan

    def flush(self, now_ms: int) -> PlaybackPlan:
        """Send the held tail now (before waiting for the agent to finish speaking)."""
        plan = PlaybackPlan()
        tail = self._chunker.flush()
        if tail and self._current is not None:
            self._emit_frames(plan, self._current, [tail], now_ms)
        return plan

    def _finish_current(self, plan: PlaybackPlan, now_ms: int) -> None:
        current = self._current
        if current is None:
            return
        tail = self._chunker.flush()
        if tail:
            self._emit_frames(plan, current, [tail], now_ms)
        current.done = True
        self._current = None

    def _emit_frames(
        self, plan: PlaybackPlan, utterance: Utterance, frames: list[bytes], now_ms: int
    ) -> None:
        if not frames:
            return
        if not plan.audio_bytes:
            plan.play_at_ms = max(now_ms, self._buffer_end_ms)
        since_mark = utterance.sent_bytes - utterance.marked_bytes
        commands = plan.commands
        for frame in frames:
            commands.append(PlayAudio(frame))
            size = len(frame)
            utterance.sent_bytes += size
            plan.audio_bytes += size
            since_mark += size
            if since_mark >= self._mark_every:
                commands.append(self._mark(utterance))
                since_mark = 0
        if not isinstance(commands[-1], PlaceMark):
            commands.append(self._mark(utterance))
        start = max(now_ms, self._buffer_end_ms)
        self._buffer_end_ms = start + sum(len(f) for f in frames) // BYTES_PER_MS_MULAW

    def _mark(self, utterance: Utterance) -> PlaceMark:
        item = (utterance.item_id or "")[:MARK_ITEM_CHARS]
        name = f"{utterance.seq}:{item}:{utterance.sent_bytes}"
        utterance.marked_bytes = utterance.sent_bytes
        self._outstanding.append(SentMark(name, utterance, utterance.sent_bytes))
        utterance.marks_outstanding += 1
        self.marks_sent += 1
        self.drained.clear()
        return PlaceMark(name)

    # ------------------------------------------------------------------------------- input

    def on_mark(self, name: str, now_ms: int) -> MarkEcho | None:
        """A mark echo arrived. Returns ``None`` for stale (pre-clear) or unknown names."""
        if name in self._stale:
            self._stale.discard(name)
            self.stale_echoes += 1
            return None
        if not any(sent.name == name for sent in self._outstanding):
            return None
        # Echoes come in FIFO order; anything older than this one was reached too.
        while True:
            sent = self._outstanding.popleft()
            utterance = sent.utterance
            utterance.marks_outstanding -= 1
            utterance.acked_bytes = max(utterance.acked_bytes, sent.cumulative_bytes)
            utterance.anchor_bytes = sent.cumulative_bytes
            utterance.anchor_ms = now_ms
            self.marks_echoed += 1
            if sent.name == name:
                break
        if self._outstanding:
            following = self._outstanding[0].utterance
            if following is not utterance and following.anchor_ms is None:
                following.anchor_ms = now_ms  # the next utterance starts playing right now
        else:
            self._buffer_end_ms = now_ms
            self.idle_since_ms = now_ms
            self.drained.set()
        return MarkEcho(utterance, sent.cumulative_bytes, drained=not self._outstanding)

    def interrupt(self, now_ms: int) -> Interruption | None:
        """Barge-in: forget everything queued. Returns what the caller heard of the playing
        utterance, or ``None`` if nothing was unplayed (no clear needed)."""
        playing = self.playing
        had_unplayed = self.has_unplayed
        self._chunker.discard()
        if not had_unplayed or playing is None:
            return None
        heard_ms = playing.heard_ms(now_ms)
        for sent in self._outstanding:
            self._stale.add(sent.name)
            sent.utterance.marks_outstanding = 0
            if sent.utterance.item_id is not None and sent.utterance.item_id not in self._interrupted_items:
                self._interrupted_items.append(sent.utterance.item_id)
        if playing.item_id is not None and playing.item_id not in self._interrupted_items:
            self._interrupted_items.append(playing.item_id)
        self._outstanding.clear()
        if self._current is not None:
            self._current.done = True
            self._current = None
        self._buffer_end_ms = now_ms
        self.idle_since_ms = now_ms
        self.drained.set()
        return Interruption(
            item_id=playing.item_id,
            seq=playing.seq,
            heard_ms=heard_ms,
            sent_ms=playing.sent_ms,
            acked_ms=playing.acked_bytes // BYTES_PER_MS_MULAW,
        )

    def reset_after_clear(self, now_ms: int) -> None:
        """A clear sent for another reason (e.g. before the fallback line): same bookkeeping."""
        self.interrupt(now_ms)
