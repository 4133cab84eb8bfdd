"""The CLI on requests with several tool calls (one `ToolGateNode` question), and on decided requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner, Result

from langgraph_hitl import Approvals
from langgraph_hitl.cli._app import app
from langgraph_hitl.graphspec import load_graph
from langgraph_hitl.store import open_store

from graphs import action, build

ROOT = Path(__file__).resolve().parent.parent
GRAPH = f"{ROOT / 'tests' / 'graphs.py'}:builder"

# One model turn asks for an email (soft gate) and a delete (verify gate, phrase DELETE 4821).
# The tools record what ran in the file named by $HITL_RAN, so a test sees runs in child processes.
TOOL_GRAPH = '''
from __future__ import annotations

import os
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_hitl import Policy, Requirement
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition


def _ran(text: str) -> None:
    with open(os.environ["HITL_RAN"], "a", encoding="utf-8") as f:
        f.write(text + "\\n")


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    _ran(f"send_email {to}")
    return f"sent to {to}"


@tool
def delete_record(id: int) -> str:
    """Delete a record."""
    _ran(f"delete_record {id}")
    return f"deleted {id}"


POLICY = Policy(
    {"send_email": "irreversible_low", "delete_record": "irreversible_high"},
    requirements={
        "medium": Requirement(approvers=["alice", "bob"]),
        "high": Requirement(approvers=["alice", "bob"]),
    },
    verify_phrases={"delete_record": "DELETE {id}"},
)
CALLS = [
    {"name": "send_email", "args": {"to": "team@corp", "body": "hi"}, "id": "c_mail"},
    {"name": "delete_record", "args": {"id": 4821}, "id": "c_del"},
]


def model(state: dict[str, Any]) -> dict[str, Any]:
    if isinstance(state["messages"][-1], ToolMessage):
        return {"messages": [AIMessage(content="done")]}
    return {"messages": [AIMessage(content="", tool_calls=CALLS)]}


def builder() -> StateGraph[Any, Any, Any, Any]:
    gate = ToolGateNode(POLICY)
    graph = StateGraph(ToolGateState)
    graph.add_node("model", model)
    graph.add_node("tool_gate", gate)
    graph.add_node("tools", ToolNode([send_email, delete_record], wrap_tool_call=gate.wrap_tool_call))
    graph.add_edge(START, "model")
    graph.add_edge("model", "tool_gate")
    graph.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    graph.add_edge("tools", "model")
    return graph
'''

# The flow of graphs.py, but deciding with it lists only carol: a decision the runner accepts
# (the question said anyone) is refused by the review node when it applies it.
CAROL_GRAPH = """
from langgraph.graph import END, START, StateGraph

from graphs import HANDLERS, State, plan, policy
from langgraph_hitl import add_approval_flow


def builder() -> StateGraph:
    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_edge(START, "plan")
    add_approval_flow(graph, source="plan", target=END, policy=policy(), handlers=HANDLERS, approvers=["carol"])
    return graph
"""

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings leak in; tool runs are recorded in the test's own file."""
    for name in list(os.environ):
        if name.startswith("LANGGRAPH_HITL_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("HITL_RAN", str(tmp_path / "ran.txt"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tool_graph(tmp_path: Path) -> str:
    """The spec of TOOL_GRAPH written to the temp dir."""
    (tmp_path / "toolgraph.py").write_text(TOOL_GRAPH)
    return f"{tmp_path / 'toolgraph.py'}:builder"


@pytest.fixture
def asked(db_url: str, tool_graph: str) -> str:
    """A thread paused at one question about both calls; its request id."""
    with Approvals.open(load_graph(tool_graph), db_url) as hitl:
        run = hitl.start("agent-1", {"messages": [HumanMessage("tidy up")]})
    assert run.status == "paused" and len(run.pending) == 1
    return run.pending[0].request_id


def ran(tmp_path: Path) -> list[str]:
    """What the tools did, in order."""
    path = tmp_path / "ran.txt"
    return path.read_text().splitlines() if path.exists() else []


def cli(db_url: str, *args: str) -> Result:
    """Run the typer app in-process against `db_url`."""
    return runner.invoke(app, ["--db", db_url, *args], catch_exceptions=False)


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def row_status(db_url: str, request_id: str) -> str:
    """The inbox status of a request."""
    with open_store(db_url) as store:
        row = store.inbox.get(request_id)
    assert row is not None
    return row.status


def events(db_url: str, request_id: str) -> list[tuple[str, str, str]]:
    """(event, actor, action) of a request's audit rows."""
    with open_store(db_url) as store:
        return [(e["event"], e["actor"], e["action"]) for e in store.audit.query(request_id=request_id)]


# -- reading ---------------------------------------------------------------------------------------


def test_pending_lists_every_call_with_its_own_risk(db_url: str, asked: str) -> None:
    """`pending` shows each call of the request on its own line: number, name, tool-call id, risk."""
    lines = cli(db_url, "pending").stdout.splitlines()
    assert lines[1].split()[:6] == [asked[:12], "agent-1", "1", "send_email", "(c_mail)", "medium"]
    assert lines[2].split()[:4] == ["2", "delete_record", "(c_del)", "high"]
    assert "alice, bob" in lines[2]


def test_show_gives_each_call_its_phrase_and_allowed_decisions_once(db_url: str, asked: str) -> None:
    """`show` lists every call with its risk, gate, args and own phrase, the allowed decisions once,
    and the command that decides them all."""
    out = cli(db_url, "show", asked).stdout
    calls = out.split("\ncalls\n", 1)[1].split("\ncontext\n", 1)[0]
    mail, delete = calls.split("\n2  delete_record")
    assert mail.startswith("1  send_email  id c_mail")
    facts = [dict(_facts(part)) for part in (mail, delete)]
    assert [f["risk"] for f in facts] == ["medium", "high"]
    assert [f["verify phrase"] for f in facts] == ["-", "DELETE 4821"]
    assert [f["allowed"] for f in facts] == ["approve, edit, reject, respond"] * 2
    assert facts[1]["args"] == '{"id": 4821}' and facts[0]["gate"] == "soft"
    assert (
        "approve, edit, reject, respond, approve" not in out
        and "verify phrase  -\n" not in out.split("calls")[0]
    )
    assert f"langgraph-hitl approve {asked[:12]} --as NAME --all --verify c_del='DELETE 4821'" in out


def _facts(block: str) -> list[tuple[str, str]]:
    """`label  value` lines of a facts grid."""
    pairs = []
    for line in block.splitlines():
        label, sep, value = line.strip().partition("  ")
        if sep:
            pairs.append((label, value.strip()))
    return pairs


# -- deciding: usage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "has 2 calls (1 c_mail send_email, 2 c_del delete_record); `approve` alone does not say which"),
        (["--call", "c_mail=approve"], "has 2 calls; no decision for 2 c_del delete_record"),
        (["--call", "c_x=approve", "--all"], "--call 'c_x=approve': request"),
        (["--call", "3=approve", "--all"], "has no call '3'"),
        (["--call", "c_mail=aprove", "--all"], "'aprove' is not a decision"),
        (["--call", "c_mail", "--all"], "--call 'c_mail' is not ID=TYPE"),
        (
            ["--call", "1=approve", "--call", "c_mail=reject"],
            "--call names call 1 (c_mail, send_email) twice",
        ),
        (["--all", "--verify", "DELETE 4821"], "--verify 'DELETE 4821' names no call"),
        (["--all", "--args", 'c_mail={"to": "x"}'], "--args for call 1 (c_mail, send_email), whose decision"),
        (["--call", "c_mail=edit", "--all"], "Call 1 (c_mail, send_email) is edited but has no --args"),
        (
            ["--call", "c_mail=edit", "--args", "c_mail={to}", "--all"],
            "--args for call 1 (c_mail, send_email) is not JSON",
        ),
        (["--call", "c_mail=edit", "--args", "c_mail=[1]", "--all"], "must be a JSON object, got list"),
    ],
)
def test_bad_per_call_options_are_usage_errors_before_the_graph_loads(
    db_url: str, asked: str, tmp_path: Path, args: list[str], message: str
) -> None:
    """Every malformed per-call option exits 2 naming the bad value and the fix; the graph is never imported."""
    (tmp_path / "boom.py").write_text("raise RuntimeError('imported')\n")
    result = cli(
        db_url, "approve", asked, "--as", "alice", *args, "--graph", f"{tmp_path / 'boom.py'}:builder"
    )
    assert result.exit_code == 2, result.output
    error, hint = result.stderr.splitlines()
    assert message in error and hint.startswith("Hint: ")
    assert row_status(db_url, asked) == "pending" and ran(tmp_path) == []


def test_usage_error_hint_says_how_to_decide_each_call(db_url: str, asked: str, tool_graph: str) -> None:
    """Without --all or --call the hint shows both ways, with the request's own call ids."""
    result = cli(db_url, "reject", asked, "--as", "alice", "--graph", tool_graph)
    assert result.stderr.splitlines()[1] == (
        "Hint: Decide every call with --all, or each with --call ID=approve|reject|edit|respond (ID: the "
        "call's id or number), e.g. --call c_mail=approve --call c_del=reject."
    )


# -- deciding: through Approvals.decide --------------------------------------------------------------


@pytest.mark.slow
def test_approve_all_with_the_delete_phrase_runs_both_calls(
    db_url: str, asked: str, tool_graph: str, tmp_path: Path
) -> None:
    """`approve --all --verify c_del=...` in a real process: both calls run, each tool's reply is printed,
    and the audit log has one approval per call by alice."""
    proc = run_cli(
        tmp_path, "--db", db_url, "approve", asked[:8], "--as", "alice", "--all",
        "--verify", "c_del=DELETE 4821", "--graph", tool_graph,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"Decided {asked[:12]} as alice:",
        "  1 (c_mail, send_email): approved",
        "  2 (c_del, delete_record): approved",
        "Thread agent-1: done.",
        "  1 (c_mail, send_email): ran; the tool returned: sent to team@corp",
        "  2 (c_del, delete_record): ran; the tool returned: deleted 4821",
    ]
    assert sorted(ran(tmp_path)) == ["delete_record 4821", "send_email team@corp"]
    assert [e for e in events(db_url, asked) if e[0] == "approved"] == [
        ("approved", "alice", "send_email"),
        ("approved", "alice", "delete_record"),
    ]


def test_call_decides_each_call_by_id_or_number(
    db_url: str, asked: str, tool_graph: str, tmp_path: Path
) -> None:
    """`--call c_mail=approve --call 2=reject -m ...`: the email runs, the delete does not, and the
    agent is told why; the message goes with both decisions."""
    result = cli(
        db_url, "reject", asked, "--as", "bob", "--call", "c_mail=approve", "--call", "2=reject",
        "-m", "keep the record", "--graph", tool_graph, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"] == {
        "decisions": [
            {"type": "approve", "message": "keep the record"},
            {"type": "reject", "message": "keep the record"},
        ]
    }
    assert data["outcome"] == "done" and [c["ran"] for c in data["calls"]] == [
        "ran; the tool returned",
        "not run; the agent was told",
    ]
    assert "keep the record" in data["calls"][1]["reply"]
    assert ran(tmp_path) == ["send_email team@corp"]


def test_edit_one_call_and_reject_the_other(db_url: str, asked: str, tool_graph: str, tmp_path: Path) -> None:
    """`--call c_mail=edit --args c_mail=JSON`: the edited email runs with the reviewer's arguments."""
    result = cli(
        db_url, "approve", asked, "--as", "alice", "--call", "c_mail=edit",
        "--args", 'c_mail={"to": "ops@corp", "body": "hi"}', "--call", "c_del=reject", "--graph", tool_graph,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "  1 (c_mail, send_email): edited and approved as send_email {'to': 'ops@corp', 'body': 'hi'}" in (
        result.stdout
    )
    assert ran(tmp_path) == ["send_email ops@corp"]
    assert ("edited", "alice", "send_email") in events(db_url, asked)


def test_wrong_phrase_on_one_call_is_refused_naming_it(
    db_url: str, asked: str, tool_graph: str, tmp_path: Path
) -> None:
    """A wrong phrase for the delete exits 5 naming call 2 and why; nothing runs, nothing is decided."""
    result = cli(
        db_url, "approve", asked, "--as", "alice", "--all", "--verify", "2=DELETE 1", "--graph", tool_graph
    )
    assert result.exit_code == 5, result.output
    error, hint = result.stderr.splitlines()
    assert error.startswith("Error: Call 2 (c_del, delete_record): Confirmation phrase does not match")
    assert "Type exactly 'DELETE 4821'" in error
    assert hint == (
        f"Hint: Request {asked[:12]} is still pending; `langgraph-hitl show {asked[:12]}` shows its approvers, "
        "allowed decisions and confirmation phrase per call."
    )
    assert row_status(db_url, asked) == "pending" and ran(tmp_path) == []
    assert [e[0] for e in events(db_url, asked)] == ["refused"]


def test_refused_decision_shows_in_audit_with_its_reason(db_url: str, asked: str, tool_graph: str) -> None:
    """The audit view shows a refused row as refused, with the reason, not as the type attempted."""
    cli(db_url, "approve", asked, "--as", "carol", "--all", "--graph", tool_graph)
    rows = [line for line in cli(db_url, "audit").stdout.splitlines() if " refused " in line]
    assert len(rows) == 1 and "refused: 'carol' may not decide request" in rows[0]
    assert "approve" not in rows[0].split("refused:")[0]


# -- what happened -----------------------------------------------------------------------------------


def test_graph_refusal_after_decide_exits_5_with_the_question_asked_again(
    db_url: str, tmp_path: Path
) -> None:
    """A decision the runner accepts but the graph refuses when applying it (the deciding graph lists only
    carol): exit 5 with the graph's reason and the new request; nothing ran; `show` says so too."""
    rid = _paused(db_url)
    (tmp_path / "carol.py").write_text(CAROL_GRAPH)
    result = cli(db_url, "approve", rid, "--as", "alice", "--graph", f"{tmp_path / 'carol.py'}:builder")
    assert result.exit_code == 5, result.output
    assert result.stdout == ""
    error, hint = result.stderr.splitlines()
    assert error == (
        f"Error: The graph refused the decision on request {rid[:12]}: 'alice' may not decide request "
        f"{rid[:12]}… (node 'review'). Approvers: carol."
    )
    [again] = json.loads(cli(db_url, "pending", "--json").stdout)["items"]
    assert hint.startswith(f"Hint: Nothing was applied; it asks again as request {again['request_id'][:12]}.")
    facts = dict(_facts(cli(db_url, "show", rid).stdout.split("\nreasons\n")[0]))
    assert facts["status"] == "decided by alice"
    assert facts["outcome"].startswith("not run: the graph refused the decision ('alice' may not decide")


def test_show_decided_request_says_outcome_and_result_without_deadline(db_url: str) -> None:
    """A decided request reads `decided by alice`, not `resumed`; it shows what the handler returned
    (from the execution ledger) and no deadline."""
    rid = _paused(db_url, timeout_s=600)
    assert "deadline" in cli(db_url, "show", rid).stdout
    cli(
        db_url,
        "approve",
        rid,
        "--as",
        "alice",
        "-m",
        "fine",
        "--graph",
        f"{ROOT / 'tests' / 'graphs.py'}:builder",
    )
    out = cli(db_url, "show", rid).stdout
    facts = dict(_facts(out.split("\nreasons\n")[0]))
    assert facts["status"] == "decided by alice"
    assert facts["decision"] == 'approved by alice: "fine"'
    assert facts["outcome"] == "executed"
    assert facts["result"] == '{"args": {"id": 7}, "done": "delete_record"}'
    assert "deadline" not in facts and "resumed" not in out.split("\nhistory")[0]
    data = json.loads(cli(db_url, "show", rid, "--json").stdout)["outcome"]
    assert data["calls"][0]["result"] == {"args": {"id": 7}, "done": "delete_record"}


@pytest.mark.parametrize(
    ("decide", "words", "outcome"),
    [
        (["reject", "-m", "no"], 'rejected by bob: "no"', "not run"),
        (
            ["edit", "--args", '{"id": 8}'],
            "edited and approved by bob as delete_record {'id': 8}",
            "executed",
        ),
    ],
)
def test_show_decided_request_in_plain_words(
    db_url: str, decide: list[str], words: str, outcome: str
) -> None:
    """Rejections and edits read as what they did; an edit's result is the edited action's."""
    rid = _paused(db_url)
    assert cli(db_url, decide[0], rid, "--as", "bob", *decide[1:], "--graph", GRAPH).exit_code == 0
    facts = dict(_facts(cli(db_url, "show", rid).stdout.split("\nreasons\n")[0]))
    assert (facts["decision"], facts["outcome"]) == (words, outcome)


def test_show_first_stage_says_it_waits_for_the_next_reviewer(db_url: str) -> None:
    """After the first of two approvals, `show` says the action has not run and names the next request."""
    rid = _paused(db_url, env="prod")
    cli(db_url, "approve", rid, "--as", "alice", "--graph", GRAPH)
    [second] = json.loads(cli(db_url, "pending", "--json").stdout)["items"]
    facts = dict(_facts(cli(db_url, "show", rid).stdout.split("\nreasons\n")[0]))
    assert facts["outcome"] == (
        f"not run yet: the thread waits for the next reviewer (request {second['request_id'][:12]})"
    )


def _paused(db_url: str, *, timeout_s: float | None = None, **args: Any) -> str:
    with Approvals.open(build(timeout_s=timeout_s), db_url) as hitl:
        run = hitl.start("t", action("delete_record", id=7, **args))
    return run.pending[0].request_id
