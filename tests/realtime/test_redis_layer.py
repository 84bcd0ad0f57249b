"""The Redis channel layer keeps idle sockets and old group members."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings

from tests.realtime.server_helpers import (
    assert_no_traceback,
    new_project,
    new_server,
    open_socket,
    pings,
    recv,
    send,
    silent,
)

pytestmark = pytest.mark.redis


@pytest.mark.server
async def test_idle_socket_still_receives_a_broadcast_after_20_seconds(start_server, alice):
    # redis-py's default 5 s socket timeout would cut channels-redis's blocking read and
    # close every idle socket with 1011.
    project = await new_project(alice)
    server = await new_server(start_server)
    idle, _ = await open_socket(server, project.public_id)
    sender, sender_id = await open_socket(server, project.public_id)
    async with idle, sender:
        await asyncio.sleep(20)
        await send(sender, {"to": "all", "data": "still there?"})
        expected = {"from": sender_id, "to": "all", "data": "still there?"}
        assert await recv(idle) == expected
        assert await recv(sender) == expected
        await silent(idle)
        await pings(idle)
    assert_no_traceback(server)


def test_group_members_do_not_expire_for_at_least_30_days():
    # channels-redis drops group members older than group_expiry (a day by default), and a
    # socket may stay connected for longer.
    # (RedisPubSubChannelLayer keeps groups as live subscriptions: nothing expires.)
    config = settings.CHANNEL_LAYERS["default"]
    if config["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer":
        assert "group_expiry" not in config["CONFIG"]
    else:
        assert config["BACKEND"] == "channels_redis.core.RedisChannelLayer"
        assert config["CONFIG"]["group_expiry"] >= 30 * 24 * 3600
