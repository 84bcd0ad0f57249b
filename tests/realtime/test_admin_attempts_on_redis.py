"""PROTOCOL.md §5 on Redis: the per-address failure limit holds under parallel attempts, because
checking the limit and recording a failure are one step (RedisAdminLimit.admin_attempt)."""

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from django.conf import settings
from django.test import override_settings

from realtime import admin_limit, registry
from realtime.protocol import ADMIN_FAILURES_PER_ADDRESS
from tests.realtime.consumer_helpers import RelayTestCase

pytestmark = pytest.mark.redis

WRONG_KEY = "A" * 40
INVALID_KEY = {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"}
TOO_MANY = {"from": "system", "event": "admin", "status": "failed", "error": "too many attempts"}


async def failures_recorded(project: str, address: str) -> int:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        return await client.zcard(admin_limit.admin_failures_key(project, address))
    finally:
        await client.aclose()


async def test_parallel_failed_attempts_record_no_more_than_the_limit():
    shared = admin_limit.RedisAdminLimit(registry.RedisRegistry(settings.REDIS_URL).client)
    project, address = f"test-{uuid.uuid4().hex}", "198.51.100.7"
    allowed = await asyncio.gather(
        *(shared.admin_attempt(project, address, failed=True) for _ in range(100))
    )
    assert allowed.count(True) == ADMIN_FAILURES_PER_ADDRESS
    assert await failures_recorded(project, address) == ADMIN_FAILURES_PER_ADDRESS
    # Past the limit even a right key is refused, and not recorded.
    assert not await shared.admin_attempt(project, address, failed=False)
    assert await failures_recorded(project, address) == ADMIN_FAILURES_PER_ADDRESS


@override_settings(RELAY={**settings.RELAY, "TRUSTED_PROXY_HEADER": ""})
class ParallelConnectionsTests(RelayTestCase):
    async def test_wrong_keys_from_many_connections_at_once_count_at_most_the_limit(self):
        address = ("198.51.100.9", 40000)
        sockets = []
        for _ in range(12):
            ws, _ = await self.open(client=address)
            sockets.append(ws)
        # Every connection sends its five wrong keys before anyone reads a reply.
        for ws in sockets:
            for _ in range(5):
                await ws.send_json_to({"to": "system", "event": "admin", "key": WRONG_KEY})
        replies = []
        for ws in sockets:
            for _ in range(5):
                replies.append(await ws.receive_json_from(timeout=5))
            await ws.disconnect()
        assert replies.count(INVALID_KEY) == ADMIN_FAILURES_PER_ADDRESS
        assert replies.count(TOO_MANY) == len(replies) - ADMIN_FAILURES_PER_ADDRESS
        recorded = await failures_recorded(self.project.public_id, address[0])
        assert recorded == ADMIN_FAILURES_PER_ADDRESS
