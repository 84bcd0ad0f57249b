"""Sampling profiles of the production server under load, and write docs/profiles.md.

    python bench/profile.py                              # every scenario, then the --ws table
    python bench/profile.py --scenarios direct --no-ws   # one profile
    python bench/profile.py --no-write                   # print the tables, write no files

It starts the production configuration as bench/run.py's `uvicorn-redis-pubsub` does (one
uvicorn process, `--ws realtime.uvicorn_compat:WebSocketProtocol --loop uvloop --http
realtime.uvicorn_compat:HttpToolsProtocol`, RELAY_REDIS_LAYER=pubsub on its own redis-server
on a free port, a temporary SQLite database
with one project), restarted before each scenario. bench/loadgen.py then drives one scenario
(--mark-window makes it print a line on stderr when its measured window opens and closes);
`py-spy record --pid <server> --rate 200 --format raw --nolineno` samples the server from the
first line to the second (SIGINT ends it and writes the stacks). Setting up the sockets of a
fan-out or a direct run is not in its profile; connect's window is the connecting itself.

py-spy leaves idle threads out, so every sample is meant to be a busy one (of any thread: the
main loop or the sync_to_async pool), with one exception found here: the pool's workers waiting
on their queue (a stack ending in `concurrent.futures.thread:_worker`) are sampled as if busy.
In the fan-out run at 100 subscribers they were half of the samples while the server used 8 % of
a core; without them the sample count matches the server's CPU time. They are left out of the
shares (and counted apart); the folded files keep them. Each profile states the server's CPU
time over the window in samples (CPU seconds x rate) beside its busy samples, as a check. The
collapsed stacks are shortened (`package.module:function`, the project's modules by their path
in the repository) and aggregated into the top 15 functions by self samples (the leaf frame)
and by inclusive samples (the function anywhere in the stack, once per stack), each as a share
of the busy samples; the frames every stack goes through (the entry point down to the event
loop) are named once and left out of the inclusive table. Time spent in C under a Python frame
(json, uvloop, the socket writes) counts for that frame; uvloop's own work between callbacks
counts for the frame that runs the loop.

Then, without the profiler, the fan-out scenario at 1 000 subscribers x 10 broadcasts/s runs 3
times (--ws-repeat, the implementations in turn) against each of uvicorn's WebSocket
implementations that is installed (`--ws websockets`, `websockets-sansio`, `wsproto`), and
bench/loadgen.py's own CPU figures are tabulated (median and range).

The top 5 of each profile by self samples also go to docs/perf/profiles/summary.md, which
bench/run.py puts into docs/performance.md.

Writes docs/profiles.md (everything up to its "## What the profiles say" heading: that section and
what follows are written by hand and kept), docs/perf/profiles/<scenario>.txt (the folded stacks,
`frame;frame;... count`, busiest first) and docs/perf/profiles/results.json (the load generator's
output for every run). py-spy needs root (or ptrace rights over the server). Every process it
starts is stopped by PID; every wait is bounded. The script is named after its job and shadows the
standard library's `profile` module in its own process only (nothing here imports it).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench

ROOT = bench.ROOT
PY = bench.PY
CONFIG = next(c for c in bench.CONFIGS if c.name == "uvicorn-redis-pubsub")
TOP = 15
# A thread-pool worker waiting on its queue (C code under this frame, no Python callee): py-spy
# does not see these threads as idle, but they use no CPU (see the docstring).
IDLE_LEAVES = {"concurrent.futures.thread:_worker"}
SECTION = "## What the profiles say"


@dataclass
class Load:
    name: str
    loadgen: str
    options: str
    unit: str  # the loadgen figure server_cpu_us_per_<unit>
    about: str


LOADS = [
    Load(
        "connect",
        "connect",
        "-n 1000 --concurrency 100",
        "connection",
        "1 000 sockets opened, 100 handshakes in flight, each approved by an admin socket "
        "when its new_id arrives (the window runs from the first handshake to all approved)",
    ),
    Load(
        "direct",
        "direct",
        "--pairs 50 --seconds 10",
        "message",
        "50 pairs ping-ponging direct messages for 10 s, each socket at most 45 frames/s",
    ),
    Load(
        "fanout-1000",
        "fanout",
        "--subscribers 1000 --rate 10 --seconds 10",
        "delivery",
        "1 000 approved subscribers, 10 broadcasts/s for 10 s (10 000 deliveries/s offered)",
    ),
    Load(
        "fanout-100",
        "fanout",
        "--subscribers 100 --rate 20 --seconds 10",
        "delivery",
        "100 approved subscribers, 20 broadcasts/s for 10 s (2 000 deliveries/s offered)",
    ),
]
WS_IMPLEMENTATIONS = ["websockets", "websockets-sansio", "wsproto"]
WS_LOAD = Load(
    "fanout-1000",
    "fanout",
    "--subscribers 1000 --rate 10 --seconds 5",
    "delivery",
    "1 000 subscribers x 10 broadcasts/s for 5 s, no profiler",
)


# --- Running ---------------------------------------------------------------------------------


def pyspy() -> str:
    found = shutil.which("py-spy", path=f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}")
    if not found:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def with_ws(ws: str) -> bench.Config:
    command = list(CONFIG.commands[0])
    command[command.index("--ws") + 1] = ws
    return bench.Config(f"uvicorn-redis-pubsub-{ws}", [command], env=CONFIG.env, redis=True)


def run_load(
    load: Load,
    servers: bench.Servers,
    project: dict,
    aux: list[int],
    workdir: Path,
    spy_out: Path | None,
    rate: int,
    native: bool = False,
) -> dict[str, Any]:
    """One loadgen run; with spy_out, py-spy records the server during the measured window."""
    command = [PY, str(bench.LOADGEN), load.loadgen, "--admin-key", project["admin_key"]]
    command += ["--url", servers.urls(project["path"])[0], "--server-pid", str(servers.pids[0])]
    for pid in aux:
        command += ["--aux-pid", str(pid)]
    command += [*load.options.split(), "--timeout", "180", "--mark-window"]
    stdout_path = workdir / f"{load.name}.out"
    spy: subprocess.Popen | None = None
    spy_log = (workdir / f"{load.name}.py-spy.log").open("ab")
    tail: list[str] = []
    with stdout_path.open("w") as stdout:
        loadgen = subprocess.Popen(
            command, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        try:
            assert loadgen.stderr is not None
            for line in loadgen.stderr:  # ends when loadgen exits (its --timeout bounds it)
                if line.startswith("loadgen: window start") and spy_out and spy is None:
                    spy = subprocess.Popen(
                        [
                            *[pyspy(), "record", "--pid", str(servers.pids[0])],
                            *["--rate", str(rate), "--format", "raw", "--nolineno"],
                            *["--duration", "120", "--output", str(spy_out)],
                            *(["--native"] if native else []),
                        ],
                        stdout=spy_log,
                        stderr=subprocess.STDOUT,
                    )
                elif line.startswith("loadgen: window stop") and spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
                    spy.wait(timeout=60)
                else:
                    tail = [*tail[-20:], line]
            loadgen.wait(timeout=60)
        finally:
            for process in (loadgen, spy):
                if process is not None:
                    bench.stop(process)
            spy_log.close()
    lines = [x for x in stdout_path.read_text().splitlines() if x.startswith("{")]
    if not lines:
        return {"ok": False, "error": f"no result (exit {loadgen.returncode}): {''.join(tail)}"}
    return json.loads(lines[-1])


# --- Aggregating -----------------------------------------------------------------------------

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
LIB_MARKERS = ("site-packages/", "dist-packages/")


def module_of(path: str) -> str:
    """A file name as a module path: the project's from the repository, a library's from its
    site-packages, the standard library's from lib/pythonX.Y."""
    root = str(ROOT) + "/"
    if path.startswith(root):
        path = path[len(root) :]
    for marker in LIB_MARKERS:
        if marker in path:
            path = path.split(marker, 1)[1]
    path = re.sub(r"^.*/lib/python3\.\d+/", "", path)
    if path.endswith(".py"):
        path = path[:-3]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.strip("/").replace("/", ".") or "?"


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{module_of(match['file'])}:{match['function']}"


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(short(f) for f in stack.split(";"))] += int(count)
    return stacks


def trunk(stacks: Counter[tuple[str, ...]], total: int) -> list[str]:
    """The frames at the root of each thread's stacks (the entry point down to the event loop,
    or to the pool's worker loop): from each root with 5 % of the samples or more, the chain of
    frames that (nearly) every stack under it goes through."""
    roots: Counter[str] = Counter()
    for stack, count in stacks.items():
        roots[stack[0]] += count
    common: list[str] = []
    for root, under in roots.items():
        if under < 0.05 * total:
            continue
        chain = [root]
        for depth in range(1, 200):
            at: Counter[str] = Counter()
            for stack, count in stacks.items():
                if len(stack) > depth and list(stack[:depth]) == chain:
                    at[stack[depth]] += count
            if not at:
                break
            frame, count = at.most_common(1)[0]
            if count < 0.95 * under:
                break
            chain.append(frame)
        common += [frame for frame in chain if frame not in common]
    return common


def package_of(frame: str) -> str:
    module = frame.split(":", 1)[0]
    return module.split(".", 1)[0] if module != "?" else "?"


def aggregate(stacks: Counter[tuple[str, ...]]) -> dict[str, Any]:
    idle = sum(c for stack, c in stacks.items() if stack[-1] in IDLE_LEAVES)
    stacks = Counter({s: c for s, c in stacks.items() if s[-1] not in IDLE_LEAVES})
    total = sum(stacks.values())
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for stack, count in stacks.items():
        selfs[stack[-1]] += count
        packages[package_of(stack[-1])] += count
        for frame in set(stack):
            inclusive[frame] += count
    common = trunk(stacks, total) if total else []
    shown_inclusive = [(f, c) for f, c in inclusive.most_common() if f not in common][:TOP]
    return {
        "samples": total,
        "idle_pool_samples": idle,
        "self": selfs.most_common(TOP),
        "inclusive": shown_inclusive,
        "packages": packages.most_common(12),
        "trunk": common,
    }


def write_folded(stacks: Counter[tuple[str, ...]], path: Path) -> None:
    lines = [f"{';'.join(stack)} {count}" for stack, count in stacks.most_common()]
    path.write_text("\n".join(lines) + "\n")


# --- The report ------------------------------------------------------------------------------


def slim(runs: dict[str, Any]) -> dict[str, Any]:
    """The loadgen outputs without what each repeats (its options and URLs)."""
    return {k: {x: y for x, y in v.items() if x not in ("params", "urls")} for k, v in runs.items()}


def pct(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} %" if total else bench.DASH


def table(rows: list[tuple[str, int]], total: int, what: str) -> list[str]:
    lines = [f"| {what} | samples | share of busy samples |", "|---|--:|--:|"]
    lines += [f"| `{frame}` | {count} | {pct(count, total)} |" for frame, count in rows]
    return lines


def figures(load: Load, out: dict[str, Any]) -> str:
    r = out.get("results") or {}
    if not out.get("ok"):
        return f"the load generator failed: {out.get('error')}"
    unit = f"server_cpu_us_per_{load.unit}"
    shown = [f"server CPU {r.get('server_cpu_pct')} % of a core over {r.get('window_s')} s"]
    if unit in r:
        shown.append(f"{bench.fmt(r[unit])} µs per {load.unit}")
    for key in ("connections_per_s", "round_trips_per_s", "delivered_per_s"):
        if key in r:
            shown.append(f"{key.replace('_', ' ')} {bench.fmt(r[key])}")
    for key in ("p50_ms", "p99_ms", "time_to_id_p50_ms", "time_to_id_p99_ms"):
        if r.get(key) is not None:
            shown.append(f"{key.replace('_ms', '').replace('_', ' ')} {bench.fmt(r[key])} ms")
    if r.get("lost"):
        shown.append(f"lost {r['lost']}")
    return "; ".join(shown)


def write_summary(report: dict[str, Any], path: Path) -> None:
    """The top of each profile, for docs/performance.md (bench/run.py includes this file)."""
    lines = [
        f"py-spy profiles of uvicorn-redis-pubsub under load ({report['date']}, "
        "`bench/profile.py`; the tables, the method and what they suggest: "
        "[profiles.md](profiles.md)). The five functions with the most self samples, as a share "
        "of the busy samples:",
        "",
    ]
    for name, entry in report["profiles"].items():
        agg = entry.get("aggregate") or {}
        total = agg.get("samples", 0)
        top = ", ".join(f"`{f}` {pct(count, total)}" for f, count in agg.get("self", [])[:5])
        lines.append(f"- **{name}** ({total} samples): {top or 'no samples'}")
    path.write_text("\n".join(lines) + "\n")


def kept_tail(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(SECTION):
            return lines[i:]
    return []


def write_report(report: dict[str, Any], path: Path) -> None:
    m = report["machine"]
    rate = report["rate"]
    lines = [
        "# Profiles of the production configuration",
        "",
        "Written by `bench/profile.py` up to the section "
        f"\N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}{SECTION[3:]}"
        "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}, which is written by hand from the "
        "tables and kept when the script runs again. The benchmark's figures are in "
        "[performance.md](performance.md); how the stacks were taken and counted is in the "
        "script's docstring.",
        "",
        "## How they were taken",
        "",
        f"- Date: {report['date']}; the run took {report['elapsed_s'] / 60:.1f} minutes",
        f"- Command: `{report['command']}`",
        f"- Server: `{report['server_command']}`, with RELAY_REDIS_LAYER=pubsub, its own "
        "redis-server, a temporary SQLite database; restarted before each scenario",
        f"- Profiler: `{report['pyspy_command']}` from the load generator's "
        "`window start` line to its `window stop` line (SIGINT); "
        f"{report['pyspy_version']}",
        f"- CPU: {m['cpu']}, {m['cores']} cores shared with other work (load average "
        f"{tuple(round(x, 2) for x in m['load_average_at_start'])} at the start); Linux "
        f"{m['kernel']}",
        f"- Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + (f"; redis-server {m['redis_server']}" if m.get("redis_server") else ""),
        "- Shares are of the busy samples (py-spy leaves idle threads out). Self: the "
        "function was the leaf (C code it called counts for it). Inclusive: the function was "
        "anywhere on the stack. Frames are `package.module:function`; the project's modules "
        "are `realtime.*`, `projects.*`, `accounts.*`, `config.*`. Folded stacks: "
        "[perf/profiles/](perf/profiles/).",
        "- Busy samples outnumber the server's CPU time (stated for each profile in samples): "
        "py-spy counts a thread as busy when it is runnable, and on this shared machine a "
        "runnable thread often waits for a core; a thread in a socket write or a SQLite call "
        "counts as busy too. The shares are of the time the server wanted a core, not of its "
        "CPU seconds exactly.",
        "- The profiler stops the server for each sample (about 200 times a second), so the "
        "CPU figures beside each profile are a little above an unprofiled run's.",
        "",
    ]
    for name, entry in report["profiles"].items():
        agg = entry.get("aggregate")
        lines += [f"## {name}", "", entry["about"] + ".", ""]
        lines += [f"Load generator: `{entry['loadgen_command']}`", ""]
        lines += [f"Measured: {entry['figures']}.", ""]
        if not agg or not agg["samples"]:
            lines += ["No samples were recorded.", ""]
            continue
        total = agg["samples"]
        cpu_s = (entry.get("results") or {}).get("server_cpu_s")
        check = (
            f"; the server's CPU time over the window, {cpu_s} s, is {cpu_s * rate:.0f} "
            f"samples' worth at {rate} Hz"
            if isinstance(cpu_s, int | float)
            else ""
        )
        lines += [
            f"{total} busy samples, plus {agg['idle_pool_samples']} of pool threads waiting for "
            f"work, left out{check} ([folded stacks](perf/profiles/{name}.txt)). The frames at "
            "the root of each thread's stacks (left out of the inclusive table): "
            + " \N{RIGHTWARDS ARROW} ".join(f"`{f}`" for f in agg["trunk"]),
            "",
            f"### {name}: top {TOP} by self samples",
            "",
            *table(agg["self"], total, "function (self)"),
            "",
            f"### {name}: top {TOP} by inclusive samples",
            "",
            *table(agg["inclusive"], total, "function (inclusive)"),
            "",
            f"### {name}: self samples by package",
            "",
            *table(agg["packages"], total, "package"),
            "",
        ]
    if report.get("ws"):
        lines += [
            "## uvicorn's WebSocket implementations, fan-out",
            "",
            f"{WS_LOAD.about}; `{report['ws_loadgen_options']}`; the same production flags "
            "otherwise (`--ws` changed only), a fresh server per run, the implementations taken "
            "in turn. Figures are bench/loadgen.py's, the median of the runs (the range after "
            "it): server CPU is utime+stime of the uvicorn process over the window, divided by "
            "every delivery (subscribers, publishers and admins).",
            "",
            "| --ws | server CPU per delivery (µs) | server CPU (% of a core) | delivered/s "
            "| p50 (ms) | p99 (ms) | lost | Redis CPU per delivery (µs) |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        keys = [
            "server_cpu_us_per_delivery",
            "server_cpu_pct",
            "delivered_per_s",
            "p50_ms",
            "p99_ms",
            "lost",
            "aux_cpu_us_per_delivery",
        ]
        for ws, outs in report["ws"].items():
            summary = bench.median_results(outs)
            if not summary["ok_runs"]:
                lines.append(f"| {ws} | failed: {outs[0].get('error', '')[:80]} |||||||")
                continue
            cells = []
            for key in keys:
                low, high = summary["range"].get(key, (None, None))
                spread = "" if low is None else f" ({bench.fmt(low)}{bench.DASH}{bench.fmt(high)})"
                cells.append(bench.fmt(summary["median"].get(key)) + spread)
            runs = f"{summary['ok_runs']}/{summary['runs']} runs"
            lines.append(f"| {ws} ({runs}) | " + " | ".join(cells) + " |")
        lines.append("")
        for ws, reason in report.get("ws_skipped", {}).items():
            lines += [f"- `--ws {ws}` skipped: {reason}"]
        if report.get("ws_skipped"):
            lines.append("")
    tail = kept_tail(path) or [
        SECTION,
        "",
        "(To be written by hand from the tables above.)",
    ]
    path.write_text("\n".join(lines + tail) + "\n")


# --- Main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [load.name for load in LOADS]
    parser.add_argument("--scenarios", default=",".join(names), help=", ".join(names))
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples/s (200)")
    parser.add_argument(
        "--native",
        action="store_true",
        help="py-spy --native: C frames too (slower; for a look with --no-write --keep-tmp)",
    )
    parser.add_argument("--ws", default=",".join(WS_IMPLEMENTATIONS), help="--ws to compare")
    parser.add_argument("--no-ws", action="store_true", help="skip the --ws comparison")
    parser.add_argument("--ws-repeat", type=int, default=3, help="runs per --ws (3)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "profiles.md")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="run nothing: write docs/profiles.md again from docs/perf/profiles/",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(names)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.ws = [] if args.no_ws else [w for w in args.ws.split(",") if w]
    return args


def ws_available(ws: str) -> str:
    """Why uvicorn cannot serve with this --ws, or "" when it can."""
    help_text = subprocess.run(
        [PY, "-m", "uvicorn", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    choices = re.search(r"--ws \[([^\]]*)\]", help_text)
    if not choices or ws not in choices[1].split("|"):
        return f"not an option of this uvicorn ({choices[1] if choices else '?'})"
    module = {"wsproto": "wsproto"}.get(ws, "websockets")
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed"
    return ""


def rewrite(args: argparse.Namespace) -> int:
    """docs/profiles.md and the summary again, from docs/perf/profiles/ (nothing is run)."""
    folded_dir = args.out.parent / "perf" / "profiles"
    report = json.loads((folded_dir / "results.json").read_text())["report"]
    for name, entry in report["profiles"].items():
        folded = folded_dir / f"{name}.txt"
        if folded.exists():
            entry["aggregate"] = aggregate(read_stacks(folded))
    write_report(report, args.out)
    write_summary(report, folded_dir / "summary.md")
    bench.log(f"rewrote {args.out.relative_to(ROOT)} from {folded_dir.relative_to(ROOT)}/")
    return 0


def main() -> int:
    args = parse_args()
    if args.rewrite:
        return rewrite(args)
    signal.signal(signal.SIGTERM, bench.interrupted)
    loads = [load for load in LOADS if load.name in args.scenarios]
    workdir = Path(tempfile.mkdtemp(prefix="relay-profile-"))
    logs = workdir / "logs"
    logs.mkdir()
    started = time.monotonic()
    spy_version = subprocess.run([pyspy(), "--version"], capture_output=True, text=True).stdout
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench.machine(),
        "command": "python bench/profile.py " + " ".join(sys.argv[1:]),
        "server_command": " ".join(
            p.replace("{py}", "python").replace("{port}", "PORT") for p in CONFIG.commands[0]
        ),
        "pyspy_command": f"py-spy record --pid PID --rate {args.rate} --format raw --nolineno",
        "pyspy_version": spy_version.strip(),
        "rate": args.rate,
        "profiles": {},
        "ws": {},
        "ws_skipped": {},
        "ws_loadgen_options": WS_LOAD.options,
    }
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        report["machine"]["packages"]["wsproto"] = importlib.metadata.version("wsproto")
    folded_dir = args.out.parent / "perf" / "profiles"
    raw_results: dict[str, Any] = {}
    redis: bench.Redis | None = None
    ok = True
    try:
        base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        base.update(
            DATABASE_URL=f"sqlite:///{workdir / 'profile.sqlite3'}",
            DEBUG="0",
            SECRET_KEY=bench.SECRET,
            SECURE_SSL_REDIRECT="0",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        bench.manage(base, "migrate", "--noinput")
        created = bench.manage(
            base,
            *["create_project", "--owner", "bench@example.invalid", "--create-owner"],
            *["--name", "profile", "--max-connections", "100000"],
        )
        project = json.loads(created.strip().splitlines()[-1])
        redis = bench.Redis(workdir)
        bench.log(f"redis-server started on port {redis.port} (pid {redis.process.pid})")
        env = {**base, **CONFIG.env, "REDIS_URL": redis.url}
        aux = [redis.process.pid]

        def one(config: bench.Config, load: Load, spy_out: Path | None) -> dict[str, Any]:
            redis.flush()
            servers = bench.Servers(config, env, project["admin_key"], logs)
            servers.start()
            try:
                bench.quiesce(servers.pids)
                out = run_load(
                    load, servers, project, aux, workdir, spy_out, args.rate, args.native
                )
                out["server_log"] = servers.new_log_problems()
            finally:
                servers.stop()
            return out

        for load in loads:
            spy_out = workdir / f"{load.name}.raw"
            bench.log(f"profiling {load.name}: loadgen {load.loadgen} {load.options}")
            out = one(CONFIG, load, spy_out)
            raw_results[load.name] = out
            ok = ok and bool(out.get("ok"))
            entry: dict[str, Any] = {
                "about": load.about,
                "loadgen_command": f"python bench/loadgen.py {load.loadgen} {load.options} "
                "--mark-window --url ... --admin-key ... --server-pid PID --aux-pid REDIS_PID",
                "figures": figures(load, out),
                "results": out.get("results") or {},
            }
            if spy_out.exists():
                stacks = read_stacks(spy_out)
                entry["aggregate"] = aggregate(stacks)
                if not args.no_write:
                    folded_dir.mkdir(parents=True, exist_ok=True)
                    write_folded(stacks, folded_dir / f"{load.name}.txt")
            report["profiles"][load.name] = entry
            bench.log(f"{load.name}: {entry['figures']}")
            for frame, count in (entry.get("aggregate") or {}).get("self", [])[:5]:
                bench.log(f"  self {pct(count, entry['aggregate']['samples'])} {frame}")

        usable = []
        for ws in args.ws:
            reason = ws_available(ws)
            if reason:
                report["ws_skipped"][ws] = reason
                bench.log(f"--ws {ws}: skipped, {reason}")
            else:
                usable.append(ws)
        for i in range(args.ws_repeat):  # interleaved, so that a busy minute is shared out
            for ws in usable:
                bench.log(f"--ws {ws} ({i + 1}/{args.ws_repeat}): fanout {WS_LOAD.options}")
                try:
                    out = one(with_ws(ws), WS_LOAD, None)
                except RuntimeError as exc:
                    out = {"ok": False, "error": str(exc)}
                raw_results[f"ws-{ws}-{i + 1}"] = out
                report["ws"].setdefault(ws, []).append(out)
                bench.log(f"--ws {ws}: {figures(WS_LOAD, out)}")
    finally:
        if redis is not None:
            redis.stop()
        report["elapsed_s"] = round(time.monotonic() - started, 1)
        if args.keep_tmp:
            bench.log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_write:
        folded_dir.mkdir(parents=True, exist_ok=True)
        saved = {**report, "profiles": {k: dict(v) for k, v in report["profiles"].items()}}
        for entry in saved["profiles"].values():
            entry.pop("aggregate", None)  # made again from the folded stacks by --rewrite
        (folded_dir / "results.json").write_text(
            json.dumps({"report": saved, "runs": slim(raw_results)}, indent=1) + "\n"
        )
        write_report(report, args.out)
        write_summary(report, folded_dir / "summary.md")
        bench.log(f"wrote {args.out.relative_to(ROOT)} and {folded_dir.relative_to(ROOT)}/")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
