"""The runner under poison data: values that are not JSON, huge integers, NUL and lone surrogates.

Each test pins a finding of the issue "The runner under poison data, slow handlers, races and
many keys": nothing is lost, nothing wedges, and bad input gets a `HITLError` naming the value.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
from typing import Any

import pydantic
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_hitl import (
    Approvals,
    AsyncApprovals,
    DecisionError,
    HITLState,
    Policy,
    ThreadStateError,
    add_approval_flow,
    open_checkpointer,
)
from langgraph_hitl.testing import authenticated

pytestmark = pytest.mark.usefixtures("flavour")  # every test on Approvals and on AsyncApprovals

RAN: list[dict[str, Any]] = []


class State(HITLState, total=False):
    boom: bool


def _plan(state: State) -> dict[str, Any]:
    if state.get("boom"):
        raise RuntimeError("the agent crashed")
    return {}


def flow() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("plan", _plan)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=Policy({"delete_record": "irreversible_high"}),
                      handlers={"delete_record": lambda args: RAN.append(args) or "ok"})  # fmt: skip
    return builder


def delete(**args: Any) -> dict[str, Any]:
    return {"action": {"name": "delete_record", "args": args}}


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_non_json_context_is_shown_as_text_not_lost(store_url: str, flavour: str) -> None:
    """A datetime or Decimal in hitl_context: the request is indexed (shown as text, and said so) and decides."""
    context = {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "amount": decimal.Decimal("9.99"), 7: "key"}

    async def run_async() -> Any:
        async with AsyncApprovals.open(flow(), store_url) as hitl:
            run = await hitl.start("ctx", {**delete(id=1), "hitl_context": context})
            shown = run.pending[0].payload["hitl"]["context"]
            done = await hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
            return shown, done

    if flavour == "async":
        shown, done = asyncio.run(run_async())
    else:
        with Approvals.open(flow(), store_url) as hitl:
            run = hitl.start("ctx", {**delete(id=1), "hitl_context": context})
            shown = run.pending[0].payload["hitl"]["context"]
            done = hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
    assert (shown["when"], shown["amount"], shown["7"]) == ("2026-01-02T03:04:05", "9.99", "key")
    assert "hitl_context.when: a datetime, shown as text" in shown["converted"]
    assert done.values["status"] == "executed" and RAN == [{"id": 1}]


@pytest.mark.parametrize(
    ("args", "why"),
    [({"id": 2**70}, r"input\['action'\]\['args'\]\['id'\] holds an integer outside 64 bits"),
     ({"id": 1, "note": "lone \udc00"}, r"\['note'\] holds text with a lone surrogate"),
     ({"id": 1, "lone \ud800 key": 1}, "key 'lone \\\\ud800 key' holds text with a lone surrogate")],
)  # fmt: skip
def test_input_a_checkpoint_cannot_hold_fails_cleanly(db_url: str, args: dict[str, Any], why: str) -> None:
    """An integer past 64 bits or a lone surrogate (found by the start fuzz: it escaped as a bare
    TypeError) in the input: ThreadStateError naming where, nothing run, thread not left in flight."""
    with Approvals.open(flow(), db_url) as hitl:
        with pytest.raises(ThreadStateError, match=why):
            hitl.start("wide", delete(**args))
        assert hitl.store.inbox.threads_in_flight(older_than=hitl.clock() + 1) == []
        assert hitl.start("wide", delete(id=str(2**70))).status == "paused"


def test_recover_isolates_a_thread_that_fails(db_url: str) -> None:
    """One thread whose recovery raises is reported; the other crashed threads are recovered all the same."""
    with Approvals.open(flow(), db_url) as hitl:
        with pytest.raises(RuntimeError, match="agent crashed"):
            hitl.start("bad", {**delete(id=1), "boom": True})
        ok = hitl.start("good", delete(id=2)).pending[0]
        for thread in ("bad", "good"):  # as a crashed process leaves them
            hitl.store.inbox.mark_thread(thread, "in_flight")
        hitl.graph.update_state({"configurable": {"thread_id": "bad"}}, {"boom": True})
        report = hitl.recover(older_than=0)
        assert "bad" in report.failed and "agent crashed" in report.failed["bad"]
        assert report.reindexed == ["good"]
        assert [p.request_id for p in hitl.pending().items] == [ok.request_id]


@pytest.mark.parametrize("text", ["no\x00way", "bad \ud800 text"])
def test_decision_text_a_store_cannot_hold_is_refused_before_the_claim(store_url: str, text: str) -> None:
    """NUL or a lone surrogate in a message: DecisionError naming the fix, the request stays pending."""
    with Approvals.open(flow(), store_url) as hitl:
        rid = hitl.start("nul", delete(id=1)).pending[0].request_id
        with pytest.raises(DecisionError, match="without NUL"):
            hitl.decide(rid, {"type": "reject", "message": text}, approver="alice")
        assert hitl.get(rid).status == "pending"
        assert (
            hitl.decide(rid, {"type": "reject", "message": "no"}, approver="alice").values["status"]
            == "rejected"
        )


def test_raw_answer_with_nul_is_refused_before_it_is_saved(store_url: str) -> None:
    """At the raw door the response schema refuses NUL before LangGraph saves the answer (Postgres included)."""
    with open_checkpointer(store_url) as saver:
        graph = flow().compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "raw-nul"}}
        graph.invoke(delete(id=1), config)
        with pytest.raises(pydantic.ValidationError, match="NUL"):
            graph.invoke(
                Command(resume={"type": "reject", "message": "a\x00b"}), authenticated(config, "alice")
            )
        out = graph.invoke(
            Command(resume={"type": "reject", "message": "ok"}), authenticated(config, "alice")
        )
    assert out["status"] == "rejected"


@pytest.mark.parametrize("thread_id", ["a\x00b", "tab\there", "x" * 501, "lone \ud800"])
def test_thread_ids_a_store_cannot_hold_are_refused(db_url: str, thread_id: str) -> None:
    """NUL, control characters, lone surrogates or 501 characters in a thread id: refused before anything runs."""
    with Approvals.open(flow(), db_url) as hitl:
        with pytest.raises(ThreadStateError, match="printable characters"):
            hitl.start(thread_id, delete(id=1))
        assert hitl.pending().items == []


def test_soft_gate_without_a_timeout_proceeds_after_the_default(db_url: str) -> None:
    """A soft gate nobody set a timeout for is approved by expire_overdue() after an hour, not left forever."""
    from langgraph_hitl.testing import FakeClock

    clock = FakeClock()
    builder = StateGraph(State)
    builder.add_node("plan", _plan)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=Policy({"send_email": "irreversible_low"}),
                      handlers={"send_email": lambda args: RAN.append(args) or "sent"})  # fmt: skip
    with Approvals.open(builder, db_url, clock=clock) as hitl:
        rid = (
            hitl.start("soft", {"action": {"name": "send_email", "args": {"to": "x"}}}).pending[0].request_id
        )
        clock.advance(3599)
        assert hitl.expire_overdue() == []
        clock.advance(2)
        assert hitl.expire_overdue() == [rid]
    assert RAN == [{"to": "x"}]


def test_static_breakpoint_under_the_runner_continues_with_start_none(db_url: str) -> None:
    """interrupt_before=['execute'] pauses with nothing to decide; start(thread, None) continues it."""
    graph = flow().compile(interrupt_before=["execute"])
    with Approvals.open(graph, db_url) as hitl:
        rid = hitl.start("bp", delete(id=4)).pending[0].request_id
        stopped = hitl.decide(rid, {"type": "approve"}, approver="alice")
        assert (stopped.status, stopped.pending, RAN) == ("paused", [], [])
        with pytest.raises(ThreadStateError, match="paused"):
            hitl.start("bp", delete(id=5))  # new input is still refused (G8)
        done = hitl.start("bp", None)
    assert done.status == "done" and done.values["status"] == "executed" and RAN == [{"id": 4}]


def test_two_starts_of_one_new_thread_run_once(db_url: str) -> None:
    """Two runners start the same new thread at once: one runs, the other gets ConflictError; one proposal."""
    import threading
    import time

    from langgraph_hitl import ConflictError

    def slow_plan(state: State) -> dict[str, Any]:
        time.sleep(0.4)  # long enough for the second start to arrive while the first runs
        return {}

    builder = StateGraph(State)
    builder.add_node("plan", slow_plan)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=Policy({"delete_record": "irreversible_high"}),
                      handlers={"delete_record": lambda args: RAN.append(args) or "ok"})  # fmt: skip
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def start(i: int) -> None:
        with Approvals.open(builder, db_url) as hitl:
            barrier.wait()
            time.sleep(0.1 * i)
            try:
                outcomes.append(hitl.start("same", delete(id=i)))
            except ConflictError as exc:
                outcomes.append(exc)

    workers = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert sorted(type(o).__name__ for o in outcomes) == ["ConflictError", "RunResult"]
    assert "being run right now" in str(next(o for o in outcomes if isinstance(o, ConflictError)))
    with Approvals.open(builder, db_url) as hitl:
        assert [e["event"] for e in hitl.history("same")] == ["proposed"]
        [waiting] = hitl.pending().items
        assert (
            hitl.decide(waiting.request_id, {"type": "approve"}, approver="alice").values["status"]
            == "executed"
        )


@pytest.mark.parametrize(
    ("args", "why"),
    [({"blob": "x" * 300_000}, "at most 256000 are accepted"), ({"note": "a\x00b"}, "NUL character"),
     ({"n": 2**70}, "could not be saved"), ({"s": "lone \ud800"}, "lone surrogate")],
)  # fmt: skip
def test_proposals_a_store_cannot_hold_are_denied_and_kept_out_of_state(
    store_url: str, args: dict[str, Any], why: str
) -> None:
    """Huge, NUL, 64-bit-overflowing or surrogate arguments: denied at the gate, not copied on in state."""

    def propose(state: State) -> dict[str, Any]:
        return {"action": {"name": "delete_record", "args": args}}

    builder = StateGraph(State)
    builder.add_node("plan", propose)
    builder.add_edge(START, "plan")
    add_approval_flow(builder, source="plan", target=END, policy=Policy({"delete_record": "irreversible_high"}),
                      handlers={"delete_record": lambda a: RAN.append(a) or "ok"})  # fmt: skip
    with Approvals.open(builder, store_url) as hitl:
        if why == "could not be saved":  # LangGraph cannot checkpoint the agent's own output: refused cleanly
            with pytest.raises(ThreadStateError, match=why):
                hitl.start("big", {})
            assert hitl.pending().items == [] and RAN == []
            return
        run = hitl.start("big", {})
        assert run.status == "done" and run.pending == [] and RAN == []
        assert run.values["status"] == "denied" and run.values["action"]["args"] == {}
        denied = [e for e in hitl.history("big") if e["event"] == "denied"]
        assert why in " ".join(denied[0]["detail"]["reasons"])


def test_gate_size_limit_is_configurable(db_url: str) -> None:
    """ClassifyAndGateNode(max_args_bytes=...) sets the limit; bad values fail when the node is built."""
    from langgraph_hitl import ClassifyAndGateNode, PolicyError

    gate = ClassifyAndGateNode(Policy({"delete_record": "irreversible_high"}), max_args_bytes=10)
    out = gate({"action": {"name": "delete_record", "args": {"id": "12345678901"}}}, {"configurable": {}})
    assert out["status"] == "denied" and "at most 10 are accepted" in out["assessment"]["reasons"][0]
    with pytest.raises(PolicyError, match="max_args_bytes=0"):
        ClassifyAndGateNode(Policy({}), max_args_bytes=0)


def test_runners_opening_a_fresh_database_together_all_succeed(tmp_path: Any) -> None:
    """Runners opening one new SQLite file at the same instant never fail as "database is locked".

    Switching a new file to WAL takes a lock that SQLite refuses at once, without waiting, while
    another connection does the same; 0.1 failed about one such start in fifteen (4 runners).
    """
    import threading

    from graphs import build

    errors: list[str] = []
    for trial in range(10):
        url = f"sqlite:///{tmp_path / f'fresh-{trial}.db'}"
        barrier = threading.Barrier(6)

        def open_runner(url: str = url, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                with Approvals.open(build(), url) as hitl:
                    hitl.pending()
            except Exception as exc:
                errors.append(repr(exc)[:200])

        threads = [threading.Thread(target=open_runner) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
