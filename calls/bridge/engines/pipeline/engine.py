"""``PipelineEngine``: a chained speech engine, STT -> LLM -> TTS, built from swappable parts.

How one assistant turn flows (latency is what the caller feels, so everything streams):

    FinalTranscript -> user message -> LLM stream -> SentenceChunker -> per-sentence TTS -> AgentAudio

- The LLM's text is cut into sentences (the first one may be a clause) and each piece goes to TTS
  as soon as it is complete, so the first audio leaves before the model has finished writing.
- TTS is called once per piece (a one-item text iterator). That costs a TTS request per sentence
  but gives the exact audio length of every sentence, which barge-in needs: when the caller
  interrupts after ``heard_ms`` of the turn's audio, the assistant message in the history is
  rewritten to the sentences fully heard plus the heard share of the interrupted sentence
  (``truncate_to_fraction``: a constant speaking rate within a sentence is assumed). Audio is
  produced faster than it plays, so the next sentence is synthesized while the caller still
  hears the previous one and the per-sentence request adds no audible gap.
- One turn has ONE ``item_id`` (its ``turn-N`` id) even when it spans several LLM rounds around
  tool calls; ``heard_ms`` counts across all its audio.
- Tool calls: the assistant ``tool_calls`` message and a placeholder ``tool`` message per call
  are appended at once (the history is always valid for a chat API, even if the turn is cut),
  ``ToolCall`` events go out, and the turn waits for ``send_tool_result``; the placeholder is
  filled in place. The turn continues with a new LLM round unless a result says ``speak=False``
  (with several calls in a round: only if all say speak). A result arriving after the turn was cut
  still fills its placeholder and applies its ``new_stage``; it starts no new round.
- Barge-in: ``SpeechStarted`` from the STT emits ``CallerSpeechStarted`` (always: audio may
  still be playing even after generation ended) and cancels the in-flight turn, which aborts the
  LLM stream and the TTS request at once.

The agent's final ``Transcript`` of a turn is what was turned into audio (sent when the turn
ends or is cut); the history, not the transcript, is corrected by ``playback_interrupted``. An
empty caller transcript (noise) starts no turn. After the agent asks for a PIN or an account
number the STT is hinted ``set_mode("digits")`` for the answer (``extra["digits_mode"]="off"``
disables it).

Failures of any part end the engine: ``EngineFailure`` is the last event of ``events()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from calls.bridge.audio import BYTES_PER_MS_MULAW
from calls.bridge.config import EngineSettings, StageSpec
from calls.bridge.engines.base import Engine, EngineError, ToolResult
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    LanguageModel,
    LlmUsage,
    Message,
    PartialTranscript,
    SpeechStarted,
    SpeechToText,
    TextDelta,
    TextToSpeech,
    ToolCallRequest,
)
from calls.bridge.engines.pipeline.text import (
    SentenceChunker,
    SpokenSegment,
    asks_for_digits,
    heard_by_round,
    speakable,
)
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineFailure,
    EngineMetric,
    EngineUsage,
    ToolCall,
    Transcript,
)

logger = logging.getLogger(__name__)

# What the model sees for a tool whose result has not arrived (the caller cut the turn short).
PENDING_TOOL_OUTPUT = '{"status": "pending", "note": "no result yet; the caller interrupted"}'
MISSING_TOOL_OUTPUT = '{"error": "the tool did not answer in time"}'
_KEPT_TURNS = 8  # turn records kept for late ``playback_interrupted`` calls


@dataclass(slots=True)
class _Turn:
    item_id: str
    ordinal: int
    scripted: bool  # a greeting: no LLM, no latency metrics
    segments: list[SpokenSegment] = field(default_factory=list)
    messages: dict[int, Message] = field(default_factory=dict)  # round -> assistant message in history
    task: asyncio.Task[None] | None = None
    audio_started: bool = False
    transcript_sent: bool = False


@dataclass(slots=True)
class _PendingTool:
    message: Message
    future: asyncio.Future[ToolResult]


class PipelineEngine(Engine):
    """Composes a ``SpeechToText``, a ``LanguageModel`` and a ``TextToSpeech`` into an ``Engine``.

    ``settings.extra`` knobs: ``digits_mode`` ("auto" default: switch the STT to digits after the
    agent asks for a PIN/account number; "off"), ``tool_result_grace_s`` (extra wait beyond the
    tools' own timeouts before a missing result counts as an error, default 5).
    """

    name = "pipeline"

    def __init__(
        self, settings: EngineSettings, stt: SpeechToText, llm: LanguageModel, tts: TextToSpeech
    ) -> None:
        super().__init__(settings)
        self.stt, self.llm, self.tts = stt, llm, tts
        self._queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue()
        self._stage: StageSpec | None = None
        self._messages: list[Message] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._current: _Turn | None = None
        self._pending_tools: dict[str, _PendingTool] = {}
        self._ordinals = itertools.count()
        self._turn_ids = itertools.count(1)
        self._caller_ordinal: int | None = None
        self._stt_audio_bytes = 0
        self._stt_mode: Literal["speech", "digits"] = "speech"
        self._connected = self._ended = self._closed = False
        self._digits_auto = str(settings.extra.get("digits_mode", "auto")) != "off"
        grace = settings.extra.get("tool_result_grace_s", 5.0)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise EngineError(f"pipeline: extra.tool_result_grace_s must be a number >= 0, got {grace!r}")
        self._tool_grace_s = float(grace)

    # ------------------------------------------------------------------------ Engine interface

    @property
    def history(self) -> list[Message]:
        """The conversation as the LLM sees it (a copy)."""
        return [dict(m) for m in self._messages]

    @property
    def stage(self) -> StageSpec | None:
        return self._stage

    async def connect(self, stage: StageSpec) -> None:
        if self._connected:
            raise EngineError("pipeline engine already connected")
        self._connected = True
        self._stage = stage
        self._messages = [{"role": "system", "content": stage.system_prompt}]
        try:
            await self.stt.start()
        except Exception as exc:
            raise EngineError(f"speech-to-text failed to start: {exc}") from exc
        self._spawn(self._pump_stt(), "pipeline-stt")
        if self.settings.greeting.strip():
            self._start_turn(greeting=self.settings.greeting)

    async def switch_stage(self, stage: StageSpec) -> None:
        """New system prompt and tools from the next LLM round on; the history is kept."""
        self._apply_stage(stage)

    async def send_audio(self, mulaw: bytes) -> None:
        if self._ended:
            return
        self._stt_audio_bytes += len(mulaw)
        try:
            await self.stt.send_audio(mulaw)
        except Exception as exc:
            self._fail(f"speech-to-text failed: {exc}")

    async def send_caller_text(self, text: str) -> None:
        if self._ended or not text.strip():
            return
        if self._turn_running():
            # Input from the keypad interrupts like speech does, so the session clears playback.
            self._emit(CallerSpeechStarted())
            await self._interrupt_turn()
        self._messages.append({"role": "user", "content": text})
        self._start_turn()

    async def send_tool_result(self, call_id: str, result: ToolResult) -> None:
        pending = self._pending_tools.pop(call_id, None)
        if pending is None:
            logger.warning("pipeline: result for unknown tool call %s ignored", call_id)
            return
        pending.message["content"] = result.output
        if result.new_stage is not None:
            self._apply_stage(result.new_stage)
        if not pending.future.done():
            pending.future.set_result(result)

    async def playback_interrupted(self, item_id: str | None, heard_ms: int) -> None:
        turn = self._turns.get(item_id) if item_id else self._current
        if turn is None:
            return
        if turn.task is not None and not turn.task.done():
            await self._cancel(turn.task)
        self._rewrite_history(turn, max(0, heard_ms))

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._end()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pending in self._pending_tools.values():
            pending.future.cancel()
        self._pending_tools.clear()
        for part, label in ((self.stt, "stt"), (self.llm, "llm"), (self.tts, "tts")):
            try:
                await part.close()
            except Exception:
                logger.exception("pipeline: closing the %s failed", label)

    # ------------------------------------------------------------------------ speech-to-text side

    async def _pump_stt(self) -> None:
        try:
            async for event in self.stt.events():
                if isinstance(event, SpeechStarted):
                    self._emit(CallerSpeechStarted())
                    await self._interrupt_turn()
                elif isinstance(event, PartialTranscript):
                    if event.text.strip():
                        self._emit(Transcript("caller", event.text, False, self._caller_utterance()))
                elif isinstance(event, FinalTranscript):
                    await self._on_caller_final(event.text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(f"speech-to-text failed: {exc}")
            return
        if not self._closed:
            self._fail("speech-to-text stream ended")

    async def _on_caller_final(self, text: str) -> None:
        text = text.strip()
        if not text:
            # Noise or a cough: no turn. If it cut the agent off, the session's silence timer
            # (or the caller) takes it from there.
            self._caller_ordinal = None
            return
        self._emit(EngineMetric("stt_final", asyncio.get_running_loop().time()))
        self._emit(Transcript("caller", text, True, self._caller_utterance()))
        self._emit(CallerTurnEnded())
        self._caller_ordinal = None
        if self._stt_audio_bytes:
            seconds = self._stt_audio_bytes / (BYTES_PER_MS_MULAW * 1000)
            self._emit(EngineUsage({"stt_audio_seconds": seconds}))
            self._stt_audio_bytes = 0
        await self._interrupt_turn()  # an STT without SpeechStarted events still interrupts
        self._messages.append({"role": "user", "content": text})
        self._start_turn()

    def _caller_utterance(self) -> int:
        if self._caller_ordinal is None:
            self._caller_ordinal = next(self._ordinals)
        return self._caller_ordinal

    # ------------------------------------------------------------------------ assistant turns

    def _start_turn(self, greeting: str | None = None) -> None:
        item_id = f"turn-{next(self._turn_ids)}"
        turn = _Turn(item_id=item_id, ordinal=next(self._ordinals), scripted=greeting is not None)
        self._turns[turn.item_id] = turn
        while len(self._turns) > _KEPT_TURNS:
            self._turns.popitem(last=False)
        self._current = turn
        turn.task = self._spawn(self._run_turn(turn, greeting), turn.item_id)

    def _turn_running(self) -> bool:
        turn = self._current
        return turn is not None and turn.task is not None and not turn.task.done()

    async def _interrupt_turn(self) -> None:
        turn = self._current
        if turn is not None and turn.task is not None and not turn.task.done():
            await self._cancel(turn.task)

    async def _run_turn(self, turn: _Turn, greeting: str | None) -> None:
        speaker = _Speaker(self, turn)
        try:
            if greeting is not None:
                chunker = SentenceChunker()
                for piece in [*chunker.push(greeting), chunker.flush()]:
                    if piece:
                        speaker.say(piece, 0)
                turn.messages[0] = {"role": "assistant", "content": greeting}
                self._messages.append(turn.messages[0])
            else:
                await self._run_llm_rounds(turn, speaker)
            await speaker.finish()
        except asyncio.CancelledError:
            # Bookkeeping first and without awaiting: a second cancellation (close() right after
            # a barge-in) must not skip it. The stopped speaker emits nothing more.
            speaker.stop()
            self._rewrite_history(turn, heard_ms=None)
            self._finish_turn(turn)
            await speaker.stopped()
            raise
        except Exception as exc:
            speaker.stop()
            self._fail(f"language model failed: {exc}")
            return
        self._finish_turn(turn)

    async def _run_llm_rounds(self, turn: _Turn, speaker: _Speaker) -> None:
        loop = asyncio.get_running_loop()
        for round_no in itertools.count():
            assert self._stage is not None
            chunker = SentenceChunker() if not turn.segments else SentenceChunker(first_min_chars=10_000)
            text: list[str] = []
            requests: list[ToolCallRequest] = []
            snapshot = [dict(m) for m in self._messages]
            async with _closing(self.llm.stream(snapshot, self._stage.tools)) as stream:
                async for event in stream:
                    first = round_no == 0 and not text and not requests
                    if first and isinstance(event, TextDelta | ToolCallRequest):
                        self._emit(EngineMetric("llm_first_token", loop.time()))
                    if isinstance(event, TextDelta):
                        text.append(event.text)
                        for piece in chunker.push(event.text):
                            speaker.say(piece, round_no)
                    elif isinstance(event, ToolCallRequest):
                        requests.append(event)
                    elif isinstance(event, LlmUsage):
                        self._emit(
                            EngineUsage(
                                {
                                    "llm_prompt_tokens": float(event.prompt_tokens),
                                    "llm_completion_tokens": float(event.completion_tokens),
                                }
                            )
                        )
            rest = chunker.flush()
            if rest:
                speaker.say(rest, round_no)
            content = "".join(text).strip()
            message: Message = {"role": "assistant", "content": content or None}
            if not requests:
                if content:
                    turn.messages[round_no] = message
                    self._messages.append(message)
                return
            results = await self._run_tools(turn, round_no, message, requests, speaker)
            if not all(result.speak for result in results):
                return

    async def _run_tools(
        self,
        turn: _Turn,
        round_no: int,
        message: Message,
        requests: list[ToolCallRequest],
        speaker: _Speaker,
    ) -> list[ToolResult]:
        loop = asyncio.get_running_loop()
        ids = [req.call_id or f"{turn.item_id}-call-{round_no}-{n}" for n, req in enumerate(requests)]
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": req.name, "arguments": req.arguments}}
            for call_id, req in zip(ids, requests, strict=True)
        ]
        turn.messages[round_no] = message
        self._messages.append(message)
        waits: list[asyncio.Future[ToolResult]] = []
        for call_id in ids:
            tool_message: Message = {"role": "tool", "tool_call_id": call_id, "content": PENDING_TOOL_OUTPUT}
            self._messages.append(tool_message)
            future: asyncio.Future[ToolResult] = loop.create_future()
            self._pending_tools[call_id] = _PendingTool(tool_message, future)
            waits.append(future)
        # What the agent said before the call must reach the session before the call does: the
        # tool may end the call (end_call: "Goodbye!" then hang up) or transfer it, and the
        # session only waits for an utterance it has seen start. Without this the hang-up beat
        # the goodbye's first audio and the caller heard nothing. Costs a tool call with a spoken
        # preamble the TTS's first-chunk latency; a call without one is not delayed.
        await speaker.voiced()
        for call_id, req in zip(ids, requests, strict=True):
            self._emit(ToolCall(call_id, req.name, req.arguments))
        tools = self._stage.tools if self._stage else ()
        timeout = self._tool_grace_s + max((tool.timeout_s for tool in tools), default=10.0)
        done, _ = await asyncio.wait(waits, timeout=timeout)
        results = []
        for call_id, future in zip(ids, waits, strict=True):
            if future in done:
                results.append(future.result())
                continue
            # The session never answered: tell the model so, instead of leaving the caller
            # in silence forever.
            logger.warning("pipeline: no result for tool call %s", call_id)
            pending = self._pending_tools.pop(call_id, None)
            if pending is not None:
                pending.message["content"] = MISSING_TOOL_OUTPUT
            future.cancel()
            results.append(ToolResult(MISSING_TOOL_OUTPUT, is_error=True))
        return results

    def _finish_turn(self, turn: _Turn) -> None:
        """Close the utterance towards the session: audio done, the agent's transcript (what was
        turned into audio), usage, and the STT mode hint for the caller's answer."""
        if turn.transcript_sent:
            return
        turn.transcript_sent = True
        if turn.audio_started:
            self._emit(AgentAudioDone(turn.item_id))
        voiced = heard_by_round(turn.segments, None)
        spoken = " ".join(" ".join(voiced[round_no]) for round_no in sorted(voiced)).strip()
        if spoken:
            self._emit(Transcript("agent", spoken, True, turn.ordinal))
        characters = sum(len(speakable(seg.text)) for seg in turn.segments if seg.sent_to_tts)
        if characters:
            self._emit(EngineUsage({"tts_characters": float(characters)}))
        if self._digits_auto:
            mode: Literal["speech", "digits"] = "digits" if asks_for_digits(spoken) else "speech"
            if mode != self._stt_mode:
                self._stt_mode = mode
                self.stt.set_mode(mode)

    def _rewrite_history(self, turn: _Turn, heard_ms: int | None) -> None:
        """Make the turn's assistant messages say only what reached the caller (``heard_by_round``).
        A round left with no text loses its message, or keeps it with ``content=None`` when it
        carries tool calls (the tool messages after it must stay answerable)."""
        heard = heard_by_round(turn.segments, heard_ms)
        for round_no in sorted({seg.round for seg in turn.segments} | set(turn.messages)):
            text = " ".join(heard.get(round_no, [])).strip()
            message = turn.messages.get(round_no)
            if message is None:
                if text:  # cut mid-round: the round's message was not written yet
                    message = {"role": "assistant", "content": text}
                    turn.messages[round_no] = message
                    self._messages.append(message)
                continue
            if text:
                message["content"] = text
            elif message.get("tool_calls"):
                message["content"] = None
            else:
                turn.messages.pop(round_no)
                self._messages[:] = [m for m in self._messages if m is not message]

    # ------------------------------------------------------------------------ plumbing

    def _apply_stage(self, stage: StageSpec) -> None:
        self._stage = stage
        system: Message = {"role": "system", "content": stage.system_prompt}
        if self._messages and self._messages[0].get("role") == "system":
            self._messages[0] = system
        else:
            self._messages.insert(0, system)

    def _emit(self, event: EngineEvent) -> None:
        if not self._ended:
            self._queue.put_nowait(event)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    def _fail(self, message: str) -> None:
        """Report a fatal error and end ``events()``; the session then closes the engine. Other
        tasks are cancelled now so nothing keeps talking to a broken part."""
        if self._ended:
            return
        logger.warning("pipeline engine failed: %s", message)
        self._emit(EngineFailure(message))
        self._end()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _cancel(task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` and wait until it has unwound. ``asyncio.wait`` neither raises the
        task's outcome nor swallows a cancellation of the caller, unlike ``await task``."""
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            logger.debug("pipeline: cancelled task ended with an error", exc_info=task.exception())


class _Speaker:
    """Runs TTS for one turn, one piece at a time, in order, measuring each piece's audio."""

    def __init__(self, engine: PipelineEngine, turn: _Turn) -> None:
        self._engine, self._turn = engine, turn
        self._pieces: asyncio.Queue[SpokenSegment | None] = asyncio.Queue()
        self._progress = asyncio.Event()  # a piece started sounding or finished, or TTS ended
        self._task = engine._spawn(self._run(), f"{turn.item_id}-tts")
        self._task.add_done_callback(lambda _task: self._progress.set())

    def say(self, text: str, round_no: int) -> None:
        segment = SpokenSegment(text, round_no)
        self._turn.segments.append(segment)
        self._pieces.put_nowait(segment)

    async def finish(self) -> None:
        self._pieces.put_nowait(None)
        await self._task

    def stop(self) -> None:
        self._task.cancel()

    async def voiced(self) -> None:
        """Until every piece said so far has produced its first audio (or turned out silent),
        or the TTS has ended."""
        while not self._task.done() and any(
            seg.audio_ms == 0 and not seg.complete and speakable(seg.text) for seg in self._turn.segments
        ):
            self._progress.clear()
            await self._progress.wait()

    async def stopped(self) -> None:
        await asyncio.wait([self._task])

    async def _run(self) -> None:
        engine, turn = self._engine, self._turn
        loop = asyncio.get_running_loop()
        try:
            while (segment := await self._pieces.get()) is not None:
                text = speakable(segment.text)
                if not text:
                    continue
                segment.sent_to_tts = True
                async with _closing(engine.tts.synthesize(_single(text))) as audio:
                    async for chunk in audio:
                        if not chunk:
                            continue
                        if not turn.audio_started:
                            turn.audio_started = True
                            if not turn.scripted:
                                engine._emit(EngineMetric("tts_first_audio", loop.time()))
                        segment.audio_ms += len(chunk) // BYTES_PER_MS_MULAW
                        engine._emit(AgentAudio(chunk, turn.item_id))
                        self._progress.set()
                segment.complete = True
                self._progress.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            engine._fail(f"text-to-speech failed: {exc}")
            if turn.task is not None and turn.task is not asyncio.current_task():
                turn.task.cancel()


async def _single(text: str) -> AsyncIterator[str]:
    yield text


@contextlib.asynccontextmanager
async def _closing(iterator: AsyncIterator[Any]) -> AsyncIterator[AsyncIterator[Any]]:
    """Close a part's stream when we stop reading it (barge-in), so the request is aborted now
    rather than when the garbage collector gets to it."""
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
