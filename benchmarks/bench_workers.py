"""Decisions per second with 1, 2, 4 and 8 worker processes, on SQLite and on Postgres, side by side.

For each backend and worker count: a fresh database, `--requests` paused runs started up front,
then N worker processes (connected first, released together) decide them all. Worker n walks
the whole list starting at its own offset, so workers mostly take different requests and race
where their walks meet, as workers sharing one queue do. Throughput counts successful
decisions over the wall time from release to the last worker's exit from its loop (process
start-up excluded). Each run also checks what must be zero: double decisions (a request won
twice, or with more than one decision event in the audit log) and "database is locked" errors,
and reports two shares that tell "does not scale" from "out of CPU": `lock_wait_share`, the
part of the workers' time spent waiting for the store's write locks (SQLite's BEGIN IMMEDIATE,
Postgres's advisory locks), `saver_write_share` (SQLite), the part spent in LangGraph's saver's
write statements and commits, where SQLite's busy handler waits for another process (what it
grows by beyond one worker's is that waiting; with `--saver-writes`), and `cpu_share`, the workers' CPU time over wall
time times the machine's cores (the database server's own CPU not counted).

    python benchmarks/bench_workers.py                  # throwaway Postgres cluster (needs initdb)
    python benchmarks/bench_workers.py --pg-url postgresql://user@host/db --requests 200

Prints one JSON object. Postgres is started with tests/pgcluster.py unless --pg-url is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, HITLError, HITLState, Policy, add_approval_flow

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (1, 2, 4, 8)
DECISION_EVENTS = ["approved", "edited", "rejected", "responded", "revision_requested"]


class State(HITLState, total=False):
    task: str


def delete_record(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    return {"deleted": args["id"]}


def build() -> StateGraph[Any, Any, Any, Any]:
    """plan -> approval flow (a hard gate on deletes) -> END."""
    builder = StateGraph(State)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=Policy({"delete_record": "irreversible_high"}, version="bench-1"),
        handlers={"delete_record": delete_record},
    )
    return builder


# -- the worker process -----------------------------------------------------------------------------


LOCK_WAIT = [0.0]
"""Seconds this worker spent waiting for the store's write locks (see `_time_lock_waits`)."""
SAVER_WRITES = [0.0]
"""Seconds this worker spent in LangGraph's SQLite saver's write statements and commits, waits
for the file's write lock included (see `_time_saver_writes`)."""


def _time_saver_writes() -> None:
    """Time the write statements and commits of the SQLite connection `open_checkpointer` hands
    LangGraph's saver. SQLite's busy handler waits inside them, so what one worker spends there
    beyond a lone worker's is time asleep on another process's lock."""
    import sqlite3 as sq

    from langgraph_hitl import checkpoint

    class Cursor(sq.Cursor):
        def execute(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
            started = time.perf_counter()
            try:
                return super().execute(sql, *args)
            finally:
                if not sql.lstrip().upper().startswith("SELECT"):
                    SAVER_WRITES[0] += time.perf_counter() - started

        def executemany(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
            started = time.perf_counter()
            try:
                return super().executemany(sql, *args)
            finally:
                SAVER_WRITES[0] += time.perf_counter() - started

    class Connection(sq.Connection):
        def cursor(self, factory: Any = Cursor) -> Any:  # type: ignore[override]
            return super().cursor(factory)

        def commit(self) -> None:
            started = time.perf_counter()
            try:
                super().commit()
            finally:
                SAVER_WRITES[0] += time.perf_counter() - started

    connect = checkpoint.connect_sqlite

    def timed_connect(path: str, **kwargs: Any) -> Any:
        conn = connect(path, **kwargs)
        timed = sq.connect(
            path, check_same_thread=False, timeout=30, isolation_level=None, factory=Connection
        )
        for pragma in ("busy_timeout", "synchronous"):
            value = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
            timed.execute(f"PRAGMA {pragma} = {value}")
        conn.close()
        return timed

    checkpoint.connect_sqlite = timed_connect  # type: ignore[assignment]


def _time_lock_waits() -> None:
    """Count the time the runner's store waits for its write locks: SQLite's `BEGIN IMMEDIATE`
    (the busy handler waits there while another process writes) and Postgres's advisory locks on
    the audit chain and the inbox (where writers queue). LangGraph's own saver is not counted."""
    from langgraph_hitl.store._db import SQLiteBackend
    from langgraph_hitl.store.postgres import PostgresBackend

    begin = SQLiteBackend._outermost_transaction

    @contextmanager
    def timed_begin(self: Any) -> Iterator[Any]:
        started = time.perf_counter()
        with begin(self) as value:
            LOCK_WAIT[0] += time.perf_counter() - started
            yield value

    SQLiteBackend._outermost_transaction = timed_begin  # type: ignore[method-assign,assignment]
    for name in ("lock_audit_chain", "lock_inbox"):
        original = getattr(PostgresBackend, name)

        def timed(self: Any, _original: Any = original) -> Any:
            started = time.perf_counter()
            try:
                return _original(self)
            finally:
                LOCK_WAIT[0] += time.perf_counter() - started

        setattr(PostgresBackend, name, timed)


def worker(url: str, worker_id: int, rids: list[str]) -> None:
    """Decide every request in `rids`, starting at this worker's offset; print the outcome as JSON."""
    approver = f"approver{worker_id}"
    _time_lock_waits()
    if url.startswith("sqlite") and os.environ.get("HITL_BENCH_SAVER_WRITES"):
        _time_saver_writes()
    with Approvals.open(build(), url) as hitl:
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("no go")
        wins, lost, locked, errors = [], 0, 0, []
        LOCK_WAIT[0] = SAVER_WRITES[0] = 0.0
        cpu_started, started = time.process_time(), time.perf_counter()
        for rid in rids:
            try:
                hitl.decide(rid, {"type": "approve"}, approver=approver)
                wins.append(rid)
            except HITLError:
                lost += 1
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                locked += 1
            except Exception as exc:  # counted and reported, never hidden
                if "database is locked" in str(exc):
                    locked += 1
                else:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        json.dumps(
            {
                "wins": wins, "lost": lost, "locked": locked, "errors": errors, "seconds": elapsed,
                "cpu_seconds": cpu, "lock_wait_seconds": LOCK_WAIT[0], "saver_write_seconds": SAVER_WRITES[0],
            }
        ),
        flush=True,
    )  # fmt: skip


# -- the parent -------------------------------------------------------------------------------------


def _line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    return proc.stdout.readline() if ready else ""


def run_config(url: str, workers: int, requests: int, logs: Path) -> dict[str, Any]:
    """Start `requests` paused runs on `url`, let `workers` processes decide them, and measure."""
    with Approvals.open(build(), url) as hitl:
        rids = [
            hitl.start(f"t{i}", {"action": {"name": "delete_record", "args": {"id": i}}})
            .pending[0]
            .request_id
            for i in range(requests)
        ]
    procs, log_paths = [], []
    for n in range(workers):
        offset = n * requests // workers
        order = rids[offset:] + rids[:offset]
        log = logs / f"{url.split(':')[0]}-{workers}-{n}.log"
        log_paths.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", url, str(n), json.dumps(order)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log.open("w"),
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        )
    try:
        deadline = time.monotonic() + 300
        for n, proc in enumerate(procs):
            if _line(proc, deadline).strip() != "ready":
                raise SystemExit(f"worker {n} not ready:\n{log_paths[n].read_text()[-2000:]}")
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = []
        for n, proc in enumerate(procs):
            line = _line(proc, deadline)
            if not line:
                raise SystemExit(f"worker {n} failed:\n{log_paths[n].read_text()[-2000:]}")
            outs.append(json.loads(line))
        elapsed = time.perf_counter() - started
        for proc in procs:
            proc.wait(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    won = Counter(rid for out in outs for rid in out["wins"])
    with Approvals.open(build(), url) as hitl:
        events = Counter(e["request_id"] for e in hitl.store.audit.query(event=DECISION_EVENTS))
        undecided = hitl.store.inbox.count_pending()
    locked_in_logs = sum(p.read_text().count("database is locked") for p in log_paths)
    return {
        "workers": workers,
        "decisions": sum(won.values()),
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(sum(won.values()) / elapsed, 1),
        "lost_races": sum(out["lost"] for out in outs),
        "double_decisions": sum(1 for n in won.values() if n > 1) + sum(1 for n in events.values() if n > 1),
        "database_locked": sum(out["locked"] for out in outs) + locked_in_logs,
        "undecided": undecided,
        "lock_wait_share": round(
            sum(o["lock_wait_seconds"] for o in outs) / sum(o["seconds"] for o in outs), 3
        ),
        "saver_write_share": round(
            sum(o.get("saver_write_seconds", 0.0) for o in outs) / sum(o["seconds"] for o in outs), 3
        ),
        "cpu_share": round(sum(o["cpu_seconds"] for o in outs) / (elapsed * (os.cpu_count() or 1)), 3),
        "errors": [e for out in outs for e in out["errors"]][:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=120, help="paused runs decided per configuration")
    parser.add_argument("--pg-url", help="an empty Postgres database to reuse (default: a throwaway cluster)")
    parser.add_argument(
        "--workers", default=",".join(map(str, COUNTS)), help="worker counts, comma separated"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="sqlite, postgres or both, comma separated"
    )
    parser.add_argument(
        "--saver-writes",
        action="store_true",
        help="also time LangGraph's SQLite saver's writes (its Python wrapper slows every run a little)",
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker:
        url, n, rids = ns.worker
        worker(url, int(n), json.loads(rids))
        return
    if ns.saver_writes:
        os.environ["HITL_BENCH_SAVER_WRITES"] = "1"  # read by the worker processes
    counts = [int(c) for c in ns.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    backends = set(ns.backends.split(","))
    results: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgres": []}
    for workers in counts if "sqlite" in backends else ():
        results["sqlite"].append(
            run_config(f"sqlite:///{tmp / f'sqlite-{workers}.db'}", workers, ns.requests, tmp)
        )
    cluster = None
    counts_pg = counts if "postgres" in backends else []
    pg_urls: dict[int, str] = {}
    if not counts_pg:
        pass
    elif ns.pg_url:
        pg_urls = {w: ns.pg_url for w in counts[:1]}
        if len(counts) > 1:
            raise SystemExit("--pg-url reuses one database: pass a single --workers count with it")
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from pgcluster import PostgresCluster

        cluster = PostgresCluster(tmp / "pg")
        cluster.start()
        pg_urls = {w: cluster.create_database() for w in counts}
    try:
        for workers in counts_pg:
            results["postgres"].append(run_config(pg_urls[workers], workers, ns.requests, tmp))
    finally:
        if cluster is not None:
            cluster.stop()
    side = {
        str(w): {
            b: next(r["decisions_per_s"] for r in results[b] if r["workers"] == w)
            for b in results
            if results[b]
        }
        for w in counts
    }
    print(
        json.dumps(
            {
                "benchmark": "bench_workers",
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "requests_per_config": ns.requests,
                "decisions_per_s": side,
                "double_decisions": sum(r["double_decisions"] for rs in results.values() for r in rs),
                "database_locked": sum(r["database_locked"] for rs in results.values() for r in rs),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
