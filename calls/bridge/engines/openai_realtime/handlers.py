"""Server events -> engine events, as a mixin of ``OpenAIRealtimeEngine``.

Kept apart from the engine's lifecycle and client-event code so each module stays readable. The
state it uses is created in ``OpenAIRealtimeEngine.__init__``; it is declared here for the type
checker. GA event names are primary; beta names are accepted where they differ, at no cost, so
a self-hoster pointing ``base_url`` at a beta-speaking gateway still gets audio.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from calls.bridge.engines.base import EngineError
from calls.bridge.engines.openai_realtime.conversation import AgentItem, ConversationTracker
from calls.bridge.engines.openai_realtime.options import RealtimeOptions
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineMetric,
    EngineUsage,
    ToolCall,
    Transcript,
)

logger = logging.getLogger("calls.bridge.engines.openai_realtime.engine")

Handler = Callable[[dict[str, Any]], Awaitable[None]]

# Harmless races of a live call: cancelling a response that just finished, asking for a response
# while the server already started one on its own (that one sees the same conversation).
BENIGN_ERROR_CODES = frozenset(
    {
        "response_cancel_not_active",
        "conversation_already_has_active_response",
        "input_audio_buffer_commit_empty",
    }
)
# Errors after which the session cannot go on: the caller gets the fallback line instead of silence.
FATAL_ERROR_CODES = frozenset(
    {"session_expired", "invalid_api_key", "insufficient_quota", "model_not_found", "account_deactivated"}
)
FATAL_ERROR_TYPES = frozenset({"authentication_error", "permission_error"})


class ServerEventHandlers:
    options: RealtimeOptions
    _conversation: ConversationTracker
    _caller_partial: dict[str, list[str]]
    _active_response: str | None
    _cancel_sent: set[str]
    _creates_in_flight: collections.OrderedDict[str, dict[str, Any] | None]
    _queued_response: dict[str, Any] | None
    _has_queued_response: bool
    _unacked_items: set[str]
    _active_covers_ours: bool
    _metadata_echoed: bool
    _item_events: dict[str, str]
    _first_audio_seen: set[str]
    _first_text_seen: set[str]
    _failed_responses: int
    _pending_tool_calls: set[str]
    _session_acks: collections.deque[tuple[str, asyncio.Future[None]]]

    async def _emit(self, event: EngineEvent) -> None:
        raise NotImplementedError

    async def _fail(self, message: str) -> None:
        raise NotImplementedError

    async def _send_queued_response(self) -> None:
        raise NotImplementedError

    def _build_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "session.updated": self._on_session_updated,
            "error": self._on_error,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "input_audio_buffer.committed": self._on_committed,
            "conversation.item.added": self._on_item_added,
            "conversation.item.created": self._on_item_added,  # beta name
            "conversation.item.input_audio_transcription.delta": self._on_caller_transcript_delta,
            "conversation.item.input_audio_transcription.completed": self._on_caller_transcript,
            "conversation.item.input_audio_transcription.failed": self._on_caller_transcript_failed,
            "response.created": self._on_response_created,
            "response.output_item.added": self._on_output_item_added,
            "response.output_item.done": self._on_output_item_done,
            "response.output_audio.delta": self._on_audio_delta,
            "response.audio.delta": self._on_audio_delta,  # beta
            "response.output_audio.done": self._on_audio_done,
            "response.audio.done": self._on_audio_done,  # beta
            "response.output_audio_transcript.delta": self._on_transcript_delta,
            "response.audio_transcript.delta": self._on_transcript_delta,  # beta
            "response.output_audio_transcript.done": self._on_transcript_done,
            "response.audio_transcript.done": self._on_transcript_done,  # beta
            "response.function_call_arguments.done": self._on_function_arguments_done,
            "response.done": self._on_response_done,
        }
        return handlers

    # ------------------------------------------------------------------------ session, errors

    async def _on_session_updated(self, message: dict[str, Any]) -> None:
        if self._session_acks:
            _, ack = self._session_acks.popleft()
            if not ack.done():
                ack.set_result(None)

    async def _on_error(self, message: dict[str, Any]) -> None:
        error = message.get("error") or {}
        code, kind, text, event_id = (
            error.get("code"),
            error.get("type"),
            error.get("message"),
            error.get("event_id"),
        )
        if isinstance(event_id, str) and event_id in self._item_events:
            self._unacked_items.discard(self._item_events.pop(event_id))  # refused: never coming
        for index, (ack_id, ack) in enumerate(self._session_acks):
            if ack_id == event_id:
                # The stage change was refused: whoever awaits it (switch_stage) gets the error.
                del self._session_acks[index]
                if not ack.done():
                    ack.set_exception(EngineError(f"openai_realtime: session.update refused: {code}: {text}"))
                    ack.exception()  # mark retrieved: a tool-result stage change awaits nothing
                logger.error("openai_realtime: session.update %s refused: %s: %s", event_id, code, text)
                return
        if code == "conversation_already_has_active_response":
            # Our response.create lost a race with a server (VAD) response. The error may not
            # name our event, in which case it is our oldest request.
            params: dict[str, Any] | None = None
            if isinstance(event_id, str) and event_id in self._creates_in_flight:
                params = self._creates_in_flight.pop(event_id)
            elif self._creates_in_flight:
                params = self._creates_in_flight.popitem(last=False)[1]
            if not self._active_covers_ours and not self._has_queued_response:
                # That response started before our items were in: ask again once it is over.
                self._queued_response, self._has_queued_response = params, True
            await self._send_queued_response()
        if code in BENIGN_ERROR_CODES:
            logger.info("openai_realtime: benign error %s (event %s)", code, event_id)
        elif code in FATAL_ERROR_CODES or kind in FATAL_ERROR_TYPES:
            await self._fail(f"openai_realtime: fatal error {code or kind}: {text}")
        else:
            logger.warning("openai_realtime: error %s/%s (event %s): %s", kind, code, event_id, text)

    # ------------------------------------------------------------------------ caller side

    async def _on_speech_started(self, message: dict[str, Any]) -> None:
        await self._emit(CallerSpeechStarted())

    async def _on_speech_stopped(self, message: dict[str, Any]) -> None:
        await self._emit(CallerTurnEnded())

    async def _on_committed(self, message: dict[str, Any]) -> None:
        # The caller's item enters the conversation here, before the response it triggers.
        self._conversation.place(message["item_id"], message.get("previous_item_id"))

    async def _on_item_added(self, message: dict[str, Any]) -> None:
        item = message["item"]
        if item.get("id") in self._unacked_items:
            self._unacked_items.discard(item["id"])
            self._item_events = {k: v for k, v in self._item_events.items() if v != item["id"]}
        if item.get("type") != "message" or not item.get("id"):
            return
        role, content = item.get("role"), item.get("content") or []
        if role == "user" and any(part.get("type") == "input_audio" for part in content):
            self._conversation.place(item["id"], message.get("previous_item_id"))
        elif role == "assistant":
            self._conversation.place(item["id"], message.get("previous_item_id"))
            self._conversation.agent_item(item["id"], None)

    async def _on_caller_transcript_delta(self, message: dict[str, Any]) -> None:
        item_id = message["item_id"]
        if not self.options.partial_transcripts or item_id in self._conversation.caller_text:
            return
        parts = self._caller_partial.setdefault(item_id, [])
        parts.append(message.get("delta") or "")
        text = "".join(parts).strip()
        await self._emit(Transcript("caller", text, False, self._conversation.ordinal(item_id)))

    async def _on_caller_transcript(self, message: dict[str, Any]) -> None:
        item_id = message["item_id"]
        self._caller_partial.pop(item_id, None)
        if item_id in self._conversation.caller_text:
            return
        self._conversation.caller_text.add(item_id)
        text = str(message.get("transcript") or "").strip()
        await self._emit(Transcript("caller", text, True, self._conversation.ordinal(item_id)))
        figures = transcription_usage(message.get("usage"))
        if figures:
            await self._emit(EngineUsage(figures))

    async def _on_caller_transcript_failed(self, message: dict[str, Any]) -> None:
        error = message.get("error") or {}
        logger.warning(
            "openai_realtime: caller transcription failed for %s: %s", message.get("item_id"), error
        )

    # ------------------------------------------------------------------------ responses

    async def _on_response_created(self, message: dict[str, Any]) -> None:
        response = message["response"]
        self._active_response = response["id"]
        # The server works in order: a response answers our items iff all were in before it.
        self._active_covers_ours = not self._unacked_items
        tag = (response.get("metadata") or {}).get("vox_request")
        if isinstance(tag, str) and tag in self._creates_in_flight:
            self._creates_in_flight.pop(tag)
            self._metadata_echoed = True
            return
        if self._creates_in_flight and not self._metadata_echoed:
            # Until the server has shown it echoes metadata, assume ours, in the order asked:
            # a request never matched would hold every later reply back.
            self._creates_in_flight.popitem(last=False)
            return
        # Started by the server (turn detection).
        if self._has_queued_response and self._active_covers_ours:
            logger.info("openai_realtime: server response %s supersedes a queued one", response["id"])
            self._queued_response, self._has_queued_response = None, False

    async def _on_output_item_added(self, message: dict[str, Any]) -> None:
        item = message["item"]
        if item.get("type") == "function_call" and item.get("call_id"):
            # GA repeats the name in arguments.done; beta sends it only here.
            self._conversation.tool_names[item["call_id"]] = item.get("name") or ""
        elif item.get("type") == "message" and item.get("role") == "assistant" and item.get("id"):
            self._conversation.agent_item(item["id"], message.get("response_id"))

    async def _on_audio_delta(self, message: dict[str, Any]) -> None:
        item = self._agent_item(message)
        response_id = message.get("response_id")
        if item.muted or response_id in self._cancel_sent:
            return  # the caller interrupted this: stale audio must not be played after a clear
        audio = binascii.a2b_base64(message["delta"], strict_mode=True)
        if not audio:
            return
        item.audio_bytes += len(audio)
        self._conversation.last_audio_item = item.item_id
        if response_id and response_id not in self._first_audio_seen:
            self._first_audio_seen.add(response_id)
            await self._emit(EngineMetric("tts_first_audio", asyncio.get_running_loop().time()))
        await self._emit(AgentAudio(audio, item.item_id))

    async def _on_audio_done(self, message: dict[str, Any]) -> None:
        await self._finish_audio(self._agent_item(message))

    async def _on_transcript_delta(self, message: dict[str, Any]) -> None:
        item = self._agent_item(message)
        if item.transcript_final:
            return
        item.transcript.append(message.get("delta") or "")
        response_id = message.get("response_id")
        if response_id and response_id not in self._first_text_seen:
            self._first_text_seen.add(response_id)
            await self._emit(EngineMetric("llm_first_token", asyncio.get_running_loop().time()))
        if self.options.partial_transcripts:
            await self._emit(Transcript("agent", "".join(item.transcript).strip(), False, item.ordinal))

    async def _on_transcript_done(self, message: dict[str, Any]) -> None:
        item = self._agent_item(message)
        await self._finish_transcript(item, message.get("transcript"))

    async def _on_function_arguments_done(self, message: dict[str, Any]) -> None:
        call_id = message["call_id"]
        name = message.get("name") or self._conversation.tool_names.get(call_id, "")
        await self._report_tool_call(call_id, name, message.get("arguments") or "{}")

    async def _on_output_item_done(self, message: dict[str, Any]) -> None:
        item = message["item"]
        if item.get("type") == "function_call":
            # Fallback for a missed arguments.done; an incomplete call (cancelled) is not run.
            if item.get("call_id") and item.get("status") in (None, "completed"):
                await self._report_tool_call(
                    item["call_id"], item.get("name") or "", item.get("arguments") or "{}"
                )
        elif item.get("type") == "message" and item.get("role") == "assistant" and item.get("id"):
            agent = self._conversation.agent_item(item["id"], message.get("response_id"))
            await self._finish_transcript(agent, _content_transcript(item))

    async def _on_response_done(self, message: dict[str, Any]) -> None:
        response = message["response"]
        response_id, status = response.get("id"), response.get("status")
        if response_id == self._active_response:
            self._active_response = None
        self._first_audio_seen.discard(response_id)
        self._first_text_seen.discard(response_id)
        if response_id:
            # Close out what the server may skip on a cancelled response.
            for item in self._conversation.items_of_response(response_id):
                await self._finish_audio(item)
                await self._finish_transcript(item, None)
        for output in response.get("output") or []:
            if output.get("type") == "function_call" and output.get("status") in (None, "completed"):
                await self._report_tool_call(
                    output["call_id"], output.get("name") or "", output.get("arguments") or "{}"
                )
        figures = response_usage(response.get("usage"))
        if figures:
            await self._emit(EngineUsage(figures))
        if status == "failed":
            self._failed_responses += 1
            logger.error(
                "openai_realtime: response %s failed: %s", response_id, response.get("status_details")
            )
            if self._failed_responses >= self.options.max_failed_responses:
                await self._fail(f"openai_realtime: {self._failed_responses} responses failed in a row")
                return
        elif status == "completed":
            self._failed_responses = 0
        await self._send_queued_response()

    # ------------------------------------------------------------------------ helpers

    def _agent_item(self, message: dict[str, Any]) -> AgentItem:
        return self._conversation.agent_item(message["item_id"], message.get("response_id"))

    async def _finish_audio(self, item: AgentItem) -> None:
        if item.audio_done or item.audio_bytes == 0:
            return
        item.audio_done = True
        await self._emit(AgentAudioDone(item.item_id))

    async def _finish_transcript(self, item: AgentItem, transcript: str | None) -> None:
        if item.transcript_final:
            return
        text = (transcript if transcript is not None else "".join(item.transcript)).strip()
        if transcript is not None:
            item.transcript_final = True
        if not text:
            return  # nothing was said (a response cancelled before its first word)
        item.transcript_final = True
        await self._emit(Transcript("agent", text, True, item.ordinal))

    async def _report_tool_call(self, call_id: str, name: str, arguments: str) -> None:
        if call_id in self._conversation.tool_calls_reported:
            return
        self._conversation.tool_calls_reported.add(call_id)
        self._pending_tool_calls.add(call_id)
        if not name:
            # Still reported: the session answers "unknown tool" and the model can recover.
            logger.error("openai_realtime: tool call %s without a function name", call_id)
        await self._emit(ToolCall(call_id=call_id, name=name, arguments=arguments))


def _content_transcript(item: dict[str, Any]) -> str | None:
    for part in item.get("content") or []:
        if part.get("type") in ("output_audio", "audio") and isinstance(part.get("transcript"), str):
            return str(part["transcript"])
    return None


def response_usage(usage: Any) -> dict[str, float]:
    """``response.done`` usage -> flat figures merged into the call's totals."""
    if not isinstance(usage, dict):
        return {}
    figures: dict[str, float] = {}
    _copy_numbers(figures, usage, "", ("input_tokens", "output_tokens", "total_tokens"))
    details = usage.get("input_token_details") or {}
    _copy_numbers(
        figures, details, "input_", ("text_tokens", "audio_tokens", "image_tokens", "cached_tokens")
    )
    _copy_numbers(
        figures, details.get("cached_tokens_details") or {}, "input_cached_", ("text_tokens", "audio_tokens")
    )
    _copy_numbers(
        figures, usage.get("output_token_details") or {}, "output_", ("text_tokens", "audio_tokens")
    )
    return figures


def transcription_usage(usage: Any) -> dict[str, float]:
    """Caller transcription is billed separately: by tokens or by duration."""
    if not isinstance(usage, dict):
        return {}
    figures: dict[str, float] = {}
    if usage.get("type") == "duration":
        _copy_numbers(figures, usage, "transcription_", ("seconds",))
    else:
        _copy_numbers(figures, usage, "transcription_", ("input_tokens", "output_tokens", "total_tokens"))
    return figures


def _copy_numbers(into: dict[str, float], source: Any, prefix: str, keys: tuple[str, ...]) -> None:
    if not isinstance(source, dict):
        return
    for key in keys:
        value = source.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            into[prefix + key] = float(value)
