"""How the fake model answers: one ``response.*`` event sequence per response.

Mixed into ``FakeRealtimeConnection``; the state it uses is created there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.openai_realtime.audio import speech_like
from tests.fakes.openai_realtime.script import CallPlan, FakeToolCall, Plan, SpeakPlan, split_evenly
from tests.fakes.openai_realtime.session import EffectiveConfig

if TYPE_CHECKING:
    from tests.fakes.openai_realtime.server import FakeOpenAIRealtime


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass(slots=True)
class ResponseRun:
    id: str
    params: dict[str, Any]
    task: asyncio.Task[None] | None = None
    cancel_reason: str | None = None
    released: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    output: list[dict[str, Any]] = field(default_factory=list)
    audio_ms: int = 0
    text_chars: int = 0


class ResponseGenerator:
    server: FakeOpenAIRealtime
    beta: bool
    config: EffectiveConfig
    items: dict[str, dict[str, Any]]
    item_audio_ms: dict[str, int]
    tool_scripts: dict[str, FakeToolCall]
    voice_locked: bool
    active: ResponseRun | None
    conversation_id: str

    def emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def flush_transcriptions(self) -> None:
        raise NotImplementedError

    def _place(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        raise NotImplementedError

    def _item_added(self, item: dict[str, Any], previous: str | None) -> None:
        raise NotImplementedError

    def _item_done(self, item: dict[str, Any], previous: str | None) -> None:
        raise NotImplementedError

    def start_response(self, plan: Plan, params: dict[str, Any]) -> None:
        run = ResponseRun(id=new_id("resp"), params=params)
        self.active = run
        run.task = asyncio.create_task(self._respond(run, plan), name=f"fake-openai-{run.id}")

    async def cancel(self, run: ResponseRun, reason: str) -> None:
        if run.cancel_reason is None:
            run.cancel_reason = reason
        run.wake.set()
        if run.task is not None and run.task is not asyncio.current_task():
            await asyncio.shield(run.task)

    def release(self) -> None:
        if self.active is not None:
            self.active.released = True
            self.active.wake.set()

    def _response_object(self, run: ResponseRun, status: str) -> dict[str, Any]:
        modalities = run.params.get("output_modalities") or self.config.output_modalities
        response: dict[str, Any] = {
            "id": run.id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": run.output,
            "conversation_id": self.conversation_id,
            ("modalities" if self.beta else "output_modalities"): modalities,
            "max_output_tokens": "inf",
            "metadata": run.params.get("metadata"),
            "usage": None,
            "audio": {"output": {"format": {"type": self.config.output_format}, "voice": self.config.voice}},
        }
        if status != "in_progress":
            if run.cancel_reason:
                response["status_details"] = {"type": "cancelled", "reason": run.cancel_reason}
            audio_tokens, text_tokens = math.ceil(run.audio_ms / 50), max(1, run.text_chars // 4)
            in_audio = sum(1 for item in self.items.values() if item.get("role") == "user") * 25
            in_text = 40 + len(self.config.instructions) // 4
            cached = {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}
            response["usage"] = {
                "total_tokens": in_audio + in_text + audio_tokens + text_tokens,
                "input_tokens": in_audio + in_text,
                "output_tokens": audio_tokens + text_tokens,
                "input_token_details": {
                    "text_tokens": in_text,
                    "audio_tokens": in_audio,
                    "image_tokens": 0,
                    "cached_tokens": 0,
                    "cached_tokens_details": cached,
                },
                "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
            }
        return response

    async def _respond(self, run: ResponseRun, plan: Plan) -> None:
        try:
            self.emit({"type": "response.created", "response": self._response_object(run, "in_progress")})
            if isinstance(plan, CallPlan):
                await self._call_tool(run, plan.tool_call)
            else:
                await self._speak(run, plan)
            await self.server.producing.wait()
            self.flush_transcriptions()
            status = "cancelled" if run.cancel_reason else "completed"
            self.emit({"type": "response.done", "response": self._response_object(run, status)})
        finally:
            if self.active is run:
                self.active = None

    async def _pause(self, run: ResponseRun, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await run.wake.wait()

    async def _speak(self, run: ResponseRun, plan: SpeakPlan) -> None:
        audio_out = self.config.output_modalities == ["audio"] and run.params.get("output_modalities") != [
            "text"
        ]
        item_id, index = new_id("item"), len(run.output)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        previous = self._place(item)
        ids = {"response_id": run.id, "item_id": item_id, "output_index": index, "content_index": 0}
        self.emit(
            {
                "type": "response.output_item.added",
                "response_id": run.id,
                "output_index": index,
                "item": dict(item),
            }
        )
        self._item_added(dict(item), previous)
        part_type = "audio" if audio_out else "text"
        self.emit(
            {"type": "response.content_part.added", **ids, "part": {"type": part_type, "transcript": ""}}
        )
        total_ms = max(400, round(len(plan.text) * self.server.ms_per_char / 20) * 20)
        chunk_ms, fmt = self.server.chunk_ms, self.config.output_format
        chunks = max(1, math.ceil(total_ms / chunk_ms))
        pieces, said = split_evenly(plan.text, chunks), []
        text_event = "response.output_audio_transcript.delta" if audio_out else "response.output_text.delta"
        for number in range(chunks):
            while (
                plan.hold_after_ms is not None
                and run.audio_ms >= plan.hold_after_ms
                and not run.released
                and not run.cancel_reason
            ):
                run.wake.clear()
                await run.wake.wait()
            await self.server.producing.wait()
            if run.cancel_reason:
                break
            run.wake.clear()  # a release() must not cut the pacing pauses short from now on
            ms = min(chunk_ms, total_ms - number * chunk_ms)
            if audio_out:
                delta = base64.b64encode(speech_like(fmt, ms)).decode("ascii")
                run.audio_ms += ms
                self.item_audio_ms[item_id] = self.item_audio_ms.get(item_id, 0) + ms
                self.voice_locked = True
                self.emit({"type": "response.output_audio.delta", **ids, "delta": delta})
            if pieces[number]:
                said.append(pieces[number])
                self.emit({"type": text_event, **ids, "delta": pieces[number]})
            if number + 1 == self.server.transcription_lag_chunks:
                self.flush_transcriptions()  # the caller's transcript lands mid-reply, like the real one
            if self.server.realtime_factor:
                await self._pause(run, ms / 1000 / self.server.realtime_factor)
            else:
                await asyncio.sleep(0)  # let the reader see cancels between chunks
        text = plan.text if not run.cancel_reason else "".join(said).strip()
        run.text_chars += len(text)
        if audio_out:
            self.emit({"type": "response.output_audio.done", **ids})
            self.emit({"type": "response.output_audio_transcript.done", **ids, "transcript": text})
        else:
            self.emit({"type": "response.output_text.done", **ids, "text": text})
        self.emit(
            {"type": "response.content_part.done", **ids, "part": {"type": part_type, "transcript": text}}
        )
        content_type = (
            ("audio" if self.beta else "output_audio")
            if audio_out
            else ("text" if self.beta else "output_text")
        )
        content: dict[str, Any] = {"type": content_type, ("transcript" if audio_out else "text"): text}
        item.update(status="incomplete" if run.cancel_reason else "completed", content=[content])
        run.output.append(item)
        self.emit(
            {"type": "response.output_item.done", "response_id": run.id, "output_index": index, "item": item}
        )
        self._item_done(item, previous)

    async def _call_tool(self, run: ResponseRun, tool_call: FakeToolCall) -> None:
        item_id, call_id, index = new_id("item"), new_id("call"), len(run.output)
        arguments = tool_call.arguments_json()
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": tool_call.name,
            "call_id": call_id,
            "arguments": "",
        }
        previous = self._place(item)
        ids = {"response_id": run.id, "item_id": item_id, "output_index": index, "call_id": call_id}
        self.emit(
            {
                "type": "response.output_item.added",
                "response_id": run.id,
                "output_index": index,
                "item": dict(item),
            }
        )
        self._item_added(dict(item), previous)
        third = max(1, len(arguments) // 3)
        for start in range(0, len(arguments), third):
            await self.server.producing.wait()
            if run.cancel_reason:
                break
            self.emit(
                {
                    "type": "response.function_call_arguments.delta",
                    **ids,
                    "delta": arguments[start : start + third],
                }
            )
            await asyncio.sleep(0)
        if not run.cancel_reason:
            self.tool_scripts[call_id] = tool_call
            self.emit(
                {
                    "type": "response.function_call_arguments.done",
                    **ids,
                    "name": tool_call.name,
                    "arguments": arguments,
                }
            )
        await self.server.producing.wait()
        run.text_chars += len(arguments)
        item.update(status="incomplete" if run.cancel_reason else "completed", arguments=arguments)
        run.output.append(item)
        self.emit(
            {"type": "response.output_item.done", "response_id": run.id, "output_index": index, "item": item}
        )
        self._item_done(item, previous)
