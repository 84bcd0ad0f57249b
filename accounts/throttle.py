"""Login-failure limits, kept in Django's cache.

With REDIS_URL set the cache is Redis, so every server process shares the counts; without it
they live in the process's memory.

Failures are counted per account and per client address. The account is the email address as
typed, whether or not it has an account, so the limit says nothing about which addresses are
registered. A window starts at the first failure and lasts `WINDOW_SECONDS`; once a count
reaches its limit, every attempt (even with the right password) is refused until the window
passes. A successful login clears the account's count, not the address's.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.http import HttpRequest

ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60


def client_address(request: HttpRequest) -> str:
    """The address failures are counted against: the peer of the connection."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _key(kind: str, value: str) -> str:
    # Hashed, so that any typed email or address makes a short key every backend accepts.
    digest = hashlib.sha256(value.encode()).hexdigest()
    return f"login-failures:{kind}:{digest}"


def _account_key(email: str) -> str:
    return _key("account", email.strip().lower())


def _address_key(address: str) -> str:
    return _key("address", address)


def is_throttled(email: str, address: str) -> bool:
    """Whether a login for this email from this address must be refused for now."""
    account_key, address_key = _account_key(email), _address_key(address)
    counts = cache.get_many([account_key, address_key])
    return (
        counts.get(account_key, 0) >= ACCOUNT_LIMIT or counts.get(address_key, 0) >= ADDRESS_LIMIT
    )


def record_failure(email: str, address: str) -> None:
    _increment(_account_key(email))
    _increment(_address_key(address))


def clear_account(email: str) -> None:
    cache.delete(_account_key(email))


def _increment(key: str) -> None:
    # `add` starts the window only if none is open; `incr` is atomic and keeps the expiry.
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        cache.incr(key)
    except ValueError:
        # The window closed between the two calls: this failure opens a new one.
        cache.set(key, 1, timeout=WINDOW_SECONDS)
