"""The relay's WebSocket consumer: a connection's lifecycle and its request handlers.

A thin loop around `protocol` and `Delivery`; every frame it sends leaves through its
`Outbox` (`outbox.py`), and what it reads of its project is `projects.live_settings`.

Whatever raises while a connection is handled, the client gets an error frame (`unavailable`)
or a close, and the connection's registry entry and hub membership are released with the
admins told (`leave`, which runs however the consumer ends).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace

from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull, StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from accounts.client_address import scope_client_address
from projects.keys import keys_match
from projects.live_settings import PUBLIC_ID, ProjectSettings, load_project
from projects.origins import origin_allowed

from . import actions, control, events, liveness, metrics, protocol, rates
from .admin_limit import get_admin_limit
from .delivery import Delivery
from .hub import ADMINS, BROADCASTS, EVERYONE, check_cancelled, get_hub
from .outbox import Outbox
from .protocol import Close, Code, Policy, Status
from .registry import Entry, get_registry, utc_now_iso

logger = logging.getLogger(__name__)
# What a backing service (Redis, the layer, the database) raises when it is down or full.
BACKING_SERVICE_ERRORS = (RedisError, OSError, TimeoutError, ChannelFull)
PONG_TEXT = protocol.encode(protocol.PONG)


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RelayConsumer(AsyncJsonWebsocketConsumer):
    """One WebSocket. It has no channel-layer channel of its own: the process's hub holds one
    mailbox for all its connections and calls `enqueue`, `approved`, `project_changed` and
    `server_lost`."""

    conn_id: str | None = None
    project: ProjectSettings | None = None
    registered_entry: Entry | None = None  # what it registered, while registered

    @property
    def registered(self) -> bool:
        return self.registered_entry is not None

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        self.base_send = send
        self.channel_layer = None
        # Nothing leaves until connect() has queued the first frames.
        self.outbox = Outbox(send, lambda: self.conn_id)
        self.timer: asyncio.TimerHandle | None = None  # the approval timeout
        self.hub = None
        self.status = Status.PENDING
        self.stale = False  # the project changed while connect() was reading it
        try:
            # One source of messages, read in this task: Channels' await_many_dispatch would
            # start a task and an asyncio.wait for every frame.
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # The server is shutting down: tell the client to come back, and the admins.
            if self.conn_id is not None:
                try:
                    await self.outbox.close_now(Close.SERVER_RESTARTING)
                    metrics.closed(self.outbox.close_code)
                except Exception:
                    logger.debug("could not say goodbye to %s", self.conn_id, exc_info=True)
            raise
        finally:
            await self.leave()

    async def dispatch(self, message: dict) -> None:
        # Channels' own dispatch runs aclose_old_connections (a hop to a worker thread) before
        # every handler, every frame included. The only database access here is
        # `load_project`, and database_sync_to_async already does that clean-up around it.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception as exc:
            check_cancelled()
            self.failed(exc)

    def failed(self, exc: Exception) -> None:
        """A frame or a step could not be carried out: say so, never with a traceback."""
        if isinstance(exc, BACKING_SERVICE_ERRORS):
            logger.warning("connection %s: backing service failed: %r", self.conn_id, exc)
        else:
            logger.error("connection %s: unexpected error", self.conn_id, exc_info=exc)
        if not self.registered:
            # Not yet fully connected: it cannot be served now; let it come back.
            self.refuse(
                Code.UNAVAILABLE, protocol.UNAVAILABLE_REFUSAL.text, Close.SERVER_RESTARTING
            )
        else:
            self.outbox.send_frame(protocol.UNAVAILABLE_REFUSAL.frame())

    def guarded(self, coroutine) -> None:
        """Run a step of this connection in the background, its failures handled."""

        async def run() -> None:
            try:
                await coroutine
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                check_cancelled()
                self.failed(exc)

        asyncio.get_running_loop().create_task(run())

    # --- Lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        public_id = self.scope["url_route"]["kwargs"]["public_id"]
        await self.accept()
        if not PUBLIC_ID.fullmatch(public_id):
            return self.refuse(Code.PROJECT_NOT_FOUND, "no such project", Close.PROJECT_NOT_FOUND)
        self.registry = get_registry()
        self.hub = get_hub()
        self.delivery = Delivery(self.hub)
        self.conn_id = str(uuid.uuid4())
        # In the project's group before reading it: a change committed after the read
        # reaches this connection (`project_changed`), one committed before is in the read.
        self.public_id = public_id
        channel = await self.hub.attach(self, self.conn_id, public_id)
        await liveness.watch(self.hub)
        project = await self.hub.project_settings(public_id, load_project)
        if project is None:
            return self.refuse(Code.PROJECT_NOT_FOUND, "no such project", Close.PROJECT_NOT_FOUND)
        if not origin_allowed(header(self.scope, b"origin"), list(project.allowed_origins)):
            return self.refuse(
                Code.ORIGIN_NOT_ALLOWED, "this origin may not connect", Close.ORIGIN_NOT_ALLOWED
            )
        self.project = project
        if self.outbox.closing:
            return  # refused meanwhile (the project went away while it was read)
        entry = Entry(self.conn_id, channel, Status.PENDING, utc_now_iso())
        if not await self.registry.add(public_id, entry, project.max_connections):
            return self.refuse(
                Code.TOO_MANY_CONNECTIONS,
                "the project is at its connection limit",
                Close.TOO_MANY_CONNECTIONS,
            )
        self.registered_entry = entry
        metrics.connection_status(None, self.status)
        self.admin_key_used: str | None = None
        now = time.monotonic()
        self.bucket = rates.TokenBucket(project.rate_burst, project.rate_per_second, now)
        self.rate_refusals = rates.SlidingCount(
            protocol.RATE_LIMITED_CLOSE_AFTER, protocol.RATE_LIMITED_WINDOW
        )
        self.admin_failures = 0
        self.address = scope_client_address(self.scope)

        # The id is the first frame; the process is in the project's group already, so a
        # broadcast sent once the client knows its id reaches it (§3).
        self.outbox.send_frame(protocol.id_frame(self.conn_id))
        self.sync_audiences()
        self.outbox.release()
        await self.delivery.to_admins(public_id, protocol.new_id_frame(self.conn_id))
        events.emit(public_id, events.OPENED, self.conn_id)
        if self.status == Status.PENDING:
            self.timer = asyncio.get_running_loop().call_later(
                project.approval_timeout, self.expire
            )
        if self.stale:
            await self.reload_project()

    def refuse(self, code: Code, text: str, close: Close) -> None:
        self.outbox.send_frame(protocol.error_frame(code, text))
        self.outbox.close_with(close)
        self.outbox.release()

    def expire(self) -> None:
        self.timer = None
        if self.status == Status.PENDING:
            self.outbox.send_frame(protocol.timeout_frame())
            self.outbox.close_with(Close.NOT_APPROVED_IN_TIME)

    @property
    def entry(self) -> Entry | None:
        """Its registry entry with its status now, while registered: senders on this process
        address it without reading the registry (`Delivery.find`)."""
        if self.registered_entry is None:
            return None
        return replace(self.registered_entry, status=self.status)

    def set_status(self, status: Status) -> None:
        """Approved or admin: counted, and no longer timed out."""
        metrics.connection_status(self.status, status)
        self.status = status
        self.settle()

    def settle(self) -> None:
        """Approved or admin: the approval timeout no longer applies."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def websocket_disconnect(self, message: dict) -> None:
        code = self.outbox.close_code or message.get("code", 1005)
        self.outbox.close_code = code
        metrics.closed(code)
        await self.leave()
        raise StopConsumer()

    async def leave(self) -> None:
        """Release everything this connection holds; admins hear `left_id` once."""
        if self.conn_id is None:
            return
        conn_id, self.conn_id = self.conn_id, None
        self.outbox.shut()
        self.settle()
        if self.hub is not None:
            self.hub.detach(self, conn_id, self.public_id)
        if not self.registered:
            return
        self.registered_entry = None
        metrics.connection_status(self.status, None)
        events.emit(self.public_id, events.CLOSED, conn_id, code=self.outbox.close_code)
        try:
            if await self.registry.remove(self.public_id, conn_id):
                await self.delivery.left(self.public_id, conn_id)
        except Exception as exc:
            # Redis is down: the entry goes when this process is swept or Redis is emptied.
            logger.warning("connection %s left, but could not be unregistered: %r", conn_id, exc)

    def audiences(self) -> frozenset[str]:
        """The project's audiences this connection's status and the policy call for."""
        wanted = {EVERYONE}
        if self.status != Status.PENDING or self.project.policy == Policy.OPEN:
            wanted.add(BROADCASTS)
        if self.status == Status.ADMIN:
            wanted.add(ADMINS)
        return frozenset(wanted)

    def sync_audiences(self) -> None:
        self.hub.set_audiences(self, self.public_id, self.audiences())

    # --- Frames from the client -----------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        metrics.frame_in()
        if not self.registered or self.outbox.closing:
            return
        allowed = self.bucket.take(time.monotonic())
        if text_data is None:
            if len(bytes_data) > protocol.HARD_LIMIT_BYTES:
                return self.outbox.close_with(Close.MESSAGE_TOO_BIG)
            return self.outbox.send_frame(protocol.BINARY_REFUSAL.frame())
        if protocol.utf8_size_over(text_data, protocol.HARD_LIMIT_BYTES):
            return self.outbox.close_with(Close.MESSAGE_TOO_BIG)
        if protocol.utf8_size_over(text_data, self.project.max_message_bytes):
            return self.outbox.send_frame(
                protocol.too_large_refusal(self.project.max_message_bytes).frame()
            )
        if not allowed:
            self.outbox.send_frame(protocol.RATE_REFUSAL.frame())
            if self.rate_refusals.add(time.monotonic()):
                self.outbox.close_with(Close.RATE_LIMITED)
            return
        request = protocol.parse(text_data)
        if isinstance(request, protocol.Refusal):
            return self.outbox.send_frame(request.frame())
        if not protocol.pending_may(request, self.status, self.project.policy):
            return self.outbox.send_frame(protocol.NOT_APPROVED_REFUSAL.frame())
        await self.handlers[type(request)](self, request)

    async def on_ping(self, request: protocol.Ping) -> None:
        self.outbox.push_text(PONG_TEXT)

    async def on_send(self, request: protocol.Send) -> None:
        refused = await actions.send_message(
            self.public_id,
            self.project.policy,
            self.conn_id,
            self.status,
            request.to,
            request.data,
            self.delivery,
        )
        if refused is not None:
            self.outbox.send_frame(refused.frame())

    async def on_become_admin(self, request: protocol.BecomeAdmin) -> None:
        project = self.project
        failed = not keys_match(project.admin_key, request.key)
        # The address's failure limit is checked and this attempt recorded in one step.
        if not await get_admin_limit().admin_attempt(project.public_id, self.address, failed):
            return self.admin_failed(protocol.TOO_MANY_ATTEMPTS)
        if failed:
            return self.admin_failed(protocol.INVALID_KEY)
        self.admin_key_used = request.key
        if self.status != Status.ADMIN:
            self.set_status(Status.ADMIN)
            await self.registry.promote(project.public_id, self.conn_id, Status.ADMIN)
            await self.hub.barrier()
            self.sync_audiences()
            events.emit(project.public_id, events.ADMIN, self.conn_id)
        self.outbox.send_frame(protocol.admin_frame())

    def admin_failed(self, error: str) -> None:
        self.admin_failures += 1
        self.outbox.send_frame(protocol.admin_frame(error))
        if self.admin_failures >= protocol.ADMIN_FAILURES_PER_CONNECTION:
            self.outbox.close_with(Close.ADMIN_KEY_REFUSED)

    async def on_approve(self, request: protocol.Approve) -> None:
        if self.status != Status.ADMIN:
            return self.outbox.send_frame(
                protocol.approved_reply_frame(request.target, protocol.NOT_ADMIN)
            )
        if not isinstance(request.target, str):
            return self.outbox.send_frame(
                protocol.refusal(Code.INVALID_MESSAGE, '"id" must be a string').frame()
            )
        reply = protocol.approved_reply_frame(request.target)
        entry = await actions.approve(
            self.public_id,
            self.project.policy,
            request.target,
            lambda: self.outbox.send_frame(reply),
            self.delivery,
        )
        if entry is None:
            self.outbox.send_frame(
                protocol.approved_reply_frame(request.target, protocol.UNKNOWN_ID)
            )

    async def on_list_connections(self, request: protocol.ListConnections) -> None:
        if self.status != Status.ADMIN:
            return self.outbox.send_frame(protocol.NOT_ADMIN_REFUSAL.frame())
        connections = await actions.list_connections(self.public_id)
        self.outbox.send_frame(protocol.connections_frame(connections))

    handlers = {
        protocol.Ping: on_ping,
        protocol.Send: on_send,
        protocol.BecomeAdmin: on_become_admin,
        protocol.Approve: on_approve,
        protocol.ListConnections: on_list_connections,
    }

    # --- Called by the hub (synchronously: never block it) --------------------------------

    def approved(self) -> None:
        if not self.registered:
            return
        if self.status == Status.PENDING:
            self.set_status(Status.APPROVED)
            self.sync_audiences()
            events.emit(self.public_id, events.APPROVED, self.conn_id)
        self.outbox.send_frame(protocol.approved_notice_frame(self.conn_id))

    def project_changed(self, change: str) -> None:
        if self.conn_id is None:
            return
        if self.project is None:
            self.stale = True  # connect() is still reading it: it reads it again
        elif change == control.GONE:
            self.refuse(
                Code.PROJECT_NOT_FOUND,
                "the project was disabled or deleted",
                Close.PROJECT_NOT_FOUND,
            )
        else:
            self.guarded(self.reload_project())

    def server_lost(self) -> None:
        """This process's shared state is gone: the client should reconnect at once."""
        if self.conn_id is not None:
            self.outbox.close_with(Close.SERVER_RESTARTING)

    async def reload_project(self) -> None:
        self.stale = False
        project = await self.hub.project_settings(self.public_id, load_project)
        if not self.registered:
            return
        if project is None:
            return self.refuse(
                Code.PROJECT_NOT_FOUND,
                "the project was disabled or deleted",
                Close.PROJECT_NOT_FOUND,
            )
        self.project = project
        if self.status == Status.ADMIN and not keys_match(
            project.admin_key, self.admin_key_used or ""
        ):
            return self.outbox.close_with(Close.ADMIN_KEY_REFUSED)
        self.sync_audiences()

    # --- Called by the hub for frames fanned out to this connection ---------------------

    def enqueue(self, message: dict, size: int) -> None:
        self.outbox.enqueue(message, size)
