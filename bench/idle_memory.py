"""Memory per idle socket at 5 000 sockets, for docs/reliability.md.

    .venv/bin/python bench/idle_memory.py [--quick]

Runs `bench/run.py`'s connect scenario with 5 000 sockets (each approved by an admin, then
left idle) on the production configuration (uvicorn, Redis pub/sub), on `make run`'s (daphne,
in memory) and on the reference relay, on a fresh server each, and writes the servers' RSS
per socket to docs/reliability-memory.json. Only 127.0.0.1 is used; the run is bounded by the
load generator's own time limit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/run.py, beside this file

OUT = run.ROOT / "docs" / "reliability-memory.json"
CONFIGS = ["reference", "uvicorn-redis-pubsub", "daphne-inmemory"]
IDLE = run.Scenario(
    "idle-5000",
    "connect",
    full="-n 5000 --concurrency 100",
    quick="-n 50 --concurrency 20",
    metrics=[("server_kb_per_socket", "server memory per idle socket (KiB)", "down")],
    fresh_server=True,
    about="5 000 sockets, each approved by an admin socket, then idle; memory is the server's "
    "RSS after minus before, over the sockets",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 sockets, to check the script")
    options = parser.parse_args()
    run.SCENARIOS.append(IDLE)
    args = argparse.Namespace(
        configs=CONFIGS,
        scenarios=[IDLE.name],
        repeat=1,
        quick=options.quick,
        database_url=None,
        redis_url=None,
        keep_tmp=False,
    )
    report, ok = run.run_all(args)
    figures = {
        "date": report["date"],
        "about": IDLE.about,
        "configs": {
            name: {
                key: entry.get("scenarios", {}).get(IDLE.name, {}).get("median", {}).get(key)
                for key in ("sockets", "server_kb_per_socket", "connections_per_s")
            }
            for name, entry in report["configs"].items()
        },
    }
    print(json.dumps(figures, indent=1))
    if not options.quick:
        OUT.write_text(json.dumps(figures, indent=1) + "\n")
        run.log(f"wrote {OUT.relative_to(run.ROOT)} at {time.strftime('%H:%M:%S')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
