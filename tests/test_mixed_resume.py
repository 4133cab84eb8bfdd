"""A thread the runner paused, answered with plain LangGraph (`Command(resume=...)` with the
decider in the run's config) instead of, or at the same time as, the runner.

The inbox and the audit log must say who really decided, whatever the order: a stage answered
elsewhere is never counted as cancelled, a live question is never marked decided by an event
planted in state, and a runner decision that lost the race to another answer says so (and
leaves a row saying it did not take effect) instead of being recorded as the decision the
graph acted on. Found by attacking resume-by-thread; each test fails on the version before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.types import Command

from langgraph_hitl import Approvals, AuthorizationError, ConflictError
from langgraph_hitl.approvals.core import _Core
from langgraph_hitl.testing import FakeClock, authenticated

from graphs import action, build

PROD = action("delete_record", id=1, env="prod")  # critical: two reviewers (four-eyes)


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def plain(hitl: Approvals, thread: str, answer: dict[str, Any], who: str) -> dict[str, Any]:
    """Answer `thread`'s question with plain LangGraph, as another service would."""
    graph = build(store=hitl.store).compile(checkpointer=hitl.graph.checkpointer)
    return graph.invoke(Command(resume=answer), authenticated(cfg(thread), who))  # type: ignore[no-any-return]


def story(hitl: Approvals, thread: str) -> list[tuple[str, str]]:
    return [(e["event"], e["actor"]) for e in hitl.history(thread)]


@pytest.fixture
def hitl(db_url: str) -> Iterator[Approvals]:
    with Approvals.open(build(), db_url) as runner:
        yield runner


def test_a_stage_answered_elsewhere_is_recorded_not_cancelled_when_the_runner_comes_next(
    hitl: Approvals,
) -> None:
    """Alice approves stage 1 with plain LangGraph; bob then asks the runner to resume the thread
    before any refresh(). The runner says stage 1 was decided by alice (not "stale, cancelled"),
    and after refresh() bob decides stage 2."""
    first = hitl.start("prod", PROD).pending[0]
    plain(hitl, "prod", {"type": "approve"}, "alice")
    with pytest.raises(ConflictError, match="already decided by 'alice'"):
        hitl.resume("prod", {"type": "approve"}, approver="bob")
    row = hitl.get(first.request_id)
    assert (row.status, row.decided_by) == ("resumed", "alice")
    [second] = hitl.refresh("prod")
    assert second.stage == 2 and hitl.get(first.request_id).decided_by == "alice"
    run = hitl.resume("prod", {"type": "approve"}, approver="bob")
    assert run.values["status"] == "executed"
    assert ("approved", "alice") in story(hitl, "prod") and ("approved", "bob") in story(hitl, "prod")


def test_a_timeout_sweep_after_a_plain_answer_records_the_answer(db_url: str) -> None:
    """`expire_overdue()` meeting a request answered elsewhere records who answered it."""
    clock = FakeClock()
    with Approvals.open(build(timeout_s=60), db_url, clock=clock) as hitl:
        first = hitl.start("prod", PROD).pending[0]
        plain(hitl, "prod", {"type": "approve"}, "alice")
        clock.advance(3600)
        hitl.expire_overdue()
        row = hitl.get(first.request_id)
        assert (row.status, row.decided_by) == ("resumed", "alice")


def test_refresh_never_marks_a_question_the_thread_still_asks_as_decided(hitl: Approvals) -> None:
    """Rewind the thread to stage 1 and plant alice's real, sealed approval in its state: the
    question asked again is still open (bob can decide it), not "decided by alice"."""
    first = hitl.start("prod", PROD).pending[0]
    graph = build(store=hitl.store).compile(checkpointer=hitl.graph.checkpointer)
    at_stage_one = graph.get_state(cfg("prod")).config
    plain(hitl, "prod", {"type": "approve"}, "alice")
    sealed = [e for e in graph.get_state(cfg("prod")).values["audit_trail"] if e["event"] == "approved"]
    graph.update_state(at_stage_one, {"audit_trail": sealed}, as_node="classify_and_gate")
    asked = hitl.refresh("prod")
    assert first.request_id in [p.request_id for p in asked]
    row = hitl.get(first.request_id)
    assert (row.status, row.decided_by) == ("pending", None)
    assert hitl.resume("prod", {"type": "approve"}, approver="bob").status == "paused"  # on to stage 2


def _answer_elsewhere_after_claim(
    monkeypatch: pytest.MonkeyPatch, hitl: Approvals, thread: str, answer: dict[str, Any], who: str
) -> None:
    """Make another service answer `thread` right after the runner's claim, before its resume
    reaches the graph (a window of a few milliseconds in a real deployment)."""
    claim = _Core._claim

    def claim_then_lose_the_race(self: Any, *args: Any, **kwargs: Any) -> Any:
        claimed = claim(self, *args, **kwargs)
        plain(hitl, thread, answer, who)
        return claimed

    monkeypatch.setattr(_Core, "_claim", claim_then_lose_the_race)


def test_a_runner_rejection_that_lost_the_race_says_so(
    monkeypatch: pytest.MonkeyPatch, hitl: Approvals
) -> None:
    """Bob rejects through the runner; alice's plain approval reaches the graph first and the
    delete runs. Bob gets ConflictError naming alice; the inbox says alice approved, and the log
    keeps a row saying bob's rejection did not take effect."""
    rid = hitl.start("race", action("delete_record", id=4821)).pending[0].request_id
    _answer_elsewhere_after_claim(monkeypatch, hitl, "race", {"type": "approve"}, "alice")
    with pytest.raises(ConflictError, match="alice"):
        hitl.resume("race", {"type": "reject", "message": "do not delete"}, approver="bob")
    row = hitl.get(rid)
    assert (row.status, row.decided_by, (row.decision or {}).get("type")) == ("resumed", "alice", "approve")
    events = hitl.history("race")
    assert ("approved", "alice") in story(hitl, "race") and ("executed", "executor") in story(hitl, "race")
    lost = [e for e in events if e["actor"] == "bob" and e["event"] == "refused"]
    assert lost and "did not take effect" in lost[-1]["detail"]["error"]


def test_four_eyes_record_is_who_really_approved_each_stage(
    monkeypatch: pytest.MonkeyPatch, hitl: Approvals
) -> None:
    """Alice answers stage 1 elsewhere just after bob's runner claim: the graph took alice's
    answer, so the record says alice for stage 1 (with her own audit row, which 0.2's first
    version dropped as a duplicate of bob's), and bob's claim is reported as not delivered."""
    first = hitl.start("fe", PROD).pending[0]
    _answer_elsewhere_after_claim(monkeypatch, hitl, "fe", {"type": "approve"}, "alice")
    with pytest.raises(ConflictError, match="alice"):
        hitl.resume("fe", {"type": "approve"}, approver="bob")
    monkeypatch.undo()
    assert hitl.get(first.request_id).decided_by == "alice"
    events = hitl.history("fe")
    assert ("approved", "alice") in story(hitl, "fe"), story(
        hitl, "fe"
    )  # her row is kept, not merged into bob's
    lost = [e for e in events if e["actor"] == "bob" and e["event"] == "refused"]
    assert lost and "did not take effect" in lost[-1]["detail"]["error"]
    [second] = hitl.refresh("fe")
    assert hitl.resume("fe", {"type": "approve"}, approver="bob").values["status"] == "executed"
    assert second.stage == 2


def test_a_forged_escalation_record_does_not_hand_the_question_to_another_tier(db_url: str) -> None:
    """An unsealed `decisions` record with effect `escalated`, written with `update_state`, does
    not make the review ask the escalation tier: only the node's sealed `escalated` events count."""
    with Approvals.open(build(approvers=["alice", "bob"], escalation=[["manager"]]), db_url) as hitl:
        asked = hitl.start("esc", action("delete_record", id=18)).pending[0]
        assert asked.payload["hitl"]["approvers"] == ["alice", "bob"]
        forged = {
            "request_id": asked.request_id, "action_id": asked.payload["hitl"]["action_id"], "node": "review",
            "stage": 1, "type": "timeout", "approver": "system:timeout", "message": None, "edited_action": None,
            "effect": "escalated", "decided_at": "2026-01-01T00:00:00+00:00",
        }  # fmt: skip
        hitl.graph.update_state(cfg("esc"), {"decisions": [forged]}, as_node="classify_and_gate")
        [again] = hitl.refresh("esc")
        assert again.payload["hitl"]["approvers"] == ["alice", "bob"]
        assert again.payload["hitl"]["escalation_level"] == 0
        with pytest.raises(AuthorizationError):
            hitl.resume("esc", {"type": "approve"}, approver="manager")
