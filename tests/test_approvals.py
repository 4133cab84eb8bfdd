"""The runner: validated decisions with identity, one winner, timeouts that fail closed, resume guards."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from langgraph_hitl import (
    Approvals,
    AsyncApprovals,
    AuthorizationError,
    ConflictError,
    DecisionError,
    NotPendingError,
    ThreadStateError,
)
from langgraph_hitl.testing import FakeClock, ScriptedReviewer

from graphs import action, build

pytestmark = pytest.mark.usefixtures("flavour")  # every test on Approvals and on AsyncApprovals


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hitl(store_url: str, clock: FakeClock, flavour: str):
    with Approvals.open(build(verify=False), store_url, clock=clock) as runner:
        yield runner


def paused(hitl: Approvals, thread: str, name: str = "delete_record", **args: Any):
    run = hitl.start(thread, action(name, **args))
    assert run.status == "paused", run
    return run.pending[0]


def events(hitl: Approvals, thread: str) -> list[tuple[str, str]]:
    return [(e["event"], e["actor"]) for e in hitl.history(thread)]


def test_start_low_risk_finishes_without_inbox_row(hitl: Approvals) -> None:
    """An auto-approved action runs through; nothing waits in the inbox."""
    run = hitl.start("t", action("read_record", id=1))
    assert run.status == "done" and run.values["status"] == "executed" and run.pending == []
    assert hitl.pending().items == []
    assert events(hitl, "t") == [("proposed", "agent"), ("auto_approved", "auto"), ("executed", "executor")]


def test_decide_approve_runs_and_audits_who(hitl: Approvals) -> None:
    """The common shape: pause, see the request, decide, final state and audit rows."""
    req = paused(hitl, "t", id=7)
    seen = hitl.get(req.request_id)
    assert seen.status == "pending" and seen.action == {
        "name": "delete_record",
        "args": {"id": 7},
        "description": "delete_record(id=7)",
    }
    assert seen.payload["hitl"]["reasons"] and seen.risk == "high"
    run = hitl.decide(req.request_id, {"type": "approve"}, approver="alice")
    assert run.status == "done" and run.values["status"] == "executed"
    assert hitl.get(req.request_id).status == "resumed"
    assert hitl.get(req.request_id).decided_by == "alice"
    assert events(hitl, "t") == [("proposed", "agent"), ("approved", "alice"), ("executed", "executor")]
    assert hitl.store.audit.verify().ok


def test_decide_accepts_id_prefix(hitl: Approvals) -> None:
    """People may type a unique prefix of the request id."""
    req = paused(hitl, "t", id=7)
    assert hitl.decide(req.request_id[:8], {"type": "reject"}, approver="al").values["status"] == "rejected"


@pytest.mark.parametrize(
    ("decision", "approver", "error", "match"),
    [
        ({"type": "aprove"}, "alice", DecisionError, "'aprove' is unknown"),
        (
            {"type": "revise", "message": "x"},
            "alice",
            DecisionError,
            "'revise' is not allowed.*Allowed: approve",
        ),
        ({"type": "approve", "colour": 1}, "alice", DecisionError, "unknown field"),
        (
            {"type": "edit", "edited_action": {"name": "delete_record", "args": [1]}},
            "alice",
            DecisionError,
            "must be a JSON object",
        ),
        ({"type": "respond"}, "alice", DecisionError, "needs a message"),
        ({"type": "approve"}, "agent", AuthorizationError, "requested this action"),
        (
            {"type": "approve", "approver": "bob"},
            "alice",
            AuthorizationError,
            "identity comes from the submitter",
        ),
        ({"type": "timeout"}, "alice", AuthorizationError, "only by the runner"),
        ("approve", "alice", DecisionError, "must be a JSON object"),
        ({"type": "approve"}, "", DecisionError, "say who decides"),
    ],
)
def test_decide_invalid_leaves_request_pending(
    hitl: Approvals, decision: Any, approver: str, error: type[Exception], match: str
) -> None:
    """G1: each invalid decision raises its own error, is audited, and the request still resumes."""
    req = paused(hitl, "t", id=7)
    with pytest.raises(error, match=match):
        hitl.decide(req.request_id, decision, approver=approver)
    assert hitl.get(req.request_id).status == "pending"
    if approver:
        assert ("refused", approver) in events(hitl, "t")
    assert hitl.decide(req.request_id, {"type": "approve"}, approver="alice").values["status"] == "executed"


def test_decide_approver_not_listed_refused(store_url: str) -> None:
    """Only listed approvers may decide; the message names who may."""
    with Approvals.open(build(approvers=["alice", "bob"]), store_url) as hitl:
        req = paused(hitl, "t", id=7)
        with pytest.raises(AuthorizationError, match="'mallory' may not decide.*Approvers: alice, bob"):
            hitl.decide(req.request_id, {"type": "approve"}, approver="mallory")
        assert hitl.get(req.request_id).status == "pending"


def test_decide_wrong_verify_phrase_refused(store_url: str) -> None:
    """A verify gate refuses a wrong phrase and keeps the request pending."""
    with Approvals.open(build(verify=True), store_url) as hitl:
        req = paused(hitl, "t", id=4821)
        with pytest.raises(DecisionError, match="Type exactly 'DELETE 4821'"):
            hitl.decide(req.request_id, {"type": "approve", "verify": "DELETE 482"}, approver="alice")
        with pytest.raises(DecisionError, match="phrase missing"):
            hitl.decide(req.request_id, {"type": "approve"}, approver="alice")
        run = hitl.decide(req.request_id, {"type": "approve", "verify": "DELETE 4821"}, approver="alice")
        assert run.values["status"] == "executed"


def test_four_eyes_second_reviewer_must_differ(hitl: Approvals) -> None:
    """A critical action: the first approver may not also give the second approval."""
    req = paused(hitl, "t", id=7, env="prod")
    run = hitl.decide(req.request_id, {"type": "approve"}, approver="alice")
    second = run.pending[0]
    assert second.node == "second_review" and second.stage == 2
    with pytest.raises(AuthorizationError, match="four-eyes"):
        hitl.decide(second.request_id, {"type": "approve"}, approver="alice")
    assert hitl.pending(approver="alice").items == []  # not offered to alice
    assert [r.request_id for r in hitl.pending(approver="bob").items] == [second.request_id]
    assert hitl.decide(second.request_id, {"type": "approve"}, approver="bob").values["status"] == "executed"


def test_decide_twice_second_gets_conflict(hitl: Approvals) -> None:
    """G2: once decided, another decision on the same request is a conflict naming the winner."""
    req = paused(hitl, "t", id=7)
    hitl.decide(req.request_id, {"type": "reject"}, approver="alice")
    with pytest.raises(ConflictError, match="already decided by 'alice'"):
        hitl.decide(req.request_id, {"type": "approve"}, approver="bob")


def test_decide_unknown_request(hitl: Approvals) -> None:
    """An unknown id is NotPendingError with a hint."""
    with pytest.raises(NotPendingError, match="pending\\(\\)"):
        hitl.decide("f" * 32, {"type": "approve"}, approver="alice")


def test_start_refuses_paused_thread_unless_abandoned(hitl: Approvals) -> None:
    """G8: new input to a paused thread is refused; abandon=True cancels its requests."""
    req = paused(hitl, "t", id=7)
    with pytest.raises(ThreadStateError, match="abandon=True"):
        hitl.start("t", action("read_record", id=1))
    run = hitl.start("t", action("read_record", id=1), abandon=True)
    assert run.status == "done"
    assert hitl.get(req.request_id).status == "cancelled"
    with pytest.raises(NotPendingError, match="cancelled"):
        hitl.decide(req.request_id, {"type": "approve"}, approver="alice")


def test_decide_stale_request_after_update_state(hitl: Approvals) -> None:
    """G8: after someone changes the thread's state, the old request id is refused and cancelled."""
    req = paused(hitl, "t", id=7)
    config = {"configurable": {"thread_id": "t"}}
    hitl.graph.update_state(config, {"hitl_context": {"note": "changed"}})
    with pytest.raises(NotPendingError, match="stale"):
        hitl.decide(req.request_id, {"type": "approve"}, approver="alice")
    assert hitl.get(req.request_id).status == "cancelled"
    fresh = hitl.refresh("t")
    assert fresh and fresh[0].status == "pending"


def test_expire_rejects_by_default_and_graph_sees_timeout(
    hitl: Approvals, store_url: str, clock: FakeClock
) -> None:
    """G6: an overdue hard gate is rejected by system:timeout, distinct from a human rejection."""
    with Approvals.open(build(timeout_s=60), store_url, clock=clock) as runner:
        req = paused(runner, "t1", id=7)
        assert req.deadline == pytest.approx(clock() + 60)
        assert runner.expire_overdue() == []
        clock.advance(61)
        assert runner.expire_overdue() == [req.request_id]
        state = runner.graph.get_state({"configurable": {"thread_id": "t1"}}).values
        assert state["status"] == "timed_out" and state["result"] is None
        assert state["decisions"][-1]["approver"] == "system:timeout"
        assert runner.get(req.request_id).status == "expired"
        assert ("timed_out", "system:timeout") in events(runner, "t1")
        with pytest.raises(NotPendingError, match="is expired"):
            runner.decide(req.request_id, {"type": "approve"}, approver="alice")


def test_expire_soft_gate_approves(store_url: str, clock: FakeClock) -> None:
    """A soft gate (one transactional email) proceeds when nobody objects in time."""
    with Approvals.open(build(timeout_s=60), store_url, clock=clock) as runner:
        req = paused(runner, "t", "send_email", to=["a@x"])
        clock.advance(120)
        runner.expire_overdue()
        assert runner.graph.get_state({"configurable": {"thread_id": "t"}}).values["status"] == "executed"
        assert runner.get(req.request_id).status == "expired"


def test_expire_escalates_then_fails_closed(store_url: str, clock: FakeClock) -> None:
    """on_timeout=escalate asks the next tier with a new deadline; past the last tier it rejects."""
    with Approvals.open(
        build(timeout_s=60, on_timeout="escalate", escalation=[["manager"]], approvers=["alice"]),
        store_url,
        clock=clock,
    ) as runner:
        first = paused(runner, "t", id=7)
        assert first.approvers == ["alice"]
        clock.advance(61)
        runner.expire_overdue()
        second = runner.pending().items[0]
        assert second.approvers == ["manager"] and second.payload["hitl"]["escalation_level"] == 1
        assert second.deadline == pytest.approx(clock() + 60)
        assert second.payload["hitl"]["on_timeout"] == "reject"
        assert ("escalated", "system:timeout") in events(runner, "t")
        clock.advance(61)
        runner.expire_overdue()
        assert runner.graph.get_state({"configurable": {"thread_id": "t"}}).values["status"] == "timed_out"


def test_pending_pages_newest_first_with_cursor(hitl: Approvals) -> None:
    """pending() pages newest-first without gaps or repeats, among finished threads."""
    ids = []
    for i in range(23):
        hitl.start(f"done-{i}", action("read_record", id=i))
        ids.append(paused(hitl, f"p-{i}", id=i).request_id)
    seen: list[str] = []
    cursor = None
    while True:
        page = hitl.pending(limit=5, cursor=cursor)
        seen += [r.request_id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(ids))


def test_pending_filters_by_risk(hitl: Approvals) -> None:
    """risk= keeps one level only; a bad level is a clear error."""
    paused(hitl, "a", id=1)
    crit = paused(hitl, "b", id=2, env="prod")
    assert [r.request_id for r in hitl.pending(risk="critical").items] == [crit.request_id]
    with pytest.raises(ValueError, match="risk='severe'"):
        hitl.pending(risk="severe")


def test_scripted_reviewer_decides_by_rule(hitl: Approvals) -> None:
    """ScriptedReviewer approves reads, rejects prod deletes, leaves the rest."""
    paused(hitl, "a", id=1)
    paused(hitl, "b", id=2, env="prod")
    reviewer = ScriptedReviewer(
        [(lambda r: r.action["args"].get("env") == "prod", {"type": "reject"})], approver="carol"
    )
    decided = reviewer.run(hitl)
    assert len(decided) == 1 and len(hitl.pending().items) == 1


def test_async_expire_and_recover(store_url: str, clock: FakeClock) -> None:
    """AsyncApprovals expires an overdue request with system:timeout and recovers nothing extra."""

    async def run() -> None:
        async with AsyncApprovals.open(build(timeout_s=60), store_url, clock=clock) as hitl:
            rid = (await hitl.start("t", action("delete_record", id=1))).pending[0].request_id
            clock.advance(61)
            assert await hitl.expire_overdue() == [rid]
            state = await hitl.graph.aget_state({"configurable": {"thread_id": "t"}})
            assert state.values["status"] == "timed_out"
            assert (await hitl.get(rid)).status == "expired"
            report = await hitl.recover(older_than=0)
            assert report.redriven == [] and report.already_resumed == []

    asyncio.run(run())


def test_async_reads_are_awaited_like_the_writes(store_url: str) -> None:
    """AsyncApprovals.pending / get / history / stats are awaitables with Approvals' names and results."""

    async def run() -> None:
        async with AsyncApprovals.open(build(), store_url) as hitl:
            rid = (await hitl.start("r", action("delete_record", id=1))).pending[0].request_id
            page = await hitl.pending(approver="ALICE")
            assert (
                [p.request_id for p in page.items]
                == [rid]
                == [p.request_id for p in (await hitl.apending()).items]
            )
            assert (await hitl.get(rid[:8])).request_id == rid
            await hitl.decide(rid, {"type": "approve"}, approver="alice")
            assert [e["event"] for e in await hitl.history("r")][-2:] == ["approved", "executed"]
            assert "alice" in (await hitl.stats())["approvers"]

    asyncio.run(run())


def test_async_concurrent_decisions_one_wins(store_url: str) -> None:
    """AsyncApprovals: two concurrent decisions on one request, exactly one succeeds."""

    async def run() -> None:
        async with AsyncApprovals.open(build(), store_url) as hitl:
            started = await hitl.start("t", action("delete_record", id=1))
            rid = started.pending[0].request_id
            results = await asyncio.gather(
                hitl.decide(rid, {"type": "approve"}, approver="alice"),
                hitl.decide(rid, {"type": "reject"}, approver="bob"),
                return_exceptions=True,
            )
            wins = [r for r in results if not isinstance(r, Exception)]
            losses = [r for r in results if isinstance(r, Exception)]
            assert len(wins) == 1 and len(losses) == 1 and isinstance(losses[0], ConflictError)
            assert (await hitl.apending()).items == []

    asyncio.run(run())
