"""The process hub on a real in-memory channel layer: local delivery, one settings read per
project."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from realtime import hub as hub_module
from realtime.hub import EVERYONE, Hub

PUBLIC_ID = "p" * 22


class Connection:
    """A hub member that records what the hub told it."""

    public_id = PUBLIC_ID
    entry = None  # not registered: senders would ask the registry

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.changed = asyncio.Event()
        self.frames: list[str] = []

    def enqueue(self, message: dict, size: int) -> None:
        self.frames.append(message["text"])

    def approved(self) -> None:
        pass

    def project_changed(self, change: str) -> None:
        self.changes.append(change)
        self.changed.set()

    def server_lost(self) -> None:
        pass


class CountingLoad:
    """Reads a project's settings: counts the reads; `fail` makes the next one raise."""

    def __init__(self) -> None:
        self.reads = 0
        self.fail = False

    async def __call__(self, public_id: str) -> dict:
        self.reads += 1
        await asyncio.sleep(0.01)  # a read takes a while: others arrive meanwhile
        if self.fail:
            self.fail = False
            raise OSError("database down")
        return {"public_id": public_id, "read": self.reads}


@pytest.fixture
async def attached():
    hub = Hub(InMemoryChannelLayer())
    member = Connection()
    await hub.attach(member, "conn-1", PUBLIC_ID)
    yield hub, member
    hub.detach(member, "conn-1", PUBLIC_ID)
    hub._task.cancel()


async def test_connections_of_a_project_share_one_settings_read(attached):
    hub, _ = attached
    load = CountingLoad()
    first = await asyncio.gather(*(hub.project_settings(PUBLIC_ID, load) for _ in range(20)))
    later = await hub.project_settings(PUBLIC_ID, load)
    assert load.reads == 1
    assert all(settings is later for settings in first)


async def test_a_change_heard_from_the_layer_makes_the_next_read_fresh(attached):
    hub, member = attached
    load = CountingLoad()
    assert (await hub.project_settings(PUBLIC_ID, load))["read"] == 1
    await hub.project_changed(PUBLIC_ID, "settings")  # through the layer, as a web view does
    await asyncio.wait_for(member.changed.wait(), 2)
    assert member.changes == ["settings"]
    assert (await hub.project_settings(PUBLIC_ID, load))["read"] == 2


async def test_a_failed_read_is_not_shared(attached):
    hub, _ = attached
    load = CountingLoad()
    load.fail = True
    with pytest.raises(OSError):
        await hub.project_settings(PUBLIC_ID, load)
    assert (await hub.project_settings(PUBLIC_ID, load))["read"] == 2


async def test_a_read_is_shared_for_settings_ttl_at_most(attached, monkeypatch):
    hub, _ = attached
    monkeypatch.setattr(hub_module, "SETTINGS_TTL", 0.05)
    load = CountingLoad()
    await hub.project_settings(PUBLIC_ID, load)
    await hub.project_settings(PUBLIC_ID, load)
    assert load.reads == 1
    await asyncio.sleep(0.06)
    await hub.project_settings(PUBLIC_ID, load)
    assert load.reads == 2


async def test_recovering_from_a_layer_outage_reads_the_settings_again(attached):
    hub, member = attached
    load = CountingLoad()
    await hub.project_settings(PUBLIC_ID, load)
    await hub.recover()  # a change notice may have been lost meanwhile
    assert member.changes == ["settings"]
    await hub.project_settings(PUBLIC_ID, load)
    assert load.reads == 2


async def test_a_project_without_connections_here_is_read_every_time():
    hub = Hub(InMemoryChannelLayer())
    load = CountingLoad()
    await hub.project_settings(PUBLIC_ID, load)
    await hub.project_settings(PUBLIC_ID, load)
    assert load.reads == 2


async def test_a_project_message_reaches_this_process_without_the_mailbox_and_only_once(
    attached,
):
    hub, member = attached
    await hub.to_project(PUBLIC_ID, EVERYONE, "one")
    assert member.frames == ["one"]  # before this mailbox has read the layer's copy
    await hub.barrier()  # the layer's copy has come back to this mailbox by now
    assert member.frames == ["one"]


async def test_a_direct_message_to_a_connection_here_skips_the_layer(attached):
    hub, member = attached
    await hub.to_connection(hub.channel, "conn-1", "hello")
    assert member.frames == ["hello"]
    await hub.to_connection("elsewhere!", "conn-1", "through the layer")  # another process
    assert member.frames == ["hello"]
