"""The graph LangGraph Server runs: an agent step, then langgraph-hitl's approval flow.

Compiled WITHOUT a checkpointer: LangGraph Server brings its own (here the one that
`checkpointer.py` builds, named in `langgraph.json`) and refuses a graph that has one.

    plan -> classify_and_gate -> (read: auto) ---------------------------------> execute -> audit
                              -> (email: soft gate, approve or reject) -> review -> execute -> audit
                              -> (delete: hard gate) -> review -----------------> execute -> audit
                              -> (purge: hard gate + phrase) -> review ---------> execute -> audit
                              -> (prod delete: critical) -> review -> second_review -> execute -> audit

Input: `{"action": {"name": "delete_record", "args": {"id": 7}}}`. A delete pauses with a
ReviewRequest in `__interrupt__`; resume it with `command={"resume": {"type": "approve",
"approver": "alice"}}` (langgraph_sdk), or list and decide it with
`langgraph_hitl.server.ServerInbox`.

Set `HITL_STORE_URL` (e.g. `sqlite:///hitl-audit.db`) to keep langgraph-hitl's audit log and
execution ledger next to the server; unset, the flow runs without them.
"""

from __future__ import annotations

import os
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import HITLState, Policy, Requirement, Rule, add_approval_flow, open_store

STORE = open_store(os.environ["HITL_STORE_URL"]) if os.environ.get("HITL_STORE_URL") else None
"""The store the nodes write to, opened once for the server process, which owns it until it exits."""


class State(HITLState, total=False):
    task: str


def plan(state: State) -> dict[str, Any]:
    """A stand-in for the agent: the proposed action arrives with the input."""
    return {}


def read_record(args: dict[str, Any]) -> dict[str, Any]:
    return {"id": args.get("id"), "name": "Ada Lovelace"}


def delete_record(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    # A real handler passes the key to its target so a retried delete is a no-op there.
    return {"deleted": args.get("id"), "idempotency_key": idempotency_key}


def purge_table(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    return {"purged": args.get("table"), "idempotency_key": idempotency_key}


def send_email(args: dict[str, Any]) -> dict[str, Any]:
    return {"sent_to": args.get("to")}


POLICY = Policy(
    {
        "read_record": "fully_reversible",
        "send_email": "irreversible_low",
        "delete_record": "irreversible_high",
        "purge_table": "irreversible_high",
    },
    # An email is approved or rejected as written: no edits, no free-text answer.
    requirements={"medium": Requirement(allowed_decisions=("approve", "reject"))},
    # A purge also needs its confirmation phrase typed (Agent Inbox: in the Confirm field).
    verify_phrases={"purge_table": "PURGE {table}"},
    rules=[
        Rule(
            "prod-delete",
            actions="delete_record",
            when=lambda args: args.get("env") == "prod",
            risk="critical",
            reason="deletes production data: two different people must approve",
        )
    ],
    version="server-example-1",
)


def build() -> StateGraph[Any, Any, Any, Any]:
    """plan -> approval flow -> END."""
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=POLICY,
        handlers={
            "read_record": read_record,
            "send_email": send_email,
            "delete_record": delete_record,
            "purge_table": purge_table,
        },
        store=STORE,
    )
    # Who answers comes from `auth.py` (LangGraph Server custom auth): the review nodes read the
    # authenticated user from the run's config, never the answer's `approver` field.
    return builder


graph = build().compile()
