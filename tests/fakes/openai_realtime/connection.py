"""One client connection of the fake Realtime server: the conversation and its responses."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.fakes.openai_realtime.audio import BYTES_PER_MS, EnergyVad
from tests.fakes.openai_realtime.responses import ResponseGenerator, ResponseRun, new_id
from tests.fakes.openai_realtime.script import (
    FakeToolCall,
    FakeTurn,
    Plan,
    SpeakPlan,
    line_from_instructions,
    plan_for_turn,
)
from tests.fakes.openai_realtime.session import (
    SessionError,
    default_session,
    effective,
    merge,
    validate_update,
)

if TYPE_CHECKING:
    from tests.fakes.openai_realtime.server import FakeOpenAIRealtime

# GA event names that beta clients know under another name (None: not sent to beta clients).
BETA_NAMES: dict[str, str | None] = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
    "conversation.item.done": None,
}


class FakeRealtimeConnection(ResponseGenerator):
    def __init__(self, server: FakeOpenAIRealtime, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.server, self.request, self.ws = server, request, ws
        self.headers = dict(request.headers)
        self.model = request.query.get("model", "")
        self.beta = "realtime=v1" in request.headers.get("OpenAI-Beta", "")
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.session = default_session(self.beta, self.model)
        self.config = effective(self.session, self.beta)
        self.items: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.item_audio_ms: dict[str, int] = {}  # generated audio per assistant item
        self.turns: dict[str, FakeTurn] = {}  # caller item -> its script
        self.answered: set[str] = set()
        self.tool_scripts: dict[str, FakeToolCall] = {}
        self.pending_transcriptions: list[str] = []
        self.voice_locked = False
        self.vad = EnergyVad(self.config.input_format)
        self.buffer = bytearray()
        self.appended_bytes = 0  # all caller audio received, recorded or not
        self.speech_item: str | None = None
        self.active: ResponseRun | None = None
        self.conversation_id = new_id("conv")
        self._out: asyncio.Queue[tuple[str, bool] | None] = asyncio.Queue()

    # ---------------------------------------------------------------------------- plumbing

    async def run(self) -> None:
        writer = asyncio.create_task(self._writer(), name="fake-openai-writer")
        self.emit({"type": "session.created", "session": self.session})
        try:
            async for message in self.ws:
                if message.type == WSMsgType.TEXT:
                    await self.handle(message.data)
                elif message.type == WSMsgType.BINARY:
                    self.error("invalid_request_error", "binary_not_supported", "Frames must be JSON text.")
        finally:
            if self.active and self.active.task:
                self.active.task.cancel()
                await asyncio.gather(self.active.task, return_exceptions=True)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self.server.notify()

    async def _writer(self) -> None:
        while (entry := await self._out.get()) is not None:
            text, stall_here = entry
            await self.server.unstalled.wait()  # stall(): the server goes quiet, events pile up
            if self.ws.closed:
                return
            await self.ws.send_str(text)
            if stall_here:
                self.server.unstalled.clear()  # stall_after(): quiet right after this event

    def emit(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if self.beta and kind in BETA_NAMES:
            renamed = BETA_NAMES[kind]
            if renamed is None:
                return
            event = {**event, "type": renamed}
        if self.beta and kind == "response.function_call_arguments.done":
            event = {key: value for key, value in event.items() if key != "name"}  # GA-only field
        event = {"event_id": new_id("event"), **event}
        if self.server.record_audio or not event["type"].endswith("audio.delta"):
            self.sent.append(event)
            self.server.notify()
        stall_here = event["type"] in self.server.stall_points
        if stall_here:
            # The model stops producing at once; the socket goes quiet once this event is out.
            self.server.stall_points.discard(event["type"])
            self.server.producing.clear()
        self._out.put_nowait((json.dumps(event), stall_here))

    def send_raw(self, text: str) -> None:
        self._out.put_nowait((text, False))

    def error(
        self, kind: str, code: str, message: str, param: str | None = None, event_id: str | None = None
    ) -> None:
        error = {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id}
        self.emit({"type": "error", "error": error})

    def _place(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        previous = (
            previous_item_id if previous_item_id is not None else (self.order[-1] if self.order else None)
        )
        if previous == "root":
            self.order.insert(0, item["id"])
            previous = None
        elif previous is not None and previous in self.order:
            self.order.insert(self.order.index(previous) + 1, item["id"])
        else:
            self.order.append(item["id"])
        self.items[item["id"]] = item
        return previous

    def _item_added(self, item: dict[str, Any], previous: str | None) -> None:
        self.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item})

    def _item_done(self, item: dict[str, Any], previous: str | None) -> None:
        self.emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    # ---------------------------------------------------------------------------- client events

    async def handle(self, text: str) -> None:
        try:
            event = json.loads(text)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError:
            self.received.append({"type": None, "raw": text})
            self.server.notify()
            self.error("invalid_request_error", "invalid_json", "The message is not valid JSON.")
            return
        kind, event_id = event.get("type"), event.get("event_id")
        if self.server.record_audio or kind != "input_audio_buffer.append":
            self.received.append(event)
            self.server.notify()
        handler = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.delete": self._item_delete,
            "conversation.item.truncate": self._truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }.get(kind if isinstance(kind, str) else "")
        if handler is None:
            self.error(
                "invalid_request_error", "invalid_value", f"Invalid value: {kind!r}.", "type", event_id
            )
            return
        await handler(event, event_id)

    async def _session_update(self, event: dict[str, Any], event_id: str | None) -> None:
        update = event.get("session")
        try:
            validate_update(update, self.beta, self.voice_locked, self.config.voice)
        except SessionError as exc:
            self.error("invalid_request_error", exc.code, exc.message, exc.param, event_id)
            return
        assert isinstance(update, dict)
        self.session = merge(self.session, update)
        self.config = effective(self.session, self.beta)
        if self.config.input_format != self.vad.fmt:
            self.vad = EnergyVad(self.config.input_format)
        self.emit({"type": "session.updated", "session": self.session})

    async def _append(self, event: dict[str, Any], event_id: str | None) -> None:
        try:
            audio = base64.b64decode(event.get("audio") or "", validate=True)
        except (binascii.Error, ValueError):
            self.error("invalid_request_error", "invalid_value", "audio must be base64.", "audio", event_id)
            return
        self.buffer += audio
        self.appended_bytes += len(audio)
        vad = self.config.vad()
        if vad is None:
            return
        for kind, at_ms in self.vad.feed(audio, vad):
            if kind == "start":
                self.speech_item = new_id("item")
                self.emit(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": at_ms,
                        "item_id": self.speech_item,
                    }
                )
                if self.active and self.config.interrupt_response:
                    await self.cancel(self.active, "turn_detected")
            else:
                item_id = self.speech_item or new_id("item")
                self.emit(
                    {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": at_ms, "item_id": item_id}
                )
                self.speech_item = None
                await self._commit_buffer(item_id, auto=True)

    async def _commit(self, event: dict[str, Any], event_id: str | None) -> None:
        if len(self.buffer) < 100 * BYTES_PER_MS[self.config.input_format]:
            self.error(
                "invalid_request_error",
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small.",
                None,
                event_id,
            )
            return
        await self._commit_buffer(self.speech_item or new_id("item"), auto=False)

    async def _clear(self, event: dict[str, Any], event_id: str | None) -> None:
        self.buffer.clear()
        self.vad.reset()
        self.emit({"type": "input_audio_buffer.cleared"})

    async def _commit_buffer(self, item_id: str, *, auto: bool) -> None:
        self.buffer.clear()
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self._place(item)
        self.emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id})
        self._item_added(item, previous)
        self._item_done(item, previous)
        self.turns[item_id] = self.server.next_turn()
        if self.config.transcription:
            self.pending_transcriptions.append(item_id)
        if auto and self.config.create_response and self.active is None:
            self.answered.add(item_id)
            self.start_response(plan_for_turn(self.turns[item_id]), {})
        else:
            self.flush_transcriptions()

    def flush_transcriptions(self) -> None:
        while self.pending_transcriptions:
            item_id = self.pending_transcriptions.pop(0)
            text = self.turns[item_id].transcript
            self.items[item_id]["content"][0]["transcript"] = text
            self.emit(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": text,
                }
            )
            output_tokens = max(1, len(text) // 4)
            usage = {
                "type": "tokens",
                "input_tokens": 20,
                "output_tokens": output_tokens,
                "total_tokens": 20 + output_tokens,
                "input_token_details": {"audio_tokens": 20, "text_tokens": 0},
            }
            self.emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                    "usage": usage,
                }
            )

    async def _item_create(self, event: dict[str, Any], event_id: str | None) -> None:
        item = event.get("item")
        problem = self._item_problem(item)
        previous = event.get("previous_item_id")
        if problem is None and isinstance(item, dict) and item.get("id") in self.items:
            problem = ("invalid_value", f"Item with id {item['id']!r} already exists.", "item.id")
        if problem is None and previous not in (None, "root") and previous not in self.items:
            problem = ("item_not_found", f"Previous item {previous!r} not found.", "previous_item_id")
        if problem is not None:
            self.error("invalid_request_error", problem[0], problem[1], problem[2], event_id)
            return
        assert isinstance(item, dict)
        item = {
            "id": item.get("id") or new_id("item"),
            "object": "realtime.item",
            "status": "completed",
            **item,
        }
        placed_after = self._place(item, previous)
        self._item_added(item, placed_after)
        self._item_done(item, placed_after)

    def _item_problem(self, item: Any) -> tuple[str, str, str] | None:
        if not isinstance(item, dict):
            return ("invalid_type", "item must be an object", "item")
        kind = item.get("type")
        if kind == "message":
            assistant = {"text", "audio"} if self.beta else {"output_text", "output_audio"}
            allowed = {
                "user": {"input_text", "input_audio", "input_image"},
                "system": {"input_text"},
                "assistant": assistant,
            }.get(str(item.get("role")))
            if allowed is None:
                return ("invalid_value", "role must be user, assistant or system", "item.role")
            content = item.get("content")
            if not isinstance(content, list) or not content:
                return ("invalid_value", "content must be a non-empty array", "item.content")
            for index, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") not in allowed:
                    return (
                        "invalid_value",
                        f"content type not allowed for this role: {part!r}",
                        f"item.content[{index}].type",
                    )
            return None
        if kind == "function_call_output":
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
                return ("invalid_value", "function_call_output needs call_id and output strings", "item")
            if item["call_id"] not in self.tool_scripts:
                return (
                    "invalid_value",
                    f"No tool call found with call_id {item['call_id']!r}.",
                    "item.call_id",
                )
            return None
        if kind == "function_call":
            return None
        return ("invalid_value", f"Invalid item type {kind!r}.", "item.type")

    async def _item_delete(self, event: dict[str, Any], event_id: str | None) -> None:
        item_id = event.get("item_id")
        if item_id not in self.items:
            self.error(
                "invalid_request_error", "item_not_found", f"Item {item_id!r} not found.", "item_id", event_id
            )
            return
        del self.items[item_id]
        self.order.remove(item_id)
        self.emit({"type": "conversation.item.deleted", "item_id": item_id})

    async def _truncate(self, event: dict[str, Any], event_id: str | None) -> None:
        item_id, end_ms, index = event.get("item_id"), event.get("audio_end_ms"), event.get("content_index")
        item = self.items.get(item_id) if isinstance(item_id, str) else None
        if item is None or not isinstance(item_id, str):
            self.error(
                "invalid_request_error", "item_not_found", f"Item {item_id!r} not found.", "item_id", event_id
            )
        elif item.get("type") != "message" or item.get("role") != "assistant":
            self.error(
                "invalid_request_error",
                "invalid_value",
                "Only assistant messages can be truncated.",
                "item_id",
                event_id,
            )
        elif index != 0:
            self.error(
                "invalid_request_error",
                "invalid_value",
                "content_index must be 0.",
                "content_index",
                event_id,
            )
        elif isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            self.error(
                "invalid_request_error",
                "invalid_value",
                "audio_end_ms must be a non-negative integer.",
                "audio_end_ms",
                event_id,
            )
        elif end_ms > self.item_audio_ms.get(item_id, 0):
            generated = self.item_audio_ms.get(item_id, 0)
            message = f"Audio content of {generated}ms is already shorter than {end_ms}ms"
            self.error("invalid_request_error", "invalid_value", message, "audio_end_ms", event_id)
        else:
            # The server drops the transcript past the cut point; keep a proportional share.
            total = self.item_audio_ms[item_id]
            for part in item.get("content") or []:
                if isinstance(part.get("transcript"), str) and total:
                    words = part["transcript"].split()
                    part["transcript"] = " ".join(words[: len(words) * end_ms // total])
            self.item_audio_ms[item_id] = end_ms
            self.emit(
                {
                    "type": "conversation.item.truncated",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": end_ms,
                }
            )

    async def _response_create(self, event: dict[str, Any], event_id: str | None) -> None:
        if self.active is not None:
            message = f"Conversation already has an active response in progress: {self.active.id}."
            self.error(
                "invalid_request_error", "conversation_already_has_active_response", message, None, event_id
            )
            return
        params = event.get("response") or {}
        if not isinstance(params, dict):
            self.error(
                "invalid_request_error", "invalid_type", "response must be an object", "response", event_id
            )
            return
        self.start_response(self._plan_for_request(params), params)

    def _plan_for_request(self, params: dict[str, Any]) -> Plan:
        last = self.items[self.order[-1]] if self.order else None
        if last and last.get("type") == "function_call_output" and last["id"] not in self.answered:
            self.answered.add(last["id"])
            script = self.tool_scripts[last["call_id"]]
            return SpeakPlan(script.reply.replace("{output}", last["output"]))
        for item_id in reversed(self.order):  # the newest caller input nobody answered yet
            item = self.items[item_id]
            if item.get("role") == "user" and item_id not in self.answered:
                self.answered.add(item_id)
                return plan_for_turn(self.turns.get(item_id) or self.server.next_turn())
        line = line_from_instructions(params.get("instructions")) or line_from_instructions(
            self.config.instructions
        )
        return SpeakPlan(line or self.server.greeting)

    async def _response_cancel(self, event: dict[str, Any], event_id: str | None) -> None:
        wanted = event.get("response_id")
        if (
            self.active is None
            or (wanted is not None and wanted != self.active.id)
            or self.active.cancel_reason
        ):
            self.error(
                "invalid_request_error",
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                None,
                event_id,
            )
            return
        await self.cancel(self.active, "client_cancelled")
