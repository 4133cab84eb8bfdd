"""Approval pipelines: stages in order, sign-off, the revision loop, rejection, audit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from langgraph_hitl import Approvals, open_checkpointer
from langgraph_hitl.errors import AuthorizationError, PolicyError
from langgraph_hitl.patterns import PipelineState, Stage, create_approval_pipeline
from langgraph_hitl.store import open_store
from langgraph_hitl.testing import FakeClock, resume_as


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def ask(out: dict[str, Any]) -> dict[str, Any]:
    return out["__interrupt__"][0].value


class Email:
    """The seed's email pipeline: Draft -> Tone Review (manager) -> Finalize; records each call."""

    def __init__(self) -> None:
        self.tone_calls: list[str | None] = []

    def draft(self, topic: str) -> str:
        return f"hey all, {topic} ships friday"

    def tone(self, text: str, instructions: str | None) -> str:
        self.tone_calls.append(instructions)
        return text if instructions is None else f"{text} [{instructions}]"

    def stages(self, **review: Any) -> list[Stage]:
        return [
            Stage("draft", self.draft),
            Stage("tone_review", self.tone, approvers=["manager"], **review),
            Stage("finalize", lambda text: text + "\n-- release bot"),
        ]


@pytest.fixture
def email() -> Email:
    return Email()


@pytest.fixture
def graph(db_url: str, email: Email) -> Iterator[Any]:
    with open_checkpointer(db_url) as saver:
        yield create_approval_pipeline(email.stages(), task="release email").compile(checkpointer=saver)


def approve(who: str = "manager") -> dict[str, Any]:
    return {"type": "approve", "approver": who}


def revise(text: str) -> dict[str, Any]:
    return {"type": "revise", "approver": "manager", "message": text}


def test_pipeline_pauses_at_reviewed_stage_with_step_context(graph: Any) -> None:
    """The unreviewed draft runs; the tone stage asks once with hitl.stage 2 and step 2 of 3."""
    req = ask(graph.invoke({"input": "v2"}, cfg()))
    assert req["action_requests"] == [
        {
            "name": "tone_review",
            "args": {"output": "hey all, v2 ships friday"},
            "description": "Output of stage 2 of 3: tone_review",
        }
    ]
    assert req["review_configs"] == [
        {"action_name": "tone_review", "allowed_decisions": ["approve", "edit", "reject"]}
    ]
    hitl = req["hitl"]
    assert hitl["allowed_decisions"] == ["approve", "edit", "reject", "revise"]
    assert (hitl["node"], hitl["stage"], hitl["approvers"]) == ("review_tone_review", 2, ["manager"])
    ctx = hitl["context"]
    assert (ctx["step"], ctx["total_steps"], ctx["task"], ctx["revision"]) == (2, 3, "release email", 0)
    state = graph.get_state(cfg()).values
    assert state["stage_results"]["draft"]["status"] == "done"
    assert state["stage_results"]["tone_review"]["status"] == "awaiting_review"


def test_pipeline_revision_loop_rereviews_until_approved(graph: Any, email: Email) -> None:
    """Each revise re-runs the stage with the instructions and asks about the new output; approve finishes."""
    first = ask(graph.invoke({"input": "v2"}, cfg()))["hitl"]["request_id"]
    second = ask(resume_as(graph, revise("more formal"), cfg()))
    assert second["action_requests"][0]["args"]["output"] == "hey all, v2 ships friday [more formal]"
    assert second["hitl"]["context"]["revision"] == 1
    assert second["hitl"]["context"]["instructions"] == "more formal"
    third = ask(resume_as(graph, revise("sign it"), cfg()))
    assert third["action_requests"][0]["args"]["output"] == "hey all, v2 ships friday [more formal\nsign it]"
    assert len({first, second["hitl"]["request_id"], third["hitl"]["request_id"]}) == 3
    out = resume_as(graph, approve(), cfg())
    assert "__interrupt__" not in out
    assert email.tone_calls == [None, "more formal", "more formal\nsign it"]  # every request so far, in order
    assert out["pipeline_status"] == "completed" and out["stopped_at"] is None
    assert out["output"] == "hey all, v2 ships friday [more formal\nsign it]\n-- release bot"
    tone = out["stage_results"]["tone_review"]
    assert (tone["status"], tone["approver"], tone["revisions"]) == ("approved", "manager", 2)
    assert [d["effect"] for d in out["decisions"]] == ["revision_requested", "revision_requested", "approved"]
    assert [e["event"] for e in out["audit_trail"]] == [
        "executed",
        "proposed",
        "revision_requested",
        "proposed",
        "revision_requested",
        "proposed",
        "approved",
        "executed",
    ]


def test_pipeline_stage_can_revise_its_previous_output(db_url: str) -> None:
    """A three-argument stage gets its previous output on a re-run, to edit rather than start over."""
    seen: list[tuple[str | None, str | None]] = []

    def polish(text: str, instructions: str | None, previous: str | None) -> str:
        seen.append((instructions, previous))
        return (previous or text) + ("!" if instructions else "")

    with open_checkpointer(db_url) as saver:
        graph = create_approval_pipeline([Stage("polish", polish, approvers=["ed"])]).compile(
            checkpointer=saver
        )
        graph.invoke({"input": "hi"}, cfg())
        resume_as(graph, {"type": "revise", "approver": "ed", "message": "louder"}, cfg())
        resume_as(graph, {"type": "revise", "approver": "ed", "message": "louder still"}, cfg())
        out = resume_as(graph, {"type": "approve", "approver": "ed"}, cfg())
    assert seen == [(None, None), ("louder", "hi"), ("louder\nlouder still", "hi!")]
    assert out["output"] == "hi!!"


def test_pipeline_reject_stops_and_reports_stage(graph: Any) -> None:
    """A rejection stops the pipeline: finalize never runs and stopped_at names stage 2."""
    graph.invoke({"input": "v2"}, cfg())
    out = resume_as(graph, {"type": "reject", "approver": "manager", "message": "off-brand"}, cfg())
    assert out["pipeline_status"] == "rejected" and out["output"] is None
    assert out["stopped_at"] == {
        "stage": 2,
        "name": "tone_review",
        "reason": "rejected by manager: off-brand",
        "by": "manager",
    }
    assert "finalize" not in out["stage_results"]
    assert out["stage_results"]["tone_review"]["status"] == "rejected"


def test_pipeline_revision_limit_counts_as_rejected(db_url: str, email: Email) -> None:
    """One revision more than max_revisions stops the pipeline as rejected, with a policy audit event."""
    with open_checkpointer(db_url) as saver:
        graph = create_approval_pipeline(email.stages(), max_revisions=1).compile(checkpointer=saver)
        graph.invoke({"input": "v2"}, cfg())
        assert "__interrupt__" in resume_as(graph, revise("once"), cfg())
        out = resume_as(graph, revise("twice"), cfg())
    assert "__interrupt__" not in out and email.tone_calls == [None, "once"]
    assert out["pipeline_status"] == "rejected"
    assert out["stopped_at"]["reason"].startswith("revision limit reached: 1 revision(s) allowed")
    last = out["audit_trail"][-1]
    assert (last["event"], last["actor"], last["detail"]["reason"]) == ("rejected", "policy", "max_revisions")


def test_pipeline_edit_continues_with_reviewer_output(graph: Any) -> None:
    """An edit is the reviewer's own output; the next stage continues from it without another question."""
    graph.invoke({"input": "v2"}, cfg())
    out = resume_as(
        graph,
        {
            "type": "edit",
            "approver": "manager",
            "edited_action": {"name": "tone_review", "args": {"output": "Dear all, v2 ships on Friday."}},
        },
        cfg(),
    )
    assert "__interrupt__" not in out
    assert out["output"] == "Dear all, v2 ships on Friday.\n-- release bot"
    assert out["stage_results"]["tone_review"]["status"] == "edited"


def test_pipeline_wrong_approver_is_refused_and_asked_again(graph: Any) -> None:
    """A decision by someone not listed is refused without wedging the thread; the manager then approves."""
    first = ask(graph.invoke({"input": "v2"}, cfg()))
    again = ask(resume_as(graph, approve("intern"), cfg()))
    assert again["hitl"]["request_id"] != first["hitl"]["request_id"]
    refused = graph.get_state(cfg()).values["decisions"][-1]
    assert refused["effect"] == "refused" and "'intern' may not decide" in refused["message"]
    assert resume_as(graph, approve(), cfg())["pipeline_status"] == "completed"


def test_pipeline_malformed_answer_is_not_saved(graph: Any) -> None:
    """A malformed answer fails the response schema before LangGraph saves it; the same question stays open."""
    first = graph.invoke({"input": "v2"}, cfg())["__interrupt__"][0]
    with pytest.raises(pydantic.ValidationError):
        resume_as(graph, {"type": "aprove", "approver": "manager"}, cfg())
    assert graph.get_state(cfg()).interrupts[0].id == first.id
    assert resume_as(graph, approve(), cfg())["pipeline_status"] == "completed"


def test_pipeline_timeout_fails_closed(db_url: str, email: Email) -> None:
    """The runner's timeout rejects the stage: the pipeline stops, naming the timeout."""
    clock = FakeClock()
    stages = [
        Stage(s.name, s.call, approvers=s.approvers, timeout=60) if s.reviewed else s for s in email.stages()
    ]
    with Approvals.open(create_approval_pipeline(stages), db_url, clock=clock) as hitl:
        hitl.start("t", {"input": "v2"})
        clock.advance(61)
        assert len(hitl.expire_overdue()) == 1
        out = hitl.graph.get_state(cfg()).values
    assert out["pipeline_status"] == "rejected"
    assert out["stopped_at"]["reason"] == "nobody decided in time (timeout): rejected"


def test_pipeline_audit_trail_reaches_the_store(db_url: str, email: Email) -> None:
    """With a store, the final AuditNode writes every event to the hash-chained log."""
    with open_checkpointer(db_url) as saver, open_store(db_url) as store:
        graph = create_approval_pipeline(email.stages(), store=store).compile(checkpointer=saver)
        graph.invoke({"input": "v2"}, cfg("audited"))
        resume_as(graph, approve(), cfg("audited"))
    with open_store(db_url) as store:
        rows = store.audit.query(thread_id="audited")
        assert [r["event"] for r in rows] == ["executed", "proposed", "approved", "executed"]
        assert store.audit.verify().ok


def test_pipeline_with_approvals_runner(db_url: str, email: Email) -> None:
    """The runner lists the stage's request, refuses a wrong approver, and the manager's decision finishes it."""
    with Approvals.open(create_approval_pipeline(email.stages()), db_url) as hitl:
        hitl.start("mail-1", {"input": "v2"})
        [request] = hitl.pending().items
        with pytest.raises(AuthorizationError, match="'intern' may not decide"):
            hitl.decide(request.request_id, {"type": "approve"}, approver="intern")
        hitl.decide(request.request_id, {"type": "approve"}, approver="manager")
        state = hitl.graph.get_state({"configurable": {"thread_id": "mail-1"}}).values
    assert state["pipeline_status"] == "completed"


def test_pipeline_requires_approval_without_named_approvers(db_url: str) -> None:
    """requires_approval=True reviews a stage that anyone but the requester may approve."""
    stages = [Stage("publish", lambda x: x.upper(), requires_approval=True)]
    with open_checkpointer(db_url) as saver:
        graph = create_approval_pipeline(stages, requested_by="bot").compile(checkpointer=saver)
        req = ask(graph.invoke({"input": "hi"}, cfg()))
        assert req["hitl"]["approvers"] is None and req["hitl"]["exclude_approvers"] == ["bot"]
        resume_as(graph, approve("bot"), cfg())
        assert graph.get_state(cfg()).values["decisions"][-1]["effect"] == "refused"
        assert resume_as(graph, approve("anyone"), cfg())["output"] == "HI"


def test_pipeline_custom_state_schema(db_url: str) -> None:
    """A subclass of PipelineState keeps the user's own keys."""

    class MyState(PipelineState, total=False):
        ticket: str

    with open_checkpointer(db_url) as saver:
        graph = create_approval_pipeline([Stage("only", lambda x: x + 1)], state_schema=MyState).compile(
            checkpointer=saver
        )
        out = graph.invoke({"input": 1, "ticket": "T-1"}, cfg())
    assert (out["output"], out["ticket"], out["pipeline_status"]) == (2, "T-1", "completed")


def test_stage_rejects_bad_options() -> None:
    """Stage checks its options when it is built, naming the bad value and the fix."""
    with pytest.raises(PolicyError, match="Stage name 'bad name'"):
        Stage("bad name", str)
    with pytest.raises(PolicyError, match="run=42 is not callable"):
        Stage("s", 42)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match=r"approvers='manager'; give a non-empty list"):
        Stage("s", str, approvers="manager")
    with pytest.raises(PolicyError, match="allowed_decisions=.*respond"):
        Stage("s", str, allowed_decisions=("approve", "reject", "respond"))
    with pytest.raises(PolicyError, match="timeout=0"):
        Stage("s", str, timeout=0)


def test_create_approval_pipeline_rejects_bad_config() -> None:
    """Empty stages, clashing names, a negative max_revisions and a thin state schema are refused."""
    with pytest.raises(PolicyError, match="non-empty list of Stage"):
        create_approval_pipeline([])
    with pytest.raises(PolicyError, match=r"clash: \['review_x'\]"):
        create_approval_pipeline([Stage("x", str, approvers=["a"]), Stage("review_x", str)])
    with pytest.raises(PolicyError, match="max_revisions=-1"):
        create_approval_pipeline([Stage("x", str)], max_revisions=-1)
    with pytest.raises(PolicyError, match="lacks .*subclass PipelineState"):
        create_approval_pipeline([Stage("x", str)], state_schema=dict)


def test_pipeline_stage_output_must_be_json(db_url: str) -> None:
    """A stage returning a non-JSON value fails its own step with a message naming the stage."""
    with open_checkpointer(db_url) as saver:
        graph = create_approval_pipeline([Stage("s", lambda x: {1, 2})]).compile(checkpointer=saver)
        with pytest.raises(PolicyError, match="Stage 's' output holds a set"):
            graph.invoke({"input": 1}, cfg())
