"""The stop switch under load: how soon after a halt commits do running workers stop starting handlers?

Four worker processes (`tests/oversight_worker.py execute`) take their runs through the gate,
then start the handlers one after another; once a few handlers have run, this process halts
`all`. Handlers record the time they start (`graphs.record_effect`). Printed, as one JSON object:

- `halt_ms`: how long `halt()` took (its transaction waits for starts already past their check);
- `started_after_commit`: handlers that started after the halt committed (each was admitted by a
  ledger entry begun before it: the start itself came a moment later);
- `stop_lag_ms`: from the commit until the last handler started (0 when none started after it):
  the time until every worker stopped starting handlers;
- `refused`: the runs refused afterwards.

    python benchmarks/bench_halt.py [--url postgresql://...] [--runs 40] [--trials 3]

Nothing is asserted: the figures go into the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "oversight_worker.py"
sys.path.insert(0, str(ROOT / "tests"))

from langgraph_hitl.checkpoint import open_checkpointer  # noqa: E402
from langgraph_hitl.store import open_store  # noqa: E402


def _starts(effects: Path) -> list[float]:
    try:
        conn = sqlite3.connect(effects, timeout=30)
        try:
            return [r[0] for r in conn.execute("SELECT ts FROM calls")]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []


def trial(url: str, runs: int, workers: int, folder: Path) -> dict[str, Any]:
    """One halt while `workers` processes start handlers."""
    effects, barrier = folder / "effects.db", folder / "barrier"
    barrier.mkdir()
    with open_store(url), open_checkpointer(url):
        pass
    env = {**os.environ, "HITL_EFFECTS_DB": str(effects)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "execute",
                url,
                f"{folder.name}-w{i}",
                str(runs),
                str(barrier),
                str(workers),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    while len(_starts(effects)) < workers * 2 and all(p.poll() is None for p in procs):
        time.sleep(0.005)
    with open_store(url) as store:
        began = time.time()
        store.halts.halt("all", reason="benchmark", actor="bench")
        committed = time.time()
    outs = [p.communicate(timeout=600) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a worker failed: " + " | ".join(o[1][-1000:] for o in outs))
    after = [t - committed for t in _starts(effects) if t > committed]
    return {
        "halt_ms": (committed - began) * 1000,
        "started_after_commit": len(after),
        "stop_lag_ms": max(after, default=0.0) * 1000,
        "refused": sum(json.loads(o[0])["refused"] for o in outs),
        "ran": sum(json.loads(o[0])["ran"] for o in outs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="A database URL (default: a SQLite file per trial).")
    parser.add_argument("--runs", type=int, default=40, help="Runs per worker.")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    results = []
    for _ in range(args.trials):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite:///{tmp}/bench.db"
            if args.url:
                with open_store(url) as store:  # a fresh start on a shared database
                    for halt in store.halts.active():
                        store.halts.unhalt(str(halt.scope), reason="benchmark reset", actor="bench")
            results.append(trial(url, args.runs, args.workers, Path(tmp)))
    print(
        json.dumps(
            {
                "backend": (args.url or "sqlite").split(":")[0],
                "workers": args.workers,
                "runs_per_worker": args.runs,
                "trials": results,
                "median_stop_lag_ms": statistics.median(r["stop_lag_ms"] for r in results),
                "median_halt_ms": statistics.median(r["halt_ms"] for r in results),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
