"""``CallSession``: one live call, bridging the telephony stream and a speech engine.

Under ONE ``asyncio.TaskGroup``:

- telephony pump: caller audio -> engine, mark echoes -> playback tracker, DTMF, stop;
- engine pump: connect, then agent audio -> 20 ms frames + marks, barge-in, transcripts, tool
  calls (queued), hang-up/failure;
- tool loop: each tool call runs in its own task (audio keeps flowing meanwhile);
- DTMF loop, silence watch, max-duration timer, periodic journal flush;
- external control: an operator's hang-up or transfer (``request_end`` / ``request_transfer``).

Any of them ends the call by deciding an end reason and raising ``SessionEnd``; the group then
cancels the rest and ``ending.shut_down`` closes both sides within about a second (the engine at once;
the telephony side after the fallback line when the engine died, and after ``hang_up()`` when
our side ended the call), flushes the journal one last time and renders the recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from calls.bridge.audio import frame_bytes_for
from calls.bridge.config import CallConfig, StageSpec
from calls.bridge.engines.base import Engine, EngineError
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerAudio,
    CallerDtmf,
    CallerSpeechStarted,
    CallerTurnEnded,
    ClearPlayback,
    EngineEvent,
    EngineFailure,
    EngineHangUp,
    EngineMetric,
    EngineUsage,
    MarkPlayed,
    PlayAudio,
    StreamStarted,
    StreamStopped,
    TelephonyCommand,
    ToolCall,
    Transcript,
)
from calls.bridge.playback import PlaybackPlan, PlaybackTracker
from calls.bridge.ports import (
    CallControl,
    CallRecorder,
    ProtocolViolation,
    TelephonyTransport,
    ToolContext,
    ToolExecutor,
    TransportClosed,
)
from calls.bridge.recording import StereoWavRecorder
from calls.bridge.session.clock import StreamClock
from calls.bridge.session.ending import shut_down
from calls.bridge.session.external import EndRequest, ExternalControl, TransferRequest
from calls.bridge.session.journal import CallJournal
from calls.bridge.session.outcome import EndReason, SessionCounters, SessionOutcome
from calls.bridge.session.signals import Pulse, SessionEnd
from calls.bridge.session.steering import SessionSteering
from calls.bridge.tools import ToolDispatcher

logger = logging.getLogger(__name__)

EARLY_AUDIO_FRAMES = 100  # caller audio kept while the engine connects (2 s)


class CallSession:
    """Runs one call. Build it after reading the stream's ``start`` (see ``read_stream_start``).

    ``fallback_audio`` (mu-law 8 kHz) is what the caller hears if the engine fails or cannot be
    reached: the engine is dead, so nothing can be synthesised then. Without it the session just
    closes the socket and Twilio runs the TwiML after ``<Connect>`` (the fallback ``<Say>``).
    ``failover_twiml`` (a fallback line and a ``<Dial>`` to a human) goes first when given: the
    live call is redirected to it and the session ends as ``transferred``.
    ``clock`` returns seconds (default: the event loop's clock); timers sleep on the event loop,
    so a custom clock must advance in real time.
    """

    def __init__(
        self,
        config: CallConfig,
        transport: TelephonyTransport,
        engine: Engine,
        recorder: CallRecorder,
        control: CallControl,
        tools: ToolExecutor,
        started: StreamStarted,
        *,
        clock: Callable[[], float] | None = None,
        fallback_audio: bytes | None = None,
        failover_twiml: str | None = None,
        engine_connect_timeout_s: float = 10.0,
        dtmf_interdigit_timeout_s: float = 3.0,
    ) -> None:
        self.config = config
        self.started = started
        self.transport = transport
        self.engine = engine
        self.control = control
        self._clock = clock or asyncio.get_running_loop().time
        self.fallback_audio = fallback_audio or None
        self.failover_twiml = failover_twiml or None
        self.failed_over_from: EndReason | None = None  # set when failover_twiml was used
        self._connect_timeout = engine_connect_timeout_s
        self.counters = SessionCounters()
        self.stream_clock = StreamClock(self._clock)
        self.journal = CallJournal(recorder, self.counters, self.stream_clock.now_ms)
        self.playback = PlaybackTracker(frame_bytes_for(config.session.frame_ms))
        self.wav = StereoWavRecorder() if config.session.record else None
        first = config.stages.get(config.first_stage) or config.stages.get("main")
        if first is None:
            raise ValueError("CallConfig has neither its first stage nor a 'main' stage")
        self.stage: StageSpec = first
        self.dispatcher = ToolDispatcher(
            tools,
            context=ToolContext(
                call_id=config.call_id,
                tenant_id=config.tenant_id,
                stage=first.name,
                variables=dict(config.variables),
            ),
            stages=config.stages,
            record_event=self.journal.event,
            clock=self._clock,
        )
        self.steering = SessionSteering(self, dtmf_interdigit_timeout_s=dtmf_interdigit_timeout_s)
        self.external = ExternalControl(self)
        self.end_reason: EndReason | None = None
        self.error: str | None = None
        self.caller_gone = False
        self._engine_ready = False
        self._early_audio: deque[bytes] = deque(maxlen=EARLY_AUDIO_FRAMES)
        self._out_lock = asyncio.Lock()  # plan + send of one piece of output stays contiguous
        # Wakes the silence watch: playback drained, a tool ended, the caller did something.
        self.activity = Pulse()
        self.agent_audio = Pulse()  # agent audio arrived or an utterance ended
        self.caller_active_ms = 0
        self.utterances_started = 0
        self.tools_running = 0
        self._turn_ended_at: float | None = None
        self._turn_ended_loop: float = 0.0
        self._metrics: list[EngineMetric] = []
        self._latencies: list[int] = []
        self._usage: dict[str, float] = {}
        self._ran = False

    # ------------------------------------------------------------------------------ run

    async def run(self) -> SessionOutcome:
        if self._ran:
            raise RuntimeError("a CallSession runs once")
        self._ran = True
        self.journal.event("call_started", {"stage": self.stage.name, "engine": self.engine.name}, at_ms=0)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._telephony_pump(), name="telephony-pump")
                group.create_task(self._engine_pump(), name="engine-pump")
                group.create_task(self.steering.tool_loop(group), name="tool-loop")
                group.create_task(self.steering.dtmf_loop(), name="dtmf-loop")
                group.create_task(self.steering.silence_watch(), name="silence-watch")
                group.create_task(self._max_duration(), name="max-duration")
                group.create_task(self.external.loop(), name="external-control")
                flush_interval = self.config.session.flush_interval_s
                group.create_task(self.journal.run_periodic(flush_interval), name="flush")
        except* SessionEnd:
            pass
        except* Exception as group_error:
            for exc in group_error.exceptions:
                logger.error("call %s: session task failed", self.config.call_id, exc_info=exc)
            self.decide("internal_error", "; ".join(repr(exc) for exc in group_error.exceptions)[:500])
        finally:
            # Also on cancellation of run() itself: never leave a socket or an engine behind.
            if self.end_reason is None:
                self.decide("internal_error", "session cancelled")
            await shut_down(self)
        # Rendering is CPU work proportional to the call length: keep it off the event loop.
        wav = await asyncio.to_thread(self.wav.render_wav) if self.wav is not None else None
        return self._outcome(wav)

    def decide(self, reason: EndReason, error: str | None = None, *, override: bool = False) -> bool:
        """Fix the end reason (the first decision wins unless ``override``). ``True`` if this
        call decided it."""
        if self.end_reason is not None and not override:
            return False
        self.end_reason = reason
        self.error = error
        logger.info("call %s ending: %s%s", self.config.call_id, reason, f" ({error})" if error else "")
        return True

    def request_end(self, requested_by: str = "") -> bool:
        """Hang the call up from outside (an operator on the dashboard): it ends at once with
        ``agent_hangup``, so a phone call is really ended through the REST API. Call it on the
        session's event loop; ``False`` if the call is already ending."""
        return self.external.submit(EndRequest(requested_by))

    def request_transfer(self, twiml: str, requested_by: str = "") -> bool:
        """Transfer the call from outside: redirect it to ``twiml`` (a ``<Dial>``) through the
        ``CallControl`` at once, ending the session with ``transferred`` (``agent_hangup`` if the
        redirect fails). Call it on the session's event loop; ``False`` if the call is already
        ending."""
        return self.external.submit(TransferRequest(twiml, requested_by))

    def finish(self, reason: EndReason, error: str | None = None) -> NoReturn:
        self.decide(reason, error)
        raise SessionEnd(reason)

    def end_now(self) -> NoReturn:
        """End with the reason already decided (after a graceful wait)."""
        raise SessionEnd(self.end_reason)

    # ---------------------------------------------------------------------- telephony side

    async def _telephony_pump(self) -> None:
        transport, engine, playback, counters = self.transport, self.engine, self.playback, self.counters
        while True:
            try:
                event = await transport.receive()
            except TransportClosed:
                self.caller_gone = True
                self.finish("caller_hangup")
            except ProtocolViolation as exc:
                self.journal.event("error", {"source": "telephony", "message": str(exc)[:300]})
                self.finish("protocol_error", str(exc)[:300])
            if isinstance(event, CallerAudio):
                counters.frames_in += 1
                counters.bytes_in += len(event.mulaw)
                self.stream_clock.observe_media(event.timestamp_ms)
                if self.wav is not None:
                    self.wav.add_caller(event.mulaw, event.timestamp_ms)
                if not self._engine_ready:
                    self._early_audio.append(event.mulaw)
                    continue
                try:
                    await engine.send_audio(event.mulaw)
                except Exception as exc:
                    logger.warning("call %s: engine refused audio: %r", self.config.call_id, exc)
                    self.finish("engine_error", f"sending audio failed: {exc!r}"[:300])
            elif isinstance(event, MarkPlayed):
                echo = playback.on_mark(event.name, self.stream_clock.now_ms())
                if echo is not None:
                    counters.marks_echoed += 1
                    if echo.drained:
                        self.activity.pulse()
                else:
                    counters.stale_mark_echoes = playback.stale_echoes
            elif isinstance(event, CallerDtmf):
                counters.dtmf_digits += 1
                self.note_caller_activity()
                self.steering.on_dtmf(event.digit)
            elif isinstance(event, StreamStopped):
                self.caller_gone = True
                self.finish("caller_hangup")
            # StreamConnected / StreamStarted cannot recur: the serializer rejects them.

    # ------------------------------------------------------------------------- engine side

    async def _engine_pump(self) -> None:
        await self._connect_engine()
        events = self.engine.events()
        try:
            while True:
                # Only the engine's own iterator is guarded here: an exception while *we*
                # handle an event is a bridge bug (internal_error), not an engine failure.
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    logger.warning("call %s: engine event stream raised %r", self.config.call_id, exc)
                    self.journal.event("error", {"source": "engine", "message": repr(exc)[:300]})
                    self.finish("engine_error", repr(exc)[:300])
                await self._on_engine_event(event)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        self.journal.event("error", {"source": "engine", "message": "engine event stream ended"})
        self.finish("engine_error", "engine event stream ended without hang-up")

    async def _connect_engine(self) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self.engine.connect(self.stage)
        except (EngineError, TimeoutError, OSError) as exc:
            message = f"engine connect failed: {exc!r}"[:300]
            self.journal.event("error", {"source": "engine", "message": message})
            self.finish("engine_error", message)
        except Exception as exc:
            logger.exception("call %s: engine connect raised", self.config.call_id)
            message = f"engine connect failed: {exc!r}"[:300]
            self.journal.event("error", {"source": "engine", "message": message})
            self.finish("engine_error", message)
        try:
            while self._early_audio:  # what the caller said while we connected
                await self.engine.send_audio(self._early_audio.popleft())
        except Exception as exc:
            self.finish("engine_error", f"sending audio failed: {exc!r}"[:300])
        self._engine_ready = True

    async def _on_engine_event(self, event: EngineEvent) -> None:
        if isinstance(event, AgentAudio):  # by far the most frequent: first
            await self._on_agent_audio(event)
        elif isinstance(event, Transcript):
            self._on_transcript(event)
        elif isinstance(event, AgentAudioDone):
            async with self._out_lock:
                await self.send_plan(self.playback.done(event.item_id, self.stream_clock.now_ms()))
            self.agent_audio.pulse()
        elif isinstance(event, CallerSpeechStarted):
            await self.barge_in()
        elif isinstance(event, CallerTurnEnded):
            self.note_caller_activity()
            self.counters.turns += 1
            self._turn_ended_at = self._clock()
            self._turn_ended_loop = asyncio.get_running_loop().time()
        elif isinstance(event, ToolCall):
            self.steering.submit_tool_call(event)
        elif isinstance(event, EngineMetric):
            if len(self._metrics) < 32:
                self._metrics.append(event)
        elif isinstance(event, EngineUsage):
            for name, value in event.figures.items():
                self._usage[name] = self._usage.get(name, 0.0) + float(value)
        elif isinstance(event, EngineHangUp):
            if self.decide("agent_hangup"):
                self.journal.event("engine_hangup", {"reason": event.reason[:200]})
                # The engine is done talking: close its utterance now (sends the held tail), so
                # we only wait for the caller to hear what was sent.
                async with self._out_lock:
                    await self.send_plan(self.playback.done(None, self.stream_clock.now_ms()))
                await self.let_agent_finish(expect_new_audio=False)
            self.end_now()
        elif isinstance(event, EngineFailure):
            self.journal.event("error", {"source": "engine", "message": event.message[:300]})
            self.finish("engine_error", event.message[:300])

    async def _on_agent_audio(self, event: AgentAudio) -> None:
        now = self.stream_clock.now_ms()
        async with self._out_lock:
            plan = self.playback.audio(event.mulaw, event.item_id, now)
            if plan.dropped:
                self.counters.late_audio_dropped += 1
                return
            if plan.started_utterance:
                self.utterances_started += 1
                self.journal.speech_started("agent", plan.play_at_ms)
            await self.send_plan(plan)
        self.agent_audio.pulse()
        # No ``activity`` pulse: audio arriving can only postpone silence, and the silence watch
        # re-reads playback when its deadline comes (see SessionSteering.silence_watch).

    def _on_transcript(self, event: Transcript) -> None:
        now = self.stream_clock.now_ms()
        if event.speaker == "caller":
            self.note_caller_activity()
            end_ms = now
        else:
            end_ms = now + self.playback.unplayed_ms(now)  # agent text arrives before its audio plays
        self.journal.transcript(event, end_ms)

    async def barge_in(self) -> None:
        """The caller started talking: clear Twilio's queue first, then do the bookkeeping."""
        self.note_caller_activity()
        now = self.stream_clock.now_ms()
        self.journal.speech_started("caller", now)
        async with self._out_lock:
            interruption = self.playback.interrupt(now)
            if interruption is None:
                return
            # Playback is empty now: the silence watch may have gone back to waiting for it
            # while this waited for the lock.
            self.activity.pulse()
            await self._send(ClearPlayback())
        self.counters.clears += 1
        self.counters.interruptions += 1
        if self.wav is not None:
            self.wav.cut_agent(now)
        self.journal.event(
            "interruption",
            {
                "item_id": interruption.item_id,
                "heard_ms": interruption.heard_ms,
                "sent_ms": interruption.sent_ms,
            },
            at_ms=now,
        )
        try:
            await self.engine.playback_interrupted(interruption.item_id, interruption.heard_ms)
        except Exception as exc:
            logger.warning("call %s: engine playback_interrupted failed: %r", self.config.call_id, exc)

    # ------------------------------------------------------------------------------ output

    async def _send(self, command: TelephonyCommand) -> None:
        try:
            await self.transport.send(command)
        except TransportClosed:
            self.caller_gone = True
            self.finish("caller_hangup")

    async def send_plan(self, plan: PlaybackPlan) -> None:
        """Send planned frames and marks (caller holds ``_out_lock``)."""
        if not plan.commands:
            return
        counters, wav = self.counters, self.wav
        offset = 0
        first = True
        for command in plan.commands:
            await self._send(command)
            if type(command) is PlayAudio:
                size = len(command.mulaw)
                counters.frames_out += 1
                counters.bytes_out += size
                if wav is not None:
                    wav.add_agent(command.mulaw, plan.play_at_ms + offset / 8)
                offset += size
                if first:
                    first = False
                    if self._turn_ended_at is not None:
                        self._report_turn_latency()
            else:
                counters.marks_sent += 1

    async def flush_output(self) -> None:
        async with self._out_lock:
            await self.send_plan(self.playback.flush(self.stream_clock.now_ms()))

    def _report_turn_latency(self) -> None:
        assert self._turn_ended_at is not None
        latency = int((self._clock() - self._turn_ended_at) * 1000)
        self._latencies.append(latency)
        payload: dict[str, Any] = {"ms": latency}
        if self._metrics:
            payload["breakdown"] = {m.name: int((m.at - self._turn_ended_loop) * 1000) for m in self._metrics}
        self.journal.event("turn_latency", payload)
        self._turn_ended_at = None
        self._metrics = []

    # --------------------------------------------------------------------------- helpers

    def note_caller_activity(self) -> None:
        self.caller_active_ms = self.stream_clock.now_ms()
        self.activity.pulse()

    def set_stage(self, stage: StageSpec, via: str) -> None:
        previous = self.stage.name
        self.stage = stage
        self.journal.event("stage_changed", {"from": previous, "to": stage.name, "via": via})

    async def let_agent_finish(
        self,
        *,
        expect_new_audio: bool,
        since_utterances: int | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Wait (bounded) until the agent has said what it is saying and the caller heard it.

        ``expect_new_audio``: a reply is coming (a handover line after a tool result, a goodbye
        we asked for), so first wait for it to start. Then: flush the held tail, wait until the
        last mark sent is echoed, and until the engine has finished the utterance (done, or no
        audio for half a second). ``since_utterances`` is ``utterances_started`` taken before the
        request that triggers the reply, so a reply that already started counts.
        """
        now = self.stream_clock.now_ms()
        if timeout_s is None:
            timeout_s = self.playback.unplayed_ms(now) / 1000 + (12.0 if expect_new_audio else 4.0)
        started_before = self.utterances_started if since_utterances is None else since_utterances
        try:
            async with asyncio.timeout(timeout_s):
                while expect_new_audio and self.utterances_started == started_before:
                    await self.agent_audio.wait()
                while True:
                    await self.flush_output()
                    await self.playback.drained.wait()
                    current = self.playback.current
                    if current is None or current.done:
                        return
                    if not await self.agent_audio.wait(0.5):
                        await self.flush_output()
                        await self.playback.drained.wait()
                        return
        except TimeoutError:
            logger.info("call %s: gave up waiting for the agent to finish speaking", self.config.call_id)

    async def tell_engine(self, text: str) -> None:
        try:
            await self.engine.send_caller_text(text)
        except Exception as exc:
            logger.warning("call %s: engine send_caller_text failed: %r", self.config.call_id, exc)

    async def _max_duration(self) -> None:
        await asyncio.sleep(self.config.session.max_duration_s)
        self.journal.event("max_duration", {"seconds": self.config.session.max_duration_s})
        self.finish("max_duration")

    def _outcome(self, wav: bytes | None) -> SessionOutcome:
        self.counters.stale_mark_echoes = self.playback.stale_echoes
        return SessionOutcome(
            end_reason=self.end_reason or "internal_error",
            duration_ms=self.stream_clock.now_ms(),
            counters=self.counters,
            turn_latencies_ms=tuple(self._latencies),
            usage=dict(self._usage),
            final_stage=self.stage.name,
            error=self.error,
            recording_wav=wav,
            failed_over_from=self.failed_over_from,
        )
