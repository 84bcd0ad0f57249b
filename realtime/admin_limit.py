"""The per-address limit on failed admin keys (PROTOCOL.md §5), shared by every process.

Each attempt to become admin is checked against the address's recent failures and recorded in
one step. With REDIS_URL set the failures live in Redis (on the registry's connections), so
the limit holds across processes; without Redis they are kept in this one process.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from .protocol import ADMIN_FAILURE_WINDOW, ADMIN_FAILURES_PER_ADDRESS
from .registry import RedisRegistry, get_registry


class AdminLimit(Protocol):
    async def admin_attempt(self, project: str, address: str, failed: bool) -> bool: ...


class MemoryAdminLimit:
    """The failures of a single process (the embedded default)."""

    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _window(self, project: str, address: str) -> deque[float]:
        times = self._failures[(project, address)]
        cutoff = time.monotonic() - ADMIN_FAILURE_WINDOW
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    async def admin_attempt(self, project: str, address: str, failed: bool) -> bool:
        """See RedisAdminLimit.admin_attempt; nothing awaits between the check and the record."""
        times = self._window(project, address)
        if len(times) >= ADMIN_FAILURES_PER_ADDRESS:
            return False
        if failed:
            times.append(time.monotonic())
        return True


# One admin-key attempt (PROTOCOL.md §5), checked and recorded in one step: forget failures
# older than the window; refuse (0) when the limit is reached; else record a failure if the
# attempt failed and allow (1). KEYS[1]: the failures; ARGV: now, window, limit, failed,
# a unique member, expiry in seconds.
_ADMIN_ATTEMPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return 1
"""


class RedisAdminLimit:
    """The failures shared by every server process through Redis.

    `client` returns the running loop's Redis client (`RedisRegistry.client`).
    """

    def __init__(self, client: Callable[[], aioredis.Redis]) -> None:
        self.client = client
        self._admin_attempt = AsyncScript(None, _ADMIN_ATTEMPT.encode())

    async def admin_attempt(self, project: str, address: str, failed: bool) -> bool:
        """One attempt to become admin from `address`, in one atomic step across processes.

        False: the address already has ADMIN_FAILURES_PER_ADDRESS failures in the sliding
        window, and the attempt is refused (and not recorded). True: the attempt may proceed,
        and it is recorded as a failure when `failed`.
        """
        allowed = await self._admin_attempt(
            client=self.client(),
            keys=[admin_failures_key(project, address)],
            args=[
                repr(time.time()),
                ADMIN_FAILURE_WINDOW,
                ADMIN_FAILURES_PER_ADDRESS,
                "1" if failed else "0",
                uuid.uuid4().hex,
                int(ADMIN_FAILURE_WINDOW) + 1,
            ],
        )
        return bool(allowed)


def admin_failures_key(project: str, address: str) -> str:
    return f"relay:fail:{project}:{address}"


_admin_limit: AdminLimit | None = None


def get_admin_limit() -> AdminLimit:
    """In Redis when the registry is (REDIS_URL set), else in this process."""
    global _admin_limit
    if _admin_limit is None:
        registry = get_registry()
        if isinstance(registry, RedisRegistry):
            _admin_limit = RedisAdminLimit(registry.client)
        else:
            _admin_limit = MemoryAdminLimit()
    return _admin_limit
