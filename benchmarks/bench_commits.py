"""Commits per decision: how many transactions one `Approvals.decide` commits, the package's own
beside LangGraph's checkpoint writes, with the statements of each of ours.

SQLite reports every statement a connection runs (`set_trace_callback`); the runner's store and
LangGraph's saver each have one connection, so a decision's `COMMIT`s can be counted per
owner exactly, not estimated. Measured on a warm runner: one high-risk delete per decision
(pause at review, approve, execute, audit), the graph `bench_core.approval_graph` builds.

    python benchmarks/bench_commits.py            # 20 decisions
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import action, approval_graph  # noqa: E402

from langgraph_hitl import Approvals  # noqa: E402


def _transactions(statements: list[str]) -> list[list[str]]:
    """The statements grouped by transaction (BEGIN ... COMMIT), each shortened to its verb and table."""
    out: list[list[str]] = []
    current: list[str] | None = None
    for sql in statements:
        words = sql.split()
        verb = words[0].upper() if words else ""
        if verb == "BEGIN":
            current = []
        elif verb == "COMMIT" and current is not None:
            out.append(current)
            current = None
        elif current is not None and verb in ("INSERT", "UPDATE", "DELETE"):
            table = next(
                (w for w in words[1:6] if w.lower().startswith(("hitl_", "checkpoints", "writes"))), "?"
            )
            current.append(f"{verb} {table}")
    return out


def measure(decisions: int) -> dict[str, Any]:
    """Decide `decisions` requests, counting each one's commits by owner."""
    counts: dict[str, list[int]] = defaultdict(list)
    ours_example: list[list[str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="hitl-commits-") as tmp,
        Approvals.open(approval_graph(), f"sqlite:///{tmp}/commits.db") as hitl,
    ):
        for i in range(3):  # warm up: compile caches, first-use setup
            rid = hitl.start(f"warm-{i}", action("delete_record", id=i)).pending[0].request_id
            hitl.decide(rid, {"type": "approve"}, approver="alice")
        for i in range(decisions):
            rid = hitl.start(f"t-{i}", action("delete_record", id=1000 + i)).pending[0].request_id
            seen: dict[str, list[str]] = {"ours": [], "langgraph": []}
            hitl.store.backend.conn.set_trace_callback(seen["ours"].append)  # type: ignore[attr-defined]
            hitl.graph.checkpointer.conn.set_trace_callback(seen["langgraph"].append)
            try:
                run = hitl.decide(rid, {"type": "approve"}, approver="alice")
            finally:
                hitl.store.backend.conn.set_trace_callback(None)  # type: ignore[attr-defined]
                hitl.graph.checkpointer.conn.set_trace_callback(None)
            assert run.values["status"] == "executed", run.values
            for owner, statements in seen.items():
                counts[owner].append(len(_transactions(statements)))
            ours_example = _transactions(seen["ours"])
    return {
        "decisions": decisions,
        "ours_per_decision": statistics.median(counts["ours"]),
        "langgraph_per_decision": statistics.median(counts["langgraph"]),
        "ours_each": sorted(set(counts["ours"])),
        "langgraph_each": sorted(set(counts["langgraph"])),
        "ours_transactions": [" + ".join(dict.fromkeys(t)) for t in ours_example],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20)
    args = parser.parse_args(argv)
    result = measure(args.decisions)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
