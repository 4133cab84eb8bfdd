"""What the policy-lifecycle features cost: shadow mode, the rubber-stamp check, a Cedar engine.

    python benchmarks/bench_policy_lifecycle.py          # prints one JSON object
    python benchmarks/bench_policy_lifecycle.py --quick  # small sizes

Figures, each side by side with the same thing without the feature, interleaved in one process:
- `assess_us`: `Policy.assess` vs `with_engine(policy, CedarEngine(...)).assess` (microseconds);
- `start_ms`: `Approvals.start` of a proposal that pauses, without and with `shadow_policy=`
  (the candidate's assessment and its `shadow_differs` row);
- `decide_ms`: `Approvals.decide` of a rubber-stamp-covered action vs an uncovered one, on a
  store that already holds `--history` decided requests by other approvers (the check reads the
  decider names of the look-back window, then the approver's last `window` rows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import (
    Approvals,
    CedarEngine,
    HITLState,
    Policy,
    RubberStampRule,
    add_approval_flow,
    with_engine,
)

ACTIONS = {
    "send_email": "irreversible_high",
    "delete_record": "irreversible_high",
    "read_record": "fully_reversible",
}
HANDLERS = {name: (lambda args: "ok") for name in ACTIONS}
CEDAR = """
permit(principal, action, resource);
@id("big") forbid(principal, action == Action::"send_email", resource) when { context.args.n > 100000 };
"""


def _per_call_us(fn: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def _builder(policy: Policy) -> StateGraph:
    builder = StateGraph(HITLState)
    builder.add_node("agent", lambda state: {})
    builder.add_edge(START, "agent")
    add_approval_flow(builder, source="agent", target=END, policy=policy, handlers=HANDLERS)
    return builder


def assess(calls: int, repeats: int) -> dict[str, Any]:
    plain = Policy(ACTIONS)
    cedar = with_engine(plain, CedarEngine(CEDAR))
    action = {"name": "send_email", "args": {"n": 5, "to": ["a@example.com"]}}
    base, engine = [], []
    for _ in range(repeats):
        base.append(_per_call_us(lambda: plain.assess(action), calls))  # type: ignore[arg-type]
        engine.append(_per_call_us(lambda: cedar.assess(action, requester="agent"), calls))  # type: ignore[arg-type]
    return {"plain_us": round(statistics.median(base), 1), "cedar_us": round(statistics.median(engine), 1)}


def start(folder: Path, runs: int) -> dict[str, Any]:
    candidate = Policy({**ACTIONS, "send_email": "irreversible_low"}, version="candidate")
    times: dict[str, list[float]] = {"plain": [], "shadow": []}
    with (
        Approvals.open(_builder(Policy(ACTIONS)), f"sqlite:///{folder / 'plain.db'}") as plain,
        Approvals.open(
            _builder(Policy(ACTIONS)), f"sqlite:///{folder / 'shadow.db'}", shadow_policy=candidate
        ) as shadow,
    ):
        for i in range(runs):
            for label, hitl in (
                (("plain", plain), ("shadow", shadow)) if i % 2 else (("shadow", shadow), ("plain", plain))
            ):
                started = time.perf_counter()
                hitl.start(f"t{i}", {"action": {"name": "send_email", "args": {"n": i}}})
                times[label].append((time.perf_counter() - started) * 1000)
    return {f"{k}_ms": round(statistics.median(v), 3) for k, v in times.items()}


def decide(folder: Path, runs: int, history: int) -> dict[str, Any]:
    rule = RubberStampRule(actions=["send_email"])
    url = f"sqlite:///{folder / 'stamp.db'}"
    with Approvals.open(_builder(Policy(ACTIONS)), url) as hitl:  # other approvers' record
        for i in range(history):
            run = hitl.start(f"h{i}", {"action": {"name": "delete_record", "args": {"id": i}}})
            hitl.decide(
                run.pending[0].request_id, {"type": "reject", "message": "x"}, approver=f"user{i % 50}"
            )
    times: dict[str, list[float]] = {"uncovered": [], "covered": []}
    with Approvals.open(_builder(Policy(ACTIONS, rules=[rule])), url) as hitl:
        for i in range(runs):
            for label, name in (("covered", "send_email"), ("uncovered", "delete_record")):
                run = hitl.start(f"{label}{i}", {"action": {"name": name, "args": {"n": i}}})
                started = time.perf_counter()
                hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver=f"approver{i}")
                times[label].append((time.perf_counter() - started) * 1000)
    return {f"{k}_ms": round(statistics.median(v), 3) for k, v in times.items()} | {"history": history}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--history", type=int, default=None)
    args = parser.parse_args(argv)
    calls, runs = (200, 10) if args.quick else (2000, 60)
    history = args.history if args.history is not None else (200 if args.quick else 2000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = {
            "benchmark": "policy_lifecycle",
            "assess_us": assess(calls, 3),
            "start_ms": start(folder, runs),
            "decide_ms": decide(folder, runs, history),
        }
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
