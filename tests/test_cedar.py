"""An external policy engine (Cedar, through cedarpy) after the built-in policy: it can only make a
gate stricter or deny, a deny is audited and never executed, its version is in the assessment,
and any engine failure denies (fail closed)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, Policy, Rule, add_approval_flow
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.policy import MODE_ORDER
from langgraph_hitl.policy_engine import CedarEngine, EnginePolicy, EngineVerdict, with_engine
from langgraph_hitl.types import RISK_ORDER

from graphs import State

CEDAR = """
permit(principal, action, resource);

@id("big-payments")
forbid(principal, action == Action::"pay", resource) when { context.args.amount > 10000 };

@id("interns-never-delete")
forbid(principal == Agent::"intern", action == Action::"delete_record", resource);

@id("prod-needs-two") @risk("critical") @mode("verify")
permit(principal, action == Action::"delete_record", resource)
    when { context.args has env && context.args.env == "prod" };

@id("no-external-mail")
forbid(principal, action == Action::"send_email", resource)
    when { context.args.to.contains("all@corp.example") };
"""
ACTIONS = {
    "pay": "irreversible_high",
    "delete_record": "irreversible_high",
    "send_email": "irreversible_low",
    "search": "fully_reversible",
}
BASE = Policy(ACTIONS, verify_phrases={"delete_record": "DELETE {id}"}, version="p-7")


@pytest.fixture(scope="module")
def cedar() -> CedarEngine:
    return CedarEngine(CEDAR, version="cedar-2026-12")


def _assess(policy: EnginePolicy, name: str, requester: str | None = "agent", **args: Any) -> Any:
    return policy.assess({"name": name, "args": args}, requester=requester)


def test_cedar_forbid_with_a_condition_on_arguments_denies(cedar: CedarEngine) -> None:
    """`forbid ... when { context.args.amount > 10000 }` denies big payments only, naming the policy."""
    policy = with_engine(BASE, cedar)
    big = _assess(policy, "pay", amount=50_000)
    assert big["mode"] == "deny" and "big-payments" in big["reasons"][0]
    assert big["policy_version"] == "p-7+cedar-2026-12"
    small = _assess(policy, "pay", amount=50)
    assert small["mode"] == "hard" and {**small, "policy_version": "p-7"} == BASE.assess(
        {"name": "pay", "args": {"amount": 50}}
    )
    assert _assess(policy, "send_email", to=["all@corp.example"])["mode"] == "deny"
    assert _assess(policy, "send_email", to=["a@corp.example"])["mode"] == "soft"


def test_cedar_principal_is_the_requester(cedar: CedarEngine) -> None:
    """`forbid(principal == Agent::"intern", ...)` denies the intern's deletes, not the agent's."""
    policy = with_engine(BASE, cedar)
    assert _assess(policy, "delete_record", requester="intern", id=1)["mode"] == "deny"
    assert _assess(policy, "delete_record", requester="agent", id=1)["mode"] == "verify"


def test_cedar_annotated_permit_raises_the_gate(cedar: CedarEngine) -> None:
    """A matching permit annotated `@risk("critical") @mode("verify")` raises risk and approvals."""
    policy = with_engine(BASE, cedar)
    prod = _assess(policy, "delete_record", id=4, env="prod")
    assert (prod["risk"], prod["mode"], prod["required_approvals"]) == ("critical", "verify", 2)
    assert prod["verify_phrase"] == "DELETE 4" and "prod-needs-two" in prod["reasons"][0]


def test_cedar_default_deny_and_errors_fail_closed() -> None:
    """No permit for the action, a condition that fails to evaluate, or a value Cedar cannot take:
    all deny, with Cedar's reason."""
    only_search = with_engine(BASE, CedarEngine('permit(principal, action == Action::"search", resource);'))
    assert _assess(only_search, "search", q="x")["mode"] == "auto"
    assert "no cedar policy permits it" in _assess(only_search, "pay", amount=1)["reasons"][0]
    typed = with_engine(
        BASE,
        CedarEngine(
            "permit(principal, action, resource);\n"
            'forbid(principal, action == Action::"pay", resource) when { context.args.amount > 10 };'
        ),
    )
    broken = _assess(typed, "pay", amount="lots")  # a string where Cedar compares a long
    assert broken["mode"] == "deny" and "cedar error" in broken["reasons"][0]
    fraction = _assess(typed, "pay", amount=5.5)  # a Cedar decimal, which `>` on a long cannot compare
    assert fraction["mode"] == "deny" and "cedar error" in fraction["reasons"][0]


def test_cedar_bad_policy_text_is_refused_when_built() -> None:
    """Policy text that does not parse is a `PolicyError` naming Cedar's complaint."""
    with pytest.raises(PolicyError, match="do not parse"):
        CedarEngine("permit(principal, action, resource) when { garbage")
    with pytest.raises(PolicyError, match="give Cedar policy text"):
        CedarEngine("")
    with pytest.raises(PolicyError, match="not a policy engine"):
        with_engine(BASE, object())  # type: ignore[arg-type]


class _Raising:
    version = "raising-1"

    def judge(self, action: Any, *, requester: str | None) -> EngineVerdict:
        raise ConnectionError("policy service unreachable")


class _Slow:
    version = "slow-1"

    def __init__(self) -> None:
        self.release = threading.Event()

    def judge(self, action: Any, *, requester: str | None) -> EngineVerdict:
        self.release.wait(5)
        return EngineVerdict(True)


def test_engine_exception_and_timeout_deny() -> None:
    """An engine that raises, or answers after its time limit, denies the action."""
    raised = _assess(with_engine(BASE, _Raising()), "search", q="x")
    assert raised["mode"] == "deny" and "policy service unreachable" in raised["reasons"][0]
    slow = _Slow()
    try:
        started = time.monotonic()
        late = _assess(with_engine(BASE, slow, timeout_s=0.05), "search", q="x")
        assert late["mode"] == "deny" and "no answer within 0.05 s" in late["reasons"][0]
        assert time.monotonic() - started < 4  # it did not wait for the engine
    finally:
        slow.release.set()


def test_cedar_deny_through_the_runner_is_audited_and_never_executed(db_url: str, cedar: CedarEngine) -> None:
    """Through the runner: a Cedar deny never reaches a person or a handler; the `denied` row has
    the combined version; an edit at review into a forbidden payment is denied as well."""
    calls: list[Any] = []
    policy = with_engine(BASE, cedar)
    builder = StateGraph(State)
    builder.add_node("agent", lambda state: {})
    builder.add_edge(START, "agent")
    handlers = {name: (lambda args, name=name: calls.append((name, args)) or "done") for name in ACTIONS}
    add_approval_flow(builder, source="agent", target=END, policy=policy, handlers=handlers)
    with Approvals.open(builder, db_url) as hitl:
        run = hitl.start("t-big", {"action": {"name": "pay", "args": {"amount": 20_000}}})
        assert run.status == "done" and run.values["status"] == "denied" and not run.pending
        denied = hitl.store.audit.query(event="denied")
        assert len(denied) == 1 and denied[0]["policy_version"] == "p-7+cedar-2026-12"
        run = hitl.start("t-small", {"action": {"name": "pay", "args": {"amount": 20}}})
        edit = {"type": "edit", "edited_action": {"name": "pay", "args": {"amount": 99_999}}}
        out = hitl.decide(run.pending[0].request_id, edit, approver="alice")
        assert out.values["status"] == "denied" and out.values["assessment"]["mode"] == "deny"
    assert calls == []


# -- the property: whatever the engine answers, the gate is at least as strict as the built-in's --------

_risks = st.sampled_from([None, "low", "medium", "high", "critical", "extreme"])
_modes = st.sampled_from([None, "auto", "notify", "soft", "hard", "verify", "deny", "lenient"])
_verdicts = st.one_of(
    st.builds(EngineVerdict, st.booleans(), _risks, _modes, st.just(("any",))),
    st.sampled_from([None, "not a verdict", ValueError("engine bug")]),
)
_bases = st.builds(
    lambda rules, unknown: Policy(
        ACTIONS, rules=rules, unknown=unknown, verify_phrases={"pay": "PAY {amount}"}
    ),
    st.lists(st.builds(lambda m: Rule("r", mode=m), st.sampled_from(["soft", "hard", "deny"])), max_size=1),
    st.sampled_from(["hard", "deny"]),
)


class _Scripted:
    version = "scripted"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def judge(self, action: Any, *, requester: str | None) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@settings(max_examples=150, deadline=None)
@given(
    base=_bases,
    answer=_verdicts,
    name=st.sampled_from([*ACTIONS, "transfer"]),
    amount=st.integers(-5, 50_000),
    confidence=st.one_of(st.none(), st.floats(0, 1)),
)
def test_engine_never_loosens_the_gate(
    base: Policy, answer: Any, name: str, amount: int, confidence: Any
) -> None:
    """For any engine answer (allow, deny, raised risk or mode, nonsense, an exception): the gate is
    at least as strict as the built-in policy's in risk, mode, approvals and phrase; not allowed
    (or any failure) is a deny."""
    action = {"name": name, "args": {"amount": amount}}
    built_in = base.assess(action, confidence=confidence)  # type: ignore[arg-type]
    final = with_engine(base, _Scripted(answer)).assess(action, confidence=confidence)  # type: ignore[arg-type]
    assert RISK_ORDER[final["risk"]] >= RISK_ORDER[built_in["risk"]]
    assert MODE_ORDER[final["mode"]] >= MODE_ORDER[built_in["mode"]]
    if final["mode"] != "deny":
        assert final["required_approvals"] >= built_in["required_approvals"]
        assert built_in["verify_phrase"] is None or final["verify_phrase"] == built_in["verify_phrase"]
    ok = isinstance(answer, EngineVerdict) and answer.allowed
    ok = ok and answer.risk in (None, *RISK_ORDER) and answer.mode in (None, *MODE_ORDER)  # type: ignore[union-attr]
    if not ok:
        assert final["mode"] == "deny"


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(0, 1000),
    amount=st.integers(-(2**40), 2**40),
    who=st.sampled_from(["agent", "intern", "Ω"]),
)
def test_real_cedar_matches_its_policy_text(limit: int, amount: int, who: str) -> None:
    """Real Cedar, generated policies: the gate denies exactly when the forbid's condition holds."""
    engine = CedarEngine(
        "permit(principal, action, resource);\n"
        f'forbid(principal, action == Action::"pay", resource) when {{ context.args.amount > {limit} }};'
    )
    final = with_engine(BASE, engine).assess({"name": "pay", "args": {"amount": amount}}, requester=who)
    assert (final["mode"] == "deny") == (amount > limit)


def test_cedar_integration_example_runs() -> None:
    """examples/integrations/cedar.py runs offline: the big payment is denied, the new vendor's is critical."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "integrations" / "cedar.py"
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.environ.get("TMPDIR", "/tmp"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "50,000 to acme: denied" in proc.stdout and "payments-over-10k" in proc.stdout
    assert "900 to a new vendor: critical risk, hard gate" in proc.stdout
    assert "audit denied 2026-12+cedar-7" in proc.stdout


class _Odd:
    """An engine answering in ways a careless implementation might: a truthy non-bool, or a BaseException."""

    version = "odd-1"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def judge(self, action: Any, *, requester: str | None) -> EngineVerdict:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return EngineVerdict(self.answer)


@pytest.mark.parametrize("answer", ["false", 1, SystemExit(3), KeyboardInterrupt()])
def test_engine_odd_answers_and_base_exceptions_deny(answer: Any) -> None:
    """Only `allowed=True` allows; an engine raising a BaseException (SystemExit, say) denies too."""
    judged = _assess(with_engine(BASE, _Odd(answer)), "search", q="x")
    assert judged["mode"] == "deny", judged
