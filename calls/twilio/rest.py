"""Async client for the Twilio REST operations a live call needs (hang up, redirect, dial out).

The Twilio SDK is blocking, so live-call control uses httpx. The base URL is the
``TWILIO_API_BASE_URL`` setting (tests and self-hosters point it elsewhere).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

TWILIO_CALL_NOT_FOUND = 20404


class TwilioRestError(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio REST error {status} (code {code}): {message}")
        self.status = status
        self.code = code


@dataclass
class TwilioRestClient:
    base_url: str
    account_sid: str
    auth_token: str
    timeout_s: float = 5.0

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}",
            auth=(self.account_sid, self.auth_token),
            timeout=self.timeout_s,
            follow_redirects=False,
        )

    async def _post(self, path: str, data: dict[str, str | list[str]]) -> dict[str, Any]:
        async with self._client() as client:
            response = await client.post(path, data=data)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise TwilioRestError(response.status_code, body.get("code"), str(body.get("message", ""))[:200])
        result: dict[str, Any] = response.json()
        return result

    async def update_call(self, call_sid: str, **fields: str) -> dict[str, Any] | None:
        """POST Calls/{sid}.json. Returns None when the call no longer exists (already ended)."""
        try:
            return await self._post(f"/Calls/{call_sid}.json", dict(fields))
        except TwilioRestError as exc:
            if exc.code == TWILIO_CALL_NOT_FOUND or exc.status == 404:
                return None
            raise

    async def hang_up(self, call_sid: str) -> None:
        await self.update_call(call_sid, Status="completed")

    async def redirect(self, call_sid: str, twiml: str) -> None:
        await self.update_call(call_sid, Twiml=twiml)

    async def create_call(
        self, *, to: str, from_: str, twiml: str, **extra: str | list[str]
    ) -> dict[str, Any]:
        """POST Calls.json. A list value repeats the field (e.g. StatusCallbackEvent)."""
        return await self._post("/Calls.json", {"To": to, "From": from_, "Twiml": twiml, **extra})
