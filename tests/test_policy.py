"""The policy: reversibility table, rules that only raise risk, requirements, fail-closed defaults."""

from __future__ import annotations

import pytest

from langgraph_hitl import ConfidenceBands, Policy, PolicyError, Requirement, Rule
from langgraph_hitl.policy import stricter

TABLE = {
    "search": "fully_reversible",
    "update_record": "partially_reversible",
    "send_email": "irreversible_low",
    "delete_record": "irreversible_high",
}


def act(name: str, **args: object) -> dict:
    return {"name": name, "args": dict(args)}


@pytest.mark.parametrize(
    ("name", "risk", "mode"),
    [
        ("search", "low", "auto"),
        ("update_record", "low", "notify"),
        ("send_email", "medium", "soft"),
        ("delete_record", "high", "hard"),
    ],
)
def test_assess_follows_reversibility_table(name: str, risk: str, mode: str) -> None:
    """Each reversibility class maps to the seed's gate."""
    a = Policy(TABLE).assess(act(name, id=1))
    assert (a["risk"], a["mode"], a["reversibility"]) == (risk, mode, TABLE[name])


def test_assess_unknown_action_is_hard_gated() -> None:
    """An action missing from the table fails closed."""
    a = Policy(TABLE).assess(act("wire_money", amount=5))
    assert a["mode"] == "hard" and a["risk"] == "high"
    assert "unknown action" in a["reasons"][0]


def test_assess_unknown_can_be_denied() -> None:
    """unknown='deny' refuses unlisted actions outright."""
    assert Policy(TABLE, unknown="deny").assess(act("wire_money"))["mode"] == "deny"


def test_unknown_auto_is_refused() -> None:
    """Unknown actions may not be configured to run unreviewed."""
    with pytest.raises(PolicyError, match="fail closed"):
        Policy(TABLE, unknown="auto")


def test_rule_raises_risk_on_predicate() -> None:
    """send_email to more than 5 recipients is high risk (seed rule)."""
    policy = Policy(
        TABLE, rules=[Rule("bulk", actions="send_email", when=lambda a: len(a["to"]) > 5, risk="high")]
    )
    few = policy.assess(act("send_email", to=["a"] * 3))
    many = policy.assess(act("send_email", to=["a"] * 6))
    assert few["risk"] == "medium" and few["mode"] == "soft"
    assert many["risk"] == "high" and many["mode"] == "hard"
    assert many["reasons"][0].startswith("rule bulk")


def test_rule_never_lowers_risk() -> None:
    """A rule asking for low risk leaves a high-risk action high."""
    policy = Policy(TABLE, rules=[Rule("relax", actions="delete_record", risk="low")])
    assert policy.assess(act("delete_record", id=1))["risk"] == "high"


def test_rule_predicate_error_counts_as_match() -> None:
    """A predicate that raises tightens the gate instead of letting the action through."""
    policy = Policy(
        TABLE, rules=[Rule("boom", actions="search", when=lambda a: a["missing"] > 1, risk="critical")]
    )
    a = policy.assess(act("search", q="x"))
    assert a["risk"] == "critical" and a["required_approvals"] == 2


def test_critical_needs_two_approvals() -> None:
    """Critical actions need two distinct approvers by default (four-eyes)."""
    policy = Policy(
        TABLE,
        rules=[Rule("prod", actions="delete_record", when=lambda a: a.get("env") == "prod", risk="critical")],
    )
    assert policy.assess(act("delete_record", env="prod"))["required_approvals"] == 2
    assert policy.assess(act("delete_record", env="dev"))["required_approvals"] == 1


def test_verify_phrase_is_formatted_from_args() -> None:
    """Always-manual actions get the verify gate and a phrase built from their args."""
    a = Policy(TABLE, verify_phrases={"delete_record": "DELETE {id}"}).assess(act("delete_record", id=4821))
    assert a["mode"] == "verify" and a["verify_phrase"] == "DELETE 4821"


def test_soft_gate_approves_on_timeout_hard_rejects() -> None:
    """Soft gates auto-approve after their TTL; hard gates fail closed."""
    policy = Policy(TABLE)
    assert policy.assess(act("send_email", to=["a"]))["on_timeout"] == "approve"
    assert policy.assess(act("delete_record", id=1))["on_timeout"] == "reject"


def test_high_risk_approve_on_timeout_refused() -> None:
    """Configuring a high-risk requirement to approve on timeout is an error."""
    with pytest.raises(PolicyError, match="fail closed"):
        Policy(TABLE, requirements={"high": Requirement(on_timeout="approve")})


def test_requirement_validation_messages() -> None:
    """Bad requirement options name the value and the fix."""
    with pytest.raises(PolicyError, match="required_approvals=3"):
        Requirement(required_approvals=3)
    with pytest.raises(PolicyError, match="must include 'reject'"):
        Requirement(allowed_decisions=("approve",))
    with pytest.raises(PolicyError, match="escalation tiers"):
        Requirement(on_timeout="escalate")
    with pytest.raises(PolicyError, match="'aprove'"):
        Requirement(allowed_decisions=("aprove", "reject"))


def test_policy_rejects_bad_table_entry() -> None:
    """A misspelt reversibility class is caught when the policy is built."""
    with pytest.raises(PolicyError, match="'irreversible'"):
        Policy({"x": "irreversible"})  # type: ignore[dict-item]


def test_rule_needs_an_effect() -> None:
    """A rule that sets neither risk nor mode is refused."""
    with pytest.raises(PolicyError, match="neither risk nor mode"):
        Rule("noop")


def test_assess_is_deterministic() -> None:
    """The same action always gets the same assessment (nodes re-run on resume)."""
    policy = Policy(TABLE, verify_phrases={"delete_record": "DELETE {id}"})
    action = act("delete_record", id=3, note="x")
    assert policy.assess(action) == policy.assess(dict(action))


@pytest.mark.parametrize(("confidence", "mode"), [(0.9, "auto"), (0.5, "soft"), (0.1, "deny")])
def test_confidence_bands_route_three_ways(confidence: float, mode: str) -> None:
    """>= 0.85 runs, < 0.3 is denied, in between a person decides."""
    policy = Policy(TABLE, confidence=ConfidenceBands())
    assert policy.assess(act("send_email", to=["a"]), confidence=confidence)["mode"] == mode


def test_confidence_never_loosens_hard_gate() -> None:
    """A confident model does not skip the review of an irreversible high-impact action."""
    policy = Policy(TABLE, confidence=ConfidenceBands())
    assert policy.assess(act("delete_record", id=1), confidence=0.99)["mode"] == "hard"


def test_stricter_detects_tighter_gate() -> None:
    """An edit to a riskier action is stricter; the same action with other args is not."""
    policy = Policy(TABLE)
    read, delete = policy.assess(act("search", q="a")), policy.assess(act("delete_record", id=1))
    assert stricter(read, delete)
    assert not stricter(delete, policy.assess(act("delete_record", id=2)))


def test_policy_soft_gate_gets_a_default_deadline() -> None:
    """A soft gate with no timeout proceeds after soft_timeout_s (default an hour); None waits; bad values fail."""
    email = {"name": "send_email", "args": {"to": "x"}}
    soft = Policy({"send_email": "irreversible_low"}).assess(email)
    assert (soft["mode"], soft["timeout_s"], soft["on_timeout"]) == ("soft", 3600.0, "approve")
    assert "soft gate: proceeds after 3600 s unless a reviewer objects" in soft["reasons"]
    assert Policy({"send_email": "irreversible_low"}, soft_timeout_s=None).assess(email)["timeout_s"] is None
    assert Policy({"send_email": "irreversible_low"}, soft_timeout_s=60).assess(email)["timeout_s"] == 60.0
    hard = Policy({"delete_record": "irreversible_high"}).assess({"name": "delete_record", "args": {}})
    assert hard["timeout_s"] is None  # hard gates wait for a person
    with pytest.raises(PolicyError, match="soft_timeout_s=0"):
        Policy({}, soft_timeout_s=0)
