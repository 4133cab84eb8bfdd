"""The runner's statements are index searches, whatever else the inbox holds (issue 16).

Every statement the store sends to SQLite while threads start, pause, are decided, refreshed
and expired is traced and explained. A statement that names one thread or one request must
find it through an index on that column: version 8's schema let SQLite answer "this thread's
pending requests" by reading every pending request of every thread (the `status` indexes), so
each start and decision cost more the fuller the inbox.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

from langgraph_hitl import Approvals
from langgraph_hitl.testing import FakeClock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphs import action, build  # noqa: E402

_NAMES = re.compile(r"\b(thread_id|request_id)\s*=\s*(?:'[^']*'|\?|\w+)", re.IGNORECASE)


def _explained(db: Path, statements: list[str]) -> dict[str, str]:
    """The query plan of each traced statement on `hitl_requests` that names a thread or a request."""
    conn = sqlite3.connect(db)
    try:
        plans: dict[str, str] = {}
        for sql in statements:
            if "hitl_requests" not in sql or not _NAMES.search(sql):
                continue
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT)", sql, re.IGNORECASE):
                continue
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            plans[sql] = " / ".join(str(r[3]) for r in rows)
        return plans
    finally:
        conn.close()


def test_statements_naming_a_thread_or_a_request_search_its_index(tmp_path: Path) -> None:
    db = tmp_path / "plans.db"
    statements: list[str] = []
    clock = FakeClock()
    with Approvals.open(build(timeout_s=60.0, on_timeout="reject"), f"sqlite:///{db}", clock=clock) as hitl:
        for i in range(30):  # other threads' pending requests: a status index would read them all
            hitl.start(f"other-{i}", action("delete_record", id=i))
        hitl.store.backend.conn.set_trace_callback(statements.append)
        first = hitl.start("t-1", action("delete_record", id=100)).pending[0]
        hitl.decide(first.request_id, {"type": "approve"}, approver="alice")
        second = hitl.start("t-2", action("delete_record", id=101)).pending[0]
        hitl.refresh("t-2")
        hitl.pending(thread_id="t-2")
        clock.advance(120)
        assert second.request_id in hitl.expire_overdue()
        hitl.store.backend.conn.set_trace_callback(None)
    plans = _explained(db, statements)
    assert len(plans) >= 5, sorted(plans)  # the trace saw the runner's statements
    for sql, plan in plans.items():
        named = {m.group(1).lower() for m in _NAMES.finditer(sql)}
        searched = re.findall(r"SEARCH hitl_requests USING (?:COVERING )?INDEX \S+ \(([^)]*)\)", plan)
        direct = any(col in s for s in searched for col in named)
        assert direct and "SCAN hitl_requests" not in plan, f"{plan}\n  for: {sql}"
