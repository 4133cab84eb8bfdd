"""`on_executed` from the runner (sync and async), and W3C trace context on webhook deliveries."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace import TracerProvider
from test_crossprocess import run_worker

from langgraph_hitl import Approvals, AsyncApprovals, add_approval_flow
from langgraph_hitl.notify import WebhookNotifier
from langgraph_hitl.notify.trace_context import trace_headers

import graphs
from graphs import TABLE, State, action, plan, policy
from loopback_receiver import Receiver, serving

SECRET = "test-secret-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as rec:
        yield rec


class Recorder:
    """A notifier that records every hook the runner calls, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def on_pending(self, request: Any, *, thread_id: str | None) -> None:
        self.calls.append(("pending", (request["hitl"]["request_id"],), {"thread_id": thread_id}))

    def on_decision(self, request_id: str, decision: Any, *, thread_id: str | None) -> None:
        self.calls.append(("decision", (request_id,), {"thread_id": thread_id}))

    def on_executed(self, request_id: str, *, thread_id: str | None, action: str, outcome: str) -> None:
        self.calls.append(
            ("executed", (request_id,), {"thread_id": thread_id, "action": action, "outcome": outcome})
        )

    def executed(self) -> list[tuple[Any, ...]]:
        return [
            (*args, kw["thread_id"], kw["action"], kw["outcome"])
            for name, args, kw in self.calls
            if name == "executed"
        ]


def delete_record(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    if args.get("id") == 13:
        msg = "the record is locked"
        raise RuntimeError(msg)
    return {"deleted": args["id"]}


def build() -> StateGraph[Any, Any, Any, Any]:
    """plan -> approval flow -> END; deleting record 13 fails in its handler."""
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    handlers: dict[str, Any] = {name: lambda args: {"done": args} for name in TABLE}
    handlers["delete_record"] = delete_record
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=handlers)
    return builder


def test_runner_announces_each_reviewed_execution_once(store_url: str) -> None:
    """After `decide`, `on_executed` names the request, thread, action and outcome, once: not for an
    auto-approved read, not again on `recover` or `refresh`; a raising handler is `failed`."""
    notifier = Recorder()
    with Approvals.open(build(), store_url, notifier=notifier) as hitl:
        hitl.start("read", action("read_record", id=1))
        ok = hitl.start("ok", action("delete_record", id=1)).pending[0].request_id
        bad = hitl.start("bad", action("delete_record", id=13)).pending[0].request_id
        assert notifier.executed() == []
        hitl.decide(ok, {"type": "approve"}, approver="alice")
        hitl.decide(bad, {"type": "approve"}, approver="alice")
        hitl.recover(older_than=0)
        hitl.refresh("ok")
    assert notifier.executed() == [
        (ok, "ok", "delete_record", "executed"),
        (bad, "bad", "delete_record", "failed"),
    ]
    names = [name for name, args, _ in notifier.calls if args == (ok,)]
    assert names == ["pending", "executed", "decision"]


def test_rejected_action_is_not_announced_as_executed(db_url: str) -> None:
    """A rejection runs nothing, so nothing is announced as executed."""
    notifier = Recorder()
    with Approvals.open(build(), db_url, notifier=notifier) as hitl:
        rid = hitl.start("t", action("delete_record", id=2)).pending[0].request_id
        hitl.decide(rid, {"type": "reject", "message": "no"}, approver="alice")
    assert notifier.executed() == [] and ("decision", (rid,), {"thread_id": "t"}) in notifier.calls


def test_async_runner_announces_execution(db_url: str) -> None:
    """`AsyncApprovals.decide` announces the execution exactly as the sync runner does."""
    notifier = Recorder()

    async def run() -> str:
        async with AsyncApprovals.open(build(), db_url, notifier=notifier) as hitl:
            rid = (await hitl.start("t", action("delete_record", id=3))).pending[0].request_id
            await hitl.decide(rid, {"type": "approve"}, approver="bob")
            return rid

    rid = asyncio.run(run())
    assert notifier.executed() == [(rid, "t", "delete_record", "executed")]


def test_notifier_without_on_executed_keeps_working(db_url: str) -> None:
    """A notifier with only `on_decision` is called for it; the missing hook is skipped silently."""
    seen: list[str] = []

    class DecisionsOnly:
        def on_decision(self, request_id: str, decision: Any, *, thread_id: str | None) -> None:
            seen.append(request_id)

    with Approvals.open(build(), db_url, notifier=DecisionsOnly()) as hitl:  # type: ignore[arg-type]
        rid = hitl.start("t", action("delete_record", id=4)).pending[0].request_id
        assert hitl.decide(rid, {"type": "approve"}, approver="alice").values["status"] == "executed"
    assert seen == [rid]


def test_runner_execution_reaches_the_webhook(db_url: str, receiver: Receiver) -> None:
    """Through a real `WebhookNotifier`, the run's execution arrives as an `executed` CloudEvent about the request."""
    with WebhookNotifier(receiver.url, secret=SECRET, layout="cloudevents") as notifier:
        with Approvals.open(build(), db_url, notifier=notifier) as hitl:
            rid = hitl.start("t", action("delete_record", id=5)).pending[0].request_id
            hitl.decide(rid, {"type": "approve"}, approver="alice")
        assert notifier.flush(10)
    events = {r.json()["type"].rsplit(".", 1)[1]: r.json() for r in receiver.requests}
    assert set(events) == {"pending", "decided", "executed"}
    executed = events["executed"]
    assert executed["subject"] == rid and executed["hitlthread"] == "t"
    assert executed["data"]["action"] == "delete_record" and executed["data"]["outcome"] == "executed"


# -- trace context ----------------------------------------------------------------------------------


def test_delivery_carries_the_traceparent_of_the_span_active_at_enqueue(receiver: Receiver) -> None:
    """An event enqueued inside a span goes out with that span's `traceparent`, though posted later by
    the worker thread; one enqueued outside any span has none."""
    tracer = TracerProvider().get_tracer("test")
    with WebhookNotifier(receiver.url, secret=SECRET) as hook:
        with tracer.start_as_current_span("decide") as span:
            hook.on_timeout("req-1", thread_id="t", outcome="reject")
            ctx = span.get_span_context()
        hook.on_timeout("req-2", thread_id="t", outcome="reject")
        assert hook.flush(10)
    inside, outside = receiver.requests
    assert inside.header("traceparent") == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    assert outside.header("traceparent") is None and trace_headers() == {}


def test_runner_deliveries_join_the_callers_trace(db_url: str, receiver: Receiver) -> None:
    """Events the runner raises while the caller's span is active carry that trace's id."""
    tracer = TracerProvider().get_tracer("test")
    with WebhookNotifier(receiver.url, secret=SECRET) as notifier:
        with Approvals.open(build(), db_url, notifier=notifier) as hitl:
            with tracer.start_as_current_span("agent-turn") as span:
                rid = hitl.start("t", action("delete_record", id=6)).pending[0].request_id
                hitl.decide(rid, {"type": "approve"}, approver="alice")
                trace_id = f"{span.get_span_context().trace_id:032x}"
        assert notifier.flush(10)
    assert len(receiver.requests) == 3
    for got in receiver.requests:
        assert (got.header("traceparent") or "").split("-")[1] == trace_id


def test_webhooks_without_opentelemetry_import_none_of_it() -> None:
    """A process that never imported OpenTelemetry posts webhooks without importing it (no header, no cost)."""
    code = (
        "import sys\n"
        "from langgraph_hitl.notify import WebhookNotifier\n"
        "with WebhookNotifier('http://127.0.0.1:9/h', secret='s3cret', max_attempts=1, timeout_s=1) as hook:\n"
        "    hook.on_timeout('r', thread_id='t', outcome='reject')\n"
        "    hook.flush(5)\n"
        "print(hook.stats.enqueued, any(m.startswith('opentelemetry') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "False"]


def test_example_integrations_webhooks_runs(tmp_path: Path) -> None:
    """`examples/integrations/webhooks.py`: every delivery verifies as Standard Webhooks and parses as a CloudEvent."""
    script = Path(__file__).parent.parent / "examples" / "integrations" / "webhooks.py"
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    types = [line.split()[0] for line in out.splitlines()[:-1]]
    assert sorted(types) == [
        f"io.github.langgraph-hitl.request.{n}" for n in ("decided", "executed", "pending")
    ]
    assert out.splitlines()[-1] == "delivered 3 of 3, failed 0"


def test_execution_of_a_crashed_decision_is_announced_by_recover(tmp_path: Path) -> None:
    """SIGKILL after the graph ran the handler but before the run was indexed: the dead process
    announced nothing; `recover()` in this process announces the execution, once."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    with Approvals.open(graphs.build(), url) as hitl:
        rid = hitl.start("victim", action("delete_record", id=1)).pending[0].request_id
    crashed = run_worker(url, "crash-at", "after_resume", rid, "alice", check=False)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    notifier = Recorder()
    with Approvals.open(graphs.build(), url, notifier=notifier) as hitl:
        hitl.recover(older_than=0)
        hitl.recover(older_than=0)
        assert hitl.get(rid).status == "resumed"
    assert notifier.executed() == [(rid, "victim", "delete_record", "executed")]
