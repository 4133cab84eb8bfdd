"""OpenTelemetry spans, checked with the SDK's own in-memory exporter on real graphs: names,
attributes, parents, the decider event, the spans that say an action did not run, the trace
continued in another process, and what a forged stored traceparent or a missing API does."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from langgraph_hitl import Approvals, AsyncApprovals, telemetry
from langgraph_hitl.testing import FakeClock

from graphs import action, build

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SECRET = "s3cr3t-arg-value-4821"
"""An argument value no span may carry (spans hold digests only)."""


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A provider of our own, never the global one, so other tests run untraced."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    found: dict[str, ReadableSpan] = {}
    for span in exporter.get_finished_spans():
        assert span.name not in found, f"two spans named {span.name}"
        found[span.name] = span
    return found


def _open(url: str, provider: TracerProvider, **kwargs: Any) -> Any:
    graph_kwargs = {k: kwargs.pop(k) for k in ("timeout_s", "on_timeout") if k in kwargs}
    return Approvals.open(build(**graph_kwargs), url, **kwargs)


def _no_secret(exporter: InMemorySpanExporter) -> None:
    for span in exporter.get_finished_spans():
        texts = [str(v) for v in (span.attributes or {}).values()]
        texts += [str(v) for e in span.events for v in (e.attributes or {}).values()]
        texts += [span.name, str(span.status.description)]
        assert not any(SECRET in t for t in texts), span.name


def test_telemetry_gate_review_execute_spans_form_one_trace(
    store_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """start -> gate; review (parent: the stored context, from the question to the decision, the
    decider as an event) -> execute_tool, with the GenAI attributes; the traceparent is stored."""
    provider, exporter = spans
    with _open(store_url, provider) as hitl:
        hitl.tracer_provider = provider
        run = hitl.start("t1", action("delete_record", table="customers", id=4821, note=SECRET))
        req = run.pending[0]
        stored = hitl.store.backend.execute(
            "SELECT traceparent FROM hitl_requests WHERE request_id = ?", (req.request_id,)
        )[0]["traceparent"]
        hitl.decide(req.request_id, {"type": "approve"}, approver="Alice")
        row = hitl.store.inbox.get(req.request_id)
    got = _by_name(exporter)
    assert set(got) == {
        "hitl.start",
        "hitl.gate delete_record",
        "hitl.review delete_record",
        "execute_tool delete_record",
    }
    start, gate = got["hitl.start"], got["hitl.gate delete_record"]
    review, execute = got["hitl.review delete_record"], got["execute_tool delete_record"]
    assert (
        stored
        == f"00-{start.context.trace_id:032x}-{start.context.span_id:016x}-{int(start.context.trace_flags):02x}"
    )
    assert gate.parent.span_id == start.context.span_id
    assert review.parent.span_id == start.context.span_id and review.parent.is_remote
    assert execute.parent.span_id == review.context.span_id
    assert {s.context.trace_id for s in got.values()} == {start.context.trace_id}
    assert gate.attributes["hitl.risk"] == "high" and gate.attributes["hitl.gate_mode"] == "hard"
    assert gate.attributes["hitl.policy_version"] == "test-1" and gate.attributes["hitl.status"] == "proposed"
    assert review.attributes["hitl.request_id"] == req.request_id
    assert review.attributes["hitl.approver"] == "alice" and review.attributes["hitl.decision"] == "approve"
    assert "hitl.executed" not in review.attributes
    assert review.start_time == int(row.created_at * 1e9)
    (event,) = review.events
    assert event.name == "hitl.decision" and event.attributes["hitl.approver"] == "alice"
    assert event.timestamp == int(row.decided_at * 1e9)
    assert execute.attributes["gen_ai.operation.name"] == "execute_tool"
    assert execute.attributes["gen_ai.tool.name"] == "delete_record"
    assert execute.attributes["gen_ai.tool.call.id"] == gate.attributes["hitl.action_id"]
    assert execute.attributes["hitl.executed"] is True and execute.attributes["hitl.outcome"] == "executed"
    assert execute.attributes["hitl.receipt_digest"] == gate.attributes["hitl.action_digest"]
    assert tuple(execute.attributes["hitl.approver"]) == ("alice",)
    assert execute.kind is trace.SpanKind.INTERNAL
    _no_secret(exporter)


def test_telemetry_auto_gate_executes_inside_start(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A low-risk action: gate (auto) and execute_tool, both children of hitl.start."""
    provider, exporter = spans
    with _open(db_url, provider) as hitl:
        hitl.tracer_provider = provider
        assert hitl.start("t1", action("read_record", id=SECRET)).status == "done"
    got = _by_name(exporter)
    start = got["hitl.start"]
    assert got["hitl.gate read_record"].attributes["hitl.gate_mode"] == "auto"
    assert got["execute_tool read_record"].parent.span_id == start.context.span_id
    assert start.attributes["hitl.status"] == "done"
    _no_secret(exporter)


def test_telemetry_reject_leaves_a_review_span_that_says_not_run(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A rejection: the review span says hitl.executed=false, outcome rejected; no execute span."""
    provider, exporter = spans
    with _open(db_url, provider) as hitl:
        hitl.tracer_provider = provider
        run = hitl.start("t1", action("delete_record", id=1))
        hitl.decide(run.pending[0].request_id, {"type": "reject", "message": SECRET}, approver="bob")
    got = _by_name(exporter)
    review = got["hitl.review delete_record"]
    assert review.attributes["hitl.executed"] is False
    assert review.attributes["hitl.outcome"] == "rejected"
    assert not any(name.startswith("execute_tool") for name in got)
    _no_secret(exporter)


def test_telemetry_timeout_leaves_a_review_span_by_the_system(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """An expired request: the review span's decider is system:timeout, outcome timed_out, not run;
    on_timeout is called with the review span current."""
    provider, exporter = spans
    clock = FakeClock()
    seen: list[Any] = []

    class Hooks:
        def on_timeout(self, request_id: str, **_: Any) -> None:
            seen.append(trace.get_current_span().get_span_context())

    with _open(db_url, provider, timeout_s=60, clock=clock, notifier=Hooks()) as hitl:
        hitl.tracer_provider = provider
        run = hitl.start("t1", action("delete_record", id=1))
        clock.advance(61)
        assert hitl.expire_overdue() == [run.pending[0].request_id]
    review = _by_name(exporter)["hitl.review delete_record"]
    assert review.attributes["hitl.approver"] == "system:timeout"
    assert review.attributes["hitl.decision"] == "timeout"
    assert (review.attributes["hitl.outcome"], review.attributes["hitl.executed"]) == ("timed_out", False)
    assert [c.span_id for c in seen] == [review.context.span_id]


def test_telemetry_denied_gate_and_failed_handler(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A denied action's gate span says not run; a handler that raises gives an ERROR execute
    span with the error's type only (its message may quote the arguments)."""
    provider, exporter = spans
    with _open(db_url, provider) as hitl:
        hitl.tracer_provider = provider
        hitl.start("t1", {"action": {"name": "read_record", "args": "not a dict"}})
    gate = _by_name(exporter)["hitl.gate read_record"]
    assert (gate.attributes["hitl.executed"], gate.attributes["hitl.outcome"]) == (False, "denied")
    exporter.clear()

    from langgraph.graph import END, START, StateGraph

    from langgraph_hitl import add_approval_flow

    from graphs import State, plan, policy

    def boom(args: dict[str, Any]) -> None:
        raise ValueError(f"cannot read {args['id']}")

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    handlers = {name: boom for name in ("read_record", "update_record", "send_email", "delete_record")}
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=handlers)
    with Approvals.open(builder, db_url.replace(".db", "-2.db")) as hitl:
        hitl.tracer_provider = provider
        hitl.start("t2", action("read_record", id=SECRET))
    execute = _by_name(exporter)["execute_tool read_record"]
    assert execute.status.status_code is StatusCode.ERROR
    assert execute.attributes["error.type"] == "ValueError"
    assert (execute.attributes["hitl.executed"], execute.attributes["hitl.outcome"]) == (False, "failed")
    _no_secret(exporter)


def test_telemetry_run_that_raises_keeps_its_message_out_of_the_span(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A node that raises ends `hitl.start` in ERROR with the error's type as its status, never the
    message (which quotes the arguments), though the exception leaves through the span."""
    from langgraph.graph import END, START, StateGraph

    from langgraph_hitl import add_approval_flow

    from graphs import HANDLERS, State, policy

    def plan(state: Any) -> dict[str, Any]:
        raise RuntimeError(f"cannot plan {state['action']['args']}")

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=policy(), handlers=HANDLERS)
    provider, exporter = spans
    with Approvals.open(builder, db_url) as hitl:
        hitl.tracer_provider = provider
        with pytest.raises(RuntimeError, match=SECRET):
            hitl.start("t1", action("send_email", to=SECRET))
    start = _by_name(exporter)["hitl.start"]
    assert (start.status.status_code, start.status.description) == (StatusCode.ERROR, "RuntimeError")
    assert start.attributes["error.type"] == "RuntimeError"
    _no_secret(exporter)


def test_telemetry_hooks_run_with_a_span_current(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """on_pending sees hitl.start current, on_decision the review span: what a webhook injects."""
    provider, exporter = spans
    seen: dict[str, Any] = {}

    class Hooks:
        def on_pending(self, payload: Any, **_: Any) -> None:
            seen["pending"] = trace.get_current_span().get_span_context()

        def on_decision(self, request_id: str, decision: Any, **_: Any) -> None:
            seen["decision"] = trace.get_current_span().get_span_context()

    with _open(db_url, provider, notifier=Hooks()) as hitl:
        hitl.tracer_provider = provider
        run = hitl.start("t1", action("delete_record", id=1))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
    got = _by_name(exporter)
    assert seen["pending"].span_id == got["hitl.start"].context.span_id
    assert seen["decision"].span_id == got["hitl.review delete_record"].context.span_id
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left current


def test_telemetry_stream_keeps_the_span_out_of_the_loop_body(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """decide_stream: the review span is the execution's parent, and never current in the caller's loop."""
    provider, exporter = spans
    with _open(db_url, provider) as hitl:
        hitl.tracer_provider = provider
        run = hitl.start("t1", action("delete_record", id=1))
        stream = hitl.decide_stream(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        for _ in stream:
            assert not trace.get_current_span().get_span_context().is_valid
    got = _by_name(exporter)
    assert (
        got["execute_tool delete_record"].parent.span_id == got["hitl.review delete_record"].context.span_id
    )


def test_telemetry_async_runner(db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    """AsyncApprovals emits the same spans with the same parents."""
    provider, exporter = spans

    async def main() -> None:
        async with AsyncApprovals.open(build(), db_url) as hitl:
            hitl.tracer_provider = provider
            run = await hitl.start("t1", action("delete_record", id=1))
            await hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")

    asyncio.run(main())
    got = _by_name(exporter)
    assert got["hitl.review delete_record"].parent.span_id == got["hitl.start"].context.span_id
    assert (
        got["execute_tool delete_record"].parent.span_id == got["hitl.review delete_record"].context.span_id
    )


@pytest.mark.parametrize(
    "forged",
    [
        "garbage",
        "00-" + "f" * 32 + "-" + "a" * 16 + "-01" + "x" * 100_000,
        "00-" + "0" * 32 + "-" + "a" * 16 + "-01",
        "00-" + "a" * 31 + "\x00-" + "a" * 16 + "-01",
        "ff-" + "a" * 32 + "-" + "a" * 16 + "-01",
        "00-" + "A" * 32 + "-" + "a" * 16 + "-01",
        "\ud800" * 55,
        4821,
    ],
    ids=["garbage", "huge", "zero-trace", "nul", "version-ff", "uppercase", "surrogates", "integer"],
)
def test_telemetry_forged_stored_traceparent_is_ignored(
    db_url: str, spans: tuple[TracerProvider, InMemorySpanExporter], forged: Any
) -> None:
    """Whatever the column holds, the decision goes through and the review span starts a trace of its own."""
    provider, exporter = spans
    with _open(db_url, provider) as hitl:
        hitl.tracer_provider = provider
        run = hitl.start("t1", action("delete_record", id=1))
        value = (
            forged.encode("utf-8", "surrogatepass")
            if isinstance(forged, str) and "\ud800" in forged
            else forged
        )
        hitl.store.backend.execute("UPDATE hitl_requests SET traceparent = ?", (value,))
        result = hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
    assert result.values["status"] == "executed"
    review = _by_name(exporter)["hitl.review delete_record"]
    assert review.parent is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80), st.integers(), st.none()))
def test_telemetry_parent_context_accepts_only_well_formed_values(value: Any) -> None:
    """`parent_context` never raises, and yields a context only for a version-00 traceparent."""
    ctx = telemetry.parent_context(value)
    if ctx is not None:
        assert isinstance(value, str) and len(value) == 55 and value.startswith("00-")
        assert trace.get_current_span(ctx).get_span_context().is_valid


def test_telemetry_off_without_a_provider() -> None:
    """With OpenTelemetry's proxy (or no-op) provider as the global one there is no tracer; a
    value in the config that is not a provider is ignored (the global one decides)."""
    off = isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    assert (telemetry.tracer() is None) == off
    assert (
        telemetry.active({"configurable": {"hitl_tracer_provider": "not a provider"}}) is telemetry.tracer()
    )
    assert telemetry.current_traceparent() is None  # no span is current here


_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from langgraph_hitl import Approvals
from graphs import action, build

class FileExporter(SpanExporter):
    def export(self, spans):
        with open({out!r}, "a") as f:
            for s in spans:
                f.write(json.dumps({{"name": s.name, "pid": {role!r}, "trace": s.context.trace_id,
                    "span": s.context.span_id, "parent": s.parent.span_id if s.parent else None}}) + "\\n")
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
trace.set_tracer_provider(provider)  # the global provider: the idiomatic way
with Approvals.open(build(), {url!r}) as hitl:
    if {role!r} == "start":
        print(hitl.start("t1", action("delete_record", id=1)).pending[0].request_id)
    else:
        print(hitl.decide({rid!r}, {{"type": "approve"}}, approver="alice").values["status"])
"""


def _script(role: str, url: str, out: Path, rid: str = "") -> str:
    return _SCRIPT.format(tests=str(TESTS), out=str(out), role=role, url=url, rid=rid)


def test_telemetry_decision_in_another_process_continues_the_trace(tmp_path: Path) -> None:
    """Start in one process, decide in another: the review span (and the execution under it) is
    in the start's trace, its parent the start's span."""
    url, out = f"sqlite:///{tmp_path / 'hitl.db'}", tmp_path / "spans.jsonl"
    a = subprocess.run(
        [sys.executable, "-c", _script("start", url, out)], capture_output=True, text=True, timeout=120
    )
    assert a.returncode == 0, a.stderr
    rid = a.stdout.strip()
    b = subprocess.run(
        [sys.executable, "-c", _script("decide", url, out, rid)], capture_output=True, text=True, timeout=120
    )
    assert b.returncode == 0, b.stderr
    assert b.stdout.strip() == "executed"
    rows = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    start, review = rows["hitl.start"], rows["hitl.review delete_record"]
    assert start["pid"] == "start" and review["pid"] == "decide"
    assert review["trace"] == start["trace"] and review["parent"] == start["span"]
    assert rows["execute_tool delete_record"]["parent"] == review["span"]


def test_telemetry_without_the_api_everything_works(tmp_path: Path) -> None:
    """With opentelemetry unimportable, a start and a decision (on a request that carries a stored
    traceparent) work, and nothing tries to import it."""
    url = f"sqlite:///{tmp_path / 'hitl.db'}"
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "opentelemetry":
                    raise ImportError("opentelemetry is not installed here")
        sys.meta_path.insert(0, Block())
        try:
            import opentelemetry.trace
            raise SystemExit("the import should have failed")
        except ImportError:
            pass
        sys.path.insert(0, {str(TESTS)!r})
        from langgraph_hitl import Approvals
        from graphs import action, build
        with Approvals.open(build(), {url!r}) as hitl:
            run = hitl.start("t1", action("delete_record", id=1))
            hitl.store.backend.execute("UPDATE hitl_requests SET traceparent = ?",
                ("00-" + "ab" * 16 + "-" + "cd" * 8 + "-01",))
            print(hitl.decide(run.pending[0].request_id, {{"type": "approve"}}, approver="alice").values["status"])
        assert not [m for m in sys.modules if m.startswith("opentelemetry")]
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "executed"


def test_telemetry_example_runs() -> None:
    """examples/integrations/opentelemetry_tracing.py runs offline and prints the trace it made."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "integrations" / "opentelemetry_tracing.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.environ.get("TMPDIR", "/tmp"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "execute_tool delete_record" in proc.stdout and "hitl.review delete_record" in proc.stdout
