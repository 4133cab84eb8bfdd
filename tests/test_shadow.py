"""Shadow mode: a candidate policy assesses every proposal beside the enforced one; the run goes
exactly as without it, and each difference (or failure) of the candidate is an audit row."""

from __future__ import annotations

import asyncio
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import (
    Approvals,
    AsyncApprovals,
    ClassifyAndGateNode,
    Policy,
    Requirement,
    Rule,
    add_approval_flow,
    open_store,
)
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.shadow import compare
from langgraph_hitl.testing import FakeClock

from graphs import State

ACTIONS = {
    "read_record": "fully_reversible",
    "update_record": "partially_reversible",
    "send_email": "irreversible_low",
    "delete_record": "irreversible_high",
}
HANDLERS = {name: (lambda args, name=name: f"{name} done") for name in ACTIONS}
ENFORCED = Policy(ACTIONS, version="enforced-1")
KEY = b"shadow-test-audit-key-0123456789abcdef"


def _builder(policy: Policy = ENFORCED) -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("agent", lambda state: {})
    builder.add_edge(START, "agent")
    add_approval_flow(builder, source="agent", target=END, policy=policy, handlers=HANDLERS)
    return builder


def _action(name: str, **args: Any) -> dict[str, Any]:
    return {"action": {"name": name, "args": args}}


class Exploding(Policy):
    """A candidate whose assessment raises (a bug in a new rule, say)."""

    def assess(self, action: Any, *, confidence: float | None = None) -> Any:
        raise RuntimeError("candidate exploded")


def test_shadow_differs_is_audited_with_both_assessments(store_url: str) -> None:
    """A stricter and a looser candidate decision are each one `shadow_differs` row naming both
    gates and both versions; a proposal both agree on leaves no row; the run follows the enforced."""
    candidate = Policy(
        {**ACTIONS, "read_record": "irreversible_high", "send_email": "fully_reversible"}, version="c-2"
    )
    with Approvals.open(_builder(), store_url, shadow_policy=candidate) as hitl:
        assert hitl.start("t-read", _action("read_record", id=1)).values["status"] == "executed"
        assert hitl.start("t-mail", _action("send_email", to=["x@example.com"])).status == "paused"
        hitl.start("t-del", _action("delete_record", id=2))
        rows = {r["action"]: r for r in hitl.store.audit.query(event="shadow_differs")}
        assert set(rows) == {"read_record", "send_email"}
        read = rows["read_record"]
        assert read["actor"] == "system:shadow" and read["policy_version"] == "enforced-1"
        assert read["detail"]["direction"] == "stricter" and read["detail"]["shadow_version"] == "c-2"
        assert (read["detail"]["enforced"]["mode"], read["detail"]["shadow"]["mode"]) == ("auto", "hard")
        assert read["detail"]["shadow"]["policy_version"] == "c-2"
        assert {"risk", "mode", "required_approvals"} <= set(read["detail"]["differs"])
        assert rows["send_email"]["detail"]["direction"] == "looser"
        shadow = hitl.stats()["shadow"]
        assert shadow["differs"] == 2 and shadow["errors"] == 0
        assert shadow["directions"] == {"looser": 1, "stricter": 1}
        assert shadow["actions"] == {"read_record": {"stricter": 1}, "send_email": {"looser": 1}}
        assert shadow["versions"] == {"c-2": 2}
        assert hitl.store.audit.verify().ok


def test_shadow_policy_that_raises_never_affects_the_run(db_url: str, caplog: Any) -> None:
    """A candidate that raises is a `shadow_error` row and a log line; the run is unchanged."""
    with Approvals.open(_builder(), db_url, shadow_policy=Exploding(ACTIONS, version="boom")) as hitl:
        run = hitl.start("t-1", _action("read_record", id=1))
        assert run.values["status"] == "executed"
        rows = hitl.store.audit.query(event="shadow_error")
        assert len(rows) == 1 and "candidate exploded" in rows[0]["detail"]["error"]
        assert hitl.stats()["shadow"]["errors"] == 1
    assert "candidate exploded" in caplog.text


def test_shadow_policy_must_be_a_policy(db_url: str) -> None:
    """A shadow that is not a Policy is refused when the runner or the gate is built."""
    with pytest.raises(PolicyError, match="shadow_policy is a dict"):
        with Approvals.open(_builder(), db_url, shadow_policy={"read_record": "auto"}):  # type: ignore[arg-type]
            pass
    with pytest.raises(PolicyError, match="shadow_policy is a str"):
        ClassifyAndGateNode(ENFORCED, shadow_policy="candidate.yaml")  # type: ignore[arg-type]


def test_shadow_policy_cannot_be_set_through_a_callers_config(db_url: str) -> None:
    """`hitl_shadow_policy` is the runner's key: a caller's config with it is refused, and a JSON
    value in a config (what a remote client could send) is never taken for a policy."""
    from langgraph_hitl.nodes.shadow_gate import shadow_of

    with Approvals.open(_builder(), db_url) as hitl:
        with pytest.raises(ValueError, match="hitl_shadow_policy"):
            hitl.start("t", _action("read_record"), config={"configurable": {"hitl_shadow_policy": ENFORCED}})
    assert shadow_of(None, {"configurable": {"hitl_shadow_policy": {"actions": {}}}}) is None


def test_shadow_on_the_gate_without_the_runner(tmp_path: Path) -> None:
    """`ClassifyAndGateNode(policy, shadow_policy=...)` with a store: rows land in its audit log."""
    from langgraph.checkpoint.memory import InMemorySaver

    candidate = Policy({**ACTIONS, "update_record": "irreversible_low"}, version="c-3")
    with open_store(f"sqlite:///{tmp_path / 'g.db'}") as store:
        builder = StateGraph(State)
        builder.add_node("gate", ClassifyAndGateNode(ENFORCED, store=store, shadow_policy=candidate))
        builder.add_edge(START, "gate")
        builder.add_edge("gate", END)
        graph = builder.compile(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": "g1"}}
        out = graph.invoke(_action("update_record", id=3), config)
        assert out["status"] == "approved"
        graph.invoke(_action("update_record", id=3), {"configurable": {"thread_id": "g1"}})  # a new step
        rows = store.audit.query(event="shadow_differs")
        assert len(rows) == 2 and rows[0]["detail"]["direction"] == "stricter"


def test_shadow_async_runner(db_url: str) -> None:
    """`AsyncApprovals.open(..., shadow_policy=...)` records the same rows."""
    candidate = Policy({**ACTIONS, "read_record": "irreversible_low"}, version="c-4")

    async def main() -> list[Any]:
        async with AsyncApprovals.open(_builder(), db_url, shadow_policy=candidate) as hitl:
            assert hitl.shadow_policy is candidate
            run = await hitl.start("t-a", _action("read_record", id=1))
            assert run.values["status"] == "executed"
            return hitl.store.audit.query(event="shadow_differs")

    rows = asyncio.run(main())
    assert len(rows) == 1 and rows[0]["detail"]["shadow"]["mode"] == "soft"


def test_shadow_compare_directions() -> None:
    """Direction: stricter, looser, mixed (one part up, another down), changed (neither)."""
    base = Policy(ACTIONS).assess({"name": "send_email", "args": {}})
    assert compare(base, base) is None
    assert compare(base, {**base, "policy_version": "9", "reasons": ["x"]}) is None
    assert compare(base, {**base, "mode": "hard"})["direction"] == "stricter"  # type: ignore[index]
    assert compare(base, {**base, "mode": "auto"})["direction"] == "looser"  # type: ignore[index]
    mixed = compare(base, {**base, "mode": "auto", "risk": "critical"})
    assert mixed is not None and mixed["direction"] == "mixed"
    changed = compare(base, {**base, "timeout_s": 60.0})
    assert changed is not None and changed["direction"] == "changed" and changed["differs"] == ["timeout_s"]
    assert compare(base, {**base, "approvers": ["alice"]})["direction"] == "stricter"  # type: ignore[index]


# -- the property: for any candidate, the route and the final state are those without a shadow ----------

_classes = st.sampled_from(list(ACTIONS.values()))
_candidates = st.builds(
    lambda table, rules, unknown, approvals, version: Policy(
        table,
        rules=rules,
        unknown=unknown,
        requirements={"high": Requirement(required_approvals=approvals)},
        version=version,
    ),
    st.dictionaries(st.sampled_from([*ACTIONS, "transfer"]), _classes),
    st.lists(
        st.builds(
            lambda name, mode, risk: Rule(name, mode=mode, risk=risk),
            st.sampled_from(["r1", "r2"]),
            st.sampled_from(["auto", "soft", "hard", "deny", None]),
            st.sampled_from(["low", "high", "critical"]),
        ),
        max_size=2,
    ),
    st.sampled_from(["hard", "deny"]),
    st.sampled_from([1, 2]),
    st.text(alphabet="abc123", min_size=1, max_size=5),
)
_proposals = st.tuples(st.sampled_from([*ACTIONS, "transfer"]), st.integers(0, 3))


@pytest.fixture(scope="module")
def twin_runners(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two runners on two databases with the same clock and key: one with a shadow, one without."""
    base = tmp_path_factory.mktemp("shadow-twins")
    clock = FakeClock()
    plain = Approvals.open(_builder(), f"sqlite:///{base / 'plain.db'}", clock=clock, hmac_key=KEY)
    shadowed = Approvals.open(_builder(), f"sqlite:///{base / 'shadow.db'}", clock=clock, hmac_key=KEY)
    with plain as a, shadowed as b:
        yield a, b


_thread = count()
_IDS = {"action_id", "action_occurrence", "digest", "occurrence", "seal", "event_id", "request_id", "receipt",
        "receipts", "action_ids"}  # fmt: skip


def _same(value: Any) -> Any:
    """`value` without the ids derived from checkpoints, which differ between any two databases."""
    if isinstance(value, dict):
        return {k: _same(v) for k, v in value.items() if k not in _IDS}
    if isinstance(value, list):
        return [_same(v) for v in value]
    return value


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(candidate=_candidates, proposal=_proposals)
def test_shadow_never_changes_the_route_or_the_state(
    twin_runners: Any, candidate: Policy, proposal: Any
) -> None:
    """For any candidate: the same pause, the same question, and after the same answers the same
    final state as the run without a shadow (ids derived from checkpoints aside: they differ
    between any two databases), and the same audit events but the shadow's own."""
    plain, shadowed = twin_runners
    shadowed.shadow_policy = candidate
    name, index = proposal
    thread = f"p{next(_thread)}"
    a = plain.start(thread, _action(name, id=index))
    b = shadowed.start(thread, _action(name, id=index))
    assert (a.status, _same(a.values)) == (b.status, _same(b.values))
    assert _same([p.payload for p in a.pending]) == _same([p.payload for p in b.pending])
    while a.pending:
        who = "alice" if a.pending[0].payload["hitl"]["stage"] == 1 else "bob"
        a = plain.decide(a.pending[0].request_id, {"type": "approve"}, approver=who)
        b = shadowed.decide(b.pending[0].request_id, {"type": "approve"}, approver=who)
        assert (a.status, _same(a.values)) == (b.status, _same(b.values))
    assert [e["event"] for e in plain.history(thread)] == [
        e["event"] for e in shadowed.history(thread) if not e["event"].startswith("shadow_")
    ]


def test_shadow_summary_on_the_web_metrics_page_and_the_cli(db_url: str) -> None:
    """The metrics page and `langgraph-hitl stats` count the differences per action and direction."""
    import re

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from langgraph_hitl.cli._app import app as cli_app
    from langgraph_hitl.web import create_app

    candidate = Policy({**ACTIONS, "read_record": "irreversible_high"}, version="c-web")
    with Approvals.open(_builder(), db_url, shadow_policy=candidate) as hitl:
        for i in range(3):
            hitl.start(f"t{i}", _action("read_record", id=i))
    out = CliRunner().invoke(cli_app, ["--db", db_url, "stats"], catch_exceptions=False)
    assert "shadow policy: 3 proposal(s) gated differently (3 stricter); 0 error(s)" in out.output
    token = "alice-token-7f3c0a9b2e"
    app = create_app(db=db_url, graph=_builder(), approvers={"alice": token}, secret_key="s" * 32)
    with TestClient(app, follow_redirects=False) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert csrf is not None
        client.post("/login", data={"token": token, "csrf": csrf.group(1)})
        page = client.get("/metrics").text
        assert 'id="shadow"' in page and "c-web (3)" in page
        assert re.search(r'<th scope="row">read_record</th><td class="num">3</td>', page)


class Rewriting(Policy):
    """A candidate that rewrites the action it assesses (normalising arguments in place, say)."""

    def assess(self, action: Any, *, confidence: float | None = None) -> Any:
        action["args"]["id"] = 777
        action["name"] = "delete_record"
        return super().assess(action, confidence=confidence)


def test_shadow_policy_that_rewrites_the_action_never_changes_what_runs(db_url: str) -> None:
    """The candidate assesses a copy: the handler gets the proposal as the enforced gate saw it."""
    seen: list[tuple[str, dict[str, Any]]] = []
    handlers = {name: (lambda args, name=name: seen.append((name, dict(args))) or "ok") for name in ACTIONS}
    builder = StateGraph(State)
    builder.add_node("agent", lambda state: {})
    builder.add_edge(START, "agent")
    add_approval_flow(builder, source="agent", target=END, policy=ENFORCED, handlers=handlers)
    with Approvals.open(builder, db_url, shadow_policy=Rewriting(ACTIONS, version="rw")) as hitl:
        run = hitl.start("t-rw", _action("read_record", id=1))
        assert run.values["status"] == "executed"
        assert seen == [("read_record", {"id": 1})]
        assert run.values["action"] == {"name": "read_record", "args": {"id": 1}}
