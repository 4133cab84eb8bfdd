"""The runner passes LangGraph's run config and runtime context through, streams, and keeps its own keys.

Issue "native wherever LangGraph users are", item 2: `start` / `decide` took no `config` or
`context`, nothing could be streamed through the runner, and a graph compiled with another
checkpointer was silently recompiled. Every test runs on both runners (`flavour`) and both
databases (`store_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from flavours import BlockingAsyncApprovals
from langchain_core.callbacks import BaseCallbackHandler
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from langgraph_hitl import Approvals, CheckpointerError, ThreadStateError, add_approval_flow
from langgraph_hitl.approvals import RunResult
from langgraph_hitl.testing import FakeClock

from graphs import HANDLERS, State, action, build, policy

pytestmark = pytest.mark.usefixtures("flavour")  # every test on Approvals and on AsyncApprovals


class RootRuns(BaseCallbackHandler):
    """A langchain callback handler keeping the tags and metadata of each top-level run it sees."""

    def __init__(self) -> None:
        self.roots: list[tuple[list[str], dict[str, Any]]] = []

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is None:
            self.roots.append((list(tags or []), dict(metadata or {})))


def streamed(hitl: Any, call: str, *args: Any, **kwargs: Any) -> tuple[list[Any], RunResult | None]:
    """Read `stream` / `decide_stream` to the end (`astream` / `adecide_stream` on the async runner)."""
    if isinstance(hitl, BlockingAsyncApprovals):
        runner = hitl._runner

        async def collect() -> tuple[list[Any], RunResult | None]:
            if call == "stream":
                stream = runner.astream(*args, **kwargs)
            else:
                stream = await runner.adecide_stream(*args, **kwargs)
            parts = [part async for part in stream]
            return parts, stream.result

        return hitl._loop.run(collect())  # type: ignore[no-any-return]
    stream = getattr(hitl, call)(*args, **kwargs)
    return list(stream), stream.result


def thread_state(hitl: Any, thread: str) -> str | None:
    """The runner's mark on a thread: `in_flight` while a run drives it, else `idle`."""
    rows = hitl.store.backend.execute("SELECT state FROM hitl_threads WHERE thread_id = ?", (thread,))
    return rows[0]["state"] if rows else None


def test_callbacks_see_tags_and_metadata_on_start_decide_and_expire(store_url: str) -> None:
    """A real langchain callback handler sees each runner call's own tags and metadata, with the thread."""
    clock = FakeClock()
    with Approvals.open(build(timeout_s=60), store_url, clock=clock) as hitl:
        seen = RootRuns()
        run = hitl.start(
            "t",
            action("delete_record", id=7),
            config={"callbacks": [seen], "tags": ["ticket-42"], "metadata": {"tenant": "acme"}},
        )
        hitl.decide(
            run.pending[0].request_id,
            {"type": "approve"},
            approver="alice",
            config={"callbacks": [seen], "tags": ["decided"], "metadata": {"by": "alice"}},
        )
        late = hitl.start("late", action("delete_record", id=8))
        clock.advance(61)
        assert hitl.expire_overdue(config={"callbacks": [seen], "tags": ["expiry"]}) == [
            late.pending[0].request_id
        ]
    assert [tags for tags, _ in seen.roots] == [["ticket-42"], ["decided"], ["expiry"]]
    start_meta, decide_meta, expire_meta = (meta for _, meta in seen.roots)
    assert start_meta["tenant"] == "acme" and start_meta["thread_id"] == "t"
    assert decide_meta["by"] == "alice" and decide_meta["thread_id"] == "t" and "tenant" not in decide_meta
    assert expire_meta["thread_id"] == "late"


def test_refresh_and_recover_run_with_the_callers_config(store_url: str) -> None:
    """refresh() and recover() hand their config to the runs they drive, like start() and decide()."""
    with Approvals.open(build(), store_url) as hitl:
        seen = RootRuns()
        hitl.start("t", action("delete_record", id=7))
        hitl.graph.update_state({"configurable": {"thread_id": "t"}}, {"hitl_context": {"note": "changed"}})
        assert len(hitl.refresh("t", config={"callbacks": [seen], "tags": ["refresh"]})) == 1
        with pytest.raises(GraphRecursionError):
            hitl.start("crashed", action("delete_record", id=8), config={"recursion_limit": 2})
        hitl.store.inbox.mark_thread("crashed", "in_flight")  # as a process that died mid-run leaves it
        report = hitl.recover(config={"callbacks": [seen], "tags": ["recovery"]})
        assert report.continued == ["crashed"] and report.reindexed == ["crashed"]
        assert sorted(p.thread_id for p in hitl.pending().items) == ["crashed", "t"]
    assert [tags for tags, _ in seen.roots] == [["refresh"], ["recovery"]]
    assert [meta["thread_id"] for _, meta in seen.roots] == ["t", "crashed"]


def test_recursion_limit_is_honoured_and_thread_left_idle(store_url: str) -> None:
    """A small recursion_limit stops the run with GraphRecursionError; the thread is idle, nothing is
    asked, and it continues (to its question) with start(thread, None)."""
    with Approvals.open(build(), store_url) as hitl:
        with pytest.raises(GraphRecursionError):
            hitl.start("t", action("delete_record", id=7), config={"recursion_limit": 2})
        assert thread_state(hitl, "t") == "idle"
        assert hitl.pending().items == [] and hitl.recover().continued == []
        assert hitl.graph.get_state({"configurable": {"thread_id": "t"}}).next == ("review",)
        run = hitl.start("t", None, config={"recursion_limit": 5})
        assert run.status == "paused" and [p.status for p in run.pending] == ["pending"]
        assert thread_state(hitl, "t") == "idle"


@dataclass
class Tenant:
    """The runtime context of the test graph."""

    name: str


def tenant_graph() -> StateGraph[Any, Any, Any, Any]:
    """plan -> approval flow -> report, where plan and report read the runtime context and the run's config."""

    def plan(state: State, runtime: Runtime[Tenant]) -> dict[str, Any]:
        from langgraph.config import get_config

        region = get_config()["configurable"].get("region")
        return {"task": f"planned for {runtime.context.name} in {region}"}

    def report(state: State, runtime: Runtime[Tenant]) -> dict[str, Any]:
        return {"task": f"{state['task']}, reported for {runtime.context.name}"}

    builder = StateGraph(State, context_schema=Tenant)
    builder.add_node("plan", plan)
    builder.add_node("report", report)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target="report", policy=policy(), handlers=HANDLERS)
    builder.add_edge("report", END)
    return builder


def test_runtime_context_and_configurable_keys_reach_the_nodes(store_url: str) -> None:
    """`context=` reaches nodes as LangGraph's runtime context on start and on decide, and the caller's
    own `configurable` keys reach them next to the runner's (a thread_id equal to the call's is fine)."""
    with Approvals.open(tenant_graph(), store_url) as hitl:
        run = hitl.start(
            "t",
            action("delete_record", id=7),
            context=Tenant("acme"),
            config={"configurable": {"region": "eu", "thread_id": "t"}},
        )
        assert run.status == "paused" and run.values["task"] == "planned for acme in eu"
        done = hitl.decide(
            run.pending[0].request_id, {"type": "approve"}, approver="alice", context=Tenant("globex")
        )
        assert done.status == "done" and done.values["status"] == "executed"
        assert done.values["task"] == "planned for acme in eu, reported for globex"


def test_stream_yields_updates_then_indexes_like_start_and_decide(store_url: str) -> None:
    """stream() yields LangGraph's updates as the run goes; when it ends the question is in the inbox;
    decide_stream() streams the resumed run, and the audit story is start/decide's."""
    with Approvals.open(build(), store_url) as hitl:
        parts, result = streamed(hitl, "stream", "t", action("delete_record", id=7), stream_mode="updates")
        assert [next(iter(p)) for p in parts] == ["plan", "classify_and_gate", "__interrupt__"]
        assert result is not None and result.status == "paused"
        [request] = result.pending
        assert [r.request_id for r in hitl.pending().items] == [request.request_id]
        assert hitl.get(request.request_id).status == "pending" and thread_state(hitl, "t") == "idle"
        interrupt = parts[-1]["__interrupt__"][0]
        assert interrupt.value["hitl"]["request_id"] == request.request_id

        parts, result = streamed(
            hitl,
            "decide_stream",
            request.request_id,
            {"type": "approve"},
            approver="alice",
            stream_mode="updates",
        )
        assert [next(iter(p)) for p in parts] == ["review", "execute", "audit"]
        assert result is not None and result.status == "done" and result.values["status"] == "executed"
        assert hitl.get(request.request_id).status == "resumed"
        story = [(e["event"], e["actor"]) for e in hitl.history("t")]
        assert story == [("proposed", "agent"), ("approved", "alice"), ("executed", "executor")]


def first_part(hitl: Any, call: str, *args: Any, **kwargs: Any) -> Any:
    """Read one part of `stream` / `decide_stream` and close it (`async with` on the async runner)."""
    if isinstance(hitl, BlockingAsyncApprovals):
        runner = hitl._runner

        async def read() -> Any:
            if call == "stream":
                stream = runner.astream(*args, **kwargs)
            else:
                stream = await runner.adecide_stream(*args, **kwargs)
            async with stream:
                async for part in stream:
                    return part
            return None

        return hitl._loop.run(read())
    with getattr(hitl, call)(*args, **kwargs) as stream:
        return next(stream)


def test_streams_stopped_early_leave_the_thread_idle_and_continuable(store_url: str) -> None:
    """Closing a stream after its first part stops the run there, not left in flight: start(thread,
    None) takes a started run on to its question, and a decided one on to its execution."""
    with Approvals.open(build(), store_url) as hitl:
        part = first_part(hitl, "stream", "t", action("delete_record", id=7), stream_mode="updates")
        assert list(part) == ["plan"]
        assert thread_state(hitl, "t") == "idle" and hitl.pending().items == []
        run = hitl.start("t", None)
        assert run.status == "paused" and len(run.pending) == 1
        rid = run.pending[0].request_id

        part = first_part(
            hitl, "decide_stream", rid, {"type": "approve"}, approver="alice", stream_mode="updates"
        )
        assert list(part) == ["review"]  # the graph took the decision, then the stream was closed
        assert thread_state(hitl, "t") == "idle" and hitl.get(rid).status == "resumed"
        assert hitl.graph.get_state({"configurable": {"thread_id": "t"}}).next == ("execute",)
        run = hitl.start("t", None)
        assert run.status == "done" and run.values["status"] == "executed"
        assert [e["event"] for e in hitl.history("t")] == ["proposed", "approved", "executed"]


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        (
            {"configurable": {"thread_id": "other"}},
            ValueError,
            "thread_id='other', but this call runs thread 't'.*Drop it from the config",
        ),
        (
            {"configurable": {"hitl_decider": "alice"}},
            ValueError,
            "'hitl_decider', which the runner does not take",
        ),
        ({"configurable": {"checkpoint_id": "1f0"}}, ValueError, "'checkpoint_id'.*latest checkpoint"),
        (
            {"recursion-limit": 5},
            ValueError,
            "'recursion-limit', not RunnableConfig keys. Allowed: callbacks",
        ),
        ("tags", TypeError, "pass a RunnableConfig dict"),
        ({"configurable": ["thread_id"]}, TypeError, "configurable=\\['thread_id'\\] must be a dict"),
    ],
)
def test_bad_config_is_refused_before_anything_runs(
    store_url: str, config: Any, error: type[Exception], match: str
) -> None:
    """A config naming another thread, a key only the runner sets, or no RunnableConfig at all is
    refused with the fix, before the thread is touched."""
    with Approvals.open(build(), store_url) as hitl:
        with pytest.raises(error, match=match):
            hitl.start("t", action("delete_record", id=7), config=config)
        assert hitl.graph.get_state({"configurable": {"thread_id": "t"}}).values == {}
        assert thread_state(hitl, "t") is None


def test_decide_with_another_threads_config_is_refused_and_request_stays_pending(store_url: str) -> None:
    """decide() refuses a config for another thread before claiming; the request can still be decided."""
    with Approvals.open(build(), store_url) as hitl:
        request = hitl.start("t", action("delete_record", id=7)).pending[0]
        with pytest.raises(ValueError, match="thread_id='u', but this call runs thread 't'"):
            hitl.decide(
                request.request_id,
                {"type": "approve"},
                approver="alice",
                config={"configurable": {"thread_id": "u"}},
            )
        assert hitl.get(request.request_id).status == "pending"
        with pytest.raises(ValueError, match="recover\\(\\) runs many threads"):
            hitl.recover(config={"configurable": {"thread_id": "t"}})
        with pytest.raises(ValueError, match="stream_mode='value'. Allowed: one of values, updates"):
            streamed(
                hitl,
                "decide_stream",
                request.request_id,
                {"type": "approve"},
                approver="alice",
                stream_mode="value",
            )
        assert hitl.get(request.request_id).status == "pending"
        assert (
            hitl.decide(request.request_id, {"type": "approve"}, approver="alice").values["status"]
            == "executed"
        )


def test_open_refuses_graph_compiled_with_another_checkpointer(store_url: str) -> None:
    """A graph compiled with its own checkpointer is refused with the fix instead of silently
    recompiled; one compiled without a checkpointer runs on the runner's."""
    with pytest.raises(
        CheckpointerError, match="own checkpointer \\(InMemorySaver\\).*Pass the StateGraph builder"
    ):
        with Approvals.open(build().compile(checkpointer=InMemorySaver()), store_url):
            pass
    with Approvals.open(build().compile(), store_url) as hitl:
        run = hitl.start("t", action("delete_record", id=7))
        assert run.status == "paused" and hitl.get(run.pending[0].request_id).status == "pending"


def test_resume_command_is_still_refused_as_input(store_url: str) -> None:
    """stream() keeps start()'s checks: a Command is not input (answer with decide_stream)."""
    with Approvals.open(build(), store_url) as hitl:
        with pytest.raises(ThreadStateError, match="decide\\(request_id"):
            streamed(hitl, "stream", "t", Command(resume={"type": "approve"}))
