"""The relay's WebSocket consumer: a thin loop around `protocol` and `Delivery`."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from projects.keys import keys_match
from projects.models import Project

from . import delivery as groups
from . import protocol, stats
from .delivery import Delivery
from .protocol import Close, Code, Policy, Status
from .registry import Entry, get_registry, utc_now_iso

logger = logging.getLogger(__name__)

PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Events whose handlers touch the database get Channels' stale-connection clean-up first;
# the rest (every relayed frame) skip its thread hop.
DB_EVENTS = frozenset({"websocket.connect", groups.PROJECT})


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """What a connection needs of its project, read once at connect (and on change)."""

    public_id: str
    admin_key: str
    policy: Policy
    approval_timeout: float
    allowed_origins: tuple[str, ...]
    max_connections: int
    max_message_bytes: int
    rate_burst: int
    rate_per_second: int


async def load_project(public_id: str) -> ProjectSettings | None:
    if not PUBLIC_ID.fullmatch(public_id):
        return None
    project = await Project.objects.filter(public_id=public_id, is_active=True).afirst()
    if project is None:
        return None
    override = settings.RELAY["APPROVAL_TIMEOUT_OVERRIDE"]
    return ProjectSettings(
        public_id=project.public_id,
        admin_key=project.admin_key,
        policy=Policy(project.pending_policy),
        approval_timeout=float(override or project.approval_timeout),
        allowed_origins=tuple(project.allowed_origins or ()),
        max_connections=project.max_connections,
        max_message_bytes=project.max_message_bytes,
        rate_burst=project.rate_burst,
        rate_per_second=project.rate_per_second,
    )


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def client_address(scope: dict) -> str:
    trusted = settings.RELAY["TRUSTED_PROXY_HEADER"]
    if trusted:
        forwarded = header(scope, trusted.lower().encode())
        if forwarded:
            return forwarded.split(",")[-1].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


class RelayConsumer(AsyncJsonWebsocketConsumer):
    conn_id: str | None = None
    project: ProjectSettings

    # --- Lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        self.registry = get_registry()
        self.delivery = Delivery(self.channel_layer)
        project = await load_project(self.scope["url_route"]["kwargs"]["public_id"])
        await self.accept()
        if project is None:
            return await self.refuse(
                Code.PROJECT_NOT_FOUND, "no such project", Close.PROJECT_NOT_FOUND
            )
        if not protocol.origin_allowed(
            header(self.scope, b"origin"), list(project.allowed_origins)
        ):
            return await self.refuse(
                Code.ORIGIN_NOT_ALLOWED, "this origin may not connect", Close.ORIGIN_NOT_ALLOWED
            )
        self.project = project
        conn_id = str(uuid.uuid4())
        entry = Entry(conn_id, self.channel_name, Status.PENDING, utc_now_iso())
        if not await self.registry.add(project.public_id, entry, project.max_connections):
            return await self.refuse(
                Code.TOO_MANY_CONNECTIONS,
                "the project is at its connection limit",
                Close.TOO_MANY_CONNECTIONS,
            )
        self.conn_id = conn_id
        self.status = Status.PENDING
        self.admin_key_used: str | None = None
        self.groups_joined: set[str] = set()
        now = time.monotonic()
        self.bucket = protocol.TokenBucket(project.rate_burst, project.rate_per_second, now)
        self.rate_refusals = protocol.SlidingCount(
            protocol.RATE_LIMITED_CLOSE_AFTER, protocol.RATE_LIMITED_WINDOW
        )
        self.admin_failures = 0
        self.address = client_address(self.scope)

        # Join the groups before telling the client its id: a broadcast sent once the client
        # knows it is connected must reach it (§3). Group events wait until connect() returns,
        # so the id still comes first.
        await self.sync_groups()
        await self.send_frame(protocol.id_frame(conn_id))
        await self.delivery.to_admins(project.public_id, protocol.new_id_frame(conn_id))
        self.timer: asyncio.Task | None = asyncio.create_task(self.expire(project.approval_timeout))

    async def refuse(self, code: Code, text: str, close: Close) -> None:
        await self.send_frame(protocol.error_frame(code, text))
        await self.close(code=close)

    async def expire(self, after: float) -> None:
        await asyncio.sleep(after)
        if self.status == Status.PENDING:
            await self.send_frame(protocol.timeout_frame())
            await self.close(code=Close.NOT_APPROVED_IN_TIME)

    def settle(self) -> None:
        """Approved or admin: the approval timeout no longer applies."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def websocket_disconnect(self, message: dict) -> None:
        await self.leave()
        raise StopConsumer()

    async def leave(self) -> None:
        if self.conn_id is None:
            return
        conn_id, self.conn_id = self.conn_id, None
        self.settle()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.clear()
        await self.registry.remove(self.project.public_id, conn_id)
        await self.delivery.left(self.project.public_id, conn_id)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # The server is shutting down: tell the client to come back, and the admins.
            if self.conn_id is not None:
                try:
                    await send({"type": "websocket.close", "code": int(Close.SERVER_RESTARTING)})
                    await self.leave()
                except Exception:
                    logger.debug("could not say goodbye to %s", self.conn_id, exc_info=True)
            raise

    async def dispatch(self, message: dict) -> None:
        if message["type"] in DB_EVENTS:
            await aclose_old_connections()
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def sync_groups(self) -> None:
        """Join the project's groups this connection's status and the policy call for."""
        public_id = self.project.public_id
        wanted = {groups.everyone_group(public_id)}
        if self.status != Status.PENDING or self.project.policy == Policy.OPEN:
            wanted.add(groups.all_group(public_id))
        if self.status == Status.ADMIN:
            wanted.add(groups.admins_group(public_id))
        for group in wanted - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = wanted

    # --- Frames from the client -----------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conn_id is None:
            return
        allowed = self.bucket.take(time.monotonic())
        frame = text_data if text_data is not None else bytes_data
        if (
            protocol.utf8_size_over(frame, protocol.HARD_LIMIT_BYTES)
            if text_data is not None
            else len(frame) > protocol.HARD_LIMIT_BYTES
        ):
            await self.close(code=Close.MESSAGE_TOO_BIG)
            return
        if text_data is None:
            return await self.send_frame(protocol.BINARY_REFUSAL.frame())
        if protocol.utf8_size_over(text_data, self.project.max_message_bytes):
            return await self.send_frame(
                protocol.too_large_refusal(self.project.max_message_bytes).frame()
            )
        if not allowed:
            await self.send_frame(protocol.RATE_REFUSAL.frame())
            if self.rate_refusals.add(time.monotonic()):
                await self.close(code=Close.RATE_LIMITED)
            return
        request = protocol.parse(text_data)
        if isinstance(request, protocol.Refusal):
            return await self.send_frame(request.frame())
        if not protocol.pending_may(request, self.status, self.project.policy):
            return await self.send_frame(protocol.NOT_APPROVED_REFUSAL.frame())
        await self.handlers[type(request)](self, request)

    async def on_ping(self, request: protocol.Ping) -> None:
        await self.send_frame(protocol.PONG)

    async def on_send(self, request: protocol.Send) -> None:
        frame = protocol.message_frame(self.conn_id, request.to, request.data)
        if request.is_broadcast:
            await self.delivery.broadcast(self.project.public_id, frame)
        else:
            entry = await self.registry.get(self.project.public_id, request.to)
            refused = protocol.can_address(
                request.to, self.status, entry and entry.status, self.project.policy
            )
            if refused is not None:
                return await self.send_frame(refused.frame())
            await self.delivery.to_channel(entry.channel, frame)
        stats.record(self.project.public_id)

    async def on_become_admin(self, request: protocol.BecomeAdmin) -> None:
        project = self.project
        if await self.registry.admin_failures(project.public_id, self.address) >= (
            protocol.ADMIN_FAILURES_PER_ADDRESS
        ):
            return await self.admin_failed(protocol.TOO_MANY_ATTEMPTS)
        if not keys_match(project.admin_key, request.key):
            await self.registry.add_admin_failure(project.public_id, self.address)
            return await self.admin_failed(protocol.INVALID_KEY)
        self.admin_key_used = request.key
        if self.status != Status.ADMIN:
            self.status = Status.ADMIN
            self.settle()
            await self.registry.promote(project.public_id, self.conn_id, Status.ADMIN)
            await self.sync_groups()
        await self.send_frame(protocol.admin_frame())

    async def admin_failed(self, error: str) -> None:
        self.admin_failures += 1
        await self.send_frame(protocol.admin_frame(error))
        if self.admin_failures >= protocol.ADMIN_FAILURES_PER_CONNECTION:
            await self.close(code=Close.ADMIN_KEY_REFUSED)

    async def on_approve(self, request: protocol.Approve) -> None:
        if self.status != Status.ADMIN:
            return await self.send_frame(
                protocol.approved_reply_frame(request.target, protocol.NOT_ADMIN)
            )
        if not isinstance(request.target, str):
            return await self.send_frame(
                protocol.refusal(Code.INVALID_MESSAGE, '"id" must be a string').frame()
            )
        entry = await self.registry.promote(self.project.public_id, request.target, Status.APPROVED)
        if entry is None:
            return await self.send_frame(
                protocol.approved_reply_frame(request.target, protocol.UNKNOWN_ID)
            )
        if self.project.policy == Policy.RESTRICTED:
            # Join it to the broadcasts now, so that one sent after this reply reaches it.
            await self.channel_layer.group_add(
                groups.all_group(self.project.public_id), entry.channel
            )
        await self.send_frame(protocol.approved_reply_frame(request.target))
        await self.delivery.approve(entry.channel)

    async def on_list_connections(self, request: protocol.ListConnections) -> None:
        if self.status != Status.ADMIN:
            return await self.send_frame(protocol.NOT_ADMIN_REFUSAL.frame())
        entries = await self.registry.entries(self.project.public_id)
        entries.sort(key=lambda e: (e.connected_at, e.conn_id))
        await self.send_frame(protocol.connections_frame([e.public() for e in entries]))

    handlers = {
        protocol.Ping: on_ping,
        protocol.Send: on_send,
        protocol.BecomeAdmin: on_become_admin,
        protocol.Approve: on_approve,
        protocol.ListConnections: on_list_connections,
    }

    # --- Events from the channel layer ----------------------------------------------------

    async def relay_text(self, event: dict) -> None:
        await self.send(text_data=event["text"])

    async def relay_approved(self, event: dict) -> None:
        if self.conn_id is None:
            return
        if self.status == Status.PENDING:
            self.status = Status.APPROVED
            self.settle()
            await self.sync_groups()
        await self.send_frame(protocol.approved_notice_frame(self.conn_id))

    async def relay_project(self, event: dict) -> None:
        if self.conn_id is None:
            return
        project = await load_project(self.project.public_id)
        if project is None:
            return await self.refuse(
                Code.PROJECT_NOT_FOUND,
                "the project was disabled or deleted",
                Close.PROJECT_NOT_FOUND,
            )
        self.project = project
        if self.status == Status.ADMIN and not keys_match(
            project.admin_key, self.admin_key_used or ""
        ):
            return await self.close(code=Close.ADMIN_KEY_REFUSED)
        await self.sync_groups()

    # --- Output ---------------------------------------------------------------------------

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        # Plain ints: servers check `type(code) is int`, which an IntEnum member fails.
        await super().close(code=None if code is None else int(code), reason=reason)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=protocol.encode(frame))

    @classmethod
    async def encode_json(cls, content) -> str:
        return protocol.encode(content)
