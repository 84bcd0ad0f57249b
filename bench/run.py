"""Benchmark the relay against a reference relay, and write docs/performance.md.

    python bench/run.py                      # every configuration, every scenario, 3 repeats
    python bench/run.py --quick --no-write   # a smoke run: tiny sizes, one repeat, no files
    python bench/run.py --configs daphne-inmemory --scenarios fanout-100,ping --repeat 1
    python bench/run.py --render docs/perf/results.json  # the report again, nothing is run

One run makes a temporary SQLite database (or uses --database-url), migrates it, creates a
project with `create_project --max-connections 100000`, and starts its own redis-server on a
free port when a configuration needs Redis (or uses --redis-url, which it never flushes). For
each configuration it starts the server processes on free ports of 127.0.0.1, runs every
scenario of bench/loadgen.py against them --repeat times, and stops them (by PID). The
reference relay (bench/reference_relay.py) is measured in the same run. Medians go into
docs/performance.md with ratios to the reference; plots into docs/perf/; raw results into
docs/perf/results.json and bench/results/.

The report opens with the production configuration's targets (TARGETS), checked against the
reference in the same run, followed by docs/perf/notes.md as it stands (written by hand after a
run: what stands in the way of each unmet target). "Where the CPU goes" shows the profiles of
docs/perf/profiles-before/summary.md (the first round's, kept) and docs/perf/profiles/summary.md
(bench/profile.py's latest). --render writes the report again from a results.json, for
example after editing the notes.

Exit status: 0 when every scenario ran, 1 when one crashed or a server would not start
(slow or lossy results are measurements, not failures).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LOADGEN = ROOT / "bench" / "loadgen.py"
HOST = "127.0.0.1"
TIMES, DASH = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"
SECRET = "bench-only-secret-key-not-for-any-real-deployment-0123456789"


# --- Configurations ---------------------------------------------------------------------------


@dataclass
class Config:
    """A way of serving the relay: one or more processes, each a command line and environment.

    `{port}`, `{py}` and `{admin_key}` in a command are filled in per process. `redis` asks for
    REDIS_URL; `needs` names modules that must be importable for the configuration to run.
    """

    name: str
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)
    redis: bool = False
    reference: bool = False
    needs: tuple[str, ...] = ()
    about: str = ""


DAPHNE = [
    "{py}",
    "-m",
    "daphne",
    "-b",
    HOST,
    "-p",
    "{port}",
    "--websocket-max-message-size",
    "2097152",
    "--websocket-max-frame-size",
    "2097152",
    "config.asgi:application",
]
UVICORN = [
    "{py}",
    "-m",
    "uvicorn",
    "config.asgi:application",
    "--host",
    HOST,
    "--port",
    "{port}",
    "--ws",
    "realtime.uvicorn_compat:WebSocketProtocol",  # websockets-sansio, corrected
    "--loop",
    "uvloop",
    "--http",
    "realtime.uvicorn_compat:HttpToolsProtocol",  # httptools, with a deadline for headers
    "--ws-max-size",
    "2097152",
    "--no-access-log",  # the README's production command, flag for flag
]
REFERENCE = "reference"

# In the order the run measures them and the report shows them: the reference, then the
# production configuration (uvicorn with RedisPubSubChannelLayer, one process and two).
CONFIGS = [
    Config(
        REFERENCE,
        [["{py}", "bench/reference_relay.py", "--port", "{port}", "--admin-key", "{admin_key}"]],
        reference=True,
        about="bench/reference_relay.py: the protocol's hot path in plain websockets, "
        "1 process, asyncio loop",
    ),
    Config(
        "uvicorn-redis-pubsub",
        [UVICORN],
        redis=True,
        env={"RELAY_REDIS_LAYER": "pubsub"},
        needs=("uvicorn", "uvloop", "httptools"),
        about="uvicorn (websockets-sansio, uvloop, httptools), RedisPubSubChannelLayer, 1 process",
    ),
    Config(
        "uvicorn-redis-pubsub-2proc",
        [UVICORN, UVICORN],
        redis=True,
        env={"RELAY_REDIS_LAYER": "pubsub"},
        needs=("uvicorn", "uvloop", "httptools"),
        about="two uvicorn processes sharing Redis (RedisPubSubChannelLayer); the load "
        "generator spreads its sockets over both",
    ),
    Config("daphne-inmemory", [DAPHNE], about="daphne, InMemoryChannelLayer, 1 process"),
    Config(
        "uvicorn-inmemory",
        [UVICORN],
        needs=("uvicorn", "uvloop", "httptools"),
        about="uvicorn (websockets-sansio, uvloop, httptools: the README's flags), "
        "InMemoryChannelLayer, 1 process",
    ),
    Config("daphne-redis", [DAPHNE], redis=True, about="daphne, RedisChannelLayer, 1 process"),
    Config(
        "uvicorn-redis",
        [UVICORN],
        redis=True,
        needs=("uvicorn", "uvloop", "httptools"),
        about="uvicorn (websockets-sansio, uvloop, httptools), RedisChannelLayer, 1 process",
    ),
    Config(
        "uvicorn-redis-2proc",
        [UVICORN, UVICORN],
        redis=True,
        needs=("uvicorn", "uvloop", "httptools"),
        about="two uvicorn processes sharing Redis (RedisChannelLayer); the load generator "
        "spreads its sockets over both",
    ),
    Config(
        "daphne-redis-pubsub",
        [DAPHNE],
        redis=True,
        env={"RELAY_REDIS_LAYER": "pubsub"},
        about="daphne, RedisPubSubChannelLayer, 1 process",
    ),
    Config(
        "daphne-redis-2proc",
        [DAPHNE, DAPHNE],
        redis=True,
        about="two daphne processes sharing Redis, no load balancer: the load generator "
        "spreads its sockets over both",
    ),
]

PRODUCTION, PRODUCTION_2PROC = "uvicorn-redis-pubsub", "uvicorn-redis-pubsub-2proc"

# What `make bench` runs, the production configuration first (about 25 minutes on 2 cores:
# fanout-1000 at 10 broadcasts/s instead of 2 adds about a second to each of its runs); the
# others on request (--configs).
DEFAULT_CONFIGS = [
    REFERENCE,
    PRODUCTION,
    PRODUCTION_2PROC,
    "daphne-inmemory",
    "uvicorn-inmemory",
    "daphne-redis",
    "uvicorn-redis",
    "uvicorn-redis-2proc",
]


# --- Scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One loadgen scenario with its sizes, and the figures the report shows for it.

    metrics: (result key, label, "up" when higher is better or "down" when lower is).
    """

    name: str
    loadgen: str
    full: str  # loadgen options
    quick: str
    metrics: list[tuple[str, str, str]]
    fresh_server: bool = False
    about: str = ""


LATENCY = [("p50_ms", "latency p50 (ms)", "down"), ("p99_ms", "latency p99 (ms)", "down")]
FANOUT_METRICS = [
    ("delivered_per_s", "delivered/s", "up"),
    *LATENCY,
    ("max_ms", "latency max (ms)", "down"),
    ("lost", "lost messages", "down"),
    ("server_cpu_us_per_delivery", "server CPU per delivery (µs)", "down"),
    ("aux_cpu_us_per_delivery", "Redis CPU per delivery (µs)", "down"),
]

SCENARIOS = [
    Scenario(
        "connect",
        "connect",
        full="-n 1000 --concurrency 100",
        quick="-n 40 --concurrency 20",
        metrics=[
            ("connections_per_s", "connections/s", "up"),
            ("time_to_id_p50_ms", "time to id p50 (ms)", "down"),
            ("time_to_id_p99_ms", "time to id p99 (ms)", "down"),
            ("all_approved_s", "all connected and approved (s)", "down"),
            ("approve_reply_p50_ms", "approval request to reply p50 (ms)", "down"),
            ("server_kb_per_socket", "server memory per idle socket (KiB)", "down"),
            ("server_cpu_us_per_connection", "server CPU per connection (µs)", "down"),
        ],
        fresh_server=True,
        about="1000 sockets, 100 handshakes in flight; each is approved by an admin socket; "
        "memory is the servers' RSS after minus before, over the sockets",
    ),
    Scenario(
        "fanout-100",
        "fanout",
        full="--subscribers 100 --rate 20 --seconds 3",
        quick="--subscribers 10 --rate 5 --seconds 1 --drain 2",
        metrics=FANOUT_METRICS,
        about="100 approved subscribers, 20 broadcasts/s for 3 s (2 000 deliveries/s offered)",
    ),
    Scenario(
        "fanout-1000",
        "fanout",
        full="--subscribers 1000 --rate 10 --seconds 3",
        quick="--subscribers 30 --rate 2 --seconds 1 --drain 2",
        metrics=FANOUT_METRICS,
        about="1000 approved subscribers, 10 broadcasts/s for 3 s (10 000 deliveries/s offered)",
    ),
    Scenario(
        "fanout-max",
        "fanout-max",
        full="--subscribers 100 --start-rate 5 --factor 2 --step-seconds 2 --drain 4 "
        "--max-seconds 45",
        quick="--subscribers 10 --start-rate 5 --step-seconds 0.5 --max-steps 2 --drain 2",
        metrics=[
            ("max_sustained_rate", "highest sustained broadcasts/s", "up"),
            ("deliveries_per_s_at_max", "deliveries/s at it", "up"),
            ("p99_ms_at_max", "latency p99 at it (ms)", "down"),
            ("server_cpu_us_per_delivery_at_max", "server CPU per delivery at it (µs)", "down"),
            ("loadgen_cpu_pct_at_max", "load generator CPU at it (% of a core)", "down"),
        ],
        about="100 subscribers; the broadcast rate starts at 5/s and doubles every 2 s "
        "step until a message is lost or p99 passes 100 ms (a failing step is tried once more; "
        "at most 45 s)",
    ),
    Scenario(
        "direct",
        "direct",
        full="--pairs 50 --seconds 3",
        quick="--pairs 3 --seconds 1",
        metrics=[
            ("round_trips_per_s", "round trips/s", "up"),
            *LATENCY,
            ("lost", "lost round trips", "down"),
            ("server_cpu_us_per_message", "server CPU per message (µs)", "down"),
            ("aux_cpu_us_per_message", "Redis CPU per message (µs)", "down"),
        ],
        about="50 pairs ping-ponging direct messages for 3 s, each socket at most 45 frames/s "
        "(ceiling 2 250 round trips/s)",
    ),
    Scenario(
        "ping",
        "ping",
        full="--sockets 100 --seconds 3",
        quick="--sockets 5 --seconds 1",
        metrics=[
            ("round_trips_per_s", "pings/s", "up"),
            *LATENCY,
            ("server_cpu_us_per_ping", "server CPU per ping (µs)", "down"),
        ],
        about="100 sockets sending `ping` and waiting for the pong for 3 s, each at most 45/s "
        "(ceiling 4 500/s)",
    ),
]


# --- Targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A target for `config`'s median figure `key` in `scenario`, from the same run.

    With `ratio`, the figure divided by `against`'s must be at most `limit` (at least, with
    `at_least`); without, the figure itself must (`against`'s figure is shown, for comparison).
    """

    label: str
    scenario: str
    key: str
    limit: float
    ratio: bool = True
    at_least: bool = False
    config: str = PRODUCTION
    against: str = REFERENCE


TARGETS = [
    Target("connect: server CPU per connection (µs)", "connect", "server_cpu_us_per_connection", 2),
    Target("connect: connections/s", "connect", "connections_per_s", 0.5, at_least=True),
    Target("direct: server CPU per message (µs)", "direct", "server_cpu_us_per_message", 2),
    Target("direct: latency p99 (ms)", "direct", "p99_ms", 2),
    Target("direct: lost round trips", "direct", "lost", 0, ratio=False),
    Target("ping: server CPU per ping (µs)", "ping", "server_cpu_us_per_ping", 1.5),
    Target(
        "fanout-1000: server CPU per delivery (µs)", "fanout-1000", "server_cpu_us_per_delivery", 2
    ),
    Target("fanout-1000: latency p99 (ms)", "fanout-1000", "p99_ms", 2),
    Target("fanout-1000: lost messages", "fanout-1000", "lost", 0, ratio=False),
    Target(
        "fanout-100: server CPU per delivery (µs)", "fanout-100", "server_cpu_us_per_delivery", 2
    ),
    Target("fanout-100: latency p99 (ms)", "fanout-100", "p99_ms", 2),
    Target("fanout-100: lost messages", "fanout-100", "lost", 0, ratio=False),
    Target(
        "two processes: fanout-1000 server CPU per delivery (µs), 2 processes against 1",
        "fanout-1000",
        "server_cpu_us_per_delivery",
        1.5,
        config=PRODUCTION_2PROC,
        against=PRODUCTION,
    ),
    Target(
        "memory: connect's server memory per idle socket (KiB)",
        "connect",
        "server_kb_per_socket",
        40,
        ratio=False,
    ),
]


def median_figure(report: dict[str, Any], config: str, scenario: str, key: str) -> float | None:
    entry = report["configs"].get(config, {}).get("scenarios", {}).get(scenario, {})
    value = entry.get("median", {}).get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its figures. met is None (not measured) when a figure is missing, or
    when a ratio's divisor is 0 (a CPU time under the clock's 10 ms tick, in a quick run)."""
    rows = []
    for target in TARGETS:
        value = median_figure(report, target.config, target.scenario, target.key)
        other = median_figure(report, target.against, target.scenario, target.key)
        quotient = value / other if value is not None and other else None
        compared = quotient if target.ratio else value
        met = None
        if compared is not None:
            met = compared >= target.limit if target.at_least else compared <= target.limit
        rows.append(
            {
                "target": target.label,
                "config": target.config,
                "against": target.against,
                "scenario": target.scenario,
                "key": target.key,
                "figure": value,
                "reference": other,
                "ratio": quotient,
                "limit": target.limit,
                "of_ratio": target.ratio,  # the limit is on the ratio, not on the figure
                "at_least": target.at_least,
                "met": met,
            }
        )
    return rows


def limit_text(row: dict[str, Any]) -> str:
    sign = "\N{GREATER-THAN OR EQUAL TO}" if row["at_least"] else "\N{LESS-THAN OR EQUAL TO}"
    if row["of_ratio"]:
        return f"{sign} {TIMES}{fmt(row['limit'])}"
    if row["limit"] == 0 and not row["at_least"]:
        return "= 0"
    return f"{sign} {fmt(row['limit'])}"


def targets_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | figure (production) | reference | ratio | limit | met |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        shown_ratio = DASH
        if row["of_ratio"] and row["ratio"] is not None:
            shown_ratio = f"{TIMES}{row['ratio']:.3g}"
        met = {True: "yes", False: "no", None: "not measured"}[row["met"]]
        lines.append(
            f"| {row['target']} | {fmt(row['figure'])} | {fmt(row['reference'])} | "
            f"{shown_ratio} | {limit_text(row)} | {met} |"
        )
    return lines


def targets_tally(rows: list[dict[str, Any]]) -> str:
    met = Counter(row["met"] for row in rows)
    text = f"{met[True]} of {len(rows)} targets met"
    return text + (f"; {met[None]} not measured." if met[None] else ".")


# --- Processes -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(process: subprocess.Popen, port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"not listening on {port} after {limit:g} s")


def stop(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM this one process (started by us), then SIGKILL it if it does not go."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def quiesce(pids: list[int], limit: float = 15.0) -> None:
    """Wait (bounded) until the servers are idle: the last run's backlog is not measured."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if cpu_seconds(pids) - before < 0.05:
            return


class Servers:
    """The running processes of one configuration."""

    def __init__(self, config: Config, env: dict[str, str], admin_key: str, logs: Path) -> None:
        self.config, self.env, self.admin_key, self.logs = config, env, admin_key, logs
        self.processes: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.log_offsets: dict[Path, int] = {}

    def start(self) -> None:
        for index, template in enumerate(self.config.commands):
            port = free_port()
            command = [part.format(port=port, py=PY, admin_key=self.admin_key) for part in template]
            path = self.logs / f"{self.config.name}-{index}-{port}.log"
            self.log_offsets.setdefault(path, 0)
            out = path.open("ab")
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
            out.close()
            self.processes.append(process)
            self.ports.append(port)
            try:
                wait_listening(process, port)
            except RuntimeError as exc:
                self.stop()
                raise RuntimeError(f"{self.config.name}: {' '.join(command)}: {exc}") from None

    def stop(self) -> None:
        for process in self.processes:
            stop(process)
        self.processes, self.ports = [], []

    def restart(self) -> None:
        self.stop()
        self.start()

    def new_log_problems(self) -> dict[str, int]:
        """Exceptions the servers logged since the last call, by type."""
        found: Counter[str] = Counter()
        for path, offset in self.log_offsets.items():
            with path.open("rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
                self.log_offsets[path] = f.tell()
            in_traceback = False
            for line in text.splitlines():
                if line.startswith("Traceback (most recent call last)"):
                    in_traceback = True
                elif in_traceback and line and not line[0].isspace():
                    found[line.split(":", 1)[0][:120]] += 1
                    in_traceback = False
        return dict(found)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def urls(self, path: str) -> list[str]:
        return [f"ws://{HOST}:{port}{path}" for port in self.ports]


class Redis:
    """A throwaway redis-server on a free port, in a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        out = (workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        wait_listening(self.process, self.port)

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def stop(self) -> None:
        stop(self.process, grace=5)


# --- One run of the benchmark -------------------------------------------------------------------


def machine_busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args, "--skip-checks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def run_loadgen(
    scenario: Scenario, servers: Servers, project: dict, args: argparse.Namespace, aux: list[int]
) -> dict[str, Any]:
    command = [PY, str(LOADGEN), scenario.loadgen, "--admin-key", project["admin_key"]]
    for url in servers.urls(project["path"]):
        command += ["--url", url]
    for pid in servers.pids:
        command += ["--server-pid", str(pid)]
    for pid in aux if servers.config.redis else ():
        command += ["--aux-pid", str(pid)]
    command += (scenario.quick if args.quick else scenario.full).split()
    limit = 60 if args.quick else 300
    command += ["--timeout", str(limit)]
    if args.quick:
        command += ["--settle", "0.2"]
    try:
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=limit + 60
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "the load generator did not finish in time"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (result.stderr or result.stdout)[-2000:]
        return {"ok": False, "error": f"no result (exit {result.returncode}): {tail}"}
    out = json.loads(lines[-1])
    if result.returncode != 0 and out.get("ok"):
        out["ok"] = False
        out["error"] = f"exit status {result.returncode}"
    return out


def median_results(runs: list[dict]) -> dict[str, Any]:
    """Medians of every numeric figure over the runs that succeeded, with their ranges."""
    good = [r["results"] for r in runs if r.get("ok") and r.get("results")]
    medians: dict[str, Any] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for key in good[0] if good else []:
        values = [g[key] for g in good if isinstance(g.get(key), int | float)]
        values = [v for v in values if not isinstance(v, bool)]
        if values:
            medians[key] = statistics.median(values)
            ranges[key] = (min(values), max(values))
    return {"median": medians, "range": ranges, "ok_runs": len(good), "runs": len(runs)}


def summarize_problems(runs: list[dict]) -> list[str]:
    lines = []
    for i, run in enumerate(runs, 1):
        found = []
        if not run.get("ok"):
            found.append(f"crashed: {run.get('error')}")
        problems = run.get("problems", {})
        for kind in ("error_frames", "unexpected_closes", "connect_failures"):
            for what, count in problems.get(kind, {}).items():
                label = {"unexpected_closes": "closed with", "connect_failures": "failed:"}.get(
                    kind, "error frame"
                )
                found.append(f"{label} {what} {TIMES}{count}")
        for what, count in problems.get("missing", {}).items():
            found.append(f"never came: {what} {TIMES}{count}")
        approvals = problems.get("approvals", {})
        if problems.get("missing") and approvals:
            found.append(
                "approvals: " + ", ".join(f"{k} {v}" for k, v in sorted(approvals.items()))
            )
        for what, count in run.get("server_log", {}).items():
            found.append(f"server log: {what} {TIMES}{count}")
        if problems.get("unexpected_frames"):
            found.append(f"unexpected frames {TIMES}{problems['unexpected_frames']}")
        results = run.get("results") or {}
        if results.get("lost"):
            found.append(f"lost {results['lost']} of {results.get('expected', '?')}")
        if results.get("stopped_because"):
            found.append(f"stopped climbing: {results['stopped_because']}")
        if results.get("out_of_order"):
            found.append(f"out of order {TIMES}{results['out_of_order']}")
        if found:
            lines.append(f"run {i}: " + "; ".join(found))
    return lines


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "Django",
        "channels",
        "channels-redis",
        "daphne",
        "Twisted",
        "autobahn",
        "websockets",
        "uvicorn",
        "uvloop",
        "httptools",
        "redis",
        "matplotlib",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    ram_kb = int(meminfo[meminfo.index("MemTotal:") + 1])
    redis_version = ""
    if shutil.which("redis-server"):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        redis_version = next((p[2:] for p in out.stdout.split() if p.startswith("v=")), "")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(ram_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions(),
        "redis_server": redis_version,
        "load_average_at_start": os.getloadavg(),
    }


def run_all(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    configs = [c for c in CONFIGS if c.name in args.configs]
    scenarios = [s for s in SCENARIOS if s.name in args.scenarios]
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    logs = workdir / "logs"
    logs.mkdir()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "quick": args.quick,
        "repeat": args.repeat,
        "configs": {},
        "scenarios": {s.name: s.about for s in scenarios},
        "skipped": {},
    }
    all_ok = True
    busy0, ours0, started = machine_busy_seconds(), children_cpu_seconds(), time.monotonic()
    redis: Redis | None = None
    try:
        base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        base.update(
            DATABASE_URL=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            DEBUG="0",
            SECRET_KEY=SECRET,
            # Plain http on 127.0.0.1: no redirect to HTTPS.
            SECURE_SSL_REDIRECT="0",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            REDIS_URL="",
        )
        log(f"database: migrating {base['DATABASE_URL'].split('@')[-1]}")
        manage(base, "migrate", "--noinput")
        project = json.loads(
            manage(
                base,
                "create_project",
                "--owner",
                "bench@example.invalid",
                "--create-owner",
                "--name",
                "bench",
                "--max-connections",
                "100000",
            )
            .strip()
            .splitlines()[-1]
        )
        if any(c.redis for c in configs) and not args.redis_url and shutil.which("redis-server"):
            redis = Redis(workdir)
            log(f"redis-server started on port {redis.port}")
        redis_url = args.redis_url or (redis.url if redis else "")
        aux = [redis.process.pid] if redis else []
        for config in configs:
            missing = [m for m in config.needs if importlib.util.find_spec(m) is None]
            if config.redis and not redis_url:
                missing.append("Redis (no redis-server and no --redis-url)")
            if missing:
                report["skipped"][config.name] = "needs " + ", ".join(missing)
                log(f"{config.name}: skipped, needs {', '.join(missing)}")
                continue
            if config.redis and redis is not None:
                redis.flush()
            env = {**base, **config.env, "REDIS_URL": redis_url if config.redis else ""}
            servers = Servers(config, env, project["admin_key"], logs)
            entry: dict[str, Any] = {"about": config.about, "scenarios": {}}
            report["configs"][config.name] = entry
            try:
                servers.start()
            except RuntimeError as exc:
                entry["error"] = str(exc)
                all_ok = False
                log(f"{config.name}: could not start: {exc}")
                continue
            try:
                for scenario in scenarios:
                    runs = []
                    for i in range(args.repeat):
                        if scenario.fresh_server and i > 0:
                            servers.restart()
                        quiesce(servers.pids)
                        out = run_loadgen(scenario, servers, project, args, aux)
                        out["server_log"] = servers.new_log_problems()
                        runs.append(out)
                        status = "ok" if out.get("ok") else f"CRASHED: {out.get('error')}"
                        all_ok = all_ok and bool(out.get("ok"))
                        log(
                            f"{config.name} {scenario.name} {i + 1}/{args.repeat}: {status} "
                            f"{brief(scenario, out)}"
                        )
                    entry["scenarios"][scenario.name] = {
                        **median_results(runs),
                        "problems": summarize_problems(runs),
                        "raw": runs,
                    }
            finally:
                servers.stop()
    finally:
        if redis is not None:
            redis.stop()
        elapsed = time.monotonic() - started
        busy = machine_busy_seconds() - busy0
        ours = children_cpu_seconds() - ours0
        report["elapsed_s"] = round(elapsed, 1)
        report["machine"]["load_average_at_end"] = os.getloadavg()
        report["machine"]["others_cpu_pct"] = round(
            100 * max(0.0, busy - ours) / (elapsed * (os.cpu_count() or 1)), 1
        )
        if args.keep_tmp:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report, all_ok


def brief(scenario: Scenario, out: dict) -> str:
    results = out.get("results") or {}
    shown = [f"{key}={results[key]}" for key, _, _ in scenario.metrics[:3] if key in results]
    return " ".join(shown)


# --- The report -------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        if value == int(value) and abs(value) >= 100:
            return f"{int(value):,}".replace(",", " ")
        if abs(value) >= 100:
            return f"{value:,.0f}".replace(",", " ")
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value)


def ratio(value: Any, reference: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(reference, int | float):
        return DASH
    if reference == 0:
        return DASH if value == 0 else "\N{INFINITY}"
    return f"{TIMES}{value / reference:.3g}"


def slim(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what each raw run repeats (its options and URLs)."""
    copy = json.loads(json.dumps(report))
    for entry in copy["configs"].values():
        for data in entry.get("scenarios", {}).values():
            for run in data.get("raw", []):
                run.pop("params", None)
                run.pop("urls", None)
    return copy


def in_report_order(configs: dict[str, Any]) -> dict[str, Any]:
    """The configurations in CONFIGS's order (a results.json of an earlier run may differ)."""
    rank = {c.name: i for i, c in enumerate(CONFIGS)}
    return dict(sorted(configs.items(), key=lambda item: rank.get(item[0], len(rank))))


def write_report(report: dict[str, Any], out: Path, plots: Path) -> None:
    report["configs"] = in_report_order(report["configs"])
    report["targets"] = check_targets(report)
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "results.json").write_text(json.dumps(slim(report), indent=1) + "\n")
    plotted = make_plots(report, plots)
    m = report["machine"]
    ref = report["configs"].get(REFERENCE, {}).get("scenarios", {})
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`bench/run.py`); do not edit by hand, except "
        "`docs/perf/notes.md`, which is included under the targets. Every figure is the "
        f"median of {report['repeat']} runs (the range over the runs follows it). Ratios divide "
        "the configuration's figure by the reference relay's, measured in the same run: for "
        "throughput higher is better, for latency, CPU and memory lower is.",
        "",
        "## The machine",
        "",
        f"- Date: {report['date']}; the whole run took {report['elapsed_s'] / 60:.1f} minutes",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gib']} GiB; Linux {m['kernel']}",
        f"- Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + (f"; redis-server {m['redis_server']}" if m.get("redis_server") else ""),
        f"- Load average at the start {tuple(round(x, 2) for x in m['load_average_at_start'])}, "
        f"at the end {tuple(round(x, 2) for x in m['load_average_at_end'])}; other processes "
        f"used {m['others_cpu_pct']}% of the machine's CPU during the run",
        "",
        "## Targets",
        "",
        f"The production configuration, {PRODUCTION}, against the reference relay in the same "
        "run: the figures are the medians of the tables below, and the ratio divides the "
        "production figure by the reference's. The two-process row divides "
        f"{PRODUCTION_2PROC}'s figure by {PRODUCTION}'s (its reference column). Memory and "
        "lost messages are limits on the figure itself.",
        "",
        *targets_table(report["targets"]),
        "",
        targets_tally(report["targets"]),
        "",
        *hand_notes(out.parent),
        "## How to read it",
        "",
        "- The load generator (`bench/loadgen.py`, one process, uvloop when installed) runs on "
        "the same 2 cores as the servers and uses one core at most. Where it nears a core "
        "(`load generator CPU at it` in fanout-max), the limit found is the generator's as much "
        "as the server's: the reference relay's fanout-max is such a figure, a floor for it.",
        "- Every socket sends at most 45 frames/s (the protocol's rate limit is 50/s), so "
        "throughput comes from many sockets; direct and ping offer a fixed load (sockets x 45/s) "
        "and are judged by latency and CPU, not by round trips/s.",
        "- Latency is from the sender's `ws.send` to the receiver's `recv`, on one monotonic "
        "clock, and includes the generator's time to read every frame: with 1000 subscribers "
        "one broadcast is 1000 frames to read, which is the reference's ~20 ms in fanout-1000.",
        "- Server CPU is utime+stime of the server processes over the measured window (from "
        "/proc), divided by the deliveries (every socket of the project that received a "
        "broadcast, publishers and admins included) or messages; Redis CPU is the redis-server "
        "process's. CPU percentages are averaged over the window, drain included. The clock "
        "ticks at 10 ms, so small windows are coarse. Memory is VmRSS summed over the server "
        "processes; per idle socket is (after - before) / sockets on a freshly started server.",
        "- Sockets are approved as the protocol intends: the generator becomes admin on "
        "ceil(sockets/200) sockets (at most 8) and approves each client when its approving "
        "admin receives the client's `new_id`, at most 45 approvals/s per admin with a burst of "
        "20 (the server counts frames when it reads them, so a larger burst sent to a server "
        "that reads late would be refused as rate_limited). If that `new_id` has not come 2 s "
        "after the "
        "client's id frame, the generator approves it by id anyway and counts the miss "
        "(listed under the problems), so that a lost notification does not end the run at the "
        "approval timeout.",
        "- Each scenario runs against servers that are idle (the generator waits for their CPU "
        "to settle); connect restarts them before each run, so that memory starts clean.",
        "",
        "## Scenarios",
        "",
        *[f"- **{name}**: {about}" for name, about in report["scenarios"].items()],
        "",
    ]
    if report["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items()), ""]
    for name, entry in report["configs"].items():
        lines += [f"## {name}", "", entry["about"], ""]
        if entry.get("error"):
            lines += [f"Did not start: `{entry['error']}`", ""]
            continue
        reference = name != REFERENCE
        header = "| scenario | figure | median | range |" + (
            " reference | ratio |" if reference else ""
        )
        lines += [header, "|---|---|--:|--:|" + ("--:|--:|" if reference else "")]
        problems = []
        for scenario in SCENARIOS:
            data = entry["scenarios"].get(scenario.name)
            if data is None:
                continue
            ref_median = ref.get(scenario.name, {}).get("median", {})
            for key, label, _ in scenario.metrics:
                if key not in data["median"] and key not in ref_median:
                    continue
                value = data["median"].get(key)
                low, high = data["range"].get(key, (None, None))
                spread = DASH if low is None else f"{fmt(low)}{DASH}{fmt(high)}"
                row = f"| {scenario.name} | {label} | {fmt(value)} | {spread} |"
                if reference:
                    row += f" {fmt(ref_median.get(key))} | {ratio(value, ref_median.get(key))} |"
                lines.append(row)
            if data["ok_runs"] < data["runs"]:
                problems.append(f"{scenario.name}: {data['runs'] - data['ok_runs']} run(s) crashed")
            problems += [f"{scenario.name} {p}" for p in data["problems"]]
        lines.append("")
        if problems:
            lines += ["Notes and problems seen:", "", *[f"- {p}" for p in problems], ""]
    lines += profile_summary(out.parent)
    if plotted:
        lines += ["## Plots", ""] + [f"![{title}](perf/{file})" for file, title in plotted] + [""]
    lines += [
        "Raw results (every run, every fan-out step, the memory samples): "
        "[perf/results.json](perf/results.json). Where the production configuration's CPU "
        "goes (py-spy profiles of connect, direct and fan-out, `bench/profile.py`): "
        "[profiles.md](profiles.md).",
        "",
    ]
    out.write_text("\n".join(lines))


def hand_notes(docs: Path) -> list[str]:
    """docs/perf/notes.md as it stands: the analysis written by hand after a run."""
    path = docs / "perf" / "notes.md"
    if not path.exists():
        return []
    return [*path.read_text().strip("\n").splitlines(), ""]


# The profiles taken before this round of changes (a frozen copy of summary.md), then the latest.
PROFILE_SUMMARIES = [
    ("Before (2026-12-02)", "profiles-before/summary.md"),  # kept: the first round's profiles
    ("After", "profiles/summary.md"),  # bench/profile.py's latest run
]


def profile_summary(docs: Path) -> list[str]:
    """The top of each profile, before and after (PROFILE_SUMMARIES; bench/profile.py writes
    docs/perf/profiles/summary.md); a summary that does not exist is left out."""
    folder = docs / "perf"
    found = [(title, folder / name) for title, name in PROFILE_SUMMARIES]
    found = [(title, path.read_text().strip()) for title, path in found if path.exists()]
    if not found:
        return []
    lines = ["## Where the CPU goes", ""]
    for i, (title, text) in enumerate(found):
        lines += [f"### {title}", ""]
        if i and text == found[i - 1][1]:
            lines += ["The same as above: `bench/profile.py` has not been run since.", ""]
        else:
            lines += [*text.splitlines(), ""]
    return lines


def make_plots(report: dict[str, Any], plots: Path) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plots (pip install -e '.[bench]')")
        return []
    made = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, entry) in enumerate(report["configs"].items()):
        data = entry.get("scenarios", {}).get("fanout-max")
        if not data:
            continue
        by_rate: dict[float, list[dict]] = {}
        for run in data["raw"]:
            last = {s["offered_rate"]: s for s in (run.get("results") or {}).get("steps", [])}
            for rate, step in last.items():  # a retried step counts once, by its retry
                by_rate.setdefault(rate, []).append(step)
        rates = sorted(by_rate)
        p50 = [statistics.median(s["p50_ms"] for s in by_rate[r] if s["p50_ms"]) for r in rates]
        p99 = [statistics.median(s["p99_ms"] for s in by_rate[r] if s["p99_ms"]) for r in rates]
        color = colors[i % len(colors)]
        ax.plot(rates, p50, "o-", color=color, label=f"{name} p50")
        ax.plot(rates, p99, "s--", color=color, label=f"{name} p99")
    ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="offered broadcasts/s (100 subscribers)",
        ylabel="end-to-end latency (ms)",
        title="Fan-out latency against offered rate",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(plots / "fanout_latency.png", dpi=110)
    plt.close(fig)
    made.append(("fanout_latency.png", "Fan-out latency p50 and p99 against offered rate"))

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, entry) in enumerate(report["configs"].items()):
        data = entry.get("scenarios", {}).get("connect")
        good = [r["results"] for r in (data or {}).get("raw", []) if r.get("ok")]
        good = [g for g in good if g.get("rss_curve")]
        if not good:
            continue
        good.sort(key=lambda g: g["server_kb_per_socket"])
        curve = good[len(good) // 2]["rss_curve"]  # the median run
        ax.plot(
            [c[0] for c in curve],
            [c[1] / 1024 for c in curve],
            ".-",
            color=colors[i % len(colors)],
            label=name,
        )
    ax.set(
        xlabel="open sockets",
        ylabel="server RSS (MiB, all processes)",
        title="Server memory against open sockets (median connect run)",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plots / "memory.png", dpi=110)
    plt.close(fig)
    made.append(("memory.png", "Server memory against open sockets"))
    return made


def print_summary(report: dict[str, Any]) -> None:
    for name, entry in in_report_order(report["configs"]).items():
        print(f"{name}: {entry.get('error', '')}")
        for scenario in SCENARIOS:
            data = entry.get("scenarios", {}).get(scenario.name)
            if data is None:
                continue
            figures = ", ".join(
                f"{label} {fmt(data['median'].get(key))}"
                for key, label, _ in scenario.metrics
                if key in data["median"]
            )
            print(f"  {scenario.name} ({data['ok_runs']}/{data['runs']} ok): {figures}")
            for problem in data["problems"]:
                print(f"    {problem}")
    rows = check_targets(report)
    print(f"targets of {PRODUCTION} against the reference: {targets_tally(rows)}")
    print("\n".join(targets_table(rows)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [c.name for c in CONFIGS]
    parser.add_argument(
        "--configs",
        default=None,
        help=f"comma-separated, from {','.join(names)} (default: {','.join(DEFAULT_CONFIGS)})",
    )
    parser.add_argument(
        "--scenarios",
        default=None,
        help=f"comma-separated, from {','.join(s.name for s in SCENARIOS)}",
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs per scenario (3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, 1 repeat, daphne-inmemory and the reference",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: write the report (and its results.json and plots, beside --out) "
        "again from an earlier run's results.json, e.g. after editing docs/perf/notes.md",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--database-url", help="PostgreSQL instead of a temporary SQLite")
    parser.add_argument("--redis-url", help="an existing Redis (never flushed)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    # The smoke run (CI) covers `make run`'s server and the README's production command.
    quick_configs = [REFERENCE, "daphne-inmemory", "uvicorn-redis-pubsub"]
    default_configs = quick_configs if args.quick else DEFAULT_CONFIGS
    args.configs = args.configs.split(",") if args.configs else default_configs
    if REFERENCE not in args.configs:
        args.configs.insert(0, REFERENCE)  # ratios need it
    unknown = set(args.configs) - set(names)
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    args.scenarios = args.scenarios.split(",") if args.scenarios else [s.name for s in SCENARIOS]
    unknown = set(args.scenarios) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.repeat = args.repeat or (1 if args.quick else 3)
    # The reference goes first, so that its figures exist when each table is written.
    args.configs = [c.name for c in CONFIGS if c.name in args.configs]
    return args


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that every `finally` stops the processes it started


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main() -> int:
    args = parse_args()
    if args.render:
        report = json.loads(args.render.read_text())
        write_report(report, args.out, args.out.parent / "perf")
        log(f"wrote {shown(args.out)} and {shown(args.out.parent / 'perf')}/ from {args.render}")
        return 0
    signal.signal(signal.SIGTERM, interrupted)
    report, ok = run_all(args)
    if args.no_write:
        print_summary(report)
    else:
        write_report(report, args.out, args.out.parent / "perf")
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (results / f"{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
        print_summary(report)
        log(f"wrote {shown(args.out)} and {shown(args.out.parent / 'perf')}/")
    if not ok:
        log("a scenario crashed or a server did not start")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
