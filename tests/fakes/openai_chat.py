"""A faithful fake of an OpenAI-compatible ``POST /v1/chat/completions`` endpoint.

Checks what OpenAI checks: ``Authorization: Bearer <key>`` (401 with OpenAI's error shape),
a JSON body with ``model`` and well-formed ``messages``, tools in function format, and
``tool_choice``/``stream_options`` only where they are allowed (400). Streams SSE chunks in the
real ``chat.completion.chunk`` shape: a role chunk, ``delta.content`` pieces (word-sized, like
tokens), ``delta.tool_calls`` with ``index``/``id``/``type``/``function.name`` first and
``function.arguments`` in fragments, a ``finish_reason`` chunk, then a usage chunk with empty
``choices`` when ``stream_options.include_usage`` is set, then ``data: [DONE]``.
Non-streaming requests get one ``chat.completion`` JSON.

Replies are scripted per request (``add_reply``; a ``responder`` callable; else an echo of the
last user message). A reply can fail (any status), or stall after N chunks until the client goes
away. Every request is recorded; ``disconnected`` is set when a client drops a streaming reply.
``chunk_delay_s`` / ``first_chunk_delay_s`` emulate model speed for demos and benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.local_server import LocalAiohttpServer

ROLES = {"system", "developer", "user", "assistant", "tool"}


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: str | dict[str, Any] = "{}"
    call_id: str | None = None


@dataclass(frozen=True)
class ScriptedReply:
    text: str = ""
    tool_calls: Sequence[ScriptedToolCall] = ()
    finish_reason: str | None = None  # default: "tool_calls" when there are some, else "stop"
    status: int = 200  # anything else: an error reply with ``error_message``
    error_message: str = "The server had an error while processing your request."
    stall_after_chunks: int | None = None  # stop sending after this many chunks, keep the socket
    arguments_chunk_chars: int = 7


@dataclass
class RecordedRequest:
    path: str
    headers: Mapping[str, str]  # case-insensitive, like HTTP
    body: dict[str, Any]
    peer: tuple[str, int] | None  # the client's address: same port = same (reused) connection


class FakeOpenAIChat(LocalAiohttpServer):
    def __init__(
        self,
        *,
        api_key: str = "test-openai-key",
        responder: Callable[[dict[str, Any]], ScriptedReply] | None = None,
        chunk_delay_s: float = 0.0,
        first_chunk_delay_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.responder = responder
        self.chunk_delay_s = chunk_delay_s
        self.first_chunk_delay_s = first_chunk_delay_s
        self.replies: list[ScriptedReply] = []
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.disconnected = asyncio.Event()  # a client dropped a streaming reply
        self.stalled = asyncio.Event()  # a reply is stalling (scripted)
        self.completed = 0  # streaming replies sent to the end
        self.model_listings: list[RecordedRequest] = []  # GET /models (clients warming up)
        self.model_listed = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add_reply(self, text: str = "", *tool_calls: ScriptedToolCall, **options: Any) -> None:
        self.replies.append(ScriptedReply(text=text, tool_calls=tool_calls, **options))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/models", self._models)

    # -------------------------------------------------------------------------------- serving

    async def _models(self, request: web.Request) -> web.Response:
        self.model_listings.append(RecordedRequest(request.path, _safe_headers(request), {}, _peer(request)))
        self.model_listed.set()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "fake"}]}
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        self.requests.append(RecordedRequest(request.path, _safe_headers(request), body, _peer(request)))
        problem = _validate(body)
        if problem:
            return _error(400, problem, "invalid_request_error")
        reply = self._next_reply(body)
        if reply.status != 200:
            return _error(
                reply.status,
                reply.error_message,
                "server_error" if reply.status >= 500 else "invalid_request_error",
            )
        if not body.get("stream"):
            return web.json_response(_completion(body, reply))
        return await self._stream(request, body, reply)

    def _next_reply(self, body: dict[str, Any]) -> ScriptedReply:
        if self.replies:
            return self.replies.pop(0)
        if self.responder is not None:
            return self.responder(body)
        last_user: dict[str, Any] = next(
            (m for m in reversed(body["messages"]) if m.get("role") == "user"), {}
        )
        return ScriptedReply(text=f"You said: {last_user.get('content') or 'nothing'}.")

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: ScriptedReply
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }
        chunks = list(_chunks(base, reply, include_usage))
        try:
            for number, chunk in enumerate(chunks):
                if reply.stall_after_chunks is not None and number >= reply.stall_after_chunks:
                    self.stalled.set()
                    await asyncio.Event().wait()  # until the client goes away (cancels us)
                delay = self.first_chunk_delay_s if number == 0 else self.chunk_delay_s
                if delay:
                    await asyncio.sleep(delay)  # emulated model speed, not synchronisation
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            self.completed += 1
        except (ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            self.disconnected.set()
            raise
        return response


def _chunks(base: dict[str, Any], reply: ScriptedReply, include_usage: bool) -> Any:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None  # present but null on every chunk but the last, like OpenAI
        return out

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    pieces = re.findall(r"\s*\S+", reply.text)
    for piece in pieces:
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        call_id = call.call_id or f"call_{uuid.uuid4().hex[:24]}"
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [first]})
        step = max(reply.arguments_chunk_chars, 1)
        for start in range(0, len(arguments), step):
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": arguments[start : start + step]}}]}
            )
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    yield chunk({}, finish)
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(base, reply, len(pieces))}


def _usage(body: dict[str, Any], reply: ScriptedReply, pieces: int) -> dict[str, int]:
    completion = pieces + sum(1 + len(str(c.arguments)) // 4 for c in reply.tool_calls)
    prompt = 42
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(body: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.call_id or f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments),
                },
            }
            for c in reply.tool_calls
        ]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(body, reply, len(reply.text.split())),
    }


def _validate(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"Invalid value for 'messages[{i}].role'"
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            return f"Missing required parameter: 'messages[{i}].tool_call_id'"
        for call in message.get("tool_calls") or []:
            if not isinstance(call, dict) or call.get("type") != "function" or "function" not in call:
                return f"Invalid value for 'messages[{i}].tool_calls'"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "'tools' must be an array"
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
                return f"Missing required parameter: 'tools[{i}].function.name'"
            if "parameters" in function and not isinstance(function["parameters"], dict):
                return f"Invalid 'tools[{i}].function.parameters': expected an object"
    if "tool_choice" in body and not tools:
        return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    if "stream_options" in body and not body.get("stream"):
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return None


def _safe_headers(request: web.Request) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() != "authorization")


def _peer(request: web.Request) -> tuple[str, int] | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return (peer[0], peer[1]) if peer else None


def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status
    )
