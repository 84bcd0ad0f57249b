"""Fixtures for the accounts tests: a private cache for login-failure counts, and a clock."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest


@pytest.fixture(autouse=True)
def private_cache(request, settings):
    """Count failures in a fresh in-memory cache, so tests never share counts (or flush Redis).

    Tests marked `redis` keep the configured cache, to run against the real one.
    """
    if request.node.get_closest_marker("redis"):
        return
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"accounts-tests-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def clock(monkeypatch):
    """Let a test move the in-memory cache's clock forward: `clock(seconds)`."""
    now = [time.time()]
    fake_time = SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr("django.core.cache.backends.base.time", fake_time)
    monkeypatch.setattr("django.core.cache.backends.locmem.time", fake_time)

    def advance(seconds: float) -> None:
        now[0] += seconds

    return advance


def logged_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")
