"""Fixtures shared by the project view tests."""

import uuid

import pytest
from asgiref.sync import async_to_sync

from realtime.protocol import Status
from realtime.registry import Entry, get_registry, utc_now_iso


@pytest.fixture
def alice_client(client, alice):
    """The test client, logged in as alice."""
    client.force_login(alice)
    return client


@pytest.fixture
def told(monkeypatch):
    """What live connections were told, as (public id, change) pairs."""
    calls = []
    monkeypatch.setattr(
        "realtime.control.project_changed",
        lambda public_id, change: calls.append((public_id, change)),
    )
    return calls


@pytest.fixture
def connect():
    """Opens live connections of a project in the relay's registry (the entries a socket
    registers at connect, promoted as approval and the admin key do), closed after the test."""
    registry = get_registry()
    opened: list[tuple[str, str]] = []

    def connect(project, status: Status = Status.PENDING, count: int = 1) -> None:
        for _ in range(count):
            entry = Entry(str(uuid.uuid4()), "test.channel", Status.PENDING, utc_now_iso())
            assert async_to_sync(registry.add)(project.public_id, entry, project.max_connections)
            opened.append((project.public_id, entry.conn_id))
            if status != Status.PENDING:
                async_to_sync(registry.promote)(project.public_id, entry.conn_id, status)

    yield connect
    for public_id, conn_id in opened:
        async_to_sync(registry.remove)(public_id, conn_id)
