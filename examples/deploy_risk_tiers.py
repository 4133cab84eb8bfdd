"""Risk tiers for deployments: low runs, medium gets one reviewer, high a senior one, critical two people.

    dev                               low       runs at once, with an audit note
    staging                           medium    one reviewer (anyone on the team but the requester)
    prod                              high      a senior reviewer (sre_lead or eng_manager)
    prod + a migration that drops data critical  a senior reviewer AND a second, different one

The tiers are plain `Policy` rules on the deploy's arguments; `add_approval_flow` wires the
gate, review, second review (four-eyes), execution and audit. Decisions go through the
`Approvals` runner with a SQLite file in a temp dir.

    python examples/deploy_risk_tiers.py
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

SENIORS = ["sre_lead", "eng_manager", "cto"]

POLICY = Policy(
    {"deploy": "partially_reversible"},  # a deploy can be rolled back, mostly
    rules=[
        Rule(
            "staging",
            actions="deploy",
            when=lambda a: a["env"] == "staging",
            risk="medium",
            reason="staging is shared with QA",
        ),
        Rule(
            "production",
            actions="deploy",
            when=lambda a: a["env"] == "prod",
            risk="high",
            reason="production serves customers",
        ),
        Rule(
            "prod-data-loss",
            actions="deploy",
            when=lambda a: a["env"] == "prod" and a.get("drops_data", False),
            risk="critical",
            reason="production AND a migration that deletes data",
        ),
    ],
    requirements={
        "medium": Requirement(timeout_s=4 * 3600),
        "high": Requirement(approvers=SENIORS, timeout_s=3600),
        "critical": Requirement(approvers=SENIORS, required_approvals=2, timeout_s=3600),
    },
    impacts={
        "deploy": "Replaces the running version; rollback takes about 10 minutes, dropped data is gone."
    },
    version="deploy-tiers-1",
)

DEPLOYED: list[dict[str, Any]] = []


def deploy(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """The deploy itself (a CI/CD API call in real life); the key makes a retried deploy a no-op."""
    DEPLOYED.append(args)
    return {"deployed": args["service"], "env": args["env"], "version": args["version"]}


def build() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    return add_approval_flow(
        builder,
        source="plan",
        target=END,
        policy=POLICY,
        handlers={"deploy": deploy},
        requested_by="deploy-bot",
    )


def proposal(env: str, *, drops_data: bool = False) -> dict[str, Any]:
    args = {"service": "billing", "version": "2.4.0", "env": env, "drops_data": drops_data}
    return {"action": {"name": "deploy", "args": args, "description": f"Deploy billing 2.4.0 to {env}"}}


def main() -> None:
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    with Approvals.open(build(), url) as hitl:
        print("low: dev")
        run = hitl.start("dev", proposal("dev"))
        print(
            f"   {run.values['assessment']['risk']} / {run.values['assessment']['mode']} -> {run.values['status']}"
        )

        print("medium: staging needs one reviewer")
        run = hitl.start("staging", proposal("staging"))
        ask = run.pending[0]
        print(f"   {ask.risk} / approvers: {ask.approvers or 'anyone but ' + ask.requested_by}")
        run = hitl.decide(ask.request_id, {"type": "approve"}, approver="qa_anna")
        print(f"   qa_anna approves -> {run.values['status']}")

        print("high: prod needs a senior reviewer")
        run = hitl.start("prod", proposal("prod"))
        ask = run.pending[0]
        print(f"   {ask.risk} / approvers: {ask.approvers}")
        try:
            hitl.decide(ask.request_id, {"type": "approve"}, approver="qa_anna")
        except AuthorizationError as exc:
            print(f"   qa_anna -> refused: {exc}")
        run = hitl.decide(ask.request_id, {"type": "approve"}, approver="sre_lead")
        print(f"   sre_lead approves -> {run.values['status']}")

        print("critical: prod + data loss needs two different senior reviewers")
        run = hitl.start("prod-migration", proposal("prod", drops_data=True))
        ask = run.pending[0]
        print(f"   {ask.risk} / reasons: {ask.payload['hitl']['reasons'][0]}")
        run = hitl.decide(ask.request_id, {"type": "approve"}, approver="sre_lead")
        second = run.pending[0]
        print(
            f"   sre_lead approves -> second review by {second.approvers}, "
            f"excluding {second.payload['hitl']['exclude_approvers']}"
        )
        try:
            hitl.decide(second.request_id, {"type": "approve"}, approver="sre_lead")
        except AuthorizationError as exc:
            print(f"   sre_lead again -> refused: {exc}")
        run = hitl.decide(second.request_id, {"type": "approve"}, approver="cto")
        approvers = [d["approver"] for d in run.values["decisions"] if d["effect"] == "approved"]
        print(f"   cto approves -> {run.values['status']} (approved by {' and '.join(approvers)})")

        print(f"\ndeployed: {[d['env'] + (' (drops data)' if d['drops_data'] else '') for d in DEPLOYED]}")
        print(f"audit chain verifies: {hitl.store.audit.verify().ok}")


if __name__ == "__main__":
    main()
