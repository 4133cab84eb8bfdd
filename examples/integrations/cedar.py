"""Cedar: your organisation's authorization policies, consulted after the built-in policy.

The built-in `Policy` says which actions need a person; Cedar (through cedarpy) can then only make
that stricter: forbid an action outright (it is refused, audited as `denied`, never executed) or
raise its gate with an annotated `permit`. Any Cedar error denies. The Cedar policy's version is
in every assessment and audit row, beside the built-in policy's.

    python examples/integrations/cedar.py

Offline; needs `pip install "langgraph-hitl[cedar]"`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, CedarEngine, HITLState, Policy, add_approval_flow, with_engine

CEDAR = """
permit(principal, action, resource);

@id("payments-over-10k")
forbid(principal, action == Action::"pay", resource) when { context.args.amount > 10000 };

@id("new-vendors-need-two") @risk("critical")
permit(principal, action == Action::"pay", resource) when { context.args.vendor_age_days < 30 };
"""

policy = with_engine(
    Policy({"pay": "irreversible_high"}, version="2026-12"), CedarEngine(CEDAR, version="cedar-7")
)
handlers = {"pay": lambda args: f"paid {args['amount']} to {args['vendor']}"}

builder = StateGraph(HITLState)
builder.add_node("agent", lambda state: {})
builder.add_edge(START, "agent")
add_approval_flow(builder, source="agent", target=END, policy=policy, handlers=handlers)

with (
    tempfile.TemporaryDirectory() as tmp,
    Approvals.open(builder, f"sqlite:///{Path(tmp) / 'hitl.db'}") as hitl,
):
    big = hitl.start(
        "big",
        {"action": {"name": "pay", "args": {"amount": 50_000, "vendor": "acme", "vendor_age_days": 900}}},
    )
    print("50,000 to acme:", big.values["status"], "-", big.values["assessment"]["reasons"][0])
    new = hitl.start(
        "new", {"action": {"name": "pay", "args": {"amount": 900, "vendor": "zeta", "vendor_age_days": 3}}}
    )
    hitl_ = new.pending[0].payload["hitl"]
    print("900 to a new vendor:", hitl_["risk"], "risk,", hitl_["mode"], "gate -", hitl_["reasons"][0])
    print("policy version:", hitl_["policy_version"])
    for row in hitl.history("big"):
        print("audit", row["event"], row["policy_version"])
