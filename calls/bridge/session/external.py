"""Requests from outside the call: an operator on the dashboard hangs it up or transfers it.

They arrive on whatever task receives the operator's message (a Channels consumer's dispatch),
never on a session task, so ``submit`` only queues them. The session's own control loop, one task
of its TaskGroup, acts on them and ends the call through ``decide``/``end_now`` like every other
ending: the shutdown (engine closed, REST hang-up for ``agent_hangup``, last flush) is the usual one.

Unlike the ``transfer_to_human`` tool, an operator's transfer does not wait for a handover line:
nobody asked the agent to say one, and the operator wants the caller moved now.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calls.bridge.session.core import CallSession

logger = logging.getLogger(__name__)

MAX_PENDING_REQUESTS = 8  # an operator double-clicking must not queue without end
REDIRECT_TIMEOUT_S = 5.0
MAX_REQUESTER_CHARS = 150


@dataclass(frozen=True, slots=True)
class EndRequest:
    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    twiml: str
    requested_by: str = ""


ExternalRequest = EndRequest | TransferRequest


class ExternalControl:
    def __init__(self, session: CallSession) -> None:
        self._session = session
        self._requests: asyncio.Queue[ExternalRequest] = asyncio.Queue(maxsize=MAX_PENDING_REQUESTS)

    def submit(self, request: ExternalRequest) -> bool:
        """Queue a request; ``False`` if the call is already ending (or the queue is full)."""
        if self._session.end_reason is not None or self._requests.full():
            return False
        self._requests.put_nowait(request)
        return True

    async def loop(self) -> None:
        while True:
            request = await self._requests.get()
            if isinstance(request, EndRequest):
                self._end(request)
            else:
                await self._transfer(request)

    def _end(self, request: EndRequest) -> None:
        session = self._session
        if session.decide("agent_hangup"):
            session.journal.event(
                "operator_hangup", {"requested_by": request.requested_by[:MAX_REQUESTER_CHARS]}
            )
        session.end_now()

    async def _transfer(self, request: TransferRequest) -> None:
        session = self._session
        # Decide before redirecting: Twilio's 'stop' for the redirect must not read as a hang-up.
        if not session.decide("transferred"):
            session.end_now()  # something else ended the call meanwhile
        session.journal.event(
            "operator_transfer", {"requested_by": request.requested_by[:MAX_REQUESTER_CHARS]}
        )
        try:
            async with asyncio.timeout(REDIRECT_TIMEOUT_S):
                await session.control.redirect(request.twiml)
        except Exception as exc:
            logger.warning("call %s: operator transfer failed: %r", session.config.call_id, exc)
            message = f"transfer failed: {exc!r}"[:300]
            session.journal.event("error", {"source": "control", "message": message})
            # The caller is still on the line with nobody: end the call properly (REST hang-up).
            session.decide("agent_hangup", "transfer failed", override=True)
            session.end_now()
        session.journal.event("transferred", {})
        session.end_now()
