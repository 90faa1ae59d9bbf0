"""A Channels consumer loop without a new Task and an ``asyncio.wait`` for every message.

Channels' ``AsyncConsumer.__call__`` feeds ``dispatch`` through ``await_many_dispatch``: for
EVERY message it wraps the next ``receive()`` in a new Task and ``asyncio.wait``s on it and on the
pending channel-layer read (a waiter future and done-callbacks on both tasks, added and removed
again). For a Twilio media stream that is 100 messages a second per call (media and mark echoes)
and ~8% of a worker's CPU (bench/README.md, "Where daphne's CPU goes"). The media-stream
consumer cannot drop the channel layer: operators' hang-up and transfer requests reach the worker
bridging the call through its ``call-<id>`` group (``calls.live``).

``ReceiveLoopsMixin`` keeps Channels' contract and replaces only the loop: two long-lived tasks,
one awaiting the client's ``receive()`` directly, one awaiting the channel layer, sharing one lock
so that, as before, one message is dispatched at a time, in the order each source delivered them.
The consumer ends, as before, when a handler raises ``StopConsumer`` (cleanly) or anything else
(the exception propagates to the server), from either source, and when the server cancels it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

Message = dict[str, Any]


class ReceiveLoopsMixin:
    """Put first in the bases of an async Channels consumer (before ``AsyncWebsocketConsumer``)."""

    # Provided by channels.consumer.AsyncConsumer.
    channel_layer_alias: str
    channel_layer: Any
    channel_name: str
    channel_receive: Callable[[], Awaitable[Message]]
    base_send: Callable[[Message], Awaitable[None]]
    scope: dict[str, Any]
    dispatch: Callable[[Message], Awaitable[None]]

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if getattr(self, "_sync", False):
            raise TypeError("ReceiveLoopsMixin is for async consumers")
        # The same set-up as AsyncConsumer.__call__.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        one_at_a_time = asyncio.Lock()
        loops = [asyncio.create_task(self._dispatch_loop(receive, one_at_a_time), name="consumer-client")]
        if self.channel_layer is not None:
            loops.append(
                asyncio.create_task(
                    self._dispatch_loop(self.channel_receive, one_at_a_time), name="consumer-channel-layer"
                )
            )
        try:
            await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for loop in loops:
                loop.cancel()
            outcomes = await asyncio.gather(*loops, return_exceptions=True)
        for outcome in outcomes:  # the client's first, as await_many_dispatch would
            if isinstance(outcome, StopConsumer):
                return
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome

    async def _dispatch_loop(self, source: Callable[[], Awaitable[Message]], lock: asyncio.Lock) -> None:
        while True:
            message = await source()
            async with lock:
                await self.dispatch(message)
