"""Worker processes for the oversight tests and benchmark (halts, reversals).

    python tests/oversight_worker.py execute URL PREFIX N BARRIER WORKERS   # N auto-approved runs; JSON summary
    python tests/oversight_worker.py reverse URL ACTION_ID   # reverse it; the compensation kills this process

`execute` drives `Approvals` (graph name `ops`) over threads PREFIX-0 .. PREFIX-(N-1), each an
`update_record` the policy auto-approves. It first takes every run through its gate and stops it
before `execute` (a static breakpoint), waits until WORKERS workers have touched their file in the
folder BARRIER, then continues the runs one by one, so the handlers of all workers start during
the same moments. A run a halt stops raises `HaltedError`; the worker counts it and goes on. Handlers record each call in the
SQLite file `HITL_EFFECTS_DB` (see `graphs.record_effect`), with its time, so the test can
compare what started with what the ledger admitted before the halt.

`reverse` runs `Approvals.reverse` with a compensation that records its effect and then kills
its own process (SIGKILL), between the effect and the ledger record, when `HITL_KILL_IN_UNDO`
is set.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langgraph.graph import END, START, StateGraph  # noqa: E402

from langgraph_hitl import Approvals, HaltedError, Handler, Policy, Requirement, add_approval_flow  # noqa: E402

import graphs  # noqa: E402

POLICY = Policy(
    {
        "update_record": "partially_reversible",
        "send_email": "irreversible_low",
        "delete_record": "irreversible_high",
    },
    requirements={"low": Requirement(review_after_s=3600.0)},
    version="oversight-1",
)


def update(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    graphs.record_effect(idempotency_key, "update_record", args)
    return {"old": args.get("old"), "new": args.get("value")}


def undo(args: dict[str, Any], *, idempotency_key: str, result: Any) -> dict[str, Any]:
    graphs.record_effect(idempotency_key, "reverse:update_record", args)
    if os.environ.get("HITL_KILL_IN_UNDO"):
        os.kill(os.getpid(), signal.SIGKILL)  # after the effect, before the ledger record
    return {"restored": (result or {}).get("old")}


def undo_unkeyed(args: dict[str, Any]) -> dict[str, Any]:
    graphs.record_effect(f"reverse:unkeyed-{os.getpid()}", "reverse:update_record", args)
    if os.environ.get("HITL_KILL_IN_UNDO"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"restored": True}


def builder(policy: Policy = POLICY, *, keyed: bool = True) -> StateGraph:
    """plan -> approval flow -> END; `update_record` has a compensation, `send_email` has none."""
    graph = StateGraph(graphs.State)
    graph.add_node("plan", graphs.plan)
    graph.add_edge(START, "plan")
    handlers = {
        "update_record": Handler(do=update, undo=undo if keyed else undo_unkeyed),
        "send_email": graphs.HANDLERS["send_email"],
        "delete_record": graphs.HANDLERS["delete_record"],
    }
    add_approval_flow(graph, source="plan", target=END, policy=policy, handlers=handlers)
    return graph


def _execute(url: str, prefix: str, n: int, barrier: Path, workers: int) -> dict[str, Any]:
    """Phase 1: every run through its gate (auto-approved), stopped before `execute`; wait for the
    other workers; phase 2: continue each run, so handlers start one after another."""
    ran = refused = 0
    compiled = builder().compile(interrupt_before=["execute"])
    with Approvals.open(compiled, url, name="ops") as hitl:
        for i in range(n):
            hitl.start(
                f"{prefix}-{i}", {"action": {"name": "update_record", "args": {"id": i, "value": prefix}}}
            )
        (barrier / prefix).touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < workers:
            if time.monotonic() > deadline:
                msg = f"only {len(list(barrier.iterdir()))} of {workers} workers got through phase 1"
                raise SystemExit(msg)
            time.sleep(0.01)
        for i in range(n):
            try:
                hitl.start(f"{prefix}-{i}", None)
                ran += 1
            except HaltedError:
                refused += 1
    return {"ran": ran, "refused": refused}


def main(argv: list[str]) -> int:
    command, url = argv[0], argv[1]
    if command == "execute":
        print(json.dumps(_execute(url, argv[2], int(argv[3]), Path(argv[4]), int(argv[5]))))
        return 0
    if command == "reverse":
        keyed = not os.environ.get("HITL_UNKEYED_UNDO")
        with Approvals.open(builder(keyed=keyed), url, name="ops", lease_s=2.0) as hitl:
            done = hitl.reverse(argv[2], approver="alice", reason="crash test")
        print(json.dumps({"status": done.status}))
        return 0
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
