"""The Twilio media-stream consumer: a thin transport adapter around ``CallSession``.

1. Accept the socket and read ``start`` (the bridge's ``read_stream_start``).
2. Bind the stream to its Call in ONE database hop: the signed call token from ``start``'s
   custom parameters names the call and tenant, ``start.callSid`` must match it, and the
   upgrade's ``X-Twilio-Signature`` is checked with that tenant's auth token before anything is
   written. Any mismatch closes with 1008.
3. Run the ``CallSession`` with the call's immutable config, a database-backed recorder (batched
   flushes that also carry the call's heartbeat), the Twilio REST control and the tool executor.
4. End the call with the session's reason and figures.

Across workers: the call's state is in the database, and the call proves its worker is alive with
a heartbeat (``Call.heartbeat_at``): piggybacked on transcript flushes, a lone UPDATE when the call
is quiet. If the worker dies, the reaper (``calls.reap_lost_calls``) ends the call. A draining
worker (SIGTERM, see ``voxsaas.drain``) refuses new streams with 1013 and finishes its calls.

Engine failure: the caller is never left in silence. With a transfer number on the agent (and not
already back from a transfer), the live call is redirected to a fallback line and a ``<Dial>`` to
that human; otherwise the socket closes and Twilio plays the ``<Say>`` after ``<Connect>``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from twilio.twiml.voice_response import VoiceResponse

from calls import services
from calls.bridge.engines.base import EngineError
from calls.bridge.engines.registry import build_engine
from calls.bridge.ports import EventEntry, ProtocolViolation, TranscriptEntry, TransportClosed
from calls.bridge.session import CallSession
from calls.bridge.transport import CLOSE_POLICY_VIOLATION, QueueTransport, read_stream_start
from calls.config_snapshot import with_variables
from calls.consumer_dispatch import ReceiveLoopsMixin
from calls.live import LiveCallMixin, dial_twiml, publish_flush
from calls.precall import fetch_precall_variables
from calls.redaction import VerificationRedactor
from calls.toolbox import CallRuntime, CallToolExecutor
from calls.twilio.rest import TwilioRestClient
from calls.twilio.signature import is_valid_signature
from calls.twilio.tokens import InvalidCallToken, make_dial_token, read_call_token
from calls.twilio.twiml import SORRY_NOBODY_AVAILABLE
from calls.views import stream_url
from voxsaas import metrics
from voxsaas.drain import worker
from voxsaas.jsonlog import bind_call

log = logging.getLogger(__name__)

# How long a disconnect waits for the session to wind down (it closes the engine within ~1 s).
SESSION_WIND_DOWN_S = 5.0


async def wind_down(call_task: asyncio.Task[None] | None, what: str) -> None:
    """After the socket closed: let the call's task finish (it ends within about a second once
    its transport reports the close), cancelling it after ``SESSION_WIND_DOWN_S``."""
    if call_task is None or call_task.done():
        return
    try:
        async with asyncio.timeout(SESSION_WIND_DOWN_S):
            await asyncio.shield(call_task)
    except TimeoutError:
        log.error("%s did not end %.0f s after the socket closed; cancelling", what, SESSION_WIND_DOWN_S)
        call_task.cancel()


# RFC 6455 "Try Again Later": a draining worker refuses new streams with it.
CLOSE_TRY_AGAIN_LATER = 1013
# RFC 6455 "Internal Error": the call could not be set up or run; Twilio plays the fallback.
CLOSE_INTERNAL_ERROR = 1011
# Ending of a call cut short by the drain deadline (DRAIN_TIMEOUT_S) of a stopping worker.
WORKER_SHUTDOWN = "worker_shutdown"
FAILOVER_LINE = "Sorry, I'm having trouble right now. Let me put you through to a colleague."
FAILOVER_DIAL_TIMEOUT_S = 30
REDIRECT_TIMEOUT_S = 5.0


class DatabaseCallRecorder:
    """``CallRecorder`` port: one ``database_sync_to_async`` hop per flush, never per frame.
    Secrets the caller speaks during verification are redacted before they are stored.

    It also keeps the call's heartbeat: a flush carries one (same hop, same transaction) when
    half an interval has passed since the last, and ``keep_alive()`` writes a lone one when the
    call has been quiet for a whole interval. ``call_bind_stream`` wrote the first."""

    def __init__(
        self,
        *,
        tenant_id: int,
        call_pk: int,
        starts_in_verification: bool,
        heartbeat_every_s: float,
        call_public_id: str = "",
    ) -> None:
        self._write = database_sync_to_async(services.call_record_batch)
        self._beat = database_sync_to_async(services.call_heartbeat)
        self._redactor = VerificationRedactor(starts_in_verification=starts_in_verification)
        self.tenant_id = tenant_id
        self.call_pk = call_pk
        self.heartbeat_every_s = heartbeat_every_s
        self.call_public_id = call_public_id  # set: each stored flush goes to the live view
        self._clock = asyncio.get_running_loop().time
        self.last_beat = self._clock()
        self.beats = 0

    async def flush(self, segments: list[TranscriptEntry], events: list[EventEntry]) -> None:
        segments = self._redactor.apply(segments, events)
        beat = self._clock() - self.last_beat >= self.heartbeat_every_s / 2
        await self._write(
            tenant_id=self.tenant_id, call_pk=self.call_pk, segments=segments, events=events, heartbeat=beat
        )
        if beat:
            self._beaten()
        if self.call_public_id:
            await publish_flush(
                tenant_id=self.tenant_id, call_public_id=self.call_public_id, segments=segments, events=events
            )

    def _beaten(self) -> None:
        self.last_beat = self._clock()
        self.beats += 1

    async def keep_alive(self) -> None:
        """Runs beside the session: beat whenever no flush has carried a beat for an interval."""
        warned = False
        while True:
            quiet_for = self._clock() - self.last_beat
            await asyncio.sleep(max(0.5, self.heartbeat_every_s - quiet_for))
            if self._clock() - self.last_beat < self.heartbeat_every_s:
                continue
            try:
                alive = await self._beat(tenant_id=self.tenant_id, call_pk=self.call_pk)
            except Exception as exc:  # the database is away: try again shortly
                log.warning("call heartbeat failed: %r", exc)
                continue
            self._beaten()
            if not alive and not warned:
                warned = True
                log.warning("the call was ended elsewhere (reaped or hung up) while its session runs")


class TwilioCallControl:
    """``CallControl`` port over the async Twilio REST client."""

    def __init__(self, client: TwilioRestClient, call_sid: str) -> None:
        self.client = client
        self.call_sid = call_sid

    async def hang_up(self) -> None:
        await self.client.hang_up(self.call_sid)

    async def redirect(self, twiml: str) -> None:
        await self.client.redirect(self.call_sid, twiml)


class MediaStreamConsumer(ReceiveLoopsMixin, LiveCallMixin, AsyncWebsocketConsumer):
    # ReceiveLoopsMixin: no Task + asyncio.wait per audio message; the channel layer stays (the
    # ``call-<id>`` group carries operators' hang-up and transfer requests, see LiveCallMixin).
    transport: QueueTransport
    call_task: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale DB connections (a thread hop) before EVERY message; audio frames
        # never touch the ORM here (all DB work goes through database_sync_to_async, which
        # manages connections itself), so skip that hop on the hot path.
        if message["type"] == "websocket.receive":
            self.transport.feed(
                message.get("text") if message.get("text") is not None else message.get("bytes")
            )
            return
        await super().dispatch(message)

    async def connect(self) -> None:
        self.transport = QueueTransport(send_text=self._send_text, close=self._close)
        await self.accept()
        if worker.draining:
            # The balancer stops routing here once /readyz fails; a stream that still arrives is
            # refused and Twilio plays the fallback after <Connect>.
            metrics.STREAMS_REFUSED.inc()
            log.warning("draining: refused a new media stream")
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        self.call_task = asyncio.create_task(self._run_call_guarded(), name="media-stream-call")
        worker.call_started(self.call_task)

    async def _run_call_guarded(self) -> None:
        """Never leave a caller in silence: any unexpected failure while setting up or running
        the call closes the stream with 1011, so Twilio plays the fallback after <Connect>."""
        try:
            await self.run_call()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("media stream failed unexpectedly")
            await self.transport.close(CLOSE_INTERNAL_ERROR)

    async def disconnect(self, code: int) -> None:
        self.transport.feed_closed()
        await wind_down(self.call_task, "call session")

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    def _upgrade_signature(self) -> str | None:
        for name, value in self.scope.get("headers", []):
            if name == b"x-twilio-signature":
                return str(value.decode("latin-1"))
        return None

    async def run_call(self) -> None:
        try:
            started = await read_stream_start(self.transport)
        except (ProtocolViolation, TimeoutError) as exc:
            log.warning("media stream refused before start: %s", exc)
            await self.transport.close(CLOSE_POLICY_VIOLATION)
            return
        except TransportClosed:
            return

        try:
            token = read_call_token(started.custom_parameters.get("token", ""))
        except InvalidCallToken as exc:
            log.warning("media stream refused: %s", exc)
            await self.transport.close(CLOSE_POLICY_VIOLATION)
            return
        bind_call(call_id=token.call_public_id, tenant_id=token.tenant_id)  # every log line from here on
        signature = self._upgrade_signature()
        url = stream_url()

        def signed_by(auth_token: str) -> bool:
            return is_valid_signature(auth_token, url, {}, signature)

        try:
            bound = await database_sync_to_async(services.call_bind_stream)(
                tenant_id=token.tenant_id,
                call_public_id=token.call_public_id,
                call_sid=started.call_id,
                stream_sid=started.stream_id,
                signature_check=signed_by,
                worker_id=settings.WORKER_ID,
            )
        except services.StreamBindingError as exc:
            log.warning("media stream refused: %s", exc)
            await self.transport.close(CLOSE_POLICY_VIOLATION)
            return

        control = TwilioCallControl(
            TwilioRestClient(
                base_url=settings.TWILIO_API_BASE_URL,
                account_sid=bound.twilio_account_sid,
                auth_token=bound.twilio_auth_token,
            ),
            bound.call_sid,
        )
        await self._run_session(bound, started, control)

    async def _personalise(self, bound: services.BoundCall) -> services.BoundCall:
        url = str(bound.revision_config.get("precall_url") or "")
        if not url or bound.config.variables.get("returning"):
            return bound
        extra = await fetch_precall_variables(
            url=url,
            timeout_ms=int(bound.revision_config.get("precall_timeout_ms", 1500)),
            caller=bound.caller_number,
            called=bound.called_number,
            agent_id=str(bound.revision_config.get("agent_id", "")),
        )
        return replace(bound, config=with_variables(bound.config, bound.revision_config, extra))

    async def _run_session(self, bound: services.BoundCall, started: Any, control: TwilioCallControl) -> None:
        ending: services.CallEnding
        bound = await self._personalise(bound)
        runtime = CallRuntime(
            tenant_id=bound.tenant_id,
            call_pk=bound.call_pk,
            call_public_id=bound.config.call_id,
            caller_number=bound.caller_number,
            called_number=bound.called_number,
            config=bound.revision_config,
            time_zone=bound.config.variables.get("time_zone", "UTC"),
            variables=bound.config.variables,
        )
        failover = failover_twiml(bound)
        try:
            engine = build_engine(bound.config.engine)
        except EngineError as exc:
            log.error("engine unavailable for call %s: %s", bound.config.call_id, exc)
            ending = await self._engine_unavailable(control, failover)
            metrics.record_call_end(
                reason=ending.end_reason,
                engine=bound.config.engine.kind,
                engine_failed=True,
                turn_latencies_ms=(),
            )
        else:
            recorder = DatabaseCallRecorder(
                tenant_id=bound.tenant_id,
                call_pk=bound.call_pk,
                starts_in_verification=bound.config.first_stage == "verification",
                heartbeat_every_s=float(settings.CALL_HEARTBEAT_INTERVAL_S),
                call_public_id=bound.config.call_id,
            )
            session = CallSession(
                bound.config,
                self.transport,
                engine,
                recorder,
                control,
                CallToolExecutor(runtime),
                started,
                failover_twiml=failover,
            )
            ending = await self._bridge(bound, session, recorder)
        await self._end(bound, ending)

    async def _bridge(
        self, bound: services.BoundCall, session: CallSession, recorder: DatabaseCallRecorder
    ) -> services.CallEnding:
        # Operators on the dashboard see the call and may hang it up or transfer it.
        await self.live_call_started(
            tenant_id=bound.tenant_id,
            call_public_id=bound.config.call_id,
            session=session,
            transfer_twiml=lambda: dial_twiml(
                call_public_id=bound.config.call_id,
                tenant_id=bound.tenant_id,
                revision_config=bound.revision_config,
                called_number=bound.called_number,
            ),
        )
        keepalive = asyncio.create_task(recorder.keep_alive(), name="call-heartbeat")
        metrics.MEDIA_FRAMES.track(session.counters)
        try:
            outcome = await session.run()
        except asyncio.CancelledError:
            # The drain deadline (or a session that would not wind down) cancelled the call:
            # run() has already closed both sides and flushed; record the ending, then stop.
            if session.end_reason == "transferred":
                reason = services.TRANSFERRED
            else:
                reason = WORKER_SHUTDOWN if worker.draining else "internal_error"
            await self._end(bound, services.CallEnding(reason, session.stream_clock.now_ms(), [], {}))
            raise
        finally:
            keepalive.cancel()
            await asyncio.gather(keepalive, return_exceptions=True)
            metrics.MEDIA_FRAMES.finish(session.counters)
        engine_failed = "engine_error" in (outcome.end_reason, outcome.failed_over_from)
        metrics.record_call_end(
            reason=outcome.end_reason,
            engine=bound.config.engine.kind,
            engine_failed=engine_failed,
            turn_latencies_ms=outcome.turn_latencies_ms,
        )
        return services.CallEnding(
            end_reason=outcome.end_reason,
            duration_ms=outcome.duration_ms,
            turn_latencies_ms=list(outcome.turn_latencies_ms),
            usage=dict(outcome.usage),
            recording_wav=outcome.recording_wav,
        )

    async def _engine_unavailable(
        self, control: TwilioCallControl, failover: str | None
    ) -> services.CallEnding:
        """The engine could not even be built: fail over to a human, or let Twilio's fallback
        ``<Say>`` after ``<Connect>`` run by closing the socket."""
        if failover is not None:
            try:
                async with asyncio.timeout(REDIRECT_TIMEOUT_S):
                    await control.redirect(failover)
            except Exception as exc:
                log.warning("failover redirect failed: %r", exc)
            else:
                await self.transport.close(1000)
                return services.CallEnding(services.TRANSFERRED, 0, [], {})
        await self.transport.close(1011)  # Twilio continues with the fallback <Say>
        return services.CallEnding("engine_error", 0, [], {})

    async def _end(self, bound: services.BoundCall, ending: services.CallEnding) -> None:
        await database_sync_to_async(services.call_end)(
            tenant_id=bound.tenant_id, call_pk=bound.call_pk, ending=ending
        )
        await self.live_call_ended(
            tenant_id=bound.tenant_id, call_public_id=bound.config.call_id, reason=ending.end_reason
        )


def failover_twiml(bound: services.BoundCall) -> str | None:
    """Where a caller goes when the engine fails: a short line, then the agent's human number,
    with the transfer's usual ``<Dial action>`` (an unanswered dial returns to the agent or ends
    politely, as the agent is configured). None without a transfer number, and for a caller who
    is already back from a transfer: that human did not answer a moment ago."""
    number = str(bound.revision_config.get("transfer_number") or "")
    if not number or bound.config.variables.get("returning"):
        return None
    token = make_dial_token(call_public_id=bound.config.call_id, tenant_id=bound.tenant_id)
    response = VoiceResponse()
    response.say(FAILOVER_LINE)
    response.dial(
        number,
        caller_id=bound.called_number,
        timeout=FAILOVER_DIAL_TIMEOUT_S,
        action=f"{settings.PUBLIC_BASE_URL}/twilio/dial-action?t={token}",
    )
    response.say(SORRY_NOBODY_AVAILABLE)  # only heard if the dial-action callback can't be reached
    response.hangup()
    return str(response)
