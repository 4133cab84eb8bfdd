"""`decide` on an inbox holding many other threads' pending requests, with schema version 9's
`(thread_id, status, seq)` index and with version 8's `(thread_id, seq)` in its place.

    python benchmarks/bench_inbox_load.py                 # 100,000 other pending requests
    python benchmarks/bench_inbox_load.py --pending 1000000

120 paused runs go through the real graph; the other pending rows are copies of one of them
under new request and thread ids (a bulk insert, as `bench_inbox.py` builds its files). Then
60 decisions with each index, one after the other on the same file. Prints one JSON object;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import action, approval_graph  # noqa: E402

from langgraph_hitl import Approvals  # noqa: E402

V8 = [
    "DROP INDEX hitl_requests_thread_status",
    "CREATE INDEX hitl_requests_thread ON hitl_requests (thread_id, seq)",
    # Version 8 created the risk index after the thread index; SQLite's planner, without
    # statistics, breaks the tie by that order, so it is rebuilt after it here too.
    "DROP INDEX hitl_requests_risk",
    "CREATE INDEX hitl_requests_risk ON hitl_requests (status, risk, seq DESC)",
]
PLAN = "EXPLAIN QUERY PLAN SELECT request_id FROM hitl_requests WHERE thread_id = ? AND status = 'pending'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000, help="other threads' pending requests")
    ns = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="hitl-load-") as tmp,
        Approvals.open(approval_graph(), f"sqlite:///{Path(tmp) / 'load.db'}") as hitl,
    ):
        rids = [hitl.start(f"p{i}", action("delete_record", id=i)).pending[0].request_id for i in range(120)]
        conn = hitl.store.backend.conn
        cols = [r[1] for r in conn.execute("PRAGMA table_info(hitl_requests)")]
        copied = {"request_id": "'fake-' || x.n", "thread_id": "'fake-thread-' || x.n", "seq": "-x.n"}
        select = ", ".join(copied.get(c, c) for c in cols)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < {ns.pending}) "  # noqa: S608
            f"INSERT INTO hitl_requests ({', '.join(cols)}) SELECT {select} FROM x, "
            "(SELECT * FROM hitl_requests WHERE request_id = ?)",
            (rids[-1],),
        )
        conn.execute("COMMIT")
        medians: dict[str, float] = {}
        plans: dict[str, str] = {}
        for label, ddl, batch in (("v9", [], rids[:60]), ("v8", V8, rids[60:])):
            for statement in ddl:
                conn.execute(statement)
            times = []
            for rid in batch:
                started = time.perf_counter()
                hitl.decide(rid, {"type": "approve"}, approver="alice")
                times.append(time.perf_counter() - started)
            medians[label] = round(statistics.median(times) * 1000, 2)
            plans[label] = " / ".join(str(r[3]) for r in conn.execute(PLAN, ("p0",)))
        pending = conn.execute("SELECT COUNT(*) FROM hitl_requests WHERE status = 'pending'").fetchone()[0]
    print(
        json.dumps(
            {
                "benchmark": "bench_inbox_load",
                "pending": pending,
                "decide_median_ms": medians,
                "plans": plans,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
