"""Any state schema LangGraph accepts: TypedDict, pydantic and dataclass (issue: native support, 1).

In 0.1 a pydantic or dataclass state crashed the gate (`'PState' object has no attribute 'get'`)
even for a low-risk action. The same scenarios run here on each schema, through the runner on
both runners and both databases, and on a raw graph resumed with `Command(resume=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import (
    Approvals,
    AuthorizationError,
    HITLDataclass,
    HITLModel,
    HITLState,
    Policy,
    Requirement,
    Rule,
    add_approval_flow,
    open_checkpointer,
)
from langgraph_hitl.testing import resume_as

pytestmark = pytest.mark.usefixtures("flavour")


class TypedState(HITLState, total=False):
    task: str


class ModelState(HITLModel):
    task: str = ""


@dataclass
class DataState(HITLDataclass):
    task: str = ""


SCHEMAS = {"typeddict": TypedState, "pydantic": ModelState, "dataclass": DataState}
RAN: list[tuple[str, Any]] = []

POLICY = Policy(
    {"read_record": "fully_reversible", "delete_record": "irreversible_high"},
    rules=[Rule("prod", actions="delete_record", when=lambda a: a.get("env") == "prod", risk="critical")],
    requirements={"critical": Requirement(required_approvals=2)},
)


def plan(state: Any) -> dict[str, Any]:
    task = state["task"] if isinstance(state, dict) else state.task
    verb, _, rest = task.partition(" ")
    args: dict[str, Any] = {"id": int(rest.split()[0])}
    if rest.endswith("prod"):
        args["env"] = "prod"
    return {"action": {"name": f"{verb}_record", "args": args}}


def graph(schema: type) -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(schema)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    handlers = {
        name: (lambda n: lambda args: RAN.append((n, args)) or f"{n} done")(name) for name in POLICY.actions
    }
    return add_approval_flow(builder, source="plan", target=END, policy=POLICY, handlers=handlers)


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def events(hitl: Any, thread: str) -> list[str]:
    return [e["event"] for e in hitl.history(thread)]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_low_risk_runs_at_once(store_url: str, schema: str) -> None:
    with Approvals.open(graph(SCHEMAS[schema]), store_url) as hitl:
        run = hitl.start("read", {"task": "read 7"})
        assert (
            run.status == "done"
            and run.values["status"] == "executed"
            and RAN == [("read_record", {"id": 7})]
        )
        assert events(hitl, "read") == ["proposed", "auto_approved", "executed"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_high_risk_pauses_then_approve_runs_and_reject_does_not(store_url: str, schema: str) -> None:
    with Approvals.open(graph(SCHEMAS[schema]), store_url) as hitl:
        rid = hitl.start("del", {"task": "delete 8"}).pending[0].request_id
        run = hitl.decide(rid, {"type": "approve"}, approver="alice")
        assert run.values["status"] == "executed" and run.values["result"] == "delete_record done"
        assert events(hitl, "del") == ["proposed", "approved", "executed"]
        rid = hitl.start("no", {"task": "delete 9"}).pending[0].request_id
        run = hitl.decide(rid, {"type": "reject", "message": "keep it"}, approver="alice")
        assert run.values["status"] == "rejected" and RAN == [("delete_record", {"id": 8})]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_critical_needs_two_distinct_people(db_url: str, schema: str) -> None:
    with Approvals.open(graph(SCHEMAS[schema]), db_url) as hitl:
        rid = hitl.start("crit", {"task": "delete 10 prod"}).pending[0].request_id
        second = hitl.decide(rid, {"type": "approve"}, approver="alice").pending[0]
        with pytest.raises(AuthorizationError):
            hitl.decide(second.request_id, {"type": "approve"}, approver=" ALICE ")
        assert RAN == []
        run = hitl.decide(second.request_id, {"type": "approve"}, approver="bob")
        assert run.values["status"] == "executed" and RAN == [("delete_record", {"id": 10, "env": "prod"})]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_raw_graph_resume_on_each_schema(db_url: str, schema: str) -> None:
    """Without the runner: invoke, `Command(resume=...)` as an authenticated user, execute."""
    with open_checkpointer(db_url) as saver:
        compiled = graph(SCHEMAS[schema]).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": f"raw-{schema}"}}
        out = compiled.invoke({"task": "delete 11"}, config)
        assert "__interrupt__" in out and RAN == []
        out = resume_as(compiled, {"type": "approve"}, config, user="alice")
        assert out["status"] == "executed" and RAN == [("delete_record", {"id": 11})]
