"""The relay under faults, end to end on real server processes (README: the production command,
uvicorn with RELAY_REDIS_LAYER=pubsub; daphne where cheap).

Redis restarted under traffic, a process stopped and continued, SIGTERM, a client that never
reads. Each test prints what it measures (`pytest -s` shows it); with RELAY_RECORD_FIGURES=1
the figures of the run are written to docs/reliability-figures.json.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
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

    async def changes(self, deadline: float) -> bool:
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
            if not await self.changes(deadline):
                raise AssertionError(f"no such frame within {within} s: {self.frames[since:]}")
        return found

    async def wait_closed(self, within: float) -> int | None:
        """The close code, or None if still open after `within` s."""
        deadline = time.monotonic() + within
        while self.open and await self.changes(deadline):
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
    """A redis-server on a free port that this test owns, stopped and started at will.

    Tests of several processes use one too: on a Redis shared with other test runs, another
    run's servers (other code, or the list-based layer) sweep this test's stopped process,
    and the admins here never hear their `left_id`."""

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

    def stop(self, keep_data: bool = False) -> None:
        """Stop it: its data is lost, or with `keep_data` saved for the next start."""
        if self.process is not None and self.process.poll() is None:
            if keep_data:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(b"SHUTDOWN SAVE\r\n")
                    s.recv(64)  # the connection closes once the data is saved
            else:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


DOWN_FOR = 3.0  # seconds Redis stays down
OUTBOUND_LIMIT = 4 * 1024 * 1024


@pytest.fixture
def own_redis(tmp_path):
    # These tests run whenever Redis does (the `redis` mark), and must not pass unseen:
    # without a redis-server of their own to stop and start they fail, saying why.
    if shutil.which("redis-server") is None:
        pytest.fail("needs redis-server on PATH, to stop and start a Redis of its own")
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def working_pair(
    one, two, public_id: str, within: float
) -> tuple[Listener, Listener, list[str]]:
    """New handshakes on both processes, retried until each gets its id and a broadcast from
    the other process arrives on it (a refused handshake is tried again); with the failed
    attempts."""
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
            return pair[0], pair[1], failures
        except (AssertionError, OSError, TimeoutError, ConnectionClosed) as exc:
            failures.append(repr(exc)[:200])
            for listener in pair:
                await listener.stop()
            await asyncio.sleep(0.1)
    raise AssertionError(f"no working new handshakes within {within} s: {failures}")


@pytest.mark.redis
@pytest.mark.parametrize(
    ("kind", "keep_data"), [("uvicorn", False), ("daphne", False), ("uvicorn", True)]
)
async def test_redis_restart_under_traffic_answers_unavailable_then_recovers(
    start_server, own_redis, alice, kind, keep_data
):
    name = f"redis_restart_{kind}_pubsub" + ("_data_kept" if keep_data else "")
    project = await new_project(alice)
    env = {"server": kind, "RELAY_REDIS_LAYER": "pubsub", "REDIS_URL": own_redis.url}
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

    await sync_to_async(own_redis.stop)(keep_data)
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

    # Redis comes back on the same port: empty, or with what it had (heartbeats, registry).
    back_at = await sync_to_async(own_redis.start)()
    assert one.process.poll() is None and two.process.poll() is None
    down_for = back_at - down_at
    first, second, failed = await working_pair(one, two, project.public_id, within=5.0)
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
        failed_new_handshake_attempts=failed,
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


# --- SIGTERM -----------------------------------------------------------------------------------


async def admin_on(server, project) -> Listener:
    admin = await listen(server, project.public_id)
    await send(admin.ws, {"to": "system", "event": "admin", "key": project.admin_key})
    await admin.wait_for(lambda f: f == {"from": "system", "event": "admin", "status": "success"})
    return admin


def left_ids(admin: Listener, since: int = 0) -> list[str]:
    return [frame["left_id"] for _, frame in admin.frames[since:] if "left_id" in frame]


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_sigterm_closes_every_socket_with_1012_and_admins_hear_left_id(
    start_server, own_redis, alice, kind
):
    name = f"sigterm_{kind}"
    project = await new_project(alice)
    env = {"server": kind, "RELAY_REDIS_LAYER": "pubsub", "REDIS_URL": own_redis.url}
    survivor, doomed = await start(start_server, **env), await start(start_server, **env)
    admin = await admin_on(survivor, project)
    held = [await listen(doomed, project.public_id) for _ in range(5)]
    for listener in held:
        await admin.wait_for(lambda f, c=listener.conn_id: f == {"from": "system", "new_id": c})
    since = len(admin.frames)

    signalled = time.monotonic()
    doomed.process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        await sync_to_async(doomed.process.wait)(timeout=10)
    exit_code = doomed.process.poll()
    exited_after = time.monotonic() - signalled if exit_code is not None else None
    codes = [await listener.wait_closed(within=1.0) for listener in held]
    # Whatever left_id the process sent before it exited has arrived within a second or so.
    expected = {listener.conn_id for listener in held}
    deadline = time.monotonic() + 2.0
    while set(left_ids(admin, since)) != expected and await admin.changes(deadline):
        pass
    heard = left_ids(admin, since)
    log = doomed.output()
    report(
        name,
        exited_after_s=exited_after,
        exit_code=exit_code,
        close_codes=codes,
        left_id_heard=len(set(heard) & expected),
        closed_after_s=[
            round(listener.closed_at - signalled, 3) if listener.closed_at else None
            for listener in held
        ],
    )
    assert exited_after is not None and exited_after <= 10.0, log
    assert codes == [1012] * 5, log
    assert sorted(heard) == sorted(expected), log
    await admin.stop()
    assert_no_traceback(survivor)


# --- A process stopped and continued ----------------------------------------------------------

STOPPED_FOR = 20.0  # seconds: past the heartbeat's 15 s, so the other process may sweep it


async def resolve(old: list[Listener], broadcaster: Listener, within: float) -> dict:
    """Broadcast from `broadcaster` (another process) until each of `old` has heard it or is
    closed; {listener: ("works" | "closed" | "deaf", code, seconds)}."""
    begun = time.monotonic()
    deadline = begun + within
    probes = 0
    while True:
        heard = {o: o.seen(is_broadcast(broadcaster.conn_id)) for o in old}
        if all(not o.open or heard[o] for o in old) or time.monotonic() > deadline:
            break
        probes += 1
        await send(broadcaster.ws, {"to": "all", "data": f"probe {probes}"})
        await broadcaster.changes(min(deadline, time.monotonic() + 0.25))
    outcomes = {}
    for o in old:
        if heard[o]:
            outcomes[o] = ("works", None, round(heard[o][0] - begun, 3))
        elif not o.open:
            outcomes[o] = ("closed", o.code, round(o.closed_at - begun, 3))
        else:
            outcomes[o] = ("deaf", None, None)
    return outcomes


async def listing(admin: Listener) -> set[str]:
    since = len(admin.frames)
    await send(admin.ws, {"to": "system", "event": "connections"})
    _, frame = await admin.wait_for(lambda f: f.get("event") == "connections", since=since)
    return {conn["id"] for conn in frame["connections"]}


@pytest.mark.redis
async def test_stopped_process_continues_with_sockets_closed_1012_or_working_never_deaf(
    start_server, own_redis, alice
):
    name = "sigstop_20s_uvicorn_pubsub"
    project = await new_project(alice)
    env = {**PRODUCTION, "REDIS_URL": own_redis.url}
    one, two = await start(start_server, **env), await start(start_server, **env)
    admin = await admin_on(one, project)
    stopped = [await listen(two, project.public_id) for _ in range(3)]
    for listener in stopped:
        await admin.wait_for(lambda f, c=listener.conn_id: f == {"from": "system", "new_id": c})
    since = len(admin.frames)

    stopped_at = time.monotonic()
    two.process.send_signal(signal.SIGSTOP)
    try:
        # The scenario itself: the process stays stopped this long.
        await asyncio.sleep(STOPPED_FOR)
    finally:
        two.process.send_signal(signal.SIGCONT)
    continued_at = time.monotonic()

    # Each socket of the continued process is closed with 1012 or hears the other process.
    outcomes = await resolve(stopped, admin, within=5.0)
    # New connections on the continued process work, and the admin hears of them.
    deadline = time.monotonic() + 5.0
    refused = 0
    while True:
        try:
            fresh = await listen(two, project.public_id)
            break
        except (AssertionError, OSError, TimeoutError, ConnectionClosed):
            refused += 1
            assert time.monotonic() < deadline, "no new connection on the continued process"
    await admin.wait_for(lambda f: f == {"from": "system", "new_id": fresh.conn_id})
    await send(fresh.ws, {"to": "all", "data": "back"})
    await admin.wait_for(is_broadcast(fresh.conn_id, "back"))
    await send(admin.ws, {"to": "all", "data": "welcome"})
    await fresh.wait_for(is_broadcast(admin.conn_id, "welcome"))
    new_works_after = time.monotonic() - continued_at

    # For good: past another sweep, the list is exactly the open sockets.
    await asyncio.sleep(6.0)
    live = {o.conn_id for o in (admin, fresh, *stopped) if o.open}
    listed = await listing(admin)
    left = left_ids(admin, since)
    report(
        name,
        stopped_s=round(continued_at - stopped_at, 3),
        left_id_after_sigstop_s=[
            round(at - stopped_at, 3) for at, frame in admin.frames[since:] if "left_id" in frame
        ],
        old_sockets=[
            {"outcome": o, "code": c, "after_sigcont_s": t} for o, c, t in outcomes.values()
        ],
        old_sockets_at_end=[o.code if not o.open else "open" for o in stopped],
        old_sockets_closed_after_sigcont_s=[
            round(o.closed_at - continued_at, 3) if not o.open else None for o in stopped
        ],
        refused_handshakes_after_sigcont=refused,
        new_connection_working_s=new_works_after,
    )
    logs = f"--- one ---\n{one.output()}\n--- two ---\n{two.output()}"
    assert all(o == "works" or code == 1012 for o, code, _ in outcomes.values()), logs
    assert listed == live, (listed, live, left, logs)
    assert not live & set(left), (live, left, logs)
    for o in stopped:
        if not o.open:
            # Every close sends admins left_id (PROTOCOL.md §7), once.
            assert left.count(o.conn_id) == 1, (o.conn_id, left, logs)
    for o in (admin, fresh, *stopped):
        if o.open:
            await o.stop()
    assert one.process.poll() is None and two.process.poll() is None


# --- A client that never reads -----------------------------------------------------------------

PONG = {"system": "pong"}
# Offered to the non-reader: more than the RSS growth allowed, so that a server keeping what
# the non-reader does not read would fail. Measured growth: 8 to 16 MB (the other clients'
# traffic), 3 to 6 MB with one sender.
SENDERS = 3
FLOOD_BYTES = 10 * 1024 * 1024  # from each sender
RSS_GROWTH_BOUND_MB = 32
FRAME_DATA = 60_000  # characters of data: the frame stays under the 65 536-byte limit


class NonReader:
    """A raw TCP WebSocket client with a 4 KiB receive buffer that, once it has its id, reads
    nothing until told to."""

    def __init__(self, port: int, public_id: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/{public_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, self.buffer
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        opcode, payload = self.next_frame()
        assert opcode == 1 and "id" in json.loads(payload), payload
        self.text_frames = 0
        self.text_bytes = 0

    def next_frame(self) -> tuple[int, bytes]:
        """The next frame (opcode, payload); raises ConnectionError at EOF or reset."""
        while True:
            frame = parse_frame(self.buffer)
            if frame is not None:
                opcode, payload, self.buffer = frame
                return opcode, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("EOF before a complete frame")
            self.buffer += chunk

    def read_until_close(self, within: float) -> tuple[int | None, str]:
        """Read everything the server left for it: (close code, how the reading ended)."""
        self.sock.settimeout(within)
        try:
            while True:
                opcode, payload = self.next_frame()
                if opcode == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    return code, "close frame"
                if opcode == 1:
                    self.text_frames += 1
                    self.text_bytes += len(payload)
        except (ConnectionError, TimeoutError) as exc:
            return None, repr(exc)
        finally:
            self.sock.close()


def parse_frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    """One unmasked server frame off the front of `data`: (opcode, payload, rest)."""
    if len(data) < 2:
        return None
    opcode, length, at = data[0] & 0x0F, data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, at = struct.unpack("!H", data[2:4])[0], 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, at = struct.unpack("!Q", data[2:10])[0], 10
    if len(data) < at + length:
        return None
    return opcode, data[at : at + length], data[at + length :]


async def ping_round_trip(listener: Listener) -> float:
    since = len(listener.frames)
    sent = time.monotonic()
    await listener.ws.send("ping")
    at, _ = await listener.wait_for(lambda f: f == PONG, within=5.0, since=since)
    return at - sent


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_client_that_never_reads_is_closed_with_4009_while_others_keep_flowing(
    start_server, alice, kind
):
    name = f"never_reads_{kind}"
    project = await new_project(alice)
    # 4 MiB: the listeners below read in this one busy test process, and a machine under load
    # can leave one of them a MiB behind (it would rightly be closed as too slow too).
    env = {"server": kind, "RELAY_OUTBOUND_LIMIT_BYTES": str(OUTBOUND_LIMIT)}
    if settings.REDIS_URL:
        env["RELAY_REDIS_LAYER"] = "pubsub"
    server = await start(start_server, **env)
    pid = server.process.pid
    senders = [await listen(server, project.public_id) for _ in range(SENDERS)]
    bystander = await listen(server, project.public_id)
    non_reader = await asyncio.to_thread(NonReader, server.port, project.public_id)
    base_rss = rss_mb(pid)
    ping_before = [await ping_round_trip(bystander) for _ in range(3)]

    pings_during: list[float] = []
    flooding = True

    async def keep_pinging() -> None:
        while flooding:
            pings_during.append(await ping_round_trip(bystander))
            await asyncio.sleep(0.2)

    pinger = asyncio.create_task(keep_pinging())
    frames = FLOOD_BYTES // FRAME_DATA + 1  # from each sender
    peak_rss = base_rss
    started = time.monotonic()
    for n in range(frames):
        # Each sender's bucket: 100 to start with, 50 a second; stay under it.
        await asyncio.sleep(max(0.0, started + (n - 80) / 45 - time.monotonic()))
        for sender in senders:
            await send(sender.ws, {"to": "all", "data": f"{n:06d}" + "x" * (FRAME_DATA - 6)})
        peak_rss = max(peak_rss, rss_mb(pid))
    flood_seconds = time.monotonic() - started
    for listener in (*senders, bystander):
        for sender in senders:
            await listener.wait_for(last_of(sender.conn_id, frames), within=10.0)
    flooding = False
    await asyncio.wait_for(pinger, 10)
    peak_rss = max(peak_rss, rss_mb(pid))

    code, ended = await asyncio.to_thread(non_reader.read_until_close, 10.0)
    report(
        name,
        mb_offered_to_non_reader=round(SENDERS * frames * FRAME_DATA / 1e6, 1),
        outbound_limit_mib=OUTBOUND_LIMIT / 2**20,
        flood_s=flood_seconds,
        rss_base_mb=base_rss,
        rss_peak_mb=peak_rss,
        rss_growth_bound_mb=RSS_GROWTH_BOUND_MB,
        non_reader_close_code=code,
        non_reader_ended=ended,
        non_reader_frames_read_before_close=non_reader.text_frames,
        bystander_ping_before_s=max(ping_before),
        bystander_ping_during_max_s=max(pings_during),
        bystander_pings_during=len(pings_during),
    )
    for sender in senders:
        received = [f["data"][:6] for _, f in bystander.frames if f.get("from") == sender.conn_id]
        assert received == [f"{n:06d}" for n in range(frames)]
        assert not [f for _, f in sender.frames if f.get("event") == "error"]
    assert max(pings_during) < 5.0
    assert peak_rss - base_rss < RSS_GROWTH_BOUND_MB
    assert code == 4009, f"the non-reader found no close frame with 4009: {ended}"
    for listener in (*senders, bystander):
        await listener.stop()
    assert_no_traceback(server)


def last_of(sender: str, frames: int):
    """The last frame of the flood."""
    last = f"{frames - 1:06d}"
    return lambda f: is_broadcast(sender)(f) and str(f.get("data")).startswith(last)
