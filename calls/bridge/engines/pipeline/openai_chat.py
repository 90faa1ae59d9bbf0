"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server ...).

``stream()`` POSTs ``{base_url}/chat/completions`` with ``stream: true`` and parses the
server-sent events as they arrive:

- ``choices[0].delta.content`` (and ``refusal``: a spoken refusal beats silence) -> ``TextDelta``;
- ``choices[0].delta.tool_calls`` fragments are merged by ``index`` (id and name arrive once,
  ``arguments`` in pieces) and emitted as ``ToolCallRequest`` when ``finish_reason`` arrives
  (or at the end of the stream for servers that never send one);
- the ``usage`` object (last chunk, with ``stream_options.include_usage``) -> one ``LlmUsage``
  at the end (some servers repeat usage on every chunk: only the last one counts).

Reasoning fields (``reasoning_content``) are never spoken. One ``httpx.AsyncClient`` per model
instance keeps the connection alive between turns (``keepalive_s``; httpx's default of 5 s is
shorter than a caller's turn, which would cost a TCP + TLS handshake on every reply), and
``prewarm()`` opens it before the first request (call it when the call starts, or when the caller
starts speaking). Cancelling the iteration (or ``aclose()`` on it: use ``contextlib.aclosing``)
closes the HTTP response, so the server stops generating.
Failures raise ``ChatCompletionError`` (a ``ComponentError``) with the HTTP status when there is one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from calls.bridge.config import ToolSpec
from calls.bridge.engines.pipeline.cloud import ComponentError
from calls.bridge.engines.pipeline.components import (
    LanguageModel,
    LlmEvent,
    LlmUsage,
    Message,
    TextDelta,
    ToolCallRequest,
)

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 2048  # bytes of an error body worth reading (and quoting, shortened)
JSON_BODY_LIMIT = 4 << 20  # a non-streamed reply from a server that ignored stream=true


class ChatCompletionError(ComponentError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__("openai_chat", message, code=status)
        self.status = status


@dataclass(slots=True)
class _ToolCallParts:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIChatLanguageModel(LanguageModel):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        temperature: float | None = 0.3,
        include_usage: bool = True,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        keepalive_s: float = 60.0,
        use_env_proxy: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``read_timeout_s`` bounds the wait for each piece of the stream, the first token
        included. ``extra_body`` is merged into every request (``max_tokens``, ``top_p``,
        vendor knobs). ``transport`` is for tests and custom networking."""
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"chat base_url must be http(s): {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._models_url = base_url.rstrip("/") + "/models"
        self._model = model
        self._temperature = temperature
        self._include_usage = include_usage
        self._extra_body = dict(extra_body or {})
        headers = {"Accept": "text/event-stream", **dict(extra_headers or {})}
        if api_key:  # local servers need none, and some reject an empty "Bearer "
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                connect=connect_timeout_s, read=read_timeout_s, write=10.0, pool=connect_timeout_s
            ),
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=keepalive_s),
            trust_env=use_env_proxy,
            transport=transport,
        )
        self._read_timeout_s = read_timeout_s
        self._prewarm: asyncio.Task[None] | None = None
        self._closed = False

    def prewarm(self) -> None:
        """Open the connection now (TCP + TLS) with a cheap ``GET /models`` in an owned task,
        so the first reply does not pay for it. Failures are ignored: the real request reports."""
        if self._closed or (self._prewarm is not None and not self._prewarm.done()):
            return
        self._prewarm = asyncio.get_running_loop().create_task(self._touch(), name="openai-chat-prewarm")

    async def _touch(self) -> None:
        try:
            response = await self._client.get(self._models_url, headers={"Accept": "application/json"})
            log.debug("openai_chat: prewarm GET /models -> %d", response.status_code)
        except httpx.HTTPError as exc:
            log.debug("openai_chat: prewarm failed (%s)", type(exc).__name__)

    def request_body(self, messages: list[Message], tools: tuple[ToolSpec, ...]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self._model, "messages": messages, "stream": True}
        if self._include_usage:
            body["stream_options"] = {"include_usage": True}
        if self._temperature is not None:
            body["temperature"] = self._temperature
        if tools:  # tool_choice without tools is a 400 on OpenAI
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
            body["tool_choice"] = "auto"
        body.update(self._extra_body)
        return body

    async def stream(
        self, messages: list[Message], tools: tuple[ToolSpec, ...]
    ) -> AsyncGenerator[LlmEvent, None]:
        if self._closed:
            raise ChatCompletionError("stream() after close()")
        body = self.request_body(messages, tools)
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code != 200:
                    raise ChatCompletionError(
                        f"HTTP {response.status_code}: {await _error_summary(response)}",
                        status=response.status_code,
                    )
                content_type = response.headers.get("content-type", "")
                if content_type.startswith("application/json"):
                    for event in _events_from_completion(await _read_limited(response, JSON_BODY_LIMIT)):
                        yield event
                    return
                parser = _ChunkStream()
                async for line in response.aiter_lines():
                    for event in parser.feed_line(line):
                        yield event
                    if parser.done:
                        break
                for event in parser.end_of_input():
                    yield event
        except httpx.TimeoutException as exc:
            limit = self._read_timeout_s
            raise ChatCompletionError(f"timed out ({type(exc).__name__}, read limit {limit:g} s)") from exc
        except httpx.HTTPError as exc:
            raise ChatCompletionError(f"request failed: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._prewarm is not None:
            self._prewarm.cancel()
            await asyncio.wait({self._prewarm})
        await self._client.aclose()


# ---------------------------------------------------------------------------------- parsing


class _ChunkStream:
    """Turns SSE lines into pipeline events. A plain object fed by ``stream()`` (no nested async
    generator) so closing ``stream()`` leaves nothing behind."""

    def __init__(self) -> None:
        self.calls: dict[int, _ToolCallParts] = {}
        self.usage: LlmUsage | None = None
        self.finished = False  # finish_reason or [DONE] seen
        self.done = False  # [DONE] seen: stop reading
        self._data_lines: list[str] = []

    def feed_line(self, line: str) -> list[LlmEvent]:
        # SSE framing: "data:" lines accumulate, a blank line ends the event, ":" starts a
        # comment (OpenRouter and some proxies send keep-alive comments), other fields are ignored.
        if line.startswith("data:"):
            self._data_lines.append(line[5:].removeprefix(" "))
            return []
        if line or not self._data_lines:
            return []
        return self._flush_event()

    def end_of_input(self) -> list[LlmEvent]:
        """The body ended: a last event without its blank line, then what is still pending."""
        events = self._flush_event() if self._data_lines and not self.done else []
        if not self.finished:
            if self.calls:  # arguments may be cut in half: not safe to act on
                raise ChatCompletionError("stream ended before the tool calls were complete")
            log.warning("openai_chat: stream ended without finish_reason or [DONE]")
        events += _complete_calls(self.calls)
        if self.usage is not None:
            events.append(self.usage)
            self.usage = None
        return events

    def _flush_event(self) -> list[LlmEvent]:
        data = "\n".join(self._data_lines)
        self._data_lines.clear()
        if data.strip() == "[DONE]":
            self.finished = self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            log.warning("openai_chat: malformed SSE data ignored: %.200s", data)
            return []
        if not isinstance(chunk, dict):
            log.warning("openai_chat: non-object SSE data ignored: %.200s", data)
            return []
        if chunk.get("error"):
            raise ChatCompletionError(f"error in stream: {_error_text(chunk)}")
        self.usage = _usage(chunk.get("usage")) or self.usage
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return []
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
        if choice is None:
            return []
        events: list[LlmEvent] = []
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    events.append(TextDelta(text))
            _merge_tool_calls(self.calls, delta.get("tool_calls"))
        reason = choice.get("finish_reason")
        if reason:
            self.finished = True
            if reason == "length":
                log.warning("openai_chat: reply cut at the token limit")
            elif reason not in ("stop", "tool_calls", "function_call"):
                log.info("openai_chat: finish_reason %r", reason)
            events += _complete_calls(self.calls)
        return events


def _merge_tool_calls(calls: dict[int, _ToolCallParts], fragments: Any) -> None:
    if not isinstance(fragments, list):
        return
    for fragment in fragments:
        if not isinstance(fragment, dict):
            continue
        index = fragment.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # Some servers omit the index: a new id opens a new call, otherwise extend the last.
            new_id = fragment.get("id")
            known = {parts.call_id for parts in calls.values()}
            index = len(calls) if (new_id and new_id not in known) or not calls else max(calls)
        parts = calls.setdefault(index, _ToolCallParts())
        call_id = fragment.get("id")
        if isinstance(call_id, str) and call_id and not parts.call_id:
            parts.call_id = call_id  # some servers repeat the id on every fragment
        function = fragment.get("function")
        if not isinstance(function, dict):
            continue
        name = function.get("name")
        if isinstance(name, str) and name and name != parts.name:
            # The name comes whole in the first fragment; a few servers repeat it (skip) or
            # split it (append).
            parts.name = name if not parts.name else parts.name + name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            parts.arguments.append(arguments)
        elif isinstance(arguments, dict):  # a few servers send parsed arguments
            parts.arguments.append(json.dumps(arguments))


def _complete_calls(calls: dict[int, _ToolCallParts]) -> list[ToolCallRequest]:
    requests = []
    for index in sorted(calls):
        parts = calls[index]
        if not parts.name:
            log.warning("openai_chat: tool call %d without a name dropped", index)
            continue
        requests.append(
            ToolCallRequest(
                call_id=parts.call_id or f"call_{uuid.uuid4().hex[:24]}",
                name=parts.name,
                # A tool without parameters may stream no arguments at all; "{}" validates.
                arguments="".join(parts.arguments) or "{}",
            )
        )
    calls.clear()
    return requests


def _usage(value: Any) -> LlmUsage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return LlmUsage(prompt_tokens=prompt, completion_tokens=completion)


def _events_from_completion(raw: bytes) -> list[LlmEvent]:
    """A server that ignored ``stream: true`` and answered one JSON ChatCompletion."""
    try:
        completion = json.loads(raw)
        message = completion["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ChatCompletionError("unreadable non-streamed reply") from exc
    events: list[LlmEvent] = []
    if isinstance(message.get("content"), str) and message["content"]:
        events.append(TextDelta(message["content"]))
    calls: dict[int, _ToolCallParts] = {}
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        _merge_tool_calls(calls, [{"index": i, **c} for i, c in enumerate(tool_calls) if isinstance(c, dict)])
    events.extend(_complete_calls(calls))
    usage = _usage(completion.get("usage"))
    if usage is not None:
        events.append(usage)
    return events


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) >= limit:
            break
    return bytes(body[:limit])


async def _error_summary(response: httpx.Response) -> str:
    raw = await _read_limited(response, ERROR_BODY_LIMIT)
    try:
        return _error_text(json.loads(raw))
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:300] or response.reason_phrase


def _error_text(payload: Any) -> str:
    """OpenAI: {"error": {"message": ...}}; others: {"error": "..."} or {"detail": ...}."""
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]
    return str(payload)[:300]
