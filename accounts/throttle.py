"""Rate limits of the web side (logins, password resets, sign-ups), kept in Django's cache.

With REDIS_URL set the cache is Redis, so every server process shares the counts; without it
they live in the process's memory. Each limit is a count in a window that starts at the first
hit and lasts the limit's seconds; the address is the client address of
accounts/client_address.py (one rule for HTTP and WebSockets).

Login failures are counted per (account, address) and per address, never per account alone:
a stranger's failures cannot lock the owner out from anywhere else. The account is the email
as typed, whether or not it has an account, so the limits say nothing about which addresses
are registered. Once a count reaches its limit every login it covers is refused, the right
password included, until the window passes. A successful login clears its (account, address)
count; a new password from a reset link clears every count of the account.

docs/security.md lists the numbers.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per key in a window of `seconds` from the first one."""

    name: str
    count: int
    seconds: int

    def key(self, *parts: str) -> str:
        # Hashed, so that any typed email or address makes a short key every backend accepts.
        digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        return f"limit:{self.name}:{digest}"

    def hits(self, *parts: str) -> int:
        return cache.get(self.key(*parts), 0)

    def reached(self, *parts: str) -> bool:
        return self.hits(*parts) >= self.count

    def hit(self, *parts: str) -> None:
        key = self.key(*parts)
        # `add` starts the window only if none is open; `incr` is atomic and keeps the expiry.
        cache.add(key, 0, timeout=self.seconds)
        try:
            cache.incr(key)
        except ValueError:
            # The window closed between the two calls: this hit opens a new one.
            cache.set(key, 1, timeout=self.seconds)

    def clear(self, *parts: str) -> None:
        cache.delete(self.key(*parts))


WINDOW_SECONDS = 15 * 60
# Failed logins to one account from one address.
LOGIN_PAIR = Limit("login-pair", 5, WINDOW_SECONDS)
# Failed logins from one address, to any accounts.
LOGIN_ADDRESS = Limit("login-address", 20, WINDOW_SECONDS)
# Password-reset requests from one address, and reset emails to one inbox.
RESET_ADDRESS = Limit("reset-address", 5, 60 * 60)
RESET_INBOX = Limit("reset-inbox", 3, 60 * 60)
# Accounts made from one address.
SIGNUP_ADDRESS = Limit("signup-address", 5, 60 * 60)

PAIR_LIMIT = LOGIN_PAIR.count
ADDRESS_LIMIT = LOGIN_ADDRESS.count


def _account(email: str) -> str:
    return email.strip().lower()


def _generation(email: str) -> str:
    """The account's current generation: clearing the account starts a new one, which makes
    every (account, address) count of the old one unreachable (they expire on their own)."""
    return cache.get(_generation_key(email), "")


def _generation_key(email: str) -> str:
    digest = hashlib.sha256(_account(email).encode()).hexdigest()
    return f"limit:login-generation:{digest}"


def _pair(email: str, address: str) -> tuple[str, str, str]:
    return _account(email), _generation(email), address


def is_throttled(email: str, address: str) -> bool:
    """Whether a login for this email from this address must be refused for now."""
    return LOGIN_PAIR.reached(*_pair(email, address)) or LOGIN_ADDRESS.reached(address)


def record_failure(email: str, address: str) -> None:
    LOGIN_PAIR.hit(*_pair(email, address))
    LOGIN_ADDRESS.hit(address)


def record_success(email: str, address: str) -> None:
    """Clear the (account, address) count; the address keeps its count."""
    LOGIN_PAIR.clear(*_pair(email, address))


def clear_account(email: str) -> None:
    """Clear the account's counts from every address (the owner proved the mailbox)."""
    # Kept well past any window, so that counts of this generation never outlive it.
    cache.set(_generation_key(email), uuid.uuid4().hex, timeout=7 * 24 * 60 * 60)
