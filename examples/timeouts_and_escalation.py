"""Timeouts that fail closed, soft gates that proceed, escalation to the next tier, four-eyes.

Nobody sleeps here: the runner takes a clock, and `FakeClock` moves it by hand. In
production the default clock is the wall clock and a cron job or worker loop calls
`expire_overdue()` every minute.

    python examples/timeouts_and_escalation.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import (
    Approvals,
    AuthorizationError,
    HITLState,
    Policy,
    Requirement,
    Rule,
    add_approval_flow,
)
from langgraph_hitl.testing import FakeClock


class State(HITLState, total=False):
    pass


POLICY = Policy(
    {
        "send_receipt": "irreversible_low",
        "refund": "irreversible_high",
        "delete_account": "irreversible_high",
    },
    rules=[
        Rule(
            "big-refund",
            actions="refund",
            when=lambda a: a["amount"] > 1000,
            risk="critical",
            reason="refunds over 1,000 need two people",
        )
    ],
    requirements={
        "medium": Requirement(timeout_s=15 * 60),  # soft gate: proceeds after 15 min
        "high": Requirement(
            approvers=["support"],
            timeout_s=3600,  # support has an hour, then a manager
            on_timeout="escalate",
            escalation=[["manager"]],
        ),
        "critical": Requirement(required_approvals=2, approvers=["finance", "cfo"], timeout_s=3600),
    },
    version="timeouts-example-1",
)

HANDLERS = {
    name: (lambda args, _n=name: {"ran": _n, **args}) for name in ("send_receipt", "refund", "delete_account")
}


def build() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(State)
    builder.add_node("agent", lambda state: {})
    builder.add_edge(START, "agent")
    add_approval_flow(builder, source="agent", target=END, policy=POLICY, handlers=HANDLERS)
    return builder


def propose(name: str, **args: Any) -> dict[str, Any]:
    return {"action": {"name": name, "args": args}}


def status(hitl: Approvals, thread: str) -> str:
    values = hitl.graph.get_state({"configurable": {"thread_id": thread}}).values
    return f"status={values['status']}, last decision by {values['decisions'][-1]['approver']!r}"


def main() -> None:
    clock = FakeClock()
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    with Approvals.open(build(), url, clock=clock) as hitl:
        print("1. A soft gate (one receipt email) proceeds when nobody objects in time")
        hitl.start("receipt", propose("send_receipt", to="ada@example.com"))
        clock.advance(16 * 60)
        hitl.expire_overdue()
        print(f"   {status(hitl, 'receipt')}\n")

        print("2. A hard gate escalates from support to a manager, then fails closed")
        run = hitl.start("close-account", propose("delete_account", user=42))
        print(f"   asked: {run.pending[0].approvers}")
        clock.advance(3601)
        hitl.expire_overdue()
        escalated = hitl.pending().items[0]
        print(
            f"   after 1 h nobody answered: escalated to {escalated.approvers} "
            f"(level {escalated.payload['hitl']['escalation_level']})"
        )
        clock.advance(3601)
        hitl.expire_overdue()
        print(
            f"   after another hour: {status(hitl, 'close-account')}  <- a timeout, not a human rejection\n"
        )

        print("3. A large refund is critical: two different people must approve")
        run = hitl.start("refund-9", propose("refund", order=9, amount=2500))
        first = run.pending[0]
        run = hitl.decide(first.request_id, {"type": "approve"}, approver="finance")
        second = run.pending[0]
        try:
            hitl.decide(second.request_id, {"type": "approve"}, approver="finance")
        except AuthorizationError as exc:
            print(f"   finance again -> refused: {exc}")
        run = hitl.decide(second.request_id, {"type": "approve"}, approver="cfo")
        print(f"   cfo approves -> {run.values['status']}: {run.values['result']}\n")

        print("Audit trail of close-account:")
        for event in hitl.history("close-account"):
            print(
                f"   {event['event']:<12} by {event['actor']:<15} {event['decision'] or event['outcome'] or ''}"
            )


if __name__ == "__main__":
    main()
