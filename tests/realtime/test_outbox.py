"""The outbox: frames leave in order, written at once when the socket allows, by a task when
it makes the writer wait; a stuck writer is abandoned."""

from __future__ import annotations

import asyncio

import pytest

from realtime.outbox import Outbox, start_eagerly


class Socket:
    """An ASGI send that records what it wrote; `block()` makes writes wait until `unblock()`."""

    def __init__(self) -> None:
        self.written: list[dict] = []
        self.open = asyncio.Event()
        self.open.set()

    def block(self) -> None:
        self.open.clear()

    def unblock(self) -> None:
        self.open.set()

    async def send(self, message: dict) -> None:
        await self.open.wait()
        self.written.append(message)


def texts(socket: Socket) -> list[str]:
    return [m.get("text", m["type"]) for m in socket.written]


async def test_a_coroutine_that_never_waits_runs_to_the_end_in_the_callers_step():
    done = []

    async def work():
        done.append(1)

    assert start_eagerly(work()) is None
    assert done == [1]


async def test_a_coroutine_that_waits_is_carried_on_by_a_task():
    gate = asyncio.get_running_loop().create_future()
    steps = []

    async def work():
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield too
        return "result"

    task = start_eagerly(work())
    assert steps == ["before"]
    gate.set_result("after")
    assert await task == "result"
    assert steps == ["before", "after"]


async def test_cancelling_the_task_reaches_the_waiting_coroutine():
    cleaned = []

    async def work():
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            cleaned.append(True)

    task = start_eagerly(work())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_frames_are_written_at_once_when_the_socket_allows():
    socket = Socket()
    outbox = Outbox(socket.send, lambda: "c")
    outbox.release()
    outbox.push_text("one")
    outbox.push_text("two")
    assert texts(socket) == ["one", "two"]  # nothing scheduled: written in the caller's step
    assert outbox.writer is None and not outbox.writing


async def test_frames_keep_their_order_across_a_wait_for_the_socket():
    socket = Socket()
    outbox = Outbox(socket.send, lambda: "c")
    outbox.release()
    outbox.push_text("one")
    socket.block()
    outbox.push_text("two")  # the writer waits on the socket from here
    outbox.push_text("three")
    assert texts(socket) == ["one"]
    assert outbox.writer is not None
    socket.unblock()
    await outbox.writer
    outbox.push_text("four")
    assert texts(socket) == ["one", "two", "three", "four"]


async def test_a_held_outbox_writes_nothing_until_released():
    socket = Socket()
    outbox = Outbox(socket.send, lambda: "c")
    outbox.push_text("id")
    assert texts(socket) == []
    outbox.release()
    assert texts(socket) == ["id"]


async def test_a_client_that_does_not_read_is_abandoned_with_4009(monkeypatch):
    monkeypatch.setattr("realtime.outbox.OUTBOUND_LIMIT_BYTES", 10)
    socket = Socket()
    outbox = Outbox(socket.send, lambda: "c")
    outbox.release()
    socket.block()
    outbox.push_text("12345")  # stuck in the socket
    stuck = outbox.writer
    outbox.push_text("12345678901")  # past the limit
    await asyncio.sleep(0)
    assert stuck.cancelled() or stuck.done()
    assert outbox.closing and outbox.close_code == 4009
    socket.unblock()
    for _ in range(10):
        await asyncio.sleep(0)
    assert texts(socket)[-1] == "websocket.close"
    assert socket.written[-1]["code"] == 4009
