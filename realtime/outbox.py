"""A connection's ordered outbox with its backpressure: the one place a frame leaves.

Frames are queued in order and written by one writer per connection, so nothing that sends
(the consumer, the hub) ever waits for a client. The writer starts in the caller's own step and
becomes a task only if the socket makes it wait (`start_eagerly`): most writes finish at once,
and a task per delivery was a fifth of a fan-out's CPU. A client that reads too slowly, with
more than OUTBOUND_LIMIT_BYTES waiting, is abandoned and closed as too slow (4009).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from django.conf import settings

from . import metrics, protocol
from .protocol import Close

logger = logging.getLogger(__name__)
OUTBOUND_LIMIT_BYTES = settings.RELAY["OUTBOUND_LIMIT_BYTES"]


class Outbox:
    """The frames waiting to be written to one socket, in order.

    `send` is the server's ASGI send; `name` tells the log which connection this is.
    """

    def __init__(
        self, send: Callable[[dict], Awaitable[None]], name: Callable[[], str | None]
    ) -> None:
        self.send = send
        self.name = name
        self.messages: deque[dict] = deque()
        self.size = 0  # bytes of text waiting
        self.writing = False
        self.held = True  # nothing leaves until released (connect() queues the first frames)
        self.closing = False
        self.writer: asyncio.Task | None = None
        self.close_code: int | None = None  # the server's, once it closes

    def send_frame(self, frame: dict) -> None:
        if frame.get("event") == "error":
            metrics.error_sent(frame["code"])
        self.push_text(protocol.encode(frame))

    def push_text(self, text: str) -> None:
        self.enqueue({"type": "websocket.send", "text": text}, len(text))

    def close_with(self, code: int) -> None:
        """Close after the frames already queued (plain int: servers check `type(code)`)."""
        self.enqueue({"type": "websocket.close", "code": int(code)}, 0)
        self.close_code = self.close_code or int(code)
        self.closing = True

    async def close_now(self, code: int) -> None:
        """Close at once, ahead of anything queued (the server is shutting down)."""
        await self.send({"type": "websocket.close", "code": int(code)})
        self.close_code = int(code)

    def shut(self) -> None:
        """The connection is gone: drop what waits and queue nothing more."""
        self.closing = True
        self.messages.clear()

    def enqueue(self, message: dict, size: int) -> None:
        if self.closing:
            return
        self.messages.append(message)
        self.size += size
        if self.size > OUTBOUND_LIMIT_BYTES and size:
            return self.abandon(Close.TOO_SLOW)
        self.kick()

    def abandon(self, code: int) -> None:
        """The client does not read: drop what waits for it, stop the writer stuck behind it,
        and close (the server aborts the socket if even the close frame cannot go out)."""
        self.messages.clear()
        self.size = 0
        self.closing = True
        self.close_code = int(code)
        if self.writer is not None:
            self.writer.cancel()
        asyncio.get_running_loop().create_task(
            self.write({"type": "websocket.close", "code": int(code)})
        )

    async def write(self, message: dict) -> None:
        try:
            await self.send(message)
        except Exception:
            # The socket is gone; websocket.disconnect follows and cleans up.
            logger.debug("could not write to %s", self.name(), exc_info=True)

    def release(self) -> None:
        """Let the outbox flow (connect() holds it until the first frames are queued)."""
        self.held = False
        self.kick()

    def kick(self) -> None:
        if self.messages and not self.writing and not self.held:
            self.writing = True
            writer = start_eagerly(self.drain())
            if self.writing:  # the socket made it wait: the rest is the task's
                self.writer = writer

    async def drain(self) -> None:
        try:
            while self.messages:
                message = self.messages.popleft()
                if message["type"] == "websocket.send":
                    self.size -= len(message["text"])
                    metrics.frame_out()
                await self.send(message)
        except Exception:
            # The socket is gone; websocket.disconnect follows and cleans up.
            logger.debug("could not write to %s", self.name(), exc_info=True)
            self.messages.clear()
            self.closing = True
        finally:
            self.writing = False
            self.writer = None


_STARTED = object()


class _Started(Coroutine):
    """A coroutine already run by hand up to its first wait, for a task to carry on."""

    __slots__ = ("coroutine", "waiting")

    def __init__(self, coroutine: Coroutine, waiting: Any) -> None:
        self.coroutine = coroutine
        self.waiting = waiting  # what it yielded: the future it waits for (or None)

    def send(self, value: Any) -> Any:
        if self.waiting is not _STARTED:
            # The task's first step: wait for what the coroutine already waits for.
            waiting, self.waiting = self.waiting, _STARTED
            return waiting
        return self.coroutine.send(value)

    def throw(self, *args: Any) -> Any:
        self.waiting = _STARTED
        return self.coroutine.throw(*args)

    def close(self) -> None:
        self.coroutine.close()

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self) -> Any:
        return self.send(None)


def start_eagerly(coroutine: Coroutine) -> asyncio.Task | None:
    """Run `coroutine` now, in the caller's step, up to its first wait; from there a task runs
    it (Python 3.12's eager tasks, by hand). None when it finished without waiting."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_Started(coroutine, waiting))
