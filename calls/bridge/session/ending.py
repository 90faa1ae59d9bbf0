"""How a session ends: close the engine at once; on the telephony side, when the engine died,
redirect the live call to the failover TwiML (a fallback line and a transfer to a human) if the
session has one, else play the fallback line; hang the phone call up through the REST API when
our side ended it (so Twilio does not run the TwiML after ``<Connect>``), then close the socket;
finally flush the journal one last time.

It runs after the session's TaskGroup has ended, in a small TaskGroup of its own, so the two
sides are closed concurrently: the engine within a second whatever the telephony side does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from calls.bridge.frames import CallerAudio, ClearPlayback, MarkPlayed, StreamStopped
from calls.bridge.ports import ProtocolViolation, TransportClosed
from calls.bridge.session.outcome import AGENT_SIDE_ENDS, FALLBACK_ENDS, EndReason
from calls.bridge.session.signals import SessionEnd

if TYPE_CHECKING:
    from calls.bridge.session.core import CallSession

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 1.0
HANGUP_TIMEOUT_S = 3.0
FALLBACK_EXTRA_S = 2.0  # wait for the fallback's mark this long beyond its duration


async def shut_down(session: CallSession) -> None:
    reason = session.end_reason or "internal_error"
    async with asyncio.TaskGroup() as group:
        group.create_task(_close_engine(session))
        group.create_task(_end_telephony(session, reason))
    ended: dict[str, str] = {"reason": session.end_reason or reason}
    if session.failed_over_from:
        ended["failed_over_from"] = session.failed_over_from
    if session.error:
        ended["error"] = session.error
    session.journal.event("call_ended", ended)
    # Partial transcripts of utterances cut by the ending were dropped before: the transcript
    # lost the agent's (or caller's) last words whenever a call ended mid-sentence.
    session.journal.close_open()
    await session.journal.final_flush()


async def _close_engine(session: CallSession) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await session.engine.close()
    except Exception as exc:
        logger.warning("call %s: engine close failed: %r", session.config.call_id, exc)


async def _end_telephony(session: CallSession, reason: EndReason) -> None:
    played_fallback = False
    failover = session.failover_twiml if reason in FALLBACK_ENDS and not session.caller_gone else None
    if failover and await _fail_over(session, reason, failover):
        # Twilio now runs the failover TwiML and ends the stream itself: nothing to hang up.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S * 2):
                await session.transport.close(1000)
        return
    if reason in FALLBACK_ENDS and session.fallback_audio and not session.caller_gone:
        try:
            played_fallback = await _play_fallback(session, session.fallback_audio)
        except Exception:
            logger.exception("call %s: playing the fallback line failed", session.config.call_id)
    if not session.caller_gone and (reason in AGENT_SIDE_ENDS or played_fallback):
        try:
            async with asyncio.timeout(HANGUP_TIMEOUT_S):
                await session.control.hang_up()
        except Exception as exc:
            logger.warning("call %s: hang-up through the REST API failed: %r", session.config.call_id, exc)
            message = f"hang_up failed: {exc!r}"[:300]
            session.journal.event("error", {"source": "control", "message": message})
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S * 2):
            await session.transport.close(1008 if reason == "protocol_error" else 1000)
    except Exception as exc:
        logger.warning("call %s: closing the telephony transport failed: %r", session.config.call_id, exc)


async def _play_fallback(session: CallSession, mulaw: bytes) -> bool:
    """Play the fallback line after the group ended (the engine is dead) and read the
    transport ourselves until its last mark is echoed. ``True`` if it was heard."""
    try:
        now = session.stream_clock.now_ms()
        if session.playback.has_unplayed:
            session.playback.interrupt(now)
            await session.transport.send(ClearPlayback())
            session.counters.clears += 1
            if session.wav is not None:
                session.wav.cut_agent(now)
        plan = session.playback.audio(mulaw, "fallback", now)
        plan.commands.extend(session.playback.done("fallback", now).commands)
        await session.send_plan(plan)
        session.journal.event("fallback_played", {"ms": len(mulaw) // 8})
        async with asyncio.timeout(len(mulaw) / 8000 + FALLBACK_EXTRA_S):
            while not session.playback.drained.is_set():
                event = await session.transport.receive()
                if isinstance(event, MarkPlayed):
                    session.playback.on_mark(event.name, session.stream_clock.now_ms())
                elif isinstance(event, CallerAudio):
                    session.stream_clock.observe_media(event.timestamp_ms)
                    if session.wav is not None:
                        session.wav.add_caller(event.mulaw, event.timestamp_ms)
                elif isinstance(event, StreamStopped):
                    session.caller_gone = True
                    return False
        return True
    except (TransportClosed, SessionEnd):
        session.caller_gone = True
    except (ProtocolViolation, TimeoutError) as exc:
        logger.info("call %s: fallback line not confirmed: %r", session.config.call_id, exc)
    return False


async def _fail_over(session: CallSession, reason: EndReason, twiml: str) -> bool:
    """Redirect the live call to the failover TwiML (the caller hears a line, then a human is
    dialled). ``True`` when Twilio took it; the session then ends as ``transferred``."""
    try:
        async with asyncio.timeout(HANGUP_TIMEOUT_S):
            await session.control.redirect(twiml)
    except Exception as exc:
        logger.warning("call %s: failover redirect failed: %r", session.config.call_id, exc)
        message = f"failover redirect failed: {exc!r}"[:300]
        session.journal.event("error", {"source": "control", "message": message})
        return False
    session.journal.event("failover", {"from": reason})
    session.failed_over_from = reason
    session.decide("transferred", session.error, override=True)
    return True
