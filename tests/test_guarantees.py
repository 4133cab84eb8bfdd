"""Guarantees that span the nodes, the runner and the log, checked by walking the audit log."""

from __future__ import annotations

from typing import Any

from langgraph_hitl import Approvals, HITLError
from langgraph_hitl.testing import FakeClock

from graphs import action, build

APPROVING_EVENTS = {"auto_approved", "notified"}
APPROVING_DECISIONS = {"approved", "edited"}


def drive_mixed_workload(hitl: Approvals, clock: FakeClock) -> None:
    """Auto-approved, approved, edited, rejected, refused, four-eyes, soft and hard timeouts."""
    hitl.start("read", action("read_record", id=1))
    hitl.start("update", action("update_record", id=1))
    for i in range(4):
        hitl.start(f"del-{i}", action("delete_record", id=i))
    hitl.start("prod", action("delete_record", id=9, env="prod"))
    hitl.start("mail-soft", action("send_email", to=["a@x"]))
    hitl.start("del-late", action("delete_record", id=99))
    reqs = {r.thread_id: r for r in hitl.pending().items}
    for decision, who in [({"type": "approve"}, "agent"), ({"type": "aprove"}, "alice")]:
        try:
            hitl.decide(reqs["del-0"].request_id, decision, approver=who)
        except HITLError:
            pass
    hitl.decide(reqs["del-0"].request_id, {"type": "approve"}, approver="alice")
    hitl.decide(
        reqs["del-1"].request_id,
        {"type": "edit", "edited_action": {"name": "delete_record", "args": {"id": 11}}},
        approver="bob",
    )
    hitl.decide(reqs["del-2"].request_id, {"type": "reject", "message": "no"}, approver="carol")
    hitl.decide(reqs["del-3"].request_id, {"type": "respond", "message": "archive"}, approver="carol")
    second = hitl.decide(reqs["prod"].request_id, {"type": "approve"}, approver="alice").pending[0]
    hitl.decide(second.request_id, {"type": "approve"}, approver="bob")
    clock.advance(7200)
    hitl.expire_overdue()


def test_g4_every_execution_follows_a_recorded_approval(db_url: str) -> None:
    """G4: walking the log, each executed action has an approval (a person's or the policy's) recorded before it."""
    clock = FakeClock()
    with Approvals.open(build(timeout_s=3600), db_url, clock=clock) as hitl:
        drive_mixed_workload(hitl, clock)
        log = hitl.store.audit.query()
        assert hitl.store.audit.verify().ok
    approvals_seen: dict[str, set[str]] = {}
    executed: list[dict[str, Any]] = []
    for row in log:  # in seq order
        aid = row["action_id"]
        if (
            row["event"] in APPROVING_EVENTS
            or row["decision"] in APPROVING_DECISIONS
            and row["event"] != "refused"
        ):
            approvals_seen.setdefault(aid, set()).add(row["actor"])
        if row["event"] == "executed":
            assert approvals_seen.get(aid), f"executed without a prior approval: {row}"
            executed.append(row)
    executed_threads = {r["thread_id"] for r in executed}
    assert executed_threads == {"read", "update", "del-0", "del-1", "prod", "mail-soft"}
    prod = next(r for r in executed if r["thread_id"] == "prod")
    assert approvals_seen[prod["action_id"]] == {"alice", "bob"}  # four-eyes, both before the effect
    refused_actors = {r["actor"] for r in log if r["event"] == "refused"}
    assert refused_actors == {"agent", "alice"}
    late = [r for r in log if r["thread_id"] == "del-late"]
    assert [r["event"] for r in late] == ["proposed", "timed_out"] and late[-1]["actor"] == "system:timeout"


def test_g4_rejections_never_execute(db_url: str) -> None:
    """No rejected, answered or timed-out (hard gate) action has an executed event."""
    clock = FakeClock()
    with Approvals.open(build(timeout_s=3600), db_url, clock=clock) as hitl:
        drive_mixed_workload(hitl, clock)
        log = hitl.store.audit.query()
    for thread in ("del-2", "del-3", "del-late"):
        assert "executed" not in [r["event"] for r in log if r["thread_id"] == thread]
