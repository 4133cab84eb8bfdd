"""Cold start of `langgraph-hitl pending`, side by side with importing LangGraph and with an empty Python.

Listing the inbox must not pay for LangGraph (DESIGN.md, Storage). This starts each command
as a fresh process against a SQLite database holding some pending requests, in rounds (one
run of each command per round, so a busy machine slows all of them alike), and prints the
medians as JSON. Target: `pending` at most 200 ms.

    python benchmarks/bench_cli.py [--runs 10] [--pending 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 200.0
TYPER_PATH = (
    "import sys; from langgraph_hitl.cli._app import app; app(sys.argv[1:], prog_name='langgraph-hitl')"
)


def seed(db_url: str, count: int) -> None:
    """Pause `count` runs of a one-action approval graph, so the inbox has rows to list."""
    from langgraph.graph import END, START, StateGraph

    from langgraph_hitl import Approvals, HITLState, Policy, add_approval_flow

    def plan(state: HITLState) -> dict[str, Any]:
        return {}

    def delete_record(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return {"deleted": args["id"]}

    builder = StateGraph(HITLState)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=Policy({"delete_record": "irreversible_high"}),
        handlers={"delete_record": delete_record},
    )
    with Approvals.open(builder, db_url) as hitl:
        for i in range(count):
            run = hitl.start(
                f"bench-{i}", {"action": {"name": "delete_record", "args": {"table": "t", "id": i}}}
            )
            assert run.status == "paused", run


def cli_command() -> list[str]:
    """The installed `langgraph-hitl` script next to this interpreter, else `python -m langgraph_hitl.cli`."""
    script = shutil.which("langgraph-hitl", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "langgraph_hitl.cli"]


def time_once(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) milliseconds of one run; the command must succeed.

    CPU time is what the process itself costs; wall time also counts waiting for a busy machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command (after one warm-up)")
    parser.add_argument("--pending", type=int, default=25, help="pending requests in the database")
    ns = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'hitl.db'}"
        seed(db_url, ns.pending)
        # The repository first on the path, so a stale editable install cannot change what is measured.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        commands = {
            "langgraph-hitl pending": [*cli_command(), "--db", db_url, "pending"],
            "langgraph-hitl pending --json": [*cli_command(), "--db", db_url, "pending", "--json"],
            # The same command parsed by typer, as it would run without the fast path in cli/_fast.py.
            "pending through typer": [sys.executable, "-c", TYPER_PATH, "--db", db_url, "pending"],
            "python -c 'import langgraph.graph'": [sys.executable, "-c", "import langgraph.graph"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            time_once(argv, tmp, env)  # warm the file cache
        load_before = os.getloadavg()[0]
        for _ in range(ns.runs):
            for name, argv in commands.items():
                w, c = time_once(argv, tmp, env)
                wall[name].append(w)
                cpu[name].append(c)

    def medians(samples: dict[str, list[float]]) -> dict[str, float]:
        return {name: round(statistics.median(values), 1) for name, values in samples.items()}

    pending = medians(wall)["langgraph-hitl pending"]
    print(
        json.dumps(
            {
                "runs": ns.runs,
                "pending_requests": ns.pending,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "median_wall_ms": medians(wall),
                "median_cpu_ms": medians(cpu),
                "min_wall_ms": {name: round(min(values), 1) for name, values in wall.items()},
                "target_ms": TARGET_MS,
                "pending_within_target": pending <= TARGET_MS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
