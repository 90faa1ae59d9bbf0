"""Live-call control against the fake Twilio REST API (PROTOCOLS.md 1.5/1.6)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from calls.bridge.config import CallConfig, StageSpec, ToolSpec
from calls.bridge.frames import EngineHangUp, ToolCall
from calls.bridge.ports import ToolContext
from calls.bridge.session import CallSession
from calls.bridge.tools import ToolOutput, TransferCall
from calls.bridge.transport import read_stream_start
from tests.bridge.conftest import MemoryRecorder, MemoryTools, make_config
from tests.fakes.engines import ScriptedEngine, agent_speech
from tests.fakes.twilio import FakeTwilioCaller, FakeTwilioRest, new_sid

ACCOUNT = new_sid("AC")
TOKEN = "rest-auth-token"


class HttpCallControl:
    """What the Django side does for a live call, reduced to the wire: form POSTs with Basic auth."""

    def __init__(self, client: httpx.AsyncClient, call_sid: str) -> None:
        self._client = client
        self._path = f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json"

    async def hang_up(self) -> None:
        response = await self._client.post(self._path, data={"Status": "completed"})
        if response.status_code == 404 and response.json().get("code") == 20404:
            return  # already over
        response.raise_for_status()

    async def redirect(self, twiml: str) -> None:
        (await self._client.post(self._path, data={"Twiml": twiml})).raise_for_status()


async def test_fake_rest_api_speaks_twilios_shapes() -> None:
    async with FakeTwilioRest(ACCOUNT, TOKEN) as rest:
        async with httpx.AsyncClient(
            base_url=rest.base_url, auth=(ACCOUNT, TOKEN), trust_env=False
        ) as client:
            created = await client.post(
                f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
                data={"To": "+15557778888", "From": "+15550001111", "Twiml": "<Response/>"},
            )
            assert created.status_code == 201
            body = created.json()
            assert body["sid"].startswith("CA") and len(body["sid"]) == 34 and body["status"] == "queued"
            missing = await client.post(f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data={"To": "+1555"})
            assert missing.status_code == 400 and missing.json()["code"] == 21213
            unknown = await client.post(
                f"/2010-04-01/Accounts/{ACCOUNT}/Calls/CA{'0' * 32}.json", data={"Status": "completed"}
            )
            assert unknown.status_code == 404 and unknown.json()["code"] == 20404
            ended = await client.post(
                f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{body['sid']}.json", data={"Status": "completed"}
            )
            assert ended.status_code == 200 and ended.json()["status"] == "completed"
            again = await client.post(
                f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{body['sid']}.json", data={"Twiml": "<x/>"}
            )
            assert again.status_code == 400 and again.json()["code"] == 21220
        async with httpx.AsyncClient(
            base_url=rest.base_url, auth=(ACCOUNT, "wrong"), trust_env=False
        ) as intruder:
            denied = await intruder.post(f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data={"To": "+1"})
            assert denied.status_code == 401 and denied.json()["code"] == 20003
    assert [request.status for request in rest.requests] == [201, 400, 404, 200, 400, 401]
    assert rest.requests[0].form["Twiml"] == "<Response/>"


@contextlib.asynccontextmanager
async def live_call() -> AsyncIterator[tuple[FakeTwilioRest, FakeTwilioCaller, httpx.AsyncClient]]:
    """A fake Twilio (REST + media stream) and an authenticated local REST client."""
    # trust_env=False: never pick up a proxy from the environment; this talks to 127.0.0.1 only.
    async with (
        FakeTwilioRest(ACCOUNT, TOKEN) as rest,
        FakeTwilioCaller(account_sid=ACCOUNT) as caller,
        httpx.AsyncClient(base_url=rest.base_url, auth=(ACCOUNT, TOKEN), trust_env=False) as client,
    ):
        yield rest, caller, client


async def start_session(
    rest: FakeTwilioRest,
    caller: FakeTwilioCaller,
    client: httpx.AsyncClient,
    engine: ScriptedEngine,
    *,
    config: CallConfig | None = None,
    tools: MemoryTools | None = None,
) -> CallSession:
    transport = caller.link_in_memory()
    await caller.start()
    started = await read_stream_start(transport)
    rest.add_call(started.call_id, caller=caller)
    control = HttpCallControl(client, started.call_id)
    return CallSession(
        config or make_config(), transport, engine, MemoryRecorder(), control, tools or MemoryTools(), started
    )


async def test_agent_hangup_really_ends_the_phone_call() -> None:
    engine = ScriptedEngine(greeting=[*agent_speech(200, "bye"), EngineHangUp()])
    async with live_call() as (rest, caller, client):
        outcome = await (await start_session(rest, caller, client, engine)).run()
        await caller.wait_for(lambda: caller.closed.is_set(), 2.0)
    assert outcome.end_reason == "agent_hangup"
    assert rest.calls[caller.call_sid].status == "completed"
    assert rest.requests[-1].form == {"Status": "completed"}


async def test_transfer_redirects_the_live_call_and_twilio_ends_the_stream() -> None:
    twiml = "<Response><Dial>+15557778888</Dial></Response>"

    async def transfer(arguments: dict[str, object], context: ToolContext) -> object:
        return ToolOutput({"ok": True}, TransferCall(twiml))

    spec = ToolSpec(name="transfer", description="Transfer.", parameters={"type": "object"})
    config = make_config(stages={"main": StageSpec(name="main", system_prompt="Help.", tools=(spec,))})
    engine = ScriptedEngine(
        greeting=[ToolCall("t1", "transfer", "{}")],
        reply_to_tool=lambda call_id, result: agent_speech(100, "handover"),
    )
    async with live_call() as (rest, caller, client):
        tools = MemoryTools({"transfer": transfer})
        outcome = await (await start_session(rest, caller, client, engine, config=config, tools=tools)).run()
        await caller.wait_for(lambda: caller.closed.is_set(), 2.0)
    assert outcome.end_reason == "transferred"
    assert rest.calls[caller.call_sid].twiml == twiml
    assert rest.calls[caller.call_sid].history == ["redirect"]
    assert len(caller.played) == 800  # the handover line was heard before the redirect
