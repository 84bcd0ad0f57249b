"""What operators see at /metrics: the relay's Prometheus metrics, and the calls that feed them.

The consumer, the hub and the registry call the small functions below; each only bumps a
number in memory (no I/O), so they are cheap enough for every frame.

One process, or processes that do not share a directory: each process's /metrics reports that
process only (the default registry). Several processes sharing PROMETHEUS_MULTIPROC_DIR (the
prometheus-client convention; it must be set before the process starts): every process writes
its numbers to files there, and any process's /metrics reports the sum of all of them. A process
that exits normally takes its connections and heartbeat out of the totals; its counters stay.
"""

from __future__ import annotations

import atexit
import os

from channels.exceptions import ChannelFull
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import choose_encoder

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
STATUSES = ("pending", "approved", "admin")

if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

CONNECTIONS = Gauge(
    "relay_connections",
    "Open connections by status (pending, approved, admin).",
    ["status"],
    multiprocess_mode="livesum",
)
FRAMES_RECEIVED = Counter("relay_frames_received", "Frames received from clients.")
FRAMES_SENT = Counter("relay_frames_sent", "Frames written to clients' sockets.")
ERROR_FRAMES = Counter("relay_error_frames", "Error frames sent to clients, by code.", ["code"])
CLOSES = Counter(
    "relay_closes",
    "Connections closed, by close code: the server's when it closed, the client's otherwise "
    "(1006 when it vanished).",
    ["code"],
)
LAYER_FAILURES = Counter(
    "relay_layer_send_failures",
    "Channel-layer calls that raised, by operation (group_send, send, receive, group_add).",
    ["operation"],
)
LAYER_DROPS = Counter(
    "relay_layer_drops", "Messages the channel layer dropped, by reason.", ["reason"]
)
HEARTBEAT_AGE = Gauge(
    "relay_heartbeat_age_seconds",
    "Seconds since this process last renewed its heartbeat in Redis (the largest of the live "
    "processes' when they share PROMETHEUS_MULTIPROC_DIR).",
    multiprocess_mode="livemax",
)
SWEEPS = Counter("relay_sweeps", "Dead server processes swept by this one.")
SWEPT_CONNECTIONS = Counter(
    "relay_swept_connections", "Connections of dead server processes forgotten in sweeps."
)

for _status in STATUSES:
    CONNECTIONS.labels(_status)  # reported as 0 before the first connection


# --- Called by the relay (cheap: no I/O) ----------------------------------------------------


def connection_status(old: str | None, new: str | None) -> None:
    """A connection moved from status `old` to `new` (None: opened, or closed)."""
    if old is not None:
        CONNECTIONS.labels(str(old)).dec()
    if new is not None:
        CONNECTIONS.labels(str(new)).inc()


def frame_in() -> None:
    FRAMES_RECEIVED.inc()


def frame_out(count: int = 1) -> None:
    FRAMES_SENT.inc(count)


def error_sent(code: str) -> None:
    ERROR_FRAMES.labels(str(code)).inc()


def closed(code: int) -> None:
    CLOSES.labels(str(int(code))).inc()


def layer_failure(operation: str) -> None:
    LAYER_FAILURES.labels(operation).inc()


def layer_drop(reason: str) -> None:
    LAYER_DROPS.labels(reason).inc()


def heartbeat(age_seconds: float) -> None:
    HEARTBEAT_AGE.set(age_seconds)


def sweep(connections: int) -> None:
    SWEEPS.inc()
    SWEPT_CONNECTIONS.inc(connections)


class layer_call:  # lower case: used like a function, `with metrics.layer_call("send"):`
    """Count a channel-layer call that raises (ChannelFull as a drop), and let it raise."""

    __slots__ = ("operation",)

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is not None and issubclass(kind, ChannelFull):
            layer_drop("channel_full")
        elif kind is not None and issubclass(kind, Exception):
            layer_failure(self.operation)
        return False


# --- Read by the /metrics view ----------------------------------------------------------------


def exposition(accept: str = "") -> tuple[bytes, str]:
    """Every metric (of every process sharing the directory) and its content type.

    The format is the one the scraper's Accept header asks for, as prometheus-client's own
    servers choose it: the classic text format (0.0.4) unless OpenMetrics is asked for.
    """
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    else:
        registry = REGISTRY
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


def process_exiting() -> None:
    """Take this process's connections and heartbeat out of the shared totals (idempotent)."""
    if MULTIPROC_DIR:
        _multiprocess.mark_process_dead(os.getpid(), MULTIPROC_DIR)


async def lifespan(scope: dict, receive, send) -> None:
    """The ASGI lifespan protocol (config/asgi.py). uvicorn ends by raising again the signal
    that stopped it, so `atexit` never runs there: it marks this process dead at shutdown.
    daphne has no lifespan; `atexit` does it there."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            process_exiting()
            await send({"type": "lifespan.shutdown.complete"})
            return


atexit.register(process_exiting)
