"""Fixtures shared by the project view tests."""

import pytest


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
