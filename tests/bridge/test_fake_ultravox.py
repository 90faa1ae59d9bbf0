"""The fake Ultravox itself: the mistakes it catches, and the protocol it speaks to a raw client.

The engine tests rely on the fake being strict and faithful; these tests pin that down without
the engine in the way (plain httpx and websockets clients)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.fakes.ultravox import FakeUltravox, Script, ToolStep, Turn, synthesize

API_KEY = "fake-key"
VALID_BODY: dict[str, Any] = {
    "systemPrompt": "Be brief.",
    "firstSpeakerSettings": {"user": {}},
    "vadSettings": {"turnEndpointDelay": "0.384s"},
    "maxDuration": "900s",
    "selectedTools": [
        {
            "temporaryTool": {
                "modelToolName": "lookup",
                "description": "Look something up.",
                "client": {},
                "timeout": "0.2s",
                "dynamicParameters": [
                    {
                        "name": "q",
                        "location": "PARAMETER_LOCATION_BODY",
                        "schema": {"type": "string"},
                        "required": True,
                    }
                ],
            }
        },
        {"toolName": "hangUp"},
    ],
    "medium": {
        "serverWebSocket": {"inputSampleRate": 8000, "outputSampleRate": 8000, "clientBufferSizeMs": 30000}
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeUltravox]:
    async with FakeUltravox(api_key=API_KEY, script=Script(playback_speed=50)) as server:
        yield server


async def create(fake: FakeUltravox, body: Any, key: str = API_KEY) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{fake.url}/api/calls", json=body, headers={"X-API-Key": key})


def altered(path: list[str | int], value: Any) -> dict[str, Any]:
    """VALID_BODY with one field replaced (``value`` None: removed)."""
    body = copy.deepcopy(VALID_BODY)
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (altered(["medium", "serverWebSocket", "inputSampleRate"], None), "inputSampleRate is required"),
        (altered(["medium"], None), "medium"),
        (altered(["maxDuration"], 900), "maxDuration"),
        (altered(["vadSettings", "turnEndpointDelay"], "384ms"), "turnEndpointDelay"),
        (altered(["system_prompt"], "typo"), "unknown field(s) system_prompt"),
        (altered(["firstSpeakerSettings"], {"agent": {}, "user": {}}), "firstSpeakerSettings"),
        (
            altered(["selectedTools", 0, "temporaryTool", "http"], {"baseUrlPattern": "x"}),
            "exactly one of http",
        ),
        (
            altered(
                ["selectedTools", 0, "temporaryTool", "dynamicParameters", 0, "location"],
                "PARAMETER_LOCATION_QUERY",
            ),
            "client tools accept only PARAMETER_LOCATION_BODY",
        ),
        (altered(["selectedTools", 0, "temporaryTool", "timeout"], "41s"), "at most 40s"),
        (altered(["selectedTools", 1], {"toolName": "lookup"}), "duplicate tool name"),
        (altered(["temperature"], 1.5), "temperature"),
        ([], "expected an object"),
    ],
)
async def test_create_call_rejects_malformed_bodies(fake: FakeUltravox, body: Any, message: str) -> None:
    response = await create(fake, body)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert fake.calls == []


async def test_create_call_needs_the_api_key(fake: FakeUltravox) -> None:
    assert (await create(fake, VALID_BODY, key="nope")).status_code == 401
    assert fake.create_requests[0].status == 401


async def test_create_call_answers_201_with_a_local_join_url(fake: FakeUltravox) -> None:
    response = await create(fake, VALID_BODY)
    assert response.status_code == 201
    payload = response.json()
    assert payload["joinUrl"] == f"ws://127.0.0.1:{fake.url.rsplit(':', 1)[1]}/calls/{payload['callId']}/ws"
    assert payload["endReason"] is None and payload["medium"] == VALID_BODY["medium"]
    async with httpx.AsyncClient() as client:
        got = await client.get(f"{fake.url}/api/calls/{payload['callId']}", headers={"X-API-Key": API_KEY})
    assert got.json()["callId"] == payload["callId"]


async def join(fake: FakeUltravox, body: dict[str, Any] = VALID_BODY) -> ClientConnection:
    join_url = (await create(fake, body)).json()["joinUrl"]
    # max_queue=None: these tests do not read every agent frame, and a bounded queue would stop
    # reading the socket and stall the close handshake.
    return await connect(join_url + "?apiVersion=1", compression=None, max_queue=None)


async def next_json(ws: ClientConnection) -> dict[str, Any]:
    """The next data message, skipping agent audio."""
    async with asyncio.timeout(5):
        while True:
            message = await ws.recv()
            if isinstance(message, str):
                decoded: dict[str, Any] = json.loads(message)
                return decoded


async def test_websocket_basics(fake: FakeUltravox) -> None:
    async with await join(fake) as ws:
        call = await fake.wait_for_call()
        assert await next_json(ws) == {"type": "call_started", "callId": call.call_id}
        assert await next_json(ws) == {"type": "state", "state": "listening"}
        await ws.send(json.dumps({"type": "ping", "timestamp": 1712345678.5}))
        assert await next_json(ws) == {"type": "pong", "timestamp": 1712345678.5}
        await ws.send(json.dumps({"type": "no_such_message"}))
        await ws.send(json.dumps({"type": "user_text_message", "text": "just context", "urgency": "later"}))
        await ws.send(b"\x00\x01\x02")
        await call.wait_until(lambda c: c.received_audio_bytes == 3)
        assert call.protocol_errors == [
            "unknown client message type 'no_such_message'",
            "binary frame of odd length 3 (not s16le)",
        ]
        assert call.turns_taken == 0  # "later" text is context only
    await call.ended.wait()
    assert call.end_reason == "hangup"


async def test_end_of_turn_needs_the_configured_silence(fake: FakeUltravox) -> None:
    speech = synthesize("one two three", 8000)
    async with await join(fake) as ws:
        call = await fake.wait_for_call()
        await ws.send(speech)
        await ws.send(b"\x00\x00" * 8 * 300)  # 300 ms of silence, plus the voice's trailing gap
        await call.wait_until(lambda c: c.received_audio_bytes == len(speech) + 4800)
        assert call.turns_taken == 0
        await ws.send(b"\x00\x00" * 8 * 200)
        await call.wait_until(lambda c: c.turns_taken == 1)


async def test_agent_audio_stays_within_the_client_buffer(fake: FakeUltravox) -> None:
    fake.script = Script(playback_speed=8, chunk_ms=20)
    body = altered(["medium", "serverWebSocket", "clientBufferSizeMs"], 200)
    greeting = "Hello there, this greeting is long enough that pacing decides when it arrives."
    body["firstSpeakerSettings"] = {"agent": {"text": greeting}}
    loop = asyncio.get_running_loop()
    async with await join(fake, body) as ws:
        received_ms, start, last_audio_at = 0.0, loop.time(), 0.0
        while True:
            message = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(message, bytes):
                received_ms += len(message) / 16
                last_audio_at = loop.time()
            elif json.loads(message) == {"type": "state", "state": "listening"}:
                break
        elapsed_ms = (last_audio_at - start) * 1000
    # Unpaced, the whole greeting would arrive at once. Paced, Ultravox stays at most 200 ms
    # ahead of an 8x playback clock. Half the ideal figure leaves room for scheduling noise;
    # a slow machine only makes elapsed time longer.
    assert received_ms > 2000
    assert elapsed_ms >= 0.5 * (received_ms - 200) / 8


async def test_tool_timeout_and_invalid_stage_are_recorded(fake: FakeUltravox) -> None:
    fake.script = Script(
        turns=[
            Turn("a", tool=ToolStep("lookup", {"q": "x"}), reply="Done."),
            Turn("b", tool=ToolStep("lookup")),
        ],
        playback_speed=50,
    )
    async with await join(fake) as ws:
        call = await fake.wait_for_call()
        await ws.send(json.dumps({"type": "user_text_message", "text": "a", "urgency": "immediate"}))
        await call.wait_until(lambda c: len(c.timed_out_invocations) == 1)  # 0.2 s tool timeout
        await call.wait_until(lambda c: c.state == "listening" and c.turns_taken == 1)
        await ws.send(json.dumps({"type": "user_text_message", "text": "b", "urgency": "immediate"}))
        await call.wait_until(lambda c: len(c.invocations) == 2)
        invocation = call.invocations[1]
        stage = json.dumps({"systemPrompt": "next", "model": "not-changeable"})
        await ws.send(json.dumps({"type": "client_tool_result", "invocationId": invocation["invocationId"],
                                  "result": stage, "responseType": "new-stage"}))  # fmt: skip
        await call.wait_until(lambda c: invocation["invocationId"] in c.tool_results)
    assert call.stages == []
    assert call.protocol_errors == ["invalid new-stage result: new-stage result: unknown field(s) model"]
