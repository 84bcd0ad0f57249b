"""Rate counters of a connection: a token bucket for frames, a sliding count of refusals.

Plain classes with the clock passed in, so they can be tested without a socket.
"""

from __future__ import annotations

from collections import deque


class TokenBucket:
    """`capacity` tokens, full at the start, refilled at `rate` a second."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.updated = now

    def take(self, now: float) -> bool:
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class SlidingCount:
    """How many events fell within the last `window` seconds (keeps at most `limit` + 1)."""

    __slots__ = ("limit", "times", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.times: deque[float] = deque(maxlen=limit + 1)

    def add(self, now: float) -> bool:
        """Record one event; True when more than `limit` fell within the window."""
        self.times.append(now)
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        return len(self.times) > self.limit
