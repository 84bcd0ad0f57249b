"""The relay under faults, end to end on real server processes (README: the production command,
uvicorn with RELAY_REDIS_LAYER=pubsub; daphne where cheap).

Redis restarted under traffic, a process stopped and continued, SIGTERM, a client that never
reads. Each test prints what it measures (`pytest -s` shows it); with RELAY_RECORD_FIGURES=1
the figures of the run are written to docs/reliability-figures.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from websockets.exceptions import ConnectionClosed

from tests.conftest import ROOT, free_port
from tests.realtime.server_helpers import (
    assert_no_traceback,
    error,
    new_project,
    open_socket,
    send,
)

pytestmark = pytest.mark.server

PRODUCTION = {"server": "uvicorn", "RELAY_REDIS_LAYER": "pubsub"}
FIGURES_FILE = ROOT / "docs" / "reliability-figures.json"
FIGURES: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def record_figures():
    yield
    if os.environ.get("RELAY_RECORD_FIGURES") == "1" and FIGURES:
        FIGURES_FILE.write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")


def report(test: str, **figures) -> None:
    """Print the figures a test measured, and keep them for docs/reliability-figures.json."""
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    FIGURES.setdefault(test, {}).update(rounded)
    print(f"\n[{test}] " + ", ".join(f"{k}={v}" for k, v in rounded.items()))


async def start(start_server, **env: str):
    return await sync_to_async(start_server)(**env)


class Listener:
    """Reads every frame of a socket in the background, with arrival times, and its close."""

    def __init__(self, ws, conn_id: str) -> None:
        self.ws = ws
        self.conn_id = conn_id
        self.frames: list[tuple[float, dict]] = []
        self.closed_at: float | None = None
        self.code: int | None = None
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                assert "Traceback" not in text
                self.frames.append((time.monotonic(), json.loads(text)))
                self.changed.set()
        except ConnectionClosed:
            pass
        await self.ws.wait_closed()
        self.closed_at, self.code = time.monotonic(), self.ws.close_code
        self.changed.set()

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def seen(self, predicate, since: int = 0) -> tuple[float, dict] | None:
        for at, frame in self.frames[since:]:
            if predicate(frame):
                return at, frame
        return None

    async def _changes(self, deadline: float) -> bool:
        """Wait for a frame or the close until `deadline`; False once it has passed."""
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return False
        return True

    async def wait_for(self, predicate, within: float = 5.0, since: int = 0) -> tuple[float, dict]:
        """The first frame (from index `since`) matching `predicate`, within `within` s."""
        deadline = time.monotonic() + within
        while (found := self.seen(predicate, since)) is None:
            if not self.open:
                raise AssertionError(f"closed with {self.code} before the frame: {self.frames}")
            if not await self._changes(deadline):
                raise AssertionError(f"no such frame within {within} s: {self.frames[since:]}")
        return found

    async def wait_closed(self, within: float) -> int | None:
        """The close code, or None if still open after `within` s."""
        deadline = time.monotonic() + within
        while self.open and await self._changes(deadline):
            pass
        return self.code

    async def stop(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self.task, 5)


async def listen(server, public_id: str) -> Listener:
    ws, conn_id = await open_socket(server, public_id)
    return Listener(ws, conn_id)


def is_broadcast(sender: str, data=None):
    def match(frame: dict) -> bool:
        return (
            frame.get("from") == sender
            and frame.get("to") == "all"
            and (data is None or frame.get("data") == data)
        )

    return match


def is_error(code: str):
    return lambda frame: frame.get("event") == "error" and frame.get("code") == code


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


# --- Redis restarted under traffic -------------------------------------------------------------


class OwnRedis:
    """A redis-server on a free port that this test owns, stopped and started at will."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = workdir / "redis.log"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it; return the monotonic time at which it answers PING."""
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                *("--dir", str(self.workdir)),
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return time.monotonic()
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


DOWN_FOR = 3.0  # seconds Redis stays down


@pytest.fixture
def own_redis(tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (run by .ci/run on the Redis pass)")
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def working_pair(one, two, public_id: str, within: float) -> tuple[Listener, Listener]:
    """New handshakes on both processes, retried until each gets its id and a broadcast from
    the other process arrives on it (a refused handshake is tried again)."""
    deadline = time.monotonic() + within
    failures = []
    while time.monotonic() < deadline:
        pair: list[Listener] = []
        try:
            for server in (one, two):
                pair.append(await listen(server, public_id))
            for sender, receiver in (pair, pair[::-1]):
                await send(sender.ws, {"to": "all", "data": "hello"})
                await receiver.wait_for(is_broadcast(sender.conn_id, "hello"), within=1.0)
            return pair[0], pair[1]
        except (AssertionError, OSError, TimeoutError, ConnectionClosed) as exc:
            failures.append(repr(exc)[:200])
            for listener in pair:
                await listener.stop()
            await asyncio.sleep(0.1)
    raise AssertionError(f"no working new handshakes within {within} s: {failures}")


@pytest.mark.redis
async def test_redis_restart_under_traffic_answers_unavailable_then_recovers(
    start_server, own_redis, alice
):
    name = "redis_restart_uvicorn_pubsub"
    project = await new_project(alice)
    env = {**PRODUCTION, "REDIS_URL": own_redis.url}
    one, two = await start(start_server, **env), await start(start_server, **env)
    old = [await listen(server, project.public_id) for server in (one, two, one, two)]
    admin = old[0]
    await send(admin.ws, {"to": "system", "event": "admin", "key": project.admin_key})
    await admin.wait_for(lambda f: f.get("event") == "admin" and f.get("status") == "success")
    on = {id(one): [old[0], old[2]], id(two): [old[1], old[3]]}

    # A broadcast crosses processes before the fault.
    await send(old[1].ws, {"to": "all", "data": "before"})
    for listener in old:
        await listener.wait_for(is_broadcast(old[1].conn_id, "before"))

    await sync_to_async(own_redis.stop)()
    down_at = time.monotonic()
    # While it is down (DOWN_FOR seconds), each frame sent gets its echo or an error, never
    # silence; here it can only be the error.
    unavailable_after = []
    while time.monotonic() - down_at < DOWN_FOR:
        for sender in old[:2]:
            since = len(sender.frames)
            sent_at = time.monotonic()
            await send(sender.ws, {"to": "all", "data": "while down"})
            at, frame = await sender.wait_for(
                lambda f, s=sender: (
                    is_error("unavailable")(f) or is_broadcast(s.conn_id, "while down")(f)
                ),
                within=5.0,
                since=since,
            )
            assert frame == error(frame, "unavailable"), frame
            unavailable_after.append(at - sent_at)
        await asyncio.sleep(0.5)
        assert one.process.poll() is None and two.process.poll() is None

    # Redis comes back empty, on the same port.
    back_at = await sync_to_async(own_redis.start)()
    assert one.process.poll() is None and two.process.poll() is None
    down_for = back_at - down_at
    first, second = await working_pair(one, two, project.public_id, within=5.0)
    new_works_after = time.monotonic() - back_at

    # Every old socket is closed with 1012 or hears broadcasts from the other process again.
    probes = 0
    worked_at: dict[Listener, float] = {}
    deadline = back_at + 5.0
    while time.monotonic() < deadline:
        for listener in old:
            if listener.open and listener not in worked_at:
                other = second if listener in on[id(one)] else first
                found = listener.seen(is_broadcast(other.conn_id))
                if found:
                    worked_at[listener] = found[0]
        if all(not listener.open or listener in worked_at for listener in old):
            break
        probes += 1
        for prober in (first, second):
            await send(prober.ws, {"to": "all", "data": f"probe {probes}"})
        await asyncio.sleep(0.25)
    outcomes = []
    for listener in old:
        if not listener.open:
            outcomes.append(("closed", listener.code, listener.closed_at - back_at))
        elif listener in worked_at:
            outcomes.append(("works", None, worked_at[listener] - back_at))
        else:
            outcomes.append(("deaf", None, None))
    report(
        name,
        redis_down_s=down_for,
        unavailable_answer_s=max(unavailable_after),
        first_new_handshake_working_s=new_works_after,
        old_sockets=[
            {"outcome": o, "code": c, "after_redis_back_s": round(t, 3) if t else None}
            for o, c, t in outcomes
        ],
    )
    for outcome, code, after in outcomes:
        assert outcome != "deaf", outcomes
        assert outcome == "works" or code == 1012, outcomes
        assert after <= 5.0, outcomes
    assert new_works_after <= 5.0
    for listener in [*old, first, second]:
        if listener.open:
            await listener.stop()
    assert one.process.poll() is None and two.process.poll() is None
    # Last, as it is the least of it: the fault leaves no traceback in the servers' logs.
    assert_no_traceback(one)
    assert_no_traceback(two)
