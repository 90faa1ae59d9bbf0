"""The session's slower loops: tool calls, keypad input and the caller-silence watch.

They run as tasks of the session's TaskGroup, never on the audio pumps: a tool that takes two
seconds or a keypad entry waiting for '#' does not delay a single audio frame.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from calls.bridge.engines.base import EngineError
from calls.bridge.frames import ToolCall
from calls.bridge.tools import EndCall, SwitchStage, ToolAnswer, TransferCall

if TYPE_CHECKING:
    from calls.bridge.session.core import CallSession

logger = logging.getLogger(__name__)

VERIFICATION_STAGE = "verification"
VERIFY_TOOL = "verify_caller"
MAX_KEYPAD_DIGITS = 32
MAX_QUEUED_DIGITS = 64  # a flood of keypad events is dropped, not queued without end
MAX_CONCURRENT_TOOLS = 4
REDIRECT_TIMEOUT_S = 5.0


class SessionSteering:
    """Tool calls and their directives, keypad input and the silence watch of one session.

    It works on the session's public state (stage, playback, journal, counters) and ends the
    call through ``session.decide`` / ``session.end_now`` like every other session task.
    """

    def __init__(self, session: CallSession, *, dtmf_interdigit_timeout_s: float) -> None:
        self._session = session
        self._tool_calls: asyncio.Queue[ToolCall] = asyncio.Queue()
        self._digits: asyncio.Queue[str] = asyncio.Queue(maxsize=MAX_QUEUED_DIGITS)
        self._interdigit_s = dtmf_interdigit_timeout_s
        self._tool_slots = asyncio.Semaphore(MAX_CONCURRENT_TOOLS)
        self._keypad_ids = itertools.count(1)

    # ----------------------------------------------------------------------------- tools

    def submit_tool_call(self, call: ToolCall) -> None:
        """Called by the engine pump: never blocks it."""
        self._tool_calls.put_nowait(call)

    async def tool_loop(self, group: asyncio.TaskGroup) -> None:
        while True:
            call = await self._tool_calls.get()
            group.create_task(self._run_tool(call), name=f"tool-{call.name[:40]}")

    async def _run_tool(self, call: ToolCall) -> None:
        session = self._session
        session.tools_running += 1
        try:
            async with self._tool_slots:
                # verify_caller's arguments are the caller's secrets (PIN, date of birth):
                # they must never reach the stored event, whoever sent them.
                answer = await session.dispatcher.dispatch(
                    call, session.stage, redact_arguments=call.name == VERIFY_TOOL
                )
        finally:
            session.tools_running -= 1
            session.activity.pulse()
        session.counters.tool_calls += 1
        if answer.result.is_error:
            session.counters.tool_errors += 1
        await self._answer(answer)

    async def _answer(self, answer: ToolAnswer) -> None:
        session = self._session
        result = answer.result
        directive = answer.directive
        if isinstance(directive, SwitchStage):
            stage = session.config.stages.get(directive.stage)
            if stage is None:
                message = f"tool {answer.name[:40]} asked for unknown stage {directive.stage[:40]!r}"
                logger.error("call %s: %s", session.config.call_id, message)
                session.journal.event("error", {"source": "tool", "message": message})
            else:
                result = replace(result, new_stage=stage)
                session.set_stage(stage, via=f"tool:{answer.name}")
        utterances_before = session.utterances_started
        try:
            await session.engine.send_tool_result(answer.call_id, result)
        except Exception as exc:  # a dead engine reports itself through events(); just note it
            logger.warning("call %s: engine send_tool_result failed: %r", session.config.call_id, exc)
        if isinstance(directive, EndCall):
            await self.end_call(directive.reason, expect_reply=result.speak, since=utterances_before)
        elif isinstance(directive, TransferCall):
            await self._transfer(directive.twiml, utterances_before=utterances_before)

    async def end_call(self, reason: str, *, expect_reply: bool, since: int | None = None) -> None:
        session = self._session
        if session.decide("agent_hangup"):
            session.journal.event("end_call", {"reason": reason[:200]})
            await session.let_agent_finish(expect_new_audio=expect_reply, since_utterances=since)
        session.end_now()

    async def _transfer(self, twiml: str, *, utterances_before: int) -> None:
        session = self._session
        # Let the agent say its handover line first; the redirect ends the media stream.
        await session.let_agent_finish(expect_new_audio=True, since_utterances=utterances_before)
        # Decide before redirecting: Twilio's 'stop' for the redirect must not read as a hang-up.
        if not session.decide("transferred"):
            session.end_now()  # something else ended the call meanwhile
        try:
            async with asyncio.timeout(REDIRECT_TIMEOUT_S):
                await session.control.redirect(twiml)
        except Exception as exc:
            logger.warning("call %s: transfer failed: %r", session.config.call_id, exc)
            message = f"transfer failed: {exc!r}"[:300]
            session.journal.event("error", {"source": "control", "message": message})
            session.decide("agent_hangup", "transfer failed", override=True)
            session.end_now()
        session.journal.event("transferred", {})
        session.end_now()

    # ------------------------------------------------------------------------------ DTMF

    def collecting_digits(self) -> bool:
        """Keypad digits go straight to ``verify_caller`` (never to the model) in verification."""
        stage = self._session.stage
        return stage.name == VERIFICATION_STAGE and any(tool.name == VERIFY_TOOL for tool in stage.tools)

    def on_dtmf(self, digit: str) -> None:
        """Called by the telephony pump for each digit."""
        if self.collecting_digits():
            self._session.journal.event("dtmf", {"redacted": True})  # a PIN must not land in the log
        else:
            self._session.journal.event("dtmf", {"digit": digit})
        if self._digits.full():
            logger.warning(
                "call %s: keypad digits arrive faster than handled; dropped", self._session.config.call_id
            )
            return
        self._digits.put_nowait(digit)

    async def dtmf_loop(self) -> None:
        while True:
            digit = await self._digits.get()
            if not self.collecting_digits():
                await self._session.tell_engine(f"The caller pressed {digit}.")
                continue
            entered = "" if digit == "#" else digit
            while digit != "#":
                try:
                    async with asyncio.timeout(self._interdigit_s):
                        digit = await self._digits.get()
                except TimeoutError:
                    break
                if digit != "#" and len(entered) < MAX_KEYPAD_DIGITS:
                    entered += digit
            if entered:
                await self._verify_keypad_entry(entered)

    async def _verify_keypad_entry(self, digits: str) -> None:
        session = self._session
        call_id = f"keypad-{next(self._keypad_ids)}"
        call = ToolCall(call_id=call_id, name=VERIFY_TOOL, arguments={"digits": digits})
        session.tools_running += 1
        try:
            answer = await session.dispatcher.dispatch(call, session.stage, redact_arguments=True)
        finally:
            session.tools_running -= 1
            session.activity.pulse()
        session.counters.tool_calls += 1
        output = answer.result.output
        if len(digits) >= 2:
            output = output.replace(digits, "*" * len(digits))  # never echo the code to the model
        directive = answer.directive
        if isinstance(directive, SwitchStage):
            stage = session.config.stages.get(directive.stage)
            if stage is not None:
                try:
                    await session.engine.switch_stage(stage)
                except EngineError as exc:
                    logger.warning(
                        "call %s: no stage switch after keypad entry: %s", session.config.call_id, exc
                    )
                    session.journal.event("error", {"source": "engine", "message": str(exc)[:300]})
                else:
                    session.set_stage(stage, via="keypad")
        if answer.result.is_error:
            session.counters.tool_errors += 1
            text = f"The caller entered a code on the keypad, but it could not be checked: {output}"
        else:
            text = f"The caller entered a code on the keypad. Verification result: {output}"
        await session.tell_engine(text)
        if isinstance(directive, EndCall):
            await self.end_call(directive.reason, expect_reply=True)
        elif isinstance(directive, TransferCall):
            await self._transfer(directive.twiml, utterances_before=session.utterances_started)

    # --------------------------------------------------------------------------- silence

    async def silence_watch(self) -> None:
        """No caller activity for ``silence_timeout_s`` (while the agent is quiet and no tool
        runs): ask the engine to say the reminder. Still nothing ``silence_hangup_after_s`` later:
        a short goodbye, then hang up with ``silence_timeout``.

        It wakes only when its decision can change, not on every frame: while the agent talks or
        a tool runs it waits for ``session.activity`` (pulsed when playback drains, a tool ends,
        or the caller does something). While counting down it sleeps to its deadline: the
        deadline only moves later meanwhile (caller activity, the agent's audio ending), and the
        state is read afresh on waking. The one exception is waiting after a reminder: the
        caller's answer restarts the count with ``silence_timeout_s``, which may be shorter, so
        that wait also ends on ``session.activity``."""
        session = self._session
        settings = session.config.session
        if settings.silence_timeout_s <= 0:
            return
        reminded_at: int | None = None
        while True:
            now = session.stream_clock.now_ms()
            if reminded_at is not None and session.caller_active_ms >= reminded_at:
                reminded_at = None  # the caller answered the reminder
            if session.playback.has_unplayed or session.tools_running:
                await session.activity.wait()  # the agent is talking or working: not silence
                continue
            quiet_since = max(session.caller_active_ms, session.playback.idle_since_ms, reminded_at or 0)
            reminding = reminded_at is not None
            limit_s = settings.silence_hangup_after_s if reminding else settings.silence_timeout_s
            remaining_s = (quiet_since - now) / 1000 + limit_s
            if remaining_s > 0:
                if reminding:
                    await session.activity.wait(remaining_s)
                else:
                    await asyncio.sleep(remaining_s)
                continue
            if reminded_at is None:
                reminded_at = now
                session.journal.event("silence_reminder", {"after_s": settings.silence_timeout_s})
                await session.tell_engine(
                    f"(The caller has said nothing for {settings.silence_timeout_s:g} seconds. "
                    f'Say exactly: "{settings.silence_reminder}")'
                )
                continue
            await self._silence_goodbye()

    async def _silence_goodbye(self) -> None:
        session = self._session
        settings = session.config.session
        if session.decide("silence_timeout"):
            session.journal.event("silence_hangup", {"after_s": settings.silence_hangup_after_s})
            before = session.utterances_started
            await session.tell_engine(
                "(The caller is still silent. Say a short, polite goodbye now; the call will then end.)"
            )
            grace_s = min(8.0, max(1.0, settings.silence_hangup_after_s))
            await session.let_agent_finish(expect_new_audio=True, since_utterances=before, timeout_s=grace_s)
        session.end_now()
