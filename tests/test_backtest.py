"""`policy backtest`: recorded proposals replayed through a candidate policy; looser and stricter gates,
reviewer load, what the candidate would run although a person refused it, and what cannot be replayed."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import Approvals, ConfidenceBands, HITLState, Policy, Requirement, Rule, add_approval_flow
from langgraph_hitl._canonical import stable_id
from langgraph_hitl.cli import main
from langgraph_hitl.policy_rules import Predicate
from langgraph_hitl.store import open_store
from langgraph_hitl.store.backtest import backtest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "policy.toml"

RECORDED = Policy(
    {"search": "fully_reversible", "send_email": "irreversible_low", "delete_record": "irreversible_high"},
    rules=[Rule("prod-delete", actions="delete_record", when=Predicate('env == "prod"'), risk="critical")],
    requirements={"high": Requirement(approvers=["alice", "bob"])},
    version="old",
)  # prod deletes are critical: two approvals, of which the history records one (the second pending)


def _events(n: int, policy: Policy, *, seed: int = 7) -> list[dict[str, Any]]:
    """`n` proposals as the gate records them, assessed by `policy`, with people deciding the gated ones."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        name = rng.choice(["search", "send_email", "delete_record"])
        args = {"id": i, "env": rng.choice(["prod", "dev"]), "to": ["x"] * rng.randint(0, 8)}
        a = policy.assess({"name": name, "args": args})
        action_id = stable_id("bt", str(i))
        ts = f"2026-11-{1 + i % 28:02d}T10:00:00+00:00"
        common = {"thread_id": f"t{i}", "action_id": action_id, "action": name, "args": args, "ts": ts}
        common |= {"risk": a["risk"], "reversibility": a["reversibility"], "policy_version": policy.version}
        detail = {"mode": a["mode"], "reasons": a["reasons"], "required_approvals": a["required_approvals"]}
        out.append({**common, "event_id": f"p{i}", "event": "proposed", "actor": "agent", "detail": detail})
        if a["mode"] in ("soft", "hard", "verify"):
            who, what = (
                rng.choice(["alice", "bob"]),
                rng.choice(["approved", "approved", "rejected", "edited"]),
            )
            out.append({**common, "event_id": f"d{i}", "event": what, "actor": who, "request_id": f"r{i}"})
    return out


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"


def _report(db: str, candidate: Policy, events: list[dict[str, Any]], **kw: Any) -> Any:
    with open_store(db) as store:
        store.audit.append(events)
        return backtest(store.backend, candidate, **kw)


def test_the_policy_in_force_changes_nothing(db: str) -> None:
    """Replaying history through the policy that recorded it: no gate changes, no load change."""
    report = _report(db, RECORDED, _events(300, RECORDED))
    assert report["replayed"] == 300 and report["changes"]["unchanged"] == 300
    assert report["overruled"] == [] and report["not_replayable"] == {}
    assert report["load"] and all(v["change"] == 0 for v in report["load"].values())


def test_a_looser_candidate_shows_what_people_refused(store_url: str) -> None:
    """Making deletes auto: each delete a person rejected or edited is listed; looser by action
    (on SQLite and on Postgres)."""
    events = _events(200, RECORDED)
    loose = Policy({**RECORDED.actions, "delete_record": "fully_reversible"}, version="new")
    report = _report(store_url, loose, events, since="2026-11-01")
    deletes = [e for e in events if e["action"] == "delete_record" and e["event"] == "proposed"]
    refused = {
        e["action_id"]
        for e in events
        if e["action"] == "delete_record" and e["event"] in ("rejected", "edited")
    }
    assert report["by_action"]["delete_record"]["looser"] == len(deletes)
    assert report["by_action"]["delete_record"]["transitions"] == {"hard -> auto": len(deletes)}
    assert {o["action_id"] for o in report["overruled"]} == refused and refused
    assert all(v["after"] <= v["before"] for v in report["load"].values())
    mails = sum(
        e["actor"] == "alice" and e["action"] == "send_email" for e in events if e["event"] != "proposed"
    )
    assert report["load"]["alice"]["after"] == round(mails / report["days"], 3)  # only her mail reviews stay


def test_a_stricter_candidate_adds_expected_load_to_its_approvers(db: str) -> None:
    """Four-eyes with a named tier: a second approval per approved request falls on the others."""
    events = _events(100, RECORDED)
    strict = Policy(
        RECORDED.actions,
        rules=RECORDED.rules,
        requirements={"high": Requirement(approvers=["alice", "bob", "carol"], required_approvals=2)},
    )
    report = _report(db, strict, events, since="2026-11-01", until="2026-12-01")
    assert report["load"]["carol"]["before"] == 0 < report["load"]["carol"]["after"]
    assert report["changes"]["looser"] == 0


def test_what_cannot_be_replayed_is_counted_never_guessed(db: str) -> None:
    """No args, no mode, a pre-policy denial, a confidence the log lacks, a pipeline stage: counted apart."""
    base = {
        "actor": "agent",
        "event": "proposed",
        "action": "send_email",
        "risk": "medium",
        "policy_version": "v",
    }
    events = [
        {**base, "event_id": "a", "action_id": "a", "detail": {"mode": "soft", "reasons": []}},
        {**base, "event_id": "b", "action_id": "b", "args": {}, "detail": {"reasons": []}},
        {**base, "event_id": "c", "action_id": "c", "args": {}, "detail": {"mode": "deny", "reasons": ["malformed action, denied (fail closed): x"]}},
        {**base, "event_id": "d", "action_id": "d", "args": {}, "detail": {"mode": "auto", "reasons": ["confidence 0.90 at or above 0.85"]}},
        {**base, "event_id": "e", "action_id": "e", "args": {}, "detail": {"mode": "soft", "reasons": [], "confidence": 0.9}},
        {**base, "event_id": "g", "action_id": "g", "args": {}, "detail": {"tool_call_id": None, "mode": "deny", "reasons": ["tool call has no id, so its result cannot be matched to it: denied"]}},
        {**base, "event_id": "f", "action_id": "f", "args": {"output": 1}, "policy_version": "pipeline", "detail": {"stage": 1}},
    ]  # fmt: skip
    report = _report(db, Policy({"send_email": "irreversible_low"}, confidence=ConfidenceBands()), events)
    assert report["not_replayable"] == {
        "arguments not stored": 1,
        "no gate recorded": 1,
        "denied before the policy (malformed, no handler, or a tool call without an id)": 2,
        "confidence not recorded": 1,
    }
    assert report["not_policy_gated"] == 1 and report["replayed"] == 1
    assert report["by_action"]["send_email"]["transitions"] == {"soft -> auto": 1}  # replayed with 0.9


def test_a_candidate_that_raises_counts_as_stricter(db: str) -> None:
    """A phrase template that fails on recorded args is reported, and the gate counted as failing closed."""
    events = _events(20, RECORDED)
    broken = Policy(RECORDED.actions, rules=RECORDED.rules, verify_phrases={"search": "{id!z}"})
    report = _report(db, broken, events)
    assert report["candidate_errors"] and report["changes"]["looser"] == 0


def test_the_gate_records_the_confidence_it_was_given(tmp_path: Path) -> None:
    """A confidence-routed proposal is replayed with its confidence, so the same policy changes nothing."""
    policy = Policy({"send_email": "irreversible_low"}, confidence=ConfidenceBands())
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    add_approval_flow(
        builder, source="plan", target=END, policy=policy, handlers={"send_email": lambda a: "ok"}
    )
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Approvals.open(builder, url) as hitl:
        for i, confidence in enumerate([0.95, 0.5, 0.1]):
            state = {"action": {"name": "send_email", "args": {"to": "a"}}, "confidence": confidence}
            hitl.start(f"t{i}", state)
        report = backtest(hitl.store.backend, policy)
        assert report["replayed"] == 3 and report["changes"]["unchanged"] == 3, report
        assert (
            backtest(hitl.store.backend, Policy({"send_email": "irreversible_low"}))["changes"]["stricter"]
            == 1
        )


def test_backtest_command_json_and_fail_on(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json` prints the report; `--fail-on-overruled` / `--fail-on-looser` exit 9 when they hold."""
    with open_store(db) as store:
        store.audit.append(_events(100, RECORDED))
    loose = tmp_path / "loose.toml"
    loose.write_text('version = "new"\n[actions]\ndelete_record = "fully_reversible"\n', encoding="utf-8")
    assert main(["policy", "backtest", str(loose), "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overruled"] and report["changes"]["looser"]
    assert main(["policy", "backtest", str(loose), "--db", db, "--fail-on-overruled"]) == 9
    out = capsys.readouterr().out
    assert "although a person refused it" in out and "looser" in out
    assert main(["policy", "backtest", str(EXAMPLE), "--db", db, "--since", "not a time"]) == 2


def test_backtest_on_the_demo_database(tmp_path: Path) -> None:
    """The quickstart's database, backtested with examples/policy.toml, prints the report."""
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    cli = [sys.executable, "-m", "langgraph_hitl.cli", "--db", str(tmp_path / "quickstart-demo.db")]
    proc = subprocess.run(
        [*cli, "policy", "backtest", str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Replayed 3; not replayable 0" in proc.stdout and "read_record" in proc.stdout


def test_a_candidate_asking_fewer_approvals_is_looser(db: str, tmp_path: Path) -> None:
    """Same mode and risk, but one approval where two were needed: looser, and `--fail-on-looser` fails."""
    fewer = Policy(
        RECORDED.actions,
        rules=RECORDED.rules,
        requirements={**RECORDED.requirements, "critical": Requirement(required_approvals=1)},
        version="fewer",
    )
    events = _events(120, RECORDED)
    critical = sum(1 for e in events if e["event"] == "proposed" and e["risk"] == "critical")
    report = _report(db, fewer, events)
    assert critical and report["changes"]["looser"] == critical
    assert report["by_action"]["delete_record"]["transitions"] == {"hard (2 -> 1 approvals)": critical}
    path = tmp_path / "fewer.toml"
    fewer.to_file(path)
    assert main(["policy", "backtest", str(path), "--db", db, "--fail-on-looser"]) == 9


def test_hand_written_rows_are_not_replayable_never_a_crash(db: str) -> None:
    """A `proposed` row whose detail is not a table, or whose approvals count is not a number, is
    counted (not replayable, or replayed on what it holds) instead of stopping the whole report."""
    base = {"thread_id": "t", "action": "delete_record", "args": {"id": 1}, "ts": "2026-11-01T10:00:00+00:00"}
    base |= {"risk": "high", "reversibility": "irreversible_high", "policy_version": "old", "actor": "agent"}
    events = [
        {**base, "event_id": "p1", "action_id": "a" * 32, "event": "proposed", "detail": "hand-written"},
        {**base, "event_id": "p2", "action_id": "b" * 32, "event": "proposed", "detail": ["stage"]},
        {**base, "event_id": "p3", "action_id": "c" * 32, "event": "proposed"}
        | {"detail": {"mode": "hard", "reasons": [], "required_approvals": "2"}},
        {
            **base,
            "event_id": "d3",
            "action_id": "c" * 32,
            "event": "approved",
            "actor": "alice",
            "request_id": "r3",
        },
    ]
    report = _report(db, RECORDED, events)
    assert report["not_replayable"] == {"no gate recorded": 2} and report["replayed"] == 1
