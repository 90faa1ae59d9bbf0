"""One fake Ultravox call: the ``serverWebSocket`` side of the protocol, driven by a ``Script``.

Behaviour (PROTOCOLS.md 2.2-2.5): ``call_started``; the greeting (if any) as agent audio with
streamed transcript deltas; an energy VAD on incoming PCM ends caller turns after the call's
``turnEndpointDelay`` of quiet; each turn sends the user's final transcript, ``thinking``,
optionally a ``client_tool_invocation`` (waiting for the matching result or the tool's timeout),
then ``speaking`` and the reply. Agent audio runs ahead of real time up to ``clientBufferSizeMs``
and ``speaking`` lasts until the caller would have heard it all; caller speech during that time
is a barge-in (``playback_clear_buffer`` at once, truncated agent transcript, ``listening``).
Everything received is recorded for assertions; protocol mistakes land in ``protocol_errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from tests.fakes.ultravox.validation import BodyError, client_tool_timeouts, duration_seconds, validate_stage
from tests.fakes.ultravox.voice import EnergyVad, duration_ms, synthesize

MAX_RECORDED_PCM = 16_000_000  # bytes of caller audio kept for assertions (~8 min at 16 kHz)
RESPONSE_TYPES = frozenset({"tool-response", "hang-up", "new-stage"})
REACTIONS = frozenset({"speaks", "listens", "speaks-once"})


@dataclass
class ToolStep:
    """The agent calls client tool ``name`` (it must be selected in the current stage)."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    invocation_id: str | None = None  # default: "inv-<n>"


@dataclass
class Turn:
    """What happens when the caller's n-th turn ends."""

    user_text: str  # the caller's final transcript
    reply: str = "Okay."
    reply_pcm: bytes | None = None  # exact agent audio (s16le, outputSampleRate) instead of the voice
    tool: ToolStep | None = None  # called before replying; the reply follows the result
    hang_up: bool = False  # after the reply, the agent ends the call (normal close)
    action: Literal["reply", "drop", "stall"] = "reply"  # drop: abnormal close; stall: go silent


@dataclass
class Script:
    turns: list[Turn] = field(default_factory=list)
    default_reply: str = "Sorry, could you say that again?"  # once the turns run out
    greeting_pcm: bytes | None = None  # exact greeting audio instead of the synthetic voice
    speech_rms_threshold: int = 600
    min_speech_ms: float = 60
    end_of_turn_ms: float | None = None  # default: the call's vadSettings.turnEndpointDelay
    playback_speed: float = 1.0  # >1: the caller "hears" agent audio faster (shorter tests)
    ms_per_char: int = 55  # synthetic voice pace
    chunk_ms: int = 60  # agent audio per binary frame
    answer_pings: bool = True
    hang_up_reason: str = "agent hung up"


class FakeUltravoxCall:
    def __init__(self, call_id: str, body: dict[str, Any], script: Script) -> None:
        self.call_id = call_id
        self.body = body
        self.script = script
        medium = body["medium"].get("serverWebSocket", {})
        self.input_rate: int = medium.get("inputSampleRate", 8000)
        self.output_rate: int = medium.get("outputSampleRate", self.input_rate)
        self.buffer_ms: int = medium.get("clientBufferSizeMs", 60)
        self.system_prompt: str = body.get("systemPrompt", "")
        self.tools: list[dict[str, Any]] = list(body.get("selectedTools", []))
        self.stages: list[dict[str, Any]] = []  # applied new-stage bodies, in order
        self.join_query: dict[str, str] = {}
        self.state = "idle"
        self.received_messages: list[dict[str, Any]] = []
        self.received_audio_bytes = 0
        self.received_pcm = bytearray()
        self.sent_messages: list[dict[str, Any]] = []
        self.sent_audio_bytes = 0
        self.invocations: list[dict[str, Any]] = []
        self.tool_results: dict[str, dict[str, Any]] = {}
        self.timed_out_invocations: list[str] = []
        self.protocol_errors: list[str] = []
        self.interruptions = 0
        self.turns_taken = 0
        self.end_reason: str | None = None  # hangup (client closed) | agent_hangup | dropped
        self.joined = asyncio.Event()
        self.ended = asyncio.Event()
        self._ws: web.WebSocketResponse | None = None
        self._request: web.Request | None = None
        self._agent_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tool_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._interrupt: asyncio.Event | None = None  # set while speaking; set() = barge-in
        self._ordinal = 0
        self._invocation_seq = 0
        self._stalled = False
        self._changed = asyncio.Event()
        delay = body.get("vadSettings", {}).get("turnEndpointDelay", "0.384s")
        end_ms = script.end_of_turn_ms or duration_seconds(delay, "turnEndpointDelay") * 1000
        self._vad = EnergyVad(self.input_rate, script.speech_rms_threshold, script.min_speech_ms, end_ms)

    # ------------------------------------------------------------------ assertions and control

    def messages_of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received_messages if m.get("type") == kind]

    async def wait_until(self, predicate: Callable[[FakeUltravoxCall], bool], within_s: float = 5.0) -> None:
        """Wait for something the call records (message, audio, state...); no polling sleeps.
        ``within_s`` only bounds a broken test; it is not a synchronisation delay."""
        async with asyncio.timeout(within_s):
            while not predicate(self):
                await self._changed.wait()

    async def send_raw(self, data: str | bytes) -> None:
        """Send anything, e.g. malformed JSON, to test the client's robustness."""
        assert self._ws is not None, "the call has not been joined"
        await (self._ws.send_bytes(data) if isinstance(data, bytes) else self._ws.send_str(data))

    async def send_json(self, message: dict[str, Any]) -> None:
        await self._send_json(message)

    async def say(self, text: str) -> None:
        """The agent says ``text`` now (after whatever it is doing)."""
        self._start_agent(self._speak_then_listen(text))

    async def invoke_tool(
        self, name: str, parameters: dict[str, Any], invocation_id: str | None = None
    ) -> None:
        self._start_agent(self._invoke_then_listen(name, parameters, invocation_id))

    async def agent_hang_up(self, goodbye: str | None = None) -> None:
        self._start_agent(self._hang_up(goodbye))

    async def drop(self) -> None:
        """Abnormal end: the TCP connection goes away without a close frame."""
        self.end_reason = "dropped"
        if self._request is not None and self._request.transport is not None:
            self._request.transport.abort()
        self._notify()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the call's socket with any code (1000 = Ultravox ended the call normally)."""
        if self._ws is not None and not self._ws.closed:
            if self.end_reason is None:
                self.end_reason = "agent_hangup" if code == 1000 else f"closed_{code}"
            await self._ws.close(code=code, message=reason.encode())
        self._notify()

    def stall(self) -> None:
        """Stop sending anything (audio, messages, pongs) while keeping the socket open."""
        self._stalled = True
        self._notify()

    # --------------------------------------------------------------------------- connection

    async def run(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self._ws, self._request = ws, request
        self.join_query = dict(request.query)
        self.joined.set()
        self._notify()
        try:
            await self._send_json({"type": "call_started", "callId": self.call_id})
            greeting = self.body.get("firstSpeakerSettings", {}).get("agent", {}).get("text")
            if greeting:
                self._start_agent(self._speak_then_listen(greeting, self.script.greeting_pcm))
            else:
                await self._set_state("listening")
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(message.data)
                elif message.type == WSMsgType.BINARY:
                    await self._on_audio(message.data)
        finally:
            if self.end_reason is None:
                self.end_reason = "hangup"
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self.ended.set()
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _start_agent(self, coro: Coroutine[Any, Any, None]) -> None:
        """Agent activities run one after the other, in their own task, so the reader keeps
        receiving audio (barge-in) and tool results meanwhile."""
        previous = self._agent_task

        async def run() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._agent_task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_json(self, message: dict[str, Any]) -> None:
        if self._stalled or self._ws is None or self._ws.closed:
            return
        self.sent_messages.append(message)
        with contextlib.suppress(ConnectionError):
            await self._ws.send_str(json.dumps(message))
        self._notify()

    async def _send_audio(self, pcm: bytes) -> None:
        if self._stalled or self._ws is None or self._ws.closed:
            return
        with contextlib.suppress(ConnectionError):
            await self._ws.send_bytes(pcm)
        self.sent_audio_bytes += len(pcm)

    async def _set_state(self, state: str) -> None:
        self.state = state
        await self._send_json({"type": "state", "state": state})

    def _next_ordinal(self) -> int:
        self._ordinal += 1
        return self._ordinal

    # ------------------------------------------------------------------------------ receiving

    async def _on_audio(self, pcm: bytes) -> None:
        self.received_audio_bytes += len(pcm)
        if len(self.received_pcm) < MAX_RECORDED_PCM:
            self.received_pcm.extend(pcm)
        if len(pcm) % 2:
            self.protocol_errors.append(f"binary frame of odd length {len(pcm)} (not s16le)")
        event = self._vad.feed(pcm)
        if event == "onset" and self._interrupt is not None and not self._interrupt.is_set():
            await self._barge_in()
        elif event == "end":
            self._caller_turn(None, "voice")
        self._notify()

    async def _barge_in(self) -> None:
        assert self._interrupt is not None
        self.interruptions += 1
        await self._send_json({"type": "playback_clear_buffer"})
        self._interrupt.set()

    async def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            self.protocol_errors.append(f"malformed JSON: {text[:80]!r}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.protocol_errors.append(f"data message without a type: {text[:80]!r}")
            return
        self.received_messages.append(message)
        self._notify()
        handler = {
            "ping": self._on_ping,
            "client_tool_result": self._on_tool_result,
            "user_text_message": self._on_user_text,
            "forced_agent_message": self._on_forced_message,
            "hang_up": self._on_hang_up_request,
            "set_output_medium": self._on_set_output_medium,
        }.get(message["type"])
        if handler is None:
            self.protocol_errors.append(f"unknown client message type {message['type']!r}")
            return
        await handler(message)

    async def _on_ping(self, message: dict[str, Any]) -> None:
        if self.script.answer_pings:
            await self._send_json({"type": "pong", "timestamp": message.get("timestamp")})

    async def _on_tool_result(self, message: dict[str, Any]) -> None:
        invocation_id = message.get("invocationId")
        waiter = self._tool_waiters.get(invocation_id) if isinstance(invocation_id, str) else None
        if waiter is None or waiter.done() or not isinstance(invocation_id, str):
            self.protocol_errors.append(f"client_tool_result for unknown invocation {invocation_id!r}")
            return
        response_type = message.get("responseType", "tool-response")
        has_result = isinstance(message.get("result"), str)
        if response_type not in RESPONSE_TYPES:
            self.protocol_errors.append(f"unknown responseType {response_type!r}")
        if message.get("agentReaction", "speaks") not in REACTIONS:
            self.protocol_errors.append(f"unknown agentReaction {message.get('agentReaction')!r}")
        if has_result == ("errorType" in message):
            self.protocol_errors.append("client_tool_result needs exactly one of result or errorType")
        if response_type == "new-stage" and has_result:
            try:
                stage = validate_stage(json.loads(message["result"]))
            except (ValueError, BodyError) as exc:
                self.protocol_errors.append(f"invalid new-stage result: {exc}")
            else:
                self.stages.append(stage)
                self.system_prompt = stage.get("systemPrompt", self.system_prompt)
                self.tools = stage.get("selectedTools", self.tools)
        self.tool_results[invocation_id] = message
        waiter.set_result(message)

    async def _on_user_text(self, message: dict[str, Any]) -> None:
        text, urgency = message.get("text"), message.get("urgency", "soon")
        if not isinstance(text, str) or urgency not in ("immediate", "soon", "later"):
            self.protocol_errors.append(f"invalid user_text_message {message!r}")
            return
        if urgency == "later":
            return  # context only: no generation
        if urgency == "immediate" and self._interrupt is not None and not self._interrupt.is_set():
            await self._barge_in()
        self._caller_turn(text, "text")

    async def _on_forced_message(self, message: dict[str, Any]) -> None:
        content, calls = message.get("content", ""), message.get("toolCalls", [])
        if message.get("urgency", "soon") not in ("immediate", "soon") or not isinstance(calls, list):
            self.protocol_errors.append(f"invalid forced_agent_message {message!r}")
            return
        if content:
            await self.say(content)
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                self.protocol_errors.append(f"invalid toolCalls entry {call!r}")
                continue
            await self.invoke_tool(call["name"], call.get("arguments", {}), call.get("id"))

    async def _on_hang_up_request(self, message: dict[str, Any]) -> None:
        await self.agent_hang_up(message.get("message") or None)

    async def _on_set_output_medium(self, message: dict[str, Any]) -> None:
        if message.get("medium") not in ("voice", "text"):
            self.protocol_errors.append(f"invalid set_output_medium {message!r}")

    # ------------------------------------------------------------------------------- the agent

    def _caller_turn(self, text: str | None, medium: str) -> None:
        turns = self.script.turns
        turn = turns[self.turns_taken] if self.turns_taken < len(turns) else None
        self.turns_taken += 1
        if turn is None:
            turn = Turn(user_text=text or "(unscripted caller turn)", reply=self.script.default_reply)
        self._start_agent(self._respond(turn, text if text is not None else turn.user_text, medium))

    async def _respond(self, turn: Turn, user_text: str, medium: str) -> None:
        ordinal = self._next_ordinal()
        await self._send_json(
            {"type": "transcript", "role": "user", "medium": medium, "text": user_text, "delta": None,
             "final": True, "ordinal": ordinal}
        )  # fmt: skip
        await self._set_state("thinking")
        if turn.action == "stall":
            self.stall()
            return
        if turn.action == "drop":
            await self.drop()
            return
        reaction = "speaks"
        if turn.tool is not None:
            result = await self._invoke(turn.tool.name, turn.tool.parameters, turn.tool.invocation_id)
            if result is not None:
                reaction = result.get("agentReaction", "speaks")
                if result.get("responseType") == "hang-up":
                    await self._close_normally()
                    return
        if reaction == "listens":
            await self._set_state("listening")
            return
        completed = await self._speak(turn.reply, turn.reply_pcm)
        if completed and turn.hang_up:
            await self._close_normally()
        else:
            await self._set_state("listening")

    async def _invoke(
        self, name: str, parameters: dict[str, Any], invocation_id: str | None
    ) -> dict[str, Any] | None:
        timeouts = client_tool_timeouts(self.tools)
        if name not in timeouts:
            self.protocol_errors.append(f"the agent invoked {name!r}, which is not a selected client tool")
        self._invocation_seq += 1
        invocation_id = invocation_id or f"inv-{self._invocation_seq}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._tool_waiters[invocation_id] = waiter
        message = {"type": "client_tool_invocation", "toolName": name, "invocationId": invocation_id,
                   "parameters": parameters}  # fmt: skip
        self.invocations.append(message)
        await self._send_json(message)
        try:
            return await asyncio.wait_for(waiter, timeouts.get(name, 2.5))
        except TimeoutError:
            self.timed_out_invocations.append(invocation_id)
            self._notify()
            return None
        finally:
            self._tool_waiters.pop(invocation_id, None)

    async def _invoke_then_listen(
        self, name: str, parameters: dict[str, Any], invocation_id: str | None
    ) -> None:
        await self._set_state("thinking")
        result = await self._invoke(name, parameters, invocation_id)
        if result is not None and result.get("agentReaction", "speaks") != "listens":
            await self._speak(self.script.default_reply)
        await self._set_state("listening")

    async def _speak_then_listen(self, text: str, pcm: bytes | None = None) -> None:
        await self._speak(text, pcm)
        await self._set_state("listening")

    async def _hang_up(self, goodbye: str | None) -> None:
        if goodbye and not await self._speak(goodbye):
            return
        await self._close_normally()

    async def _close_normally(self) -> None:
        if not self._stalled:
            await self.close(1000, self.script.hang_up_reason)

    async def _speak(self, text: str, pcm: bytes | None = None) -> bool:
        """Stream one utterance; True when the caller heard all of it, False on barge-in."""
        pcm = pcm if pcm is not None else synthesize(text, self.output_rate, self.script.ms_per_char)
        ordinal = self._next_ordinal()
        words = text.split()
        loop = asyncio.get_running_loop()
        speed = self.script.playback_speed
        total_ms = duration_ms(pcm, self.output_rate)
        chunk = max(2, self.output_rate * 2 * self.script.chunk_ms // 1000 // 2 * 2)
        interrupt = self._interrupt = asyncio.Event()
        await self._set_state("speaking")
        start, sent_ms, words_sent = loop.time(), 0.0, 0

        def heard_ms() -> float:
            return (loop.time() - start) * 1000 * speed

        async def interrupted_within(seconds: float) -> bool:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupt.wait(), max(0.0, seconds))
            return interrupt.is_set()

        try:
            for offset in range(0, len(pcm), chunk):
                ahead = sent_ms - heard_ms()
                if ahead > self.buffer_ms and await interrupted_within(
                    (ahead - self.buffer_ms) / 1000 / speed
                ):
                    break
                if interrupt.is_set():
                    break
                piece = pcm[offset : offset + chunk]
                await self._send_audio(piece)
                sent_ms += duration_ms(piece, self.output_rate)
                due = min(len(words) - 1, int(len(words) * sent_ms / total_ms))
                while words_sent < due:
                    await self._send_delta(words, words_sent, ordinal, final=False)
                    words_sent += 1
            else:
                if not await interrupted_within((total_ms - heard_ms()) / 1000 / speed):
                    while words_sent < len(words):
                        last = words_sent == len(words) - 1
                        await self._send_delta(words, words_sent, ordinal, final=last)
                        words_sent += 1
                    if not words:
                        await self._send_transcript_text("", ordinal)
                    return True
            # Barge-in: the final transcript holds what the caller heard before interrupting.
            heard_words = int(len(words) * min(1.0, heard_ms() / total_ms)) if total_ms else 0
            await self._send_transcript_text(" ".join(words[:heard_words]), ordinal)
            return False
        finally:
            self._interrupt = None

    async def _send_delta(self, words: list[str], index: int, ordinal: int, *, final: bool) -> None:
        delta = words[index] if index == 0 else " " + words[index]
        await self._send_json(
            {"type": "transcript", "role": "agent", "medium": "voice", "text": None, "delta": delta,
             "final": final, "ordinal": ordinal}
        )  # fmt: skip

    async def _send_transcript_text(self, text: str, ordinal: int) -> None:
        await self._send_json(
            {"type": "transcript", "role": "agent", "medium": "voice", "text": text, "delta": None,
             "final": True, "ordinal": ordinal}
        )  # fmt: skip
