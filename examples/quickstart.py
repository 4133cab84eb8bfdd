"""Quickstart: an agent that reads and deletes customer records, with a person in the loop.

    plan -> classify_and_gate -> (read: auto) ---------------------> execute -> audit
                              -> (delete: hard gate) -> review ---> execute -> audit

A read runs at once. A delete pauses; this script then resumes the paused thread from a
*second process*, as approver `alice`, exactly as a web inbox or CLI on another machine
would. Finally it prints the outcome and the audit trail, and leaves one more delete waiting
so you can approve it yourself:

    python examples/quickstart.py                 # what `make demo` runs (again: a new run, nothing lost)
    langgraph-hitl --db quickstart-demo.db pending            # the request it left waiting
    langgraph-hitl --db quickstart-demo.db approve <id> --as bob --verify "DELETE 1002" \
        --graph examples/quickstart.py:build_graph

Offline, no API key: the "agent" is a deterministic planner.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, HITLState, Policy, Requirement, add_approval_flow

DB_PATH = Path("quickstart-demo.db")
"""The demo's own database, next to where you run it; never `hitl.db`, never deleted: run it
again and the earlier runs, their requests and their audit trail are all still there."""


class State(HITLState, total=False):
    task: str


def plan(state: State) -> dict[str, Any]:
    """A stand-in for an LLM planner: turn the task into one proposed action."""
    verb, _, customer = state["task"].partition(" customer ")
    name = "delete_record" if verb.startswith("delete") else "read_record"
    return {
        "action": {
            "name": name,
            "args": {"table": "customers", "id": int(customer)},
            "description": f"Task: {state['task']}",
        },
        "hitl_context": {"task": state["task"], "step": 1, "total_steps": 1},
    }


def _records() -> sqlite3.Connection:
    conn = sqlite3.connect(DB_PATH, timeout=30)
    conn.execute("CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS deletions (idempotency_key TEXT PRIMARY KEY, customer INTEGER)")
    return conn


def read_record(args: dict[str, Any]) -> dict[str, Any]:
    with _records() as conn:
        row = conn.execute("SELECT id, name FROM customers WHERE id = ?", (args["id"],)).fetchone()
    return {"id": row[0], "name": row[1]} if row else {"missing": args["id"]}


def delete_record(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    # The idempotency key makes a retried delete a no-op at the target, too.
    with _records() as conn:
        conn.execute("INSERT OR IGNORE INTO deletions VALUES (?, ?)", (idempotency_key, args["id"]))
        deleted = conn.execute("DELETE FROM customers WHERE id = ?", (args["id"],)).rowcount
    return {"deleted": args["id"], "rows": deleted}


POLICY = Policy(
    {"read_record": "fully_reversible", "delete_record": "irreversible_high"},
    requirements={"high": Requirement(approvers=["alice", "bob"], timeout_s=3600)},
    verify_phrases={"delete_record": "DELETE {id}"},
    impacts={"delete_record": "Removes the customer permanently; there is no backup."},
    version="quickstart-1",
)


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    """The graph: plan, then the whole approval flow, then the end."""
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=POLICY,
        handlers={"read_record": read_record, "delete_record": delete_record},
    )
    return builder


def approve_in_this_process(request_id: str, approver: str, phrase: str) -> None:
    """What the second process does: open the same database and decide."""
    with Approvals.open(build_graph(), f"sqlite:///{DB_PATH}") as hitl:
        result = hitl.decide(request_id, {"type": "approve", "verify": phrase}, approver=approver)
    print(
        f"  [second process] {approver} approved {request_id[:12]}; thread is {result.status}: "
        f"status={result.values['status']}, result={result.values['result']}"
    )


def _next_run() -> int:
    """This run's number: one more than the runs already in the database (threads are per run)."""
    with _records() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS demo_runs (n INTEGER PRIMARY KEY)")
        return int(conn.execute("INSERT INTO demo_runs DEFAULT VALUES RETURNING n").fetchone()[0])


def main() -> None:
    n = _next_run()
    with _records() as conn:  # the customers this run works on (a delete earlier removed them)
        conn.executemany(
            "INSERT OR REPLACE INTO customers VALUES (?, ?)", [(4821, "Ada Lovelace"), (1002, "Alan Turing")]
        )
    url = f"sqlite:///{DB_PATH}"
    print(f"Database: {DB_PATH.resolve()} (run {n}; earlier runs are kept)\n")
    with Approvals.open(build_graph(), url) as hitl:
        print("1. Read customer 4821 (fully reversible: runs without review)")
        run = hitl.start(f"read-4821-run{n}", {"task": "read customer 4821"})
        print(f"   {run.status}: {run.values['status']}, result={run.values['result']}\n")

        print("2. Delete customer 4821 (irreversible: hard gate, typed confirmation)")
        run = hitl.start(f"delete-4821-run{n}", {"task": "delete customer 4821"})
        request = run.pending[0]
        hitl_info = request.payload["hitl"]
        print(f"   {run.status}; the reviewer sees request {request.request_id[:12]}:")
        print(f"     action   {request.action['name']} {request.action['args']}")
        print(
            f"     risk     {hitl_info['risk']} ({hitl_info['reversibility']}); approvers {hitl_info['approvers']}"
        )
        print(f"     why      {'; '.join(hitl_info['reasons'])}")
        print(f"     impact   {hitl_info['impact']}")
        print(f"     confirm  type {hitl_info['verify_phrase']!r}\n")

    print("3. Resume from a second process, as alice")
    subprocess.run(
        [
            sys.executable,
            __file__,
            "approve",
            request.request_id,
            "--as",
            "alice",
            "--verify",
            str(hitl_info["verify_phrase"]),
        ],
        check=True,
    )

    with Approvals.open(build_graph(), url) as hitl:
        print(f"\n4. Audit trail of thread delete-4821-run{n}")
        for event in hitl.history(f"delete-4821-run{n}"):
            print(
                f"   {event['seq']:>3} {event['ts'][:19]} {event['event']:<14} by {event['actor']:<8} "
                f"{event['action']} {event['decision'] or event['outcome'] or ''}"
            )
        print(f"   chain verifies: {hitl.store.audit.verify().ok}")

        run = hitl.start(f"delete-1002-run{n}", {"task": "delete customer 1002"})
        waiting = run.pending[0]
        print(f"\n5. One more delete waits for you: request {waiting.request_id}")
        print(f"   langgraph-hitl --db {DB_PATH} pending")
        print(
            f"   langgraph-hitl --db {DB_PATH} approve {waiting.request_id[:12]} --as bob "
            "--verify 'DELETE 1002' --graph examples/quickstart.py:build_graph"
        )
        print(
            f"   langgraph-hitl --db {DB_PATH} serve --graph examples/quickstart.py:build_graph   # the web inbox"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    approve = sub.add_parser("approve", help="approve a request (the second process)")
    approve.add_argument("request_id")
    approve.add_argument("--as", dest="approver", required=True)
    approve.add_argument("--verify", required=True)
    ns = parser.parse_args()
    if ns.command == "approve":
        approve_in_this_process(ns.request_id, ns.approver, ns.verify)
    else:
        main()
