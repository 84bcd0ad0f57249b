"""A load generator for the Relay wire protocol (shared/PROTOCOL.md), printing one JSON line.

    python bench/loadgen.py SCENARIO --url ws://127.0.0.1:PORT/ws/<public id>/ --admin-key KEY

Scenarios: connect, fanout, fanout-max, direct, ping (see --help). Only 127.0.0.1 is accepted.
Sockets are spread round-robin over the --url values (several server processes, no balancer).
The generator becomes admin on a few sockets first and approves its own clients as their
new_id frames arrive, so none is dropped at the approval timeout. Every socket stays under the
protocol's rate limit (a bucket of 100 refilling 50/s): each sends at most 45 frames/s, so
throughput comes from many sockets, never from one fast one. Latencies use one monotonic clock
(time.perf_counter_ns) in this one process: sender and receiver read the same clock.

Server cost: --server-pid (repeatable) is read from /proc before and after the measured window,
VmRSS for memory and utime+stime for CPU; --server-pid-children adds their children; --aux-pid
(repeatable, e.g. Redis) is reported separately. Every loop is bounded in count and time, and
--timeout bounds the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ALLOWED_HOST = "127.0.0.1"
SOCKET_RATE = 45.0  # frames/s one socket sends at most: under the protocol's 50/s refill
SOCKET_BURST = 90.0  # under the protocol's bucket of 100
ADMIN_BURST = 20.0  # an approving admin's: leaves the server ~1.8 s of lag before rate_limited
NEW_ID_GRACE = 2.0  # seconds after a client's id frame by which an admin should have its new_id
REPLY_TIMEOUT = 5.0  # seconds to wait for one pong or echo before counting it lost
now_ns = time.perf_counter_ns  # CLOCK_MONOTONIC: one clock for the whole machine
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- The server's cost, from /proc -----------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _all_pids(pids: list[int], children: bool) -> list[int]:
    result, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        result.append(pid)
        if children:
            todo.extend(_children(pid))
    return result


def rss_kb(pids: list[int], children: bool = False) -> int:
    total = 0
    for pid in _all_pids(pids, children):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pids: list[int], children: bool = False) -> float:
    ticks = 0
    for pid in _all_pids(pids, children):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / CLK_TCK


class Probe:
    """CPU and memory of the server processes (and auxiliary ones) around a measured window."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.pids, self.aux, self.children = args.server_pid, args.aux_pid, args.server_pid_children
        self.mark = args.mark_window
        self.started = self.cpu = self.aux_cpu = self.own_cpu = 0.0

    def start(self) -> None:
        if self.mark:  # bench/profile.py starts its profiler on this line
            print("loadgen: window start", file=sys.stderr, flush=True)
        self.started = time.monotonic()
        self.cpu, self.aux_cpu = cpu_seconds(self.pids, self.children), cpu_seconds(self.aux)
        self.own_cpu = time.process_time()

    def stop(self, units: int, unit: str) -> dict[str, Any]:
        wall = max(time.monotonic() - self.started, 1e-9)
        cpu = cpu_seconds(self.pids, self.children) - self.cpu
        aux = cpu_seconds(self.aux) - self.aux_cpu
        if self.mark:  # ... and stops it on this one
            print("loadgen: window stop", file=sys.stderr, flush=True)
        out: dict[str, Any] = {"window_s": round(wall, 3)}
        if self.pids:
            out["server_cpu_s"] = round(cpu, 3)
            out["server_cpu_pct"] = round(100 * cpu / wall, 1)
            if units:
                out[f"server_cpu_us_per_{unit}"] = round(1e6 * cpu / units, 2)
        if self.aux:
            out["aux_cpu_s"] = round(aux, 3)
            if units:
                out[f"aux_cpu_us_per_{unit}"] = round(1e6 * aux / units, 2)
        out["loadgen_cpu_pct"] = round(100 * (time.process_time() - self.own_cpu) / wall, 1)
        return out


# --- Statistics --------------------------------------------------------------------------------


def percentiles(samples_ns: list[int], prefix: str = "") -> dict[str, float | None]:
    if not samples_ns:
        return {f"{prefix}p50_ms": None, f"{prefix}p99_ms": None, f"{prefix}max_ms": None}
    ordered = sorted(samples_ns)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] / 1e6, 3)

    return {
        f"{prefix}p50_ms": at(0.50),
        f"{prefix}p99_ms": at(0.99),
        f"{prefix}max_ms": round(ordered[-1] / 1e6, 3),
    }


class Tally:
    """What went wrong, by kind.

    error frames by code, unexpected closes by close code, failed handshakes by exception, and
    protocol events that never came (`missing`), with the approval bookkeeping behind them.
    """

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.missing: Counter[str] = Counter()
        self.approvals: Counter[str] = Counter()
        self.unexpected = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_frames": dict(self.errors),
            "unexpected_closes": dict(self.closes),
            "connect_failures": dict(self.failures),
            "missing": dict(self.missing),
            "approvals": dict(self.approvals),
            "unexpected_frames": self.unexpected,
        }


class Pacer:
    """A client-side token bucket that keeps one socket under the server's rate limit."""

    def __init__(self, rate: float = SOCKET_RATE, burst: float = SOCKET_BURST) -> None:
        self.rate, self.burst, self.tokens, self.ts = rate, burst, burst, time.monotonic()

    async def take(self) -> None:
        for _ in range(10_000):
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.ts) * self.rate)
            self.ts = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)
        raise RuntimeError("pacer never refilled")


# --- Sockets ---------------------------------------------------------------------------------

Handler = Callable[["Client", dict, int], Awaitable[None] | None]


class Client:
    """One WebSocket of the protocol: reads every frame, hands messages to `on_message`."""

    def __init__(self, run: Run, url: str, on_message: Handler | None = None) -> None:
        self.run, self.url, self.on_message = run, url, on_message
        self.ws: ClientConnection | None = None
        self.id: str | None = None
        self.time_to_id_ns = 0
        self.opened_at = 0.0
        self.pacer = Pacer()
        loop = asyncio.get_running_loop()
        self.approved: asyncio.Future[bool] = loop.create_future()
        self.admin: asyncio.Future[bool] = loop.create_future()
        self.on_new_id: Callable[[str], None] | None = None
        self.pong: asyncio.Future[int] | None = None
        self.reply: asyncio.Future[int] | None = None
        self.expect: tuple[str, int] | None = None
        self.seq = 0
        self.last_seq: dict[int, int] = {}
        self.closing = False
        self.role = "client"
        self.reader: asyncio.Task | None = None

    def steady(self) -> None:
        """From now on send at the steady rate, without the starting burst."""
        self.pacer = Pacer(burst=2.0)

    async def open(self, limit: float) -> None:
        started = now_ns()
        self.ws = await connect(
            self.url,
            compression=None,  # the relay under test negotiates none
            proxy=None,  # straight to 127.0.0.1, whatever the environment says
            ping_interval=None,
            open_timeout=limit,
            close_timeout=2,
            max_queue=1024,
            max_size=2**21,
        )
        raw = await asyncio.wait_for(self.ws.recv(), limit)
        frame = json.loads(raw)
        if not isinstance(frame, dict) or "id" not in frame:
            raise RuntimeError(f"first frame is not an id frame: {str(raw)[:200]}")
        self.id = frame["id"]
        self.time_to_id_ns = now_ns() - started
        self.opened_at = time.monotonic()
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        ws, run = self.ws, self.run
        assert ws is not None
        try:
            async for raw in ws:
                received = now_ns()
                try:
                    frame = json.loads(raw)
                except ValueError:
                    run.tally.unexpected += 1
                    continue
                if not isinstance(frame, dict):
                    run.tally.unexpected += 1
                elif frame.get("from") == "system":
                    self.system(frame)
                elif "from" in frame and "data" in frame:
                    if self.on_message is not None:
                        result = self.on_message(self, frame, received)
                        if result is not None:
                            await result
                elif frame.get("system") == "pong" and self.pong is not None:
                    if not self.pong.done():
                        self.pong.set_result(received)
                else:
                    run.tally.unexpected += 1
        except ConnectionClosed:
            pass
        finally:
            if not self.closing and not run.closing:
                run.tally.closes[f"{ws.close_code} ({self.role})"] += 1
            for future in (self.approved, self.admin):
                if not future.done():
                    future.set_result(False)

    def system(self, frame: dict) -> None:
        event, tally = frame.get("event"), self.run.tally
        if "new_id" in frame:
            if self.on_new_id is not None:
                self.on_new_id(frame["new_id"])
        elif "left_id" in frame:
            pass
        elif event == "approved" and "status" not in frame:
            tally.approvals["notices"] += 1
            if not self.approved.done():
                self.approved.set_result(True)
        elif event == "approved":
            if frame.get("status") == "success":
                tally.approvals["answered success"] += 1
                asked = self.run.approve_asked.pop(frame.get("id"), None)
                if asked is not None:
                    self.run.approve_rtts.append(now_ns() - asked)
            else:
                tally.approvals["answered failed"] += 1
                tally.errors[f"approve: {frame.get('error')}"] += 1
        elif event == "admin":
            ok = frame.get("status") == "success"
            if not ok:
                tally.errors[f"admin: {frame.get('error')}"] += 1
            if not self.admin.done():
                self.admin.set_result(ok)
        elif event == "error":
            tally.errors[str(frame.get("code"))] += 1
        elif event == "timeout":
            tally.errors["timeout"] += 1
        else:
            tally.unexpected += 1

    async def send(self, text: str, paced: bool = True) -> bool:
        if paced:
            await self.pacer.take()
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            return False
        return True

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except (TimeoutError, OSError, ConnectionClosed):
                self.ws.transport.abort()
        if self.reader is not None:
            self.reader.cancel()


class Run:
    """The sockets of one run: admins that approve, and every client, spread over the URLs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.urls, self.key = args, args.url, args.admin_key
        self.tally = Tally()
        self.admins: list[Client] = []
        self.admin_ids: set[str] = set()
        self.new_ids: set[str] = set()  # ids whose approving admin was told of them
        self.approve_asked: dict[str, int] = {}  # id -> when its approval was sent
        self.approve_rtts: list[int] = []
        self.queues: list[asyncio.Queue[str]] = []
        self.workers: list[asyncio.Task] = []
        self.clients: list[Client] = []
        self.next_url = 0
        self.opened = 0
        self.closing = False

    def url(self) -> str:
        url = self.urls[self.next_url % len(self.urls)]
        self.next_url += 1
        return url

    async def open_admins(self, for_sockets: int) -> None:
        """Admin sockets, enough to approve `for_sockets` clients at 45/s each quickly."""
        count = self.args.admins or max(1, min(8, math.ceil(for_sockets / 200)))
        for index in range(count):
            admin = Client(self, self.url(), on_message=self.discard)
            admin.role = "admin"
            await admin.open(self.args.open_timeout)
            self.admin_ids.add(admin.id)
            queue: asyncio.Queue[str] = asyncio.Queue()
            admin.on_new_id = self.router(index, count, queue)
            await admin.send(json.dumps({"to": "system", "event": "admin", "key": self.key}))
            if not await asyncio.wait_for(admin.admin, self.args.open_timeout):
                raise RuntimeError("could not become admin: is --admin-key right?")
            # The server counts frames when it reads them: a server that falls behind reads
            # frames sent over a while at once, so a full starting burst would be refused
            # (rate_limited) there. A small one keeps approvals within the limit as it sees them.
            admin.pacer = Pacer(burst=ADMIN_BURST)
            self.admins.append(admin)
            self.queues.append(queue)
            self.workers.append(asyncio.create_task(self.approve_loop(admin, queue)))

    def router(self, index: int, count: int, queue: asyncio.Queue[str]) -> Callable[[str], None]:
        def route(conn_id: str) -> None:
            # Each id is approved by exactly one admin, chosen from the id; only that admin's
            # new_id counts as received (another admin's copy does not get it approved).
            if int(conn_id[:8], 16) % count == index:
                self.new_ids.add(conn_id)
                queue.put_nowait(conn_id)

        return route

    async def approve_loop(self, admin: Client, queue: asyncio.Queue[str]) -> None:
        while not self.closing:
            conn_id = await queue.get()
            if conn_id in self.admin_ids:
                continue
            frame = {"to": "system", "event": "approved", "id": conn_id}
            await admin.pacer.take()
            self.approve_asked[conn_id] = now_ns()
            if not await admin.send(json.dumps(frame), paced=False):
                self.tally.missing["approvals not sent: admin socket closed"] += queue.qsize() + 1
                return
            self.tally.approvals["requested"] += 1

    @staticmethod
    def discard(client: Client, frame: dict, received: int) -> None:
        return None

    async def open_clients(
        self, count: int, on_message: Handler | None = None, concurrency: int | None = None
    ) -> list[Client]:
        gate = asyncio.Semaphore(concurrency or self.args.concurrency)
        clients = [Client(self, self.url(), on_message) for _ in range(count)]

        async def one(client: Client) -> None:
            async with gate:
                try:
                    await client.open(self.args.open_timeout)
                    self.opened += 1
                except Exception as exc:
                    self.run_failure(client, exc)

        await asyncio.gather(*(one(c) for c in clients))
        opened = [c for c in clients if c.id is not None]
        self.clients.extend(opened)
        return opened

    def run_failure(self, client: Client, exc: BaseException) -> None:
        self.tally.failures[type(exc).__name__] += 1
        if client.ws is not None:
            client.closing = True
            client.ws.transport.abort()

    async def wait_approved(self, clients: list[Client]) -> int:
        """Wait for the clients' approvals.

        An admin that is never told of a connection (a lost new_id) cannot approve it from
        the frame. The generator knows the id anyway: a client whose new_id its approving admin
        has not seen within NEW_ID_GRACE seconds of its id frame is approved by id, and the
        miss is counted as a fault of the server under test.
        """
        if not clients or not self.admins:
            return 0
        rate = SOCKET_RATE * len(self.admins)
        deadline = time.monotonic() + 6 + 1.5 * len(clients) / rate
        rescued: set[str] = set()
        while time.monotonic() < deadline:
            waiting = [c for c in clients if not c.approved.done()]
            if not waiting:
                break
            now = time.monotonic()
            for c in waiting:
                if c.id in self.new_ids or c.id in rescued or now - c.opened_at < NEW_ID_GRACE:
                    continue
                rescued.add(c.id)
                self.tally.missing["new_id at the approving admin (approved by id instead)"] += 1
                self.queues[int(c.id[:8], 16) % len(self.admins)].put_nowait(c.id)
            await asyncio.wait([c.approved for c in waiting], timeout=0.25)
        missing = sum(1 for c in clients if not c.approved.done())
        if missing:
            self.tally.missing["approved notice by the deadline"] += missing
        return sum(1 for c in clients if c.approved.done() and c.approved.result())

    async def close_all(self) -> None:
        self.closing = True
        for worker in self.workers:
            worker.cancel()
        # Admins first, so that the clients' closes do not each notify them.
        for group in (self.admins, self.clients):
            for start in range(0, len(group), 200):
                await asyncio.gather(*(c.close() for c in group[start : start + 200]))


# --- Scenarios -------------------------------------------------------------------------------


async def scenario_connect(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    pids, children = args.server_pid, args.server_pid_children
    await run.open_admins(args.n)
    await asyncio.sleep(args.settle)
    probe = Probe(args)
    rss_before = rss_kb(pids, children) if pids else 0
    curve: list[tuple[int, int]] = [(0, rss_before)]

    async def sample() -> None:
        for _ in range(1_000_000):
            await asyncio.sleep(0.05)
            curve.append((run.opened, rss_kb(pids, children)))

    sampler = asyncio.create_task(sample()) if pids else None
    probe.start()
    started = time.monotonic()
    clients = await run.open_clients(args.n)
    connected = time.monotonic()
    approved = await run.wait_approved(clients)
    approved_at = time.monotonic()
    if sampler is not None:
        sampler.cancel()
    await asyncio.sleep(args.settle)
    cost = probe.stop(len(clients), "connection")
    n = len(clients)
    result: dict[str, Any] = {
        "sockets": n,
        "concurrency": args.concurrency,
        "admins": len(run.admins),
        "connections_per_s": round(n / max(connected - started, 1e-9), 1),
        **percentiles([c.time_to_id_ns for c in clients], "time_to_id_"),
        "approved": approved,
        "all_approved_s": round(approved_at - started, 3),
        **percentiles(run.approve_rtts, "approve_reply_"),
        **cost,
    }
    if pids:
        rss_after = rss_kb(pids, children)
        curve.append((n, rss_after))
        step = max(1, len(curve) // 40)
        result.update(
            server_rss_before_kb=rss_before,
            server_rss_after_kb=rss_after,
            server_kb_per_socket=round((rss_after - rss_before) / max(n, 1), 2),
            rss_curve=curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else []),
        )
    return result


class Step:
    """The deliveries of one fan-out step (its broadcasts carry its number `k`)."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.latencies: list[int] = []
        self.received = 0  # by subscribers
        self.others = 0  # by publishers and admins, who are in "all" too
        self.out_of_order = 0
        self.last_ns = 0
        self.per_subscriber: Counter[int] = Counter()


class Fanout:
    def __init__(self, run: Run, args: argparse.Namespace) -> None:
        self.run, self.args = run, args
        self.steps: dict[int, Step] = {}
        self.subscribers: list[Client] = []
        self.publishers: list[Client] = []

    def on_subscriber(self, client: Client, frame: dict, received: int) -> None:
        data = frame["data"]
        if type(data) is not dict or "k" not in data:
            return
        step = self.steps.get(data["k"])
        if step is None:
            return
        step.received += 1
        step.per_subscriber[id(client)] += 1
        step.latencies.append(received - data["t"])
        step.last_ns = received
        publisher, seq = data["p"], data["s"]
        if seq <= client.last_seq.get(publisher, -1):
            step.out_of_order += 1
        else:
            client.last_seq[publisher] = seq

    def on_other(self, client: Client, frame: dict, received: int) -> None:
        data = frame["data"]
        if type(data) is dict and "k" in data and data["k"] in self.steps:
            self.steps[data["k"]].others += 1

    async def setup(self, subscribers: int, max_rate: float) -> None:
        publishers = math.ceil(max_rate / SOCKET_RATE)
        await self.run.open_admins(subscribers + publishers)
        for admin in self.run.admins:
            admin.on_message = self.on_other
        self.subscribers = await self.run.open_clients(subscribers, self.on_subscriber)
        await self.add_publishers(publishers)
        await self.run.wait_approved(self.subscribers)
        await asyncio.sleep(self.args.settle)

    async def add_publishers(self, wanted: int) -> None:
        if wanted > len(self.publishers):
            more = await self.run.open_clients(wanted - len(self.publishers), self.on_other)
            for publisher in more:
                publisher.role = "publisher"
            await self.run.wait_approved(more)
            self.publishers.extend(more)
        if len(self.publishers) < wanted:
            raise RuntimeError(f"only {len(self.publishers)} of {wanted} publishers connected")

    async def publish(self, index: int, rate: float, seconds: float, k: int) -> int:
        publisher = self.publishers[index]
        count, interval = max(1, round(rate * seconds)), 1.0 / rate
        started = time.monotonic()
        hard_stop = started + 2 * seconds + 5
        sent = 0
        for i in range(count):
            delay = started + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > hard_stop:
                break
            await publisher.pacer.take()
            data = {"t": now_ns(), "s": publisher.seq, "p": index, "k": k}
            publisher.seq += 1
            try:
                await publisher.ws.send(json.dumps({"to": "all", "data": data}))
            except ConnectionClosed:
                break
            sent += 1
        return sent

    async def step(self, k: int, rate: float, seconds: float) -> dict[str, Any]:
        used = math.ceil(rate / SOCKET_RATE)
        await self.add_publishers(used)
        step = self.steps[k] = Step(len(self.subscribers))
        probe = Probe(self.args)
        probe.start()
        started_ns, started = now_ns(), time.monotonic()
        sent = sum(
            await asyncio.gather(*(self.publish(i, rate / used, seconds, k) for i in range(used)))
        )
        publish_s = time.monotonic() - started
        expected = sent * len(self.subscribers)
        deadline = time.monotonic() + self.args.drain
        last, quiet_since = -1, time.monotonic()
        while step.received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if step.received != last:
                last, quiet_since = step.received, time.monotonic()
            elif time.monotonic() - quiet_since > 2.0:
                break
        deliveries = step.received + step.others
        cost = probe.stop(deliveries, "delivery")
        # From the first send to the last delivery, or the nominal schedule if that is longer.
        span_s = max((step.last_ns - started_ns) / 1e9, sent / rate, 1e-9)
        return {
            "offered_rate": round(rate, 2),
            "sent_rate": round(sent / max(publish_s, 1e-9), 2),
            "publishers": used,
            "subscribers": len(self.subscribers),
            "broadcasts": sent,
            "expected": expected,
            "delivered": step.received,
            "lost": max(0, expected - step.received),
            "out_of_order": step.out_of_order,
            "subscribers_missing_all": len(self.subscribers) - len(step.per_subscriber),
            "min_per_subscriber": min(step.per_subscriber.values(), default=0)
            if len(step.per_subscriber) == len(self.subscribers)
            else 0,
            "delivered_per_s": round(step.received / span_s, 1),
            **percentiles(step.latencies),
            "server_deliveries": deliveries,
            **cost,
        }


FANOUT_NOTE = (
    "broadcasts are spread over {p} publisher socket(s), each at most {r:g} frames/s "
    "(the protocol's per-connection rate limit); every socket of the project, publishers and "
    "admins included, receives each broadcast: server_deliveries counts them all, and CPU per "
    "delivery divides by it; expected and lost count subscribers only"
)


async def scenario_fanout(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    fanout = Fanout(run, args)
    await fanout.setup(args.subscribers, args.rate)
    result = await fanout.step(0, args.rate, args.seconds)
    result["note"] = FANOUT_NOTE.format(p=result["publishers"], r=SOCKET_RATE)
    return result


async def scenario_fanout_max(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    fanout = Fanout(run, args)
    await fanout.setup(args.subscribers, args.start_rate)
    steps, best, stop_reason = [], None, "max steps"
    rate, deadline = args.start_rate, time.monotonic() + args.max_seconds
    retried = False
    for k in range(2 * args.max_steps):
        if len(steps) >= args.max_steps + 1:
            break
        if rate > args.max_rate:
            stop_reason = "max rate"
            break
        if time.monotonic() > deadline:
            stop_reason = "time budget"
            break
        step = await fanout.step(k, rate, args.step_seconds)
        if step["lost"] or step["p99_ms"] is None or step["p99_ms"] > args.max_p99_ms:
            failed = "lost messages" if step["lost"] else f"p99 over {args.max_p99_ms:g} ms"
        elif step["sent_rate"] < 0.9 * rate:
            failed = "the load generator could not send at the offered rate"
        else:
            failed = ""
        step["passed"] = not failed
        steps.append(step)
        if failed and not retried:
            # One stall on a shared machine should not end the climb: try the rate once more.
            retried = True
            step["retried"] = True
            await asyncio.sleep(args.settle)
            continue
        if failed:
            stop_reason = failed
            if step["loadgen_cpu_pct"] > 80:
                stop_reason += (
                    f" (the load generator used {step['loadgen_cpu_pct']:g}% of a core: "
                    "this limit is at least partly the generator's)"
                )
            break
        best, retried = step, False
        rate *= args.factor
        await asyncio.sleep(args.settle)
    return {
        "subscribers": len(fanout.subscribers),
        "max_sustained_rate": best["offered_rate"] if best else 0,
        "deliveries_per_s_at_max": best["delivered_per_s"] if best else 0,
        "p99_ms_at_max": best["p99_ms"] if best else None,
        "server_cpu_us_per_delivery_at_max": best.get("server_cpu_us_per_delivery")
        if best
        else None,
        "loadgen_cpu_pct_at_max": best["loadgen_cpu_pct"] if best else None,
        "stopped_because": stop_reason,
        "steps": steps,
        "note": FANOUT_NOTE.format(p="up to " + str(len(fanout.publishers)), r=SOCKET_RATE),
    }


async def scenario_direct(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    async def echo(client: Client, frame: dict, received: int) -> None:
        # b: send the message back to its sender, unchanged.
        await client.send(json.dumps({"to": frame["from"], "data": frame["data"]}))

    def answered(client: Client, frame: dict, received: int) -> None:
        data = frame["data"]
        if (
            client.reply is not None
            and not client.reply.done()
            and type(data) is dict
            and (frame["from"], data.get("s")) == client.expect
        ):
            client.reply.set_result(received)

    await run.open_admins(2 * args.pairs)
    sockets = await run.open_clients(2 * args.pairs, None)
    askers, echoers = sockets[0::2], sockets[1::2]
    pairs = list(zip(askers, echoers, strict=False))
    for a, b in pairs:
        a.on_message, b.on_message = answered, echo
    await run.wait_approved(sockets)
    await asyncio.sleep(args.settle)
    for client in sockets:
        client.steady()
    rtts: list[int] = []
    lost = 0

    async def ping_pong(a: Client, b: Client, until: float) -> None:
        nonlocal lost
        for seq in range(100_000):
            if time.monotonic() >= until:
                return
            a.reply, a.expect = asyncio.get_running_loop().create_future(), (b.id, seq)
            await a.pacer.take()
            sent = now_ns()
            message = {"to": b.id, "data": {"t": sent, "s": seq}}
            if not await a.send(json.dumps(message), paced=False):
                return
            try:
                rtts.append(await asyncio.wait_for(a.reply, REPLY_TIMEOUT) - sent)
            except TimeoutError:
                lost += 1

    probe = Probe(args)
    probe.start()
    started = time.monotonic()
    await asyncio.gather(*(ping_pong(a, b, started + args.seconds) for a, b in pairs))
    elapsed = time.monotonic() - started
    return {
        "pairs": len(pairs),
        "round_trips": len(rtts),
        "round_trips_per_s": round(len(rtts) / elapsed, 1),
        "ceiling_per_s": round(len(pairs) * SOCKET_RATE, 1),
        "lost": lost,
        **percentiles(rtts),
        **probe.stop(2 * len(rtts), "message"),
        "note": "each round trip is two direct messages; every socket sends at most "
        f"{SOCKET_RATE:g} frames/s, so the ceiling is pairs x {SOCKET_RATE:g} round trips/s",
    }


async def scenario_ping(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    await run.open_admins(args.sockets)
    sockets = await run.open_clients(args.sockets, None)
    await run.wait_approved(sockets)
    await asyncio.sleep(args.settle)
    for client in sockets:
        client.steady()
    rtts: list[int] = []
    lost = 0

    async def pinger(client: Client, until: float) -> None:
        nonlocal lost
        for _ in range(100_000):
            if time.monotonic() >= until:
                return
            client.pong = asyncio.get_running_loop().create_future()
            await client.pacer.take()
            sent = now_ns()
            if not await client.send("ping", paced=False):
                return
            try:
                rtts.append(await asyncio.wait_for(client.pong, REPLY_TIMEOUT) - sent)
            except TimeoutError:
                lost += 1

    probe = Probe(args)
    probe.start()
    started = time.monotonic()
    await asyncio.gather(*(pinger(c, started + args.seconds) for c in sockets))
    elapsed = time.monotonic() - started
    return {
        "sockets": len(sockets),
        "round_trips": len(rtts),
        "round_trips_per_s": round(len(rtts) / elapsed, 1),
        "ceiling_per_s": round(len(sockets) * SOCKET_RATE, 1),
        "lost": lost,
        **percentiles(rtts),
        **probe.stop(len(rtts), "ping"),
    }


SCENARIOS = {
    "connect": scenario_connect,
    "fanout": scenario_fanout,
    "fanout-max": scenario_fanout_max,
    "direct": scenario_direct,
    "ping": scenario_ping,
}


# --- Command line ----------------------------------------------------------------------------


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname != ALLOWED_HOST:
        raise argparse.ArgumentTypeError(f"only ws://{ALLOWED_HOST}:PORT/... is allowed: {url}")
    return url


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--url",
        action="append",
        type=check_url,
        required=True,
        help="ws://127.0.0.1:PORT/ws/<public id>/ (repeat: sockets are spread)",
    )
    parser.add_argument("--admin-key", required=True)
    parser.add_argument(
        "--server-pid",
        action="append",
        type=int,
        default=[],
        help="a server process to measure (repeatable)",
    )
    parser.add_argument(
        "--server-pid-children", action="store_true", help="add the children of each --server-pid"
    )
    parser.add_argument(
        "--aux-pid",
        action="append",
        type=int,
        default=[],
        help="a helper process (Redis) whose CPU is reported apart (repeatable)",
    )
    parser.add_argument(
        "--mark-window",
        action="store_true",
        help="print `loadgen: window start` and `... stop` to stderr around each measured window",
    )
    parser.add_argument("--admins", type=int, default=0, help="admin sockets (0: by load)")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--open-timeout", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=0.5, help="pause before measuring")
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on the whole run")
    group = parser.add_argument_group("connect")
    group.add_argument("-n", "--n", type=int, default=1000, help="sockets to open")
    group = parser.add_argument_group("fanout and fanout-max")
    group.add_argument("--subscribers", type=int, default=100)
    group.add_argument("--rate", type=float, default=20.0, help="broadcasts/s (fanout)")
    group.add_argument(
        "--seconds", type=float, default=5.0, help="measured time: fanout, direct, ping"
    )
    group.add_argument("--drain", type=float, default=5.0, help="max wait for stragglers")
    group.add_argument("--start-rate", type=float, default=10.0)
    group.add_argument("--factor", type=float, default=1.5)
    group.add_argument("--step-seconds", type=float, default=3.0)
    group.add_argument("--max-steps", type=int, default=15)
    group.add_argument("--max-rate", type=float, default=5000.0)
    group.add_argument("--max-seconds", type=float, default=120.0, help="budget of fanout-max")
    group.add_argument("--max-p99-ms", type=float, default=100.0)
    group = parser.add_argument_group("direct and ping")
    group.add_argument("--pairs", type=int, default=100)
    group.add_argument("--sockets", type=int, default=200)
    args = parser.parse_args(argv)
    for name in ("n", "subscribers", "pairs", "sockets", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.rate <= 0 or args.start_rate <= 0 or args.factor <= 1:
        parser.error("rates must be positive and --factor above 1")
    return args


async def run_scenario(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args)
    started = time.monotonic()
    out: dict[str, Any] = {"scenario": args.scenario, "ok": False, "urls": args.url}
    try:
        out["results"] = await asyncio.wait_for(SCENARIOS[args.scenario](run, args), args.timeout)
        out["ok"] = True
    except TimeoutError:
        out["error"] = f"timed out after {args.timeout:g} s"
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            await asyncio.wait_for(run.close_all(), 30)
        except TimeoutError:
            for client in [*run.admins, *run.clients]:
                if client.ws is not None:
                    client.ws.transport.abort()
    out["problems"] = run.tally.as_dict()
    out["elapsed_s"] = round(time.monotonic() - started, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        runner, loop_name = uvloop.run, "uvloop"
    except ImportError:
        runner, loop_name = asyncio.run, "asyncio"
    out = runner(run_scenario(args))
    out["loop"] = loop_name
    out["websockets"] = websockets.__version__
    out["params"] = {k: v for k, v in vars(args).items() if k not in ("admin_key", "url")}
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
