"""Approvals inside the functional API (`@entrypoint` / `@task`) (issue: native support, 4).

In 0.1 the only way was to call node objects by hand and merge their lists, and the audit was
incomplete. Here the flow runs as a subgraph of the entrypoint: raw, resumed with
`Command(resume=...)` as an authenticated user, and driven by the runner on both runners.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.func import entrypoint
from langgraph.types import Command

from langgraph_hitl import Approvals, AuthorizationError, Policy, Requirement, open_checkpointer
from langgraph_hitl.functional import approval_flow, request_approval
from langgraph_hitl.testing import authenticated

pytestmark = pytest.mark.usefixtures("flavour")

RAN: list[tuple[str, Any]] = []


def _run(name: str) -> Any:
    def handler(args: dict[str, Any], *, idempotency_key: str) -> str:
        RAN.append((name, args))
        return f"{name} {args['id']} done"

    return handler


POLICY = Policy(
    {"read_record": "fully_reversible", "delete_record": "irreversible_high"},
    requirements={"high": Requirement(approvers=["alice", "bob"])},
    verify_phrases={"delete_record": "DELETE {id}"},
)
FLOW = approval_flow(POLICY, {"read_record": _run("read_record"), "delete_record": _run("delete_record")})


def cleanup(customer: int) -> dict[str, Any]:
    read = request_approval(FLOW, {"name": "read_record", "args": {"id": customer}})
    deleted = request_approval(
        FLOW, {"name": "delete_record", "args": {"id": customer}}, hitl_context={"task": "close the account"}
    )
    return {"read": read["status"], "delete": deleted["status"], "result": deleted["result"]}


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def test_raw_entrypoint_pauses_resumes_and_runs_once(db_url: str) -> None:
    with open_checkpointer(db_url) as saver:
        workflow = entrypoint(checkpointer=saver)(cleanup)
        config = {"configurable": {"thread_id": "f-raw"}}
        out = workflow.invoke(4821, config)
        request = out["__interrupt__"][0].value
        assert (
            request["hitl"]["verify_phrase"] == "DELETE 4821"
            and request["hitl"]["context"]["task"] == "close the account"
        )
        assert RAN == [("read_record", {"id": 4821})]
        wrong = workflow.invoke(
            Command(resume={"type": "approve", "verify": "DELETE 1"}), authenticated(config, "alice")
        )
        assert "__interrupt__" in wrong and len(RAN) == 1  # refused and asked again, nothing ran
        out = workflow.invoke(
            Command(resume={"type": "approve", "verify": "DELETE 4821"}), authenticated(config, "alice")
        )
        assert out == {"read": "executed", "delete": "executed", "result": "delete_record 4821 done"}
        assert RAN == [("read_record", {"id": 4821}), ("delete_record", {"id": 4821})]


def test_runner_drives_an_entrypoint_with_receipts_and_audit(db_url: str) -> None:
    """`Approvals` runs the entrypoint: the request is in the inbox, four-eyes and phrase rules
    hold, the handler runs once, and the audit log has the whole story in order."""
    workflow = entrypoint()(cleanup)  # the runner gives it its checkpointer
    with Approvals.open(workflow, db_url) as hitl:
        run = hitl.start("f-runner", 7)
        assert run.status == "paused" and len(run.pending) == 1
        rid = run.pending[0].request_id
        with pytest.raises(AuthorizationError, match="'mallory' may not decide"):
            hitl.decide(rid, {"type": "approve", "verify": "DELETE 7"}, approver="mallory")
        run = hitl.decide(rid, {"type": "approve", "verify": "DELETE 7"}, approver="bob")
        assert run.status == "done" and run.values == {
            "read": "executed",
            "delete": "executed",
            "result": "delete_record 7 done",
        }
        assert RAN == [("read_record", {"id": 7}), ("delete_record", {"id": 7})]
        story = [(e["event"], e["action"]) for e in hitl.history("f-runner")]
        for step in [
            ("proposed", "delete_record"),
            ("approved", "delete_record"),
            ("executed", "delete_record"),
        ]:
            assert step in story, story
        assert story.index(("approved", "delete_record")) < story.index(("executed", "delete_record"))
        assert hitl.store.audit.verify().ok
