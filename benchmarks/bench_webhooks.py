"""Webhook framing and signing, and what `on_executed` adds to a decision.

Prints one JSON object to stdout:

    python benchmarks/bench_webhooks.py [--quick]

- `encode_us_<layout>_<signing>`: one event framed (JSON envelope or CloudEvent), serialized and
  signed, as the notifier does at enqueue and at each attempt, without the HTTP request.
- `decision_ms_plain` / `decision_ms_on_executed`: `start` + `decide` of a reviewed action on a
  SQLite file, with a notifier that has no `on_executed` hook and with one that has it (the
  runner then looks up, once per execution, the request that approved it), side by side,
  interleaved chunk by chunk; medians of the repeats.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, HITLState, Policy, add_approval_flow
from langgraph_hitl.notify.cloud_events import cloudevent_framer
from langgraph_hitl.notify.signers import make_signer
from langgraph_hitl.notify.webhook_delivery import dumps, json_frame

ENVELOPE = {
    "event": "decided",
    "ts": "2026-12-01T03:00:00.000000+00:00",
    "delivery_id": "5ed5d0fa962e49c583bca235b92dd8c2",
    "thread_id": "ticket-4821",
    "request": {"request_id": "a3fae43e55e79f68f7783b8363ac0077"},
    "decision": {"type": "approve", "approver": "alice", "message": "ok, customer asked for it"},
}
SECRETS = {"hitl": "s3cret-" * 6, "standard": "whsec_" + base64.b64encode(b"k" * 32).decode()}


def _encode_us(layout: str, signing: str, calls: int, repeats: int) -> float:
    frame = (
        json_frame
        if layout == "json"
        else cloudevent_framer(binary=layout.endswith("binary"), source="urn:x")
    )
    sign = make_signer(signing, SECRETS[signing])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            document, headers = frame(dict(ENVELOPE))
            body = dumps(document)
            headers.update(sign(ENVELOPE["delivery_id"], 1_764_558_000, body))
        times.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(times), 2)


class Plain:
    def on_decision(self, request_id: str, decision: Any, *, thread_id: str | None) -> None:
        pass


class WithExecuted(Plain):
    def on_executed(self, request_id: str, *, thread_id: str | None, action: str, outcome: str) -> None:
        pass


def _graph() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    policy = Policy(actions={"delete_record": "irreversible_high"})
    add_approval_flow(
        builder, source="plan", target=END, policy=policy, handlers={"delete_record": lambda a: a}
    )
    return builder


def _decisions(folder: Path, runs: int, repeats: int) -> dict[str, float]:
    sides: dict[str, list[float]] = {"plain": [], "on_executed": []}
    with (
        Approvals.open(_graph(), f"sqlite:///{folder / 'plain.db'}", notifier=Plain()) as plain,  # type: ignore[arg-type]
        Approvals.open(_graph(), f"sqlite:///{folder / 'exec.db'}", notifier=WithExecuted()) as executed,  # type: ignore[arg-type]
    ):
        for repeat in range(repeats):
            order = [("plain", plain), ("on_executed", executed)]
            for label, hitl in order if repeat % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                for i in range(runs):
                    thread = f"r{repeat}-{i}"
                    run = hitl.start(thread, {"action": {"name": "delete_record", "args": {"id": i}}})
                    hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
                sides[label].append((time.perf_counter() - started) / runs * 1000)
    return {f"decision_ms_{k}": round(statistics.median(v), 3) for k, v in sides.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, repeats, runs = (500, 3, 10) if args.quick else (20000, 5, 100)
    out: dict[str, Any] = {}
    for layout in ("json", "cloudevents", "cloudevents-binary"):
        for signing in ("hitl", "standard"):
            out[f"encode_us_{layout}_{signing}"] = _encode_us(layout, signing, calls, repeats)
    with tempfile.TemporaryDirectory() as folder:
        out.update(_decisions(Path(folder), runs, repeats))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
