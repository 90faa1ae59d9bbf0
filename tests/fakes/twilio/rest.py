"""A fake of Twilio's REST API for live calls (PROTOCOLS.md 1.5, 1.6), plus webhook signing.

``FakeTwilioRest`` is an aiohttp server on 127.0.0.1 (random port):

- ``POST /2010-04-01/Accounts/{AC}/Calls.json`` creates a call -> 201 ``{"sid": "CA…", "status": "queued"}``;
- ``POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json`` with ``Status=completed`` (hang up) or
  ``Twiml=…`` / ``Url=…`` (redirect) -> 200 with the call JSON; unknown SID -> 404 with
  ``{"code": 20404, …}``; a call that is no longer in progress -> 400 ``{"code": 21220, …}``;
- ``GET`` of the same URL fetches the call.

Requests need HTTP Basic auth ``AccountSid:AuthToken`` (401 ``{"code": 20003}`` otherwise) and
are recorded in ``requests``. When a call is hung up or redirected and a ``FakeTwilioCaller`` is
linked to it, the fake ends that media stream (``stop`` + close) right after answering, as Twilio
ends a ``<Connect><Stream>``.

Usage::

    rest = FakeTwilioRest(account_sid, auth_token)
    await rest.start()                      # rest.base_url == "http://127.0.0.1:PORT"
    rest.add_call(caller.call_sid, caller=caller)
    ...
    await rest.stop()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.twilio.caller import FakeTwilioCaller, new_sid

API = "/2010-04-01"
ERROR_DOCS = "https://www.twilio.com/docs/errors/"


def sign_webhook(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """``X-Twilio-Signature`` for a webhook request, computed by twilio's own library (so it is
    independent of the code under test). Use the ``wss://`` URL and no params for a WebSocket."""
    return RequestValidator(auth_token).compute_signature(url, dict(params or {}))


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    status: int


@dataclass(slots=True)
class FakeCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    status: str
    direction: str
    twiml: str | None = None
    url: str | None = None
    history: list[str] = field(default_factory=list)
    caller: FakeTwilioCaller | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "direction": self.direction,
            "answered_by": None,
            "api_version": "2010-04-01",
            "uri": f"{API}/Accounts/{self.account_sid}/Calls/{self.sid}.json",
        }


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"code": code, "message": message, "more_info": f"{ERROR_DOCS}{code}", "status": status}
    return web.json_response(body, status=status)


class FakeTwilioRest:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.calls: dict[str, FakeCall] = {}
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.changed = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def add_call(
        self,
        sid: str | None = None,
        *,
        caller: FakeTwilioCaller | None = None,
        status: str = "in-progress",
        to: str = "+15550001111",
        from_: str = "+15552223333",
    ) -> str:
        """Register a live (inbound) call, optionally linked to its media stream."""
        sid = sid or (caller.call_sid if caller else new_sid("CA"))
        self.calls[sid] = FakeCall(sid, self.account_sid, to, from_, status, "inbound", caller=caller)
        return sid

    def link(self, call_sid: str, caller: FakeTwilioCaller) -> None:
        self.calls[call_sid].caller = caller

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(f"{API}/Accounts/{{account}}/Calls.json", self._create)
        app.router.add_post(f"{API}/Accounts/{{account}}/Calls/{{sid}}.json", self._update)
        app.router.add_get(f"{API}/Accounts/{{account}}/Calls/{{sid}}.json", self._fetch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Bind the socket ourselves: port 0 picks a free port and we can read it back.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self.base_url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilioRest:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------- handlers

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)

    async def _guard(self, request: web.Request) -> tuple[dict[str, str], web.Response | None]:
        form = {key: str(value) for key, value in (await request.post()).items()}
        if not self._authorized(request):
            return form, _error(401, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return form, _error(404, 20404, f"The requested resource {request.path} was not found")
        return form, None

    def _record(self, request: web.Request, form: dict[str, str], response: web.Response) -> web.Response:
        self.requests.append(RecordedRequest(request.method, request.path, form, response.status))
        self.changed.set()
        self.changed = asyncio.Event()
        return response

    async def _create(self, request: web.Request) -> web.Response:
        form, denied = await self._guard(request)
        if denied is not None:
            return self._record(request, form, denied)
        if not form.get("To"):
            return self._record(request, form, _error(400, 21201, "No 'To' number is specified"))
        if not form.get("From"):
            return self._record(request, form, _error(400, 21213, "No 'From' number is specified"))
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return self._record(request, form, _error(400, 21205, "Url parameter is required."))
        sid = new_sid("CA")
        call = FakeCall(sid, self.account_sid, form["To"], form["From"], "queued", "outbound-api")
        call.twiml, call.url = form.get("Twiml"), form.get("Url")
        self.calls[sid] = call
        return self._record(request, form, web.json_response(call.as_json(), status=201))

    async def _fetch(self, request: web.Request) -> web.Response:
        form, denied = await self._guard(request)
        if denied is not None:
            return self._record(request, form, denied)
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._record(
                request, form, _error(404, 20404, f"The requested resource {request.path} was not found")
            )
        return self._record(request, form, web.json_response(call.as_json()))

    async def _update(self, request: web.Request) -> web.Response:
        form, denied = await self._guard(request)
        if denied is not None:
            return self._record(request, form, denied)
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._record(
                request, form, _error(404, 20404, f"The requested resource {request.path} was not found")
            )
        if call.status in ("completed", "canceled", "failed", "busy", "no-answer"):
            return self._record(
                request, form, _error(400, 21220, "Call is not in-progress. Cannot redirect.")
            )
        status = form.get("Status")
        ends_stream = False
        if status in ("completed", "canceled"):
            call.status = status
            call.history.append(f"status:{status}")
            ends_stream = True
        elif form.get("Twiml") or form.get("Url"):
            call.twiml, call.url = form.get("Twiml"), form.get("Url")
            call.history.append("redirect")
            ends_stream = True  # new TwiML runs: the current <Connect><Stream> ends
        elif status:
            return self._record(request, form, _error(400, 20001, f"Invalid Status {status!r}"))
        response = self._record(request, form, web.json_response(call.as_json()))
        if ends_stream and call.caller is not None:
            # Twilio answers first and then tears the stream down; so does the fake.
            task = asyncio.ensure_future(call.caller.end_stream())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return response
