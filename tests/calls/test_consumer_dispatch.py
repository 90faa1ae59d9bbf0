"""``ReceiveLoopsMixin``: Channels' consumer contract without a Task + ``asyncio.wait`` per message.

Each contract test runs twice: on a consumer with the mixin and on the same consumer with
Channels' own loop (``await_many_dispatch``), so "behaves like Channels" is asserted, not assumed:
one dispatch at a time across the client and the channel layer, a handler's exception ends the
consumer with that exception, ``StopConsumer`` ends it cleanly and leaves no task behind. The
last test shows what the mixin is for: no task is created per client message.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from calls.consumer_dispatch import ReceiveLoopsMixin


@dataclass
class ProbeState:
    group: str = field(default_factory=lambda: f"probe-{uuid.uuid4().hex}")
    order: list[str] = field(default_factory=list)
    texts: int = 0
    texts_wanted: int = 0
    all_texts: asyncio.Event = field(default_factory=asyncio.Event)
    hold_started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    joined: asyncio.Event = field(default_factory=asyncio.Event)


class ChannelsProbe(AsyncWebsocketConsumer):
    """A consumer on Channels' own dispatch loop."""

    def __init__(self, state: ProbeState) -> None:
        super().__init__()
        self.state = state
        self.groups = [state.group]

    async def connect(self) -> None:
        await self.accept()
        self.state.joined.set()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.state.order.append(f"text:{text_data}")
        self.state.texts += 1
        if self.state.texts == self.state.texts_wanted:
            self.state.all_texts.set()

    async def probe_hold(self, message: dict[str, Any]) -> None:
        self.state.order.append("hold:start")
        self.state.hold_started.set()
        await self.state.release.wait()
        self.state.order.append("hold:end")

    async def probe_explode(self, message: dict[str, Any]) -> None:
        raise ValueError("a handler failed")


class LoopsProbe(ReceiveLoopsMixin, ChannelsProbe):
    """The same consumer on ``ReceiveLoopsMixin``."""


@pytest.fixture(params=[ChannelsProbe, LoopsProbe], ids=["channels", "receive-loops"])
def probe_class(request: pytest.FixtureRequest) -> type[ChannelsProbe]:
    probe: type[ChannelsProbe] = request.param
    return probe


async def _connected(probe_class: type[ChannelsProbe], state: ProbeState) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(probe_class.as_asgi(state=state), "/probe")
    connected, _ = await socket.connect(timeout=5)
    assert connected
    await state.joined.wait()
    return socket


async def test_one_message_is_dispatched_at_a_time(probe_class: type[ChannelsProbe]) -> None:
    state = ProbeState(texts_wanted=1)
    socket = await _connected(probe_class, state)
    await get_channel_layer().group_send(state.group, {"type": "probe.hold"})
    async with asyncio.timeout(10):
        await state.hold_started.wait()
    await socket.send_to(text_data="during")
    for _ in range(50):  # plenty of loop turns for a wrongly concurrent dispatch to run
        await asyncio.sleep(0)
    assert state.order == ["hold:start"]  # the client's message waits for the handler
    state.release.set()
    async with asyncio.timeout(5):
        await state.all_texts.wait()
    assert state.order == ["hold:start", "hold:end", "text:during"]
    await socket.disconnect()


async def test_a_failing_channel_layer_handler_ends_the_consumer_with_its_error(
    probe_class: type[ChannelsProbe],
) -> None:
    state = ProbeState()
    socket = await _connected(probe_class, state)
    await get_channel_layer().group_send(state.group, {"type": "probe.explode"})
    with pytest.raises(ValueError, match="a handler failed"):
        await socket.wait(timeout=10)


async def test_a_disconnect_ends_the_consumer_cleanly_and_leaves_no_task(
    probe_class: type[ChannelsProbe],
) -> None:
    before = asyncio.all_tasks()
    state = ProbeState(texts_wanted=1)
    socket = await _connected(probe_class, state)
    await socket.send_to(text_data="hello")
    async with asyncio.timeout(5):
        await state.all_texts.wait()
    await socket.disconnect()  # websocket.disconnect -> StopConsumer; raises if the app failed
    await socket.wait(timeout=5)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
    assert leftover == set()


async def test_no_task_is_created_per_client_message(probe_class: type[ChannelsProbe]) -> None:
    frames = 200
    state = ProbeState(texts_wanted=frames)
    socket = await _connected(probe_class, state)
    loop = asyncio.get_running_loop()
    created = 0

    def count_tasks(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(count_tasks)
    try:
        for n in range(frames):
            await socket.send_to(text_data=str(n))
        async with asyncio.timeout(10):
            await state.all_texts.wait()
    finally:
        loop.set_task_factory(None)
    await socket.disconnect()
    if probe_class is LoopsProbe:
        assert created == 0
    else:  # Channels: a new Task for the next receive() after every message
        assert created >= frames
