"""The drain's decisions, without a server: when it stops listening, when it stops, what it does
with calls that outlive the deadline, and a second SIGTERM."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from voxsaas.drain import DrainController, WorkerState


@dataclass
class FakeServer:
    events: list[str] = field(default_factory=list)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    unlistened: asyncio.Event = field(default_factory=asyncio.Event)

    def stop_listening(self) -> None:
        self.events.append("unlisten")
        self.unlistened.set()

    def stop(self) -> None:
        self.events.append("stop")
        self.stopped.set()


def controller(
    state: WorkerState, server: FakeServer, *, timeout_s: float, unlisten_after_s: float
) -> DrainController:
    return DrainController(
        state,
        timeout_s=timeout_s,
        unlisten_after_s=unlisten_after_s,
        stop_listening=server.stop_listening,
        stop_server=server.stop,
        cancel_grace_s=1.0,
    )


async def test_waits_for_the_last_call_then_stops() -> None:
    state, server = WorkerState(), FakeServer()
    hang_up = asyncio.Event()
    call = asyncio.create_task(hang_up.wait())
    state.call_started(call)
    drain = controller(state, server, timeout_s=30, unlisten_after_s=30)
    drain.begin()
    assert state.draining and state.drain_started_at is not None
    await asyncio.sleep(0)
    assert server.events == [] and not call.done()  # the call goes on
    hang_up.set()
    async with asyncio.timeout(2):
        await server.stopped.wait()
    assert server.events == ["stop"]  # stopped before the unlisten delay: nothing else to do
    assert not call.cancelled()


async def test_stops_listening_after_the_delay_while_calls_go_on() -> None:
    state, server = WorkerState(), FakeServer()
    hang_up = asyncio.Event()
    state.call_started(asyncio.create_task(hang_up.wait()))
    drain = controller(state, server, timeout_s=30, unlisten_after_s=0)
    drain.begin()
    async with asyncio.timeout(2):
        await server.unlistened.wait()
    assert server.events == ["unlisten"]
    hang_up.set()
    async with asyncio.timeout(2):
        await server.stopped.wait()
    assert server.events == ["unlisten", "stop"]


async def test_calls_still_running_at_the_deadline_are_cancelled_and_awaited() -> None:
    state, server = WorkerState(), FakeServer()
    cleaned_up: list[str] = []

    async def call() -> None:
        try:
            await asyncio.Event().wait()  # never hangs up
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # the consumer records the ending before it stops
            cleaned_up.append("ended")
            raise

    task = asyncio.create_task(call())
    state.call_started(task)
    drain = controller(state, server, timeout_s=0.1, unlisten_after_s=30)
    drain.begin()
    async with asyncio.timeout(3):
        await server.stopped.wait()
    assert task.cancelled() and cleaned_up == ["ended"]
    assert state.active_calls == 0


async def test_an_idle_worker_stops_at_once_and_a_second_sigterm_stops_now() -> None:
    state, server = WorkerState(), FakeServer()
    controller(state, server, timeout_s=30, unlisten_after_s=30).begin()
    async with asyncio.timeout(1):
        await server.stopped.wait()

    busy, impatient = WorkerState(), FakeServer()
    state_call = asyncio.create_task(asyncio.Event().wait())
    busy.call_started(state_call)
    drain = controller(busy, impatient, timeout_s=30, unlisten_after_s=30)
    drain.begin()
    drain.begin()  # the operator insists
    assert impatient.events == ["stop"]
    state_call.cancel()
    await asyncio.gather(state_call, return_exceptions=True)
    assert drain.task is not None
    await asyncio.wait_for(drain.task, 2)
