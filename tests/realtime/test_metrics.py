"""/metrics on real server processes: what a session leaves in the counters, several processes
sharing PROMETHEUS_MULTIPROC_DIR, and the heartbeat and sweeps with Redis.

The page is fetched over HTTP from 127.0.0.1 (loopback: open without a token); the sockets are
real `websockets` clients.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from realtime import liveness, metrics, registry
from realtime.hub import get_hub
from tests.realtime.server_helpers import (
    WAIT,
    assert_no_traceback,
    become_admin,
    closed_with,
    error,
    new_project,
    open_socket,
    recv,
    send,
)

pytestmark = pytest.mark.server


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of an exposition page."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: dict, name: str, **labels: str) -> float:
    """A sample's value; 0 when absent (a labelled counter appears on its first increment)."""
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


def _fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return response.headers["Content-Type"], response.read().decode()


async def scrape(server) -> dict:
    content_type, text = await asyncio.to_thread(_fetch, f"http://127.0.0.1:{server.port}/metrics")
    assert content_type.startswith("text/plain; version=0.0.4")
    return parse(text)


async def scrape_until(server, check, within: float = WAIT) -> dict:
    """Scrape until `check(page)` holds (the server handles a close after the client sees it)."""
    deadline = time.monotonic() + within
    while True:
        page = await scrape(server)
        if check(page) or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.1)


def connections(page: dict) -> dict[str, float]:
    return {s: value(page, "relay_connections", status=s) for s in metrics.STATUSES}


def sample(name: str, **labels: str) -> float:
    """A metric of this (the test) process."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


CLOSES = "relay_closes_total"
NONE_CONNECTED = {"pending": 0.0, "approved": 0.0, "admin": 0.0}


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_session_shows_in_the_counters(start_server, alice, kind):
    project = await new_project(alice)
    server = await sync_to_async(start_server)(server=kind)
    before = await scrape(server)
    assert connections(before) == NONE_CONNECTED
    assert value(before, "relay_frames_received_total") == 0

    ws, conn_id = await open_socket(server, project.public_id)
    page = await scrape(server)
    assert connections(page) == {**NONE_CONNECTED, "pending": 1.0}

    await become_admin(ws, project.admin_key)
    await send(ws, {"to": "all", "data": "halo"})
    assert await recv(ws) == {"from": conn_id, "to": "all", "data": "halo"}
    await ws.send("{not json")
    frame = await recv(ws)
    assert frame == error(frame, "invalid_json")
    page = await scrape(server)
    assert connections(page) == {**NONE_CONNECTED, "admin": 1.0}
    assert value(page, "relay_frames_received_total") == 3
    # The id, "admin success", the broadcast's echo, the error.
    assert value(page, "relay_frames_sent_total") == 4
    assert value(page, "relay_error_frames_total", code="invalid_json") == 1

    await ws.close(code=4321, reason="done")  # the client's own code
    refused = await connect(server.ws("NoSuchProject0000000"), open_timeout=WAIT)
    frame = await recv(refused)
    assert frame == error(frame, "project_not_found")
    assert await closed_with(refused) == 4004

    vanishing, _ = await open_socket(server, project.public_id)
    vanishing.transport.abort()  # no close frame: the TCP connection just ends

    closes = {"4321": 1, "4004": 1, "1006": 1}
    page = await scrape_until(
        server,
        lambda p: all(value(p, "relay_closes_total", code=c) == n for c, n in closes.items()),
    )
    assert connections(page) == NONE_CONNECTED
    counted = {dict(labels)["code"]: v for (name, labels), v in page.items() if name == CLOSES}
    assert counted == closes  # each close once: the server's 4004 not again as the client's echo
    assert value(page, "relay_error_frames_total", code="project_not_found") == 1
    assert value(page, "relay_error_frames_total", code="invalid_json") == 1
    assert value(page, "relay_frames_received_total") == 3
    assert value(page, "relay_frames_sent_total") == 6  # + the refused error, the lost id
    assert value(page, "relay_layer_send_failures_total", operation="group_send") == 0
    assert_no_traceback(server)


async def test_approval_moves_a_connection_between_statuses(start_server, alice):
    project = await new_project(alice)
    server = await sync_to_async(start_server)()
    admin, _ = await open_socket(server, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        guest, guest_id = await open_socket(server, project.public_id)
        assert await recv(admin) == {"from": "system", "new_id": guest_id}
        page = await scrape(server)
        assert connections(page) == {"pending": 1.0, "approved": 0.0, "admin": 1.0}

        await send(admin, {"to": "system", "event": "approved", "id": guest_id})
        assert (await recv(admin))["status"] == "success"
        assert await recv(guest) == {"from": "system", "event": "approved", "id": guest_id}
        page = await scrape(server)
        assert connections(page) == {"pending": 0.0, "approved": 1.0, "admin": 1.0}

        await guest.close()
        assert await recv(admin) == {"from": "system", "left_id": guest_id}
        page = await scrape(server)
        assert connections(page) == {"pending": 0.0, "approved": 0.0, "admin": 1.0}
    page = await scrape_until(server, lambda p: connections(p) == NONE_CONNECTED)
    assert connections(page) == NONE_CONNECTED
    assert value(page, CLOSES, code="1000") == 2


async def test_processes_sharing_a_directory_report_their_sum(start_server, alice, tmp_path):
    project = await new_project(alice)
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    first = await sync_to_async(start_server)(server="uvicorn", **shared)
    second = await sync_to_async(start_server)(server="uvicorn", **shared)
    on_first = [await open_socket(first, project.public_id)]
    on_second = [await open_socket(second, project.public_id) for _ in range(2)]
    for ws, _ in on_second:
        await ws.send("ping")
        assert await recv(ws) == {"system": "pong"}

    for server in (first, second):
        page = await scrape(server)
        assert connections(page) == {**NONE_CONNECTED, "pending": 3.0}
        assert value(page, "relay_frames_received_total") == 2
        assert value(page, "relay_frames_sent_total") == 5  # three ids, two pongs

    await on_second[0][0].close()
    page = await scrape_until(first, lambda p: connections(p)["pending"] == 2)
    assert connections(page) == {**NONE_CONNECTED, "pending": 2.0}

    # A process that exits leaves the connection totals; its counters stay.
    await sync_to_async(second.stop)()
    page = await scrape(first)
    assert connections(page) == {**NONE_CONNECTED, "pending": 1.0}
    assert value(page, "relay_frames_received_total") == 2
    assert value(page, "relay_closes_total", code="1000") == 1
    for ws, _ in on_first:
        await ws.close()
    assert_no_traceback(first)


@pytest.mark.redis
async def test_heartbeat_age_is_reported_with_redis(start_server, alice):
    project = await new_project(alice)
    server = await sync_to_async(start_server)(server="uvicorn")
    ws, _ = await open_socket(server, project.public_id)  # the first connection starts it
    async with ws:
        await asyncio.sleep(2.5)
        page = await scrape(server)
    # Renewed and reported every second.
    assert 0.5 <= value(page, "relay_heartbeat_age_seconds") < 6


@pytest.mark.redis
async def test_sweeping_a_dead_process_is_counted(transactional_db):
    """A process whose heartbeat expired, swept as the liveness task does it."""
    live = liveness.Liveness(get_hub(), registry.get_registry())
    client = live.registry.client()
    dead = f"test-dead-{uuid.uuid4().hex}"
    project = f"test-{uuid.uuid4().hex}"
    conns = [str(uuid.uuid4()) for _ in range(2)]
    for conn_id in conns:
        entry = json.dumps(["hub.x", "pending", "2026-01-01T00:00:00Z", dead])
        await client.hset(registry._conns_key(project), conn_id, entry)
        await client.sadd(registry._server_conns_key(dead), f"{project} {conn_id}")
    sweeps = sample("relay_sweeps_total")
    swept = sample("relay_swept_connections_total")
    try:
        assert sorted(await live.sweep(dead)) == sorted((project, c) for c in conns)
        assert sample("relay_sweeps_total") == sweeps + 1
        assert sample("relay_swept_connections_total") == swept + 2
        # Another process finding it dead too sweeps nothing, and counts nothing.
        assert await live.sweep(dead) == []
        assert sample("relay_sweeps_total") == sweeps + 1
    finally:
        await client.delete(registry._conns_key(project), f"relay:sweep:{dead}")


def test_layer_calls_that_raise_are_counted():
    """What the hub wraps its layer calls in: a failure by operation, a full channel as a drop."""
    from channels.exceptions import ChannelFull
    from channels.layers import InMemoryChannelLayer

    layer = InMemoryChannelLayer(capacity=1)
    failures = sample("relay_layer_send_failures_total", operation="send")
    drops = sample("relay_layer_drops_total", reason="channel_full")

    async def overfill() -> None:
        with metrics.layer_call("send"):
            await layer.send("hub.full", {"type": "x"})
        with pytest.raises(ChannelFull), metrics.layer_call("send"):
            await layer.send("hub.full", {"type": "x"})
        with pytest.raises(TypeError), metrics.layer_call("send"):
            await layer.send("not a valid channel name", {"type": "x"})

    async_to_sync(overfill)()
    assert sample("relay_layer_drops_total", reason="channel_full") == drops + 1
    assert sample("relay_layer_send_failures_total", operation="send") == failures + 1


async def test_a_process_stopped_with_sigterm_counts_1012_and_leaves_the_totals(
    start_server, alice, tmp_path
):
    project = await new_project(alice)
    server = await sync_to_async(start_server)(
        server="uvicorn", PROMETHEUS_MULTIPROC_DIR=str(tmp_path)
    )
    ws, _ = await open_socket(server, project.public_id)
    pid = server.process.pid
    assert (tmp_path / f"gauge_livesum_{pid}.db").exists()
    server.process.send_signal(signal.SIGTERM)
    assert await closed_with(ws) == 1012
    await asyncio.to_thread(server.process.wait, 15)

    # What any other process sharing the directory would report.
    registry_ = CollectorRegistry()
    MultiProcessCollector(registry_, path=str(tmp_path))
    page = parse(generate_latest(registry_).decode())
    assert value(page, "relay_closes_total", code="1012") == 1
    assert connections(page) == NONE_CONNECTED
    assert not (tmp_path / f"gauge_livesum_{pid}.db").exists()  # marked dead on exit
