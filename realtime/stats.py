"""Messages relayed per project, by minute, without a database write per message.

The consumer calls `record(public_id)` for each message it relays; that only bumps a counter in
this process. With Redis, the registry's heartbeat thread moves the counts into Redis every few
seconds (`flush`), so every process's dashboard sees every process's traffic. Without Redis the
counts stay here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR

_lock = threading.Lock()
_unflushed: Counter[tuple[str, int]] = Counter()  # (public id, minute) -> messages
_local: dict[str, Counter[int]] = defaultdict(Counter)  # kept when there is no Redis


def current_minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // MINUTE)


def record(public_id: str, count: int = 1) -> None:
    key = (public_id, current_minute())
    with _lock:
        _unflushed[key] += count


def _take_unflushed() -> Counter[tuple[str, int]]:
    global _unflushed
    with _lock:
        taken, _unflushed = _unflushed, Counter()
    return taken


def _minute_key(public_id: str, minute: int) -> str:
    return f"relay:stats:{public_id}:m:{minute}"


def flush(client) -> None:
    """Move this process's counts into Redis (`client` is a synchronous redis client)."""
    taken = _take_unflushed()
    if not taken:
        return
    pipe = client.pipeline(transaction=False)
    for (public_id, minute), count in taken.items():
        key = _minute_key(public_id, minute)
        pipe.incrby(key, count)
        pipe.expire(key, DAY + HOUR)
    pipe.execute()


def _fold_into_local() -> None:
    """Without Redis: keep the counts in this process, forgetting minutes older than a day."""
    taken = _take_unflushed()
    oldest = current_minute() - DAY // MINUTE
    with _lock:
        for (public_id, minute), count in taken.items():
            _local[public_id][minute] += count
        for counts in _local.values():
            for minute in [m for m in counts if m < oldest]:
                del counts[minute]


def totals(public_id: str, client=None, now: float | None = None) -> dict[str, int]:
    """Messages relayed in the last hour and the last day, by whole minutes.

    `client` is a synchronous redis client when REDIS_URL is set, else None.
    """
    minute = current_minute(now)
    day = range(minute - DAY // MINUTE + 1, minute + 1)
    if client is None:
        _fold_into_local()
        with _lock:
            counts = dict(_local.get(public_id, {}))
        by_minute = [counts.get(m, 0) for m in day]
    else:
        flush(client)
        by_minute = [int(v or 0) for v in client.mget([_minute_key(public_id, m) for m in day])]
    return {"last_hour": sum(by_minute[-HOUR // MINUTE :]), "last_day": sum(by_minute)}
