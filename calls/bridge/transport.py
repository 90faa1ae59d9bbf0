"""Telephony transports: a Twilio media-stream WebSocket seen as a ``TelephonyTransport``.

Two implementations share the ``TwilioMediaStreamSerializer``:

``QueueTransport``
    For a Django Channels consumer (or anything else that is *pushed* messages). The consumer
    owns the socket; it hands every received text frame to ``feed()`` and tells the transport
    when the socket went away with ``feed_closed()``. Output goes through the ``send_text``
    coroutine the consumer injects, and ``close(code)`` calls the injected ``close`` coroutine::

        class MediaStreamConsumer(AsyncWebsocketConsumer):
            async def connect(self):
                await self.accept()
                self.transport = QueueTransport(send_text=self._send_text, close=self._close)
                self.session_task = asyncio.create_task(self.run_call())

            async def receive(self, text_data=None, bytes_data=None):
                self.transport.feed(text_data if text_data is not None else bytes_data)

            async def disconnect(self, code):
                self.transport.feed_closed()
                ...  # await self.session_task (the session ends within about a second)

            async def _send_text(self, text):
                await self.send(text_data=text)

            async def _close(self, code):
                await self.close(code=code)

            async def run_call(self):
                started = await read_stream_start(self.transport)   # bind the call first
                session = CallSession(config, self.transport, engine, ..., started=started)
                outcome = await session.run()

``WebsocketsTransport``
    Over a ``websockets`` server connection: the benchmark relay, demos and the tests' real
    WebSocket server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from calls.bridge.frames import (
    CallerAudio,
    StreamConnected,
    StreamStarted,
    StreamStopped,
    TelephonyCommand,
    TelephonyEvent,
)
from calls.bridge.ports import ProtocolViolation, TelephonyTransport, TransportClosed
from calls.bridge.telephony.twilio import TwilioMediaStreamSerializer

logger = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY_VIOLATION = 1008
DEFAULT_MAX_PENDING = 500  # 10 s of caller audio at 50 frames/s
START_TIMEOUT_S = 10.0


async def read_stream_start(
    transport: TelephonyTransport, timeout_s: float = START_TIMEOUT_S
) -> StreamStarted:
    """Read ``connected`` (optional) then ``start`` from a fresh stream and return the start.

    The consumer calls this before building the ``CallSession`` so it can bind the stream to the
    ``Call`` row (signed token in ``custom_parameters``). Raises ``ProtocolViolation`` for anything
    else first (the serializer already rejects media before start), ``TransportClosed`` if the
    stream stops or the socket closes, ``TimeoutError`` if Twilio sends nothing in time.
    """
    async with asyncio.timeout(timeout_s):
        while True:
            event = await transport.receive()
            if isinstance(event, StreamStarted):
                return event
            if isinstance(event, StreamConnected):
                continue
            if isinstance(event, StreamStopped):
                raise TransportClosed("stream stopped before 'start'")
            raise ProtocolViolation(f"unexpected {type(event).__name__} before 'start'")


class MessageSerializer(Protocol):
    """A telephony side's wire format: one received message -> one event; a command -> one
    message (text, or bytes for binary audio). ``parse`` raises ``ProtocolViolation``."""

    def parse(self, message: str | bytes, /) -> TelephonyEvent: ...

    def serialize(self, command: TelephonyCommand, /) -> str | bytes: ...


class QueueTransport:
    """A ``TelephonyTransport`` fed by whoever owns the socket (a Channels consumer).

    Inbound:  ``feed(text)`` parses at once (so a hostile message is found early) and queues the
              frame or the ``ProtocolViolation``, which ``receive()`` raises in order. ``feed`` never
              blocks and never raises. ``feed_closed()`` makes ``receive()`` raise
              ``TransportClosed`` once the queued frames are consumed.
    Outbound: ``send(command)`` serializes and awaits the injected ``send_text`` (or, for a
              serializer that answers bytes, ``send_bytes``); a failure there surfaces as
              ``TransportClosed``.
    Close:    ``close(code)`` runs the injected ``close`` once (idempotent) and wakes ``receive()``.

    The inbound queue is bounded by ``max_pending``: if the session falls behind (an overloaded
    process), the oldest *caller audio* frames are dropped and counted in ``dropped_frames``;
    marks, DTMF and stop are never dropped.
    """

    def __init__(
        self,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        *,
        serializer: MessageSerializer | None = None,
        send_bytes: Callable[[bytes], Awaitable[None]] | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        name: str = "telephony",
    ) -> None:
        self.serializer: MessageSerializer = serializer or TwilioMediaStreamSerializer()
        self._send_text = send_text
        self._send_bytes = send_bytes
        self._close_socket = close
        self._max_pending = max_pending
        self._name = name
        self._pending: deque[TelephonyEvent | ProtocolViolation] = deque()
        self._wakeup = asyncio.Event()
        self._peer_closed = False
        self._closed = False
        self.close_code: int | None = None
        self.dropped_frames = 0

    @property
    def closed(self) -> bool:
        return self._closed or (self._peer_closed and not self._pending)

    def feed(self, text: str | bytes | None) -> None:
        """Hand over one received WebSocket message (text or bytes)."""
        if self._closed or self._peer_closed:
            return
        item: TelephonyEvent | ProtocolViolation
        try:
            item = self.serializer.parse(text if text is not None else b"")
        except ProtocolViolation as exc:
            item = exc
        if len(self._pending) >= self._max_pending and not self._drop_oldest_audio():
            # Only control frames are queued and the session is not reading: it is stuck or gone.
            item = ProtocolViolation("inbound backlog overflow")
        self._pending.append(item)
        self._wakeup.set()

    def _drop_oldest_audio(self) -> bool:
        for index, queued in enumerate(self._pending):
            if type(queued) is CallerAudio:
                del self._pending[index]
                self.dropped_frames += 1
                if self.dropped_frames in (1, 100, 1000) or self.dropped_frames % 10000 == 0:
                    logger.warning(
                        "%s inbound backlog: dropped %d caller frames", self._name, self.dropped_frames
                    )
                return True
        return False

    def feed_closed(self) -> None:
        """The socket is gone (consumer ``disconnect``)."""
        self._peer_closed = True
        self._wakeup.set()

    async def receive(self) -> TelephonyEvent:
        while True:
            if self._pending and not self._closed:
                item = self._pending.popleft()
                if isinstance(item, ProtocolViolation):
                    raise item
                return item
            if self._closed or self._peer_closed:
                raise TransportClosed(f"{self._name} socket closed")
            self._wakeup.clear()
            await self._wakeup.wait()

    async def send(self, command: TelephonyCommand) -> None:
        if self._closed or self._peer_closed:
            raise TransportClosed(f"{self._name} socket closed")
        message = self.serializer.serialize(command)
        try:
            if type(message) is str:
                await self._send_text(message)
            elif self._send_bytes is not None:
                await self._send_bytes(message)  # type: ignore[arg-type]  # not str: bytes
            else:
                raise TypeError("this transport has no binary channel")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._peer_closed = True
            self._wakeup.set()
            raise TransportClosed(f"send failed: {exc!r}") from exc

    async def close(self, code: int = CLOSE_NORMAL) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_code = code
        self._wakeup.set()
        if self._peer_closed:
            return
        try:
            await self._close_socket(code)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("closing the %s socket failed", self._name, exc_info=True)


class WebsocketsTransport:
    """A ``TelephonyTransport`` over a ``websockets`` (asyncio API) connection.

    Serve with ``max_size`` at or above 64 KiB and ``compression=None`` (Twilio does not negotiate
    compression, and deflate costs CPU on every frame).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        serializer: TwilioMediaStreamSerializer | None = None,
        close_timeout: float = 1.0,
    ) -> None:
        self.connection = connection
        self.serializer = serializer or TwilioMediaStreamSerializer()
        self._close_timeout = close_timeout
        self._closed = False
        self.close_code: int | None = None

    async def receive(self) -> TelephonyEvent:
        if self._closed:
            raise TransportClosed("telephony socket closed")
        try:
            message = await self.connection.recv()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else "no close frame"
            raise TransportClosed(f"telephony socket closed ({code})") from None
        return self.serializer.parse(message)

    async def send(self, command: TelephonyCommand) -> None:
        if self._closed:
            raise TransportClosed("telephony socket closed")
        text = self.serializer.serialize(command)
        try:
            await self.connection.send(text)
        except ConnectionClosed:
            raise TransportClosed("telephony socket closed") from None

    async def close(self, code: int = CLOSE_NORMAL) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_code = code
        # websockets waits for the peer's close frame; bound it so a dead peer cannot stall us.
        try:
            async with asyncio.timeout(self._close_timeout):
                await self.connection.close(code)
        except TimeoutError:
            self.connection.transport.abort()
        except (ConnectionClosed, OSError):
            pass
