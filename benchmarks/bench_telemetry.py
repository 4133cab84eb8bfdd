"""What OpenTelemetry costs langgraph-hitl: off (no provider configured) and on (the SDK with
no exporter: the spans' own cost), side by side in one process.

    python benchmarks/bench_telemetry.py          # prints one JSON object
    python benchmarks/bench_telemetry.py --quick  # small sizes

Figures: `ClassifyAndGateNode` called directly (microseconds per call, medians of interleaved
repeats), and a full `Approvals.start` + `decide` on SQLite (milliseconds per decision).
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

from langgraph_hitl import Approvals, ClassifyAndGateNode, HITLState, Policy, add_approval_flow

POLICY = Policy(actions={"read_record": "fully_reversible", "delete_record": "irreversible_high"})
CONFIG = {"configurable": {"thread_id": "bench", "checkpoint_ns": "", "langgraph_step": 1}}
STATE = {"action": {"name": "read_record", "args": {"id": 1}}}


def _per_call_us(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(samples), 2)


def _graph() -> StateGraph:
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder, source="plan", target=END, policy=POLICY,
        handlers={"read_record": lambda args: args, "delete_record": lambda args: args},
    )  # fmt: skip
    return builder


def _decisions_ms(folder: Path, label: str, runs: int, provider: Any = None) -> float:
    with Approvals.open(_graph(), f"sqlite:///{folder / (label + '.db')}") as hitl:
        hitl.tracer_provider = provider
        started = time.perf_counter()
        for i in range(runs):
            run = hitl.start(f"t{i}", {"action": {"name": "delete_record", "args": {"id": i}}})
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        return round((time.perf_counter() - started) / runs * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, repeats, runs = (200, 3, 20) if args.quick else (2000, 7, 150)
    node = ClassifyAndGateNode(POLICY)
    raw = ClassifyAndGateNode.__call__.__wrapped__  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        out["gate_us_unwrapped"] = _per_call_us(lambda: raw(node, STATE, CONFIG), calls, repeats)
        # langsmith imports OpenTelemetry's SDK when it is installed: the API is usually imported
        # here, and what keeps tracing off is that no provider is configured.
        out["api_imported"] = "opentelemetry.trace" in sys.modules
        out["gate_us_no_provider"] = _per_call_us(lambda: node(STATE, CONFIG), calls, repeats)
        from opentelemetry.sdk.trace import TracerProvider

        out["decision_ms_no_provider"] = _decisions_ms(Path(folder), "b", runs)
        provider = TracerProvider()  # an SDK with no exporter: the spans' own cost
        traced = {"configurable": {**CONFIG["configurable"], "hitl_tracer_provider": provider}}
        out["gate_us_sdk"] = _per_call_us(lambda: node(STATE, traced), calls, repeats)
        out["decision_ms_sdk"] = _decisions_ms(Path(folder), "c", runs, provider)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
