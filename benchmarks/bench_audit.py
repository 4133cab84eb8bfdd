"""Audit log throughput: batched appends, one-event transactions, and `verify()` over N events.

Runs on a SQLite file in a temp dir and prints one JSON object to stdout:

    python benchmarks/bench_audit.py --events 1000000

The design target (DESIGN.md G7, the audit brief): `verify()` over 1,000,000 events in at
most 5 seconds on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from langgraph_hitl.store import open_store
from langgraph_hitl.types import AuditEvent

_EVENTS = ("proposed", "approved", "edited", "rejected", "executed")


def events(start: int, count: int) -> Iterator[AuditEvent]:
    """Realistic audit events: a few hundred bytes each, ids and args varying per event."""
    for i in range(start, start + count):
        thread = f"thread-{i // 5:08d}"
        yield {
            "event_id": f"evt-{i:012d}",
            "ts": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}.000000+00:00",
            "thread_id": thread,
            "request_id": f"req-{i // 5:012d}",
            "action_id": f"act-{i // 5:012d}",
            "event": _EVENTS[i % len(_EVENTS)],
            "actor": ("alice", "bob", "agent", "auto")[i % 4],
            "action": "send_email",
            "args": {"to": f"user{i % 977}@example.com", "subject": "Quarterly report", "n": i},
            "reversibility": "irreversible_low",
            "risk": "high",
            "decision": "approved" if i % 5 == 1 else None,
            "policy_version": "2026.01",
        }


def bench_batched(url: str, total: int, batch: int) -> dict[str, float]:
    """Append `total` events in batches of `batch`, one transaction per batch."""
    with open_store(url) as store:
        started = time.perf_counter()
        for start in range(0, total, batch):
            store.audit.append(list(events(start, min(batch, total - start))))
        elapsed = time.perf_counter() - started
    return {
        "events": total,
        "batch": batch,
        "seconds": round(elapsed, 3),
        "events_per_s": round(total / elapsed),
    }


def bench_single(url: str, total: int) -> dict[str, float]:
    """Append `total` events one per transaction (the runner's common case)."""
    with open_store(url) as store:
        started = time.perf_counter()
        for event in events(0, total):
            store.audit.append([event])
        elapsed = time.perf_counter() - started
    return {"events": total, "seconds": round(elapsed, 3), "events_per_s": round(total / elapsed)}


def bench_verify(url: str, batch: int, runs: int) -> dict[str, object]:
    """Time `verify()` over the whole log, `runs` times; report the best and every run.

    `cpu_seconds` (this process, all threads) shows the work done, which other load on the
    machine does not inflate the way it inflates wall time.
    """
    timings, cpu = [], []
    with open_store(url) as store:
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = store.audit.verify(batch=batch)
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    best = min(timings)
    return {
        "events": result.checked,
        "ok": result.ok,
        "batch": batch,
        "seconds": round(best, 3),
        "seconds_each_run": [round(t, 3) for t in timings],
        "cpu_seconds_each_run": [round(t, 3) for t in cpu],
        "events_per_s": round(result.checked / best),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log verify() checks")
    parser.add_argument(
        "--batch", type=int, default=1_000, help="events per append() call in the batched run"
    )
    parser.add_argument("--single", type=int, default=2_000, help="events appended one per transaction")
    parser.add_argument("--verify-batch", type=int, default=20_000, help="rows per query in verify()")
    parser.add_argument("--verify-runs", type=int, default=3, help="times verify() is run (the best counts)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        batched_url = f"sqlite:///{Path(tmp) / 'batched.db'}"
        single_url = f"sqlite:///{Path(tmp) / 'single.db'}"
        results = {
            "machine": {
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
            "append_batched": bench_batched(batched_url, args.events, args.batch),
            "append_single": bench_single(single_url, args.single),
            "verify": bench_verify(batched_url, args.verify_batch, args.verify_runs),
            "db_bytes": os.path.getsize(Path(tmp) / "batched.db"),
        }
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
