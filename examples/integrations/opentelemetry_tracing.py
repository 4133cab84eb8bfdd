"""OpenTelemetry: a span per gate, per review and per execution, in one trace.

Configure OpenTelemetry as usual (here: the SDK with an in-memory exporter; in production an
OTLP exporter) and the runner and its nodes emit spans; nothing else changes. The review span
is the child of the run that asked the question, even when the decision is made in another
process: the request carries its W3C `traceparent`.

    python examples/integrations/opentelemetry_tracing.py

Offline, no collector needed; it prints the spans as a tree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from langgraph.graph import END, START, StateGraph
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from langgraph_hitl import Approvals, HITLState, Policy, add_approval_flow

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # the global provider: langgraph-hitl's spans go there


def delete_record(args: dict, *, idempotency_key: str) -> dict:
    return {"deleted": args["id"]}


builder = StateGraph(HITLState)
builder.add_node("plan", lambda state: {})
builder.add_edge(START, "plan")
policy = Policy(actions={"delete_record": "irreversible_high"})
add_approval_flow(
    builder, source="plan", target=END, policy=policy, handlers={"delete_record": delete_record}
)

with tempfile.TemporaryDirectory() as folder:
    with Approvals.open(builder, f"sqlite:///{Path(folder) / 'hitl.db'}") as hitl:
        run = hitl.start("ticket-42", {"action": {"name": "delete_record", "args": {"id": 4821}}})
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")

spans = exporter.get_finished_spans()
children: dict[int | None, list] = {}
for span in spans:
    children.setdefault(span.parent.span_id if span.parent else None, []).append(span)


def show(span, depth: int = 0) -> None:
    keys = (
        "hitl.risk",
        "hitl.gate_mode",
        "hitl.approver",
        "hitl.decision",
        "hitl.executed",
        "gen_ai.tool.call.id",
    )
    attrs = {k: v for k, v in (span.attributes or {}).items() if k in keys}
    print("  " * depth + span.name, attrs, [event.name for event in span.events])
    for child in sorted(children.get(span.context.span_id, []), key=lambda s: s.start_time):
        show(child, depth + 1)


for root in children[None]:
    show(root)
