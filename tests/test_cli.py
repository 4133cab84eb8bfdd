"""Tests for langgraph_hitl.cli: commands, exit codes, settings, graph specs, import weight, end to end."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from langgraph_hitl import Approvals
from langgraph_hitl.cli import main
from langgraph_hitl.cli._app import app
from langgraph_hitl.cli._errors import CLIError, ExitCode
from langgraph_hitl.cli._fast import COMMANDS, GLOBAL_FLAGS, GLOBAL_VALUES, parse
from langgraph_hitl.cli._render import span, until
from langgraph_hitl.cli._settings import CONFIG_FILE, _parse_flat_toml, graph_from_spec, resolve_settings
from langgraph_hitl.store import open_store
from langgraph_hitl.testing import FakeClock

from graphs import action, build

ROOT = Path(__file__).resolve().parent.parent
GRAPH = f"{ROOT / 'tests' / 'graphs.py'}:builder"

# A graph with listed approvers, a confirmation phrase and no `edit`, to provoke each refusal.
STRICT_GRAPH = """
from langgraph.graph import END, START, StateGraph

from graphs import HANDLERS, State, plan, policy
from langgraph_hitl import Requirement, add_approval_flow


def builder() -> StateGraph:
    high = Requirement(approvers=["alice", "bob"], allowed_decisions=("approve", "reject"))
    pol = policy(requirements={"high": high}, verify_phrases={"delete_record": "DELETE {id}"})
    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_edge(START, "plan")
    add_approval_flow(graph, source="plan", target=END, policy=pol, handlers=HANDLERS)
    return graph
"""

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings leak in from the environment or a config file in the working directory."""
    monkeypatch.delenv("LANGGRAPH_HITL_DB", raising=False)
    monkeypatch.delenv("LANGGRAPH_HITL_GRAPH", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def strict_graph(tmp_path: Path) -> str:
    """A graph spec for STRICT_GRAPH written to the temp dir."""
    path = tmp_path / "strict.py"
    path.write_text(STRICT_GRAPH)
    return f"{path}:builder"


def strict_builder(spec: str) -> Any:
    """The strict graph's builder, loaded the way the CLI loads it."""
    return graph_from_spec(spec)


def paused(
    db_url: str,
    thread: str,
    graph: Any = None,
    *,
    clock: Any = None,
    name: str = "delete_record",
    **args: Any,
) -> str:
    """Start `thread` on the graph until it pauses; return the pending request's id."""
    with Approvals.open(graph if graph is not None else build(), db_url, clock=clock) as hitl:
        run = hitl.start(thread, action(name, **args))
    assert run.status == "paused", run
    return run.pending[0].request_id


def status(db_url: str, request_id: str) -> str:
    """The inbox status of a request."""
    with open_store(db_url) as store:
        row = store.inbox.get(request_id)
    assert row is not None
    return row.status


def cli(db_url: str, *args: str) -> Result:
    """Run the typer app in-process against `db_url`."""
    return runner.invoke(app, ["--db", db_url, *args], catch_exceptions=False)


def subprocess_env() -> dict[str, str]:
    """The environment for `python -m langgraph_hitl.cli` children: the repo and tests/ importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return env


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl.cli", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- settings and graph specs --------------------------------------------------------------------


def test_resolve_settings_option_beats_env_beats_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--db wins over LANGGRAPH_HITL_DB, which wins over langgraph-hitl.toml, which wins over the default."""
    (tmp_path / CONFIG_FILE).write_text('db = "sqlite:///from-config.db"\ngraph = "g.py:config"\n')
    assert resolve_settings(None, None).db == "sqlite:///from-config.db"
    assert resolve_settings(None, None).graph == "g.py:config"
    monkeypatch.setenv("LANGGRAPH_HITL_DB", "sqlite:///from-env.db")
    assert resolve_settings(None, None).db == "sqlite:///from-env.db"
    assert resolve_settings("sqlite:///from-option.db", "g.py:option").db == "sqlite:///from-option.db"
    assert resolve_settings(None, "g.py:option").graph == "g.py:option"
    (tmp_path / CONFIG_FILE).unlink()
    monkeypatch.delenv("LANGGRAPH_HITL_DB")
    assert resolve_settings(None, None).db == "sqlite:///hitl.db"


def test_resolve_settings_bare_path_means_sqlite() -> None:
    """A path without a scheme names a SQLite file."""
    assert resolve_settings("/data/hitl.db", None).db == "sqlite:////data/hitl.db"
    assert resolve_settings("postgresql://u@h/db", None).db == "postgresql://u@h/db"


def test_resolve_settings_unknown_scheme_is_usage_error() -> None:
    """An unsupported URL scheme is refused with the ones that work."""
    with pytest.raises(CLIError, match="Unsupported database URL 'mysql://h/db'") as info:
        resolve_settings("mysql://h/db", None)
    assert info.value.code == ExitCode.USAGE


def test_parse_flat_toml_reads_top_level_strings() -> None:
    """The Python 3.10 fallback reads quoted top-level keys and stops at the first table."""
    text = '# settings\ndb = "sqlite:///a.db"  # here\ngraph = \'g.py:builder\'\n[other]\ndb = "ignored"\n'
    assert _parse_flat_toml(text) == {"db": "sqlite:///a.db", "graph": "g.py:builder"}
    with pytest.raises(ValueError, match='line 1: expected key = "text"'):
        _parse_flat_toml("db = 3\n")


def test_config_file_invalid_is_usage_error(tmp_path: Path) -> None:
    """A broken langgraph-hitl.toml is a usage error naming the file."""
    (tmp_path / CONFIG_FILE).write_text("db = \n")
    result = runner.invoke(app, ["pending"])
    assert result.exit_code == 2
    assert "Cannot read" in result.stderr and CONFIG_FILE in result.stderr


def test_load_graph_accepts_builder_compiled_and_factory(tmp_path: Path) -> None:
    """The attribute may be a builder, a compiled graph, or a function without arguments returning either."""
    (tmp_path / "kinds.py").write_text(
        textwrap.dedent("""
        from langgraph.graph import StateGraph
        from langgraph.graph.state import CompiledStateGraph
        from graphs import build
        builder = build()
        compiled = build().compile()
        def factory() -> StateGraph:
            return build()
        def compiled_factory() -> "CompiledStateGraph[dict, None, dict, dict]":
            return build().compile()
    """)
    )
    for attribute in ("builder", "factory"):
        assert hasattr(graph_from_spec(f"{tmp_path / 'kinds.py'}:{attribute}"), "compile")
    for attribute in ("compiled", "compiled_factory"):
        assert hasattr(graph_from_spec(f"{tmp_path / 'kinds.py'}:{attribute}"), "get_state")
    assert hasattr(graph_from_spec("graphs:builder"), "compile")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("graphs.py", "does not name an attribute"),
        ("missing.py:builder", "Graph file 'missing.py' not found"),
        ("no_such_module_xyz:builder", "No module 'no_such_module_xyz'"),
        (
            "{graphs}:nope",
            r"has no attribute 'nope'.*Graphs and graph factories there: build, builder\.",
        ),
        (
            "{graphs}:action",
            r"graphs.py:action' is a function without a graph return annotation, so it is not",
        ),
        ("{graphs}:TABLE", r"graphs.py:TABLE' is a dict, so it is not called"),
        ("{graphs}:State", r"graphs.py:State' is the class State, so it is not called"),
    ],
)
def test_load_graph_bad_spec_is_usage_error(spec: str, message: str) -> None:
    """A spec naming no graph fails with a usage error that says what is wrong."""
    with pytest.raises(CLIError, match=message) as info:
        graph_from_spec(spec.format(graphs=ROOT / "tests" / "graphs.py"))
    assert info.value.code == ExitCode.USAGE


def test_render_durations_are_short() -> None:
    """Ages and deadlines print as compact durations; a passed deadline says overdue."""
    assert [span(s) for s in (45, 125, 3 * 3600 + 5 * 60, 2 * 86400 + 4 * 3600)] == [
        "45s",
        "2m",
        "3h05m",
        "2d04h",
    ]
    assert (until(None, 0), until(100, 40), until(40, 100)) == ("-", "in 1m", "overdue 1m")


# -- pending ---------------------------------------------------------------------------------------


def test_pending_lists_request_with_short_id(db_url: str) -> None:
    """The table shows the short id, thread, action, risk, age, deadline and approvers."""
    rid = paused(db_url, "t-1", id=7)
    result = cli(db_url, "pending")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["request", "thread", "action", "risk", "age", "deadline", "approvers"]
    assert row.split()[:4] == [rid[:12], "t-1", "delete_record", "high"]
    assert "anyone" in row and "1 pending" in result.stdout


def test_pending_json_matches_pending_request(db_url: str) -> None:
    """--json prints the same shape as `PendingRequest.to_dict()`, and the cursor."""
    rid = paused(db_url, "t-1", id=7)
    result = cli(db_url, "pending", "--json")
    data = json.loads(result.stdout)
    with Approvals.open(build(), db_url) as hitl:
        expected = hitl.get(rid).to_dict()
    assert data == {"items": [expected], "next_cursor": None}


def test_pending_filters_by_risk_and_approver(db_url: str, strict_graph: str) -> None:
    """--risk and --approver narrow the list the way `Approvals.pending` does."""
    open_to_all = paused(db_url, "open", id=1)
    listed = paused(db_url, "listed", strict_builder(strict_graph), id=2)
    medium = paused(db_url, "medium", name="send_email", to="x@example.com")
    assert status(db_url, medium) == "pending"

    def ids(*args: str) -> list[str]:
        return [i["request_id"] for i in json.loads(cli(db_url, "pending", "--json", *args).stdout)["items"]]

    assert set(ids("--risk", "high")) == {open_to_all, listed}
    assert set(ids("--approver", "carol")) == {open_to_all, medium}
    assert set(ids("--approver", "alice", "--risk", "high")) == {open_to_all, listed}


def test_pending_pages_with_cursor(db_url: str) -> None:
    """A full page prints the cursor of the next one; following it reaches every request once."""
    made = {paused(db_url, f"t-{i}", id=i) for i in range(3)}
    first = json.loads(cli(db_url, "pending", "--json", "--limit", "2").stdout)
    assert len(first["items"]) == 2 and first["next_cursor"]
    table = cli(db_url, "pending", "--limit", "2").stdout
    assert f"next page: --cursor {first['next_cursor']}" in table
    second = json.loads(
        cli(db_url, "pending", "--json", "--limit", "2", "--cursor", first["next_cursor"]).stdout
    )
    assert second["next_cursor"] is None
    assert {i["request_id"] for i in first["items"] + second["items"]} == made


def test_pending_prints_brackets_literally(db_url: str) -> None:
    """Thread ids are data, not rich markup: brackets print as typed."""
    paused(db_url, "[bold]t[/]", id=1)
    result = cli(db_url, "pending")
    assert result.exit_code == 0 and "[bold]t[/]" in result.stdout


def test_pending_unknown_risk_is_usage_error(db_url: str) -> None:
    """--risk outside low..critical exits 2 with the allowed values."""
    paused(db_url, "t", id=1)
    result = cli(db_url, "pending", "--risk", "severe")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: --risk 'severe' is not a risk level.",
        "Hint: Use one of: low, medium, high, critical.",
    ]


def test_pending_empty_inbox_says_so(db_url: str) -> None:
    """An empty inbox is not an error."""
    paused(db_url, "t", id=1)
    with Approvals.open(build(), db_url) as hitl:
        hitl.decide(hitl.pending().items[0].request_id, {"type": "reject"}, approver="alice")
    result = cli(db_url, "pending")
    assert result.exit_code == 0 and result.stdout.strip() == "No pending requests."


def test_pending_missing_database_exits_7_and_creates_nothing(tmp_path: Path) -> None:
    """A database that does not exist is reported, not created."""
    result = runner.invoke(app, ["pending"])
    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: No database at '{tmp_path / 'hitl.db'}'")
    assert "Hint: " in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "hitl.db").exists()


# -- show ------------------------------------------------------------------------------------------


def test_show_prints_full_context_and_history(db_url: str, strict_graph: str) -> None:
    """show prints action, args, reasons, impact, reversibility, approvers, phrase, context and the history."""
    rid = paused(db_url, "t-show", strict_builder(strict_graph), id=42, table="customers")
    result = cli(db_url, "show", rid)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        rid,
        "delete_record",
        '"table": "customers"',
        '"id": 42',
        "irreversible_high",
        "high",
        "alice, bob",
        "DELETE 42",
        "approve, reject",
        "reasons",
        "context",
        "history of thread t-show",
        "proposed",
    ):
        assert text in out, text
    facts = {
        line.split("  ", 1)[0]: line.split("  ", 1)[-1].strip() for line in out.splitlines() if "  " in line
    }
    assert facts["verify phrase"] == "DELETE 42" and facts["approvers"] == "alice, bob"


def test_show_accepts_unique_prefix(db_url: str) -> None:
    """Six or more leading characters of an id are enough."""
    rid = paused(db_url, "t", id=1)
    assert rid in cli(db_url, "show", rid[:6]).stdout


@pytest.mark.parametrize(
    ("request_id", "message"),
    [
        ("ffffffffffff", "Error: No request 'ffffffffffff' in the inbox."),
        ("abc", "Error: No request 'abc' in the inbox (a prefix needs at least 6 characters)."),
    ],
)
def test_show_unknown_request_exits_3(db_url: str, request_id: str, message: str) -> None:
    """An unknown id exits 3 with one error line and one hint line."""
    paused(db_url, "t", id=1)
    result = cli(db_url, "show", request_id)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == message and lines[1].startswith("Hint: ") and len(lines) == 2


def test_show_json_has_request_and_history(db_url: str) -> None:
    """--json prints the request and the thread's audit events."""
    rid = paused(db_url, "t", id=1)
    data = json.loads(cli(db_url, "show", rid, "--json").stdout)
    assert data["request"]["request_id"] == rid and data["request"]["payload"]["hitl"]["risk"] == "high"
    assert [e["event"] for e in data["history"]] == ["proposed"]


# -- deciding --------------------------------------------------------------------------------------


def test_approve_resumes_thread_and_audits_approver(db_url: str) -> None:
    """approve --as alice resumes the thread to its end, says what the handler returned, and the audit log names alice."""
    rid = paused(db_url, "t", id=7)
    result = cli(db_url, "approve", rid[:8], "--as", "alice", "--message", "ok", "--graph", GRAPH)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Approved {rid[:12]} as alice.",
        "Thread t: done (status: executed).",
        'Result: {"args": {"id": 7}, "done": "delete_record"}',
    ]
    assert status(db_url, rid) == "resumed"
    with open_store(db_url) as store:
        approved = store.audit.query(request_id=rid, event="approved")
    assert [(e["actor"], e["detail"]["message"]) for e in approved] == [("alice", "ok")]


def test_approve_critical_waits_for_second_reviewer(db_url: str) -> None:
    """A critical action pauses again for a second person; the first approver may not give it."""
    rid = paused(db_url, "t", id=7, env="prod")
    first = cli(db_url, "approve", rid, "--as", "alice", "--graph", GRAPH)
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[1].startswith("Thread t: paused") and lines[2] == "Waiting for the next reviewer:"
    second = json.loads(cli(db_url, "pending", "--json").stdout)["items"][0]["request_id"]
    assert lines[3].split()[:2] == [second[:12], "delete_record"]
    again = cli(db_url, "approve", second, "--as", "alice", "--graph", GRAPH)
    assert again.exit_code == 6 and "needs a different approver (four-eyes)" in again.stderr
    assert cli(db_url, "approve", second, "--as", "bob", "--graph", GRAPH).exit_code == 0


def test_reject_with_global_graph_option(db_url: str) -> None:
    """--graph works before the command too; reject ends the thread without running the action."""
    rid = paused(db_url, "t", id=7)
    result = runner.invoke(app, ["--db", db_url, "--graph", GRAPH, "reject", rid, "--as", "bob", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        data["status"] == "done"
        and data["values"]["status"] == "rejected"
        and data["decision"]["type"] == "reject"
    )


def test_edit_replaces_arguments(db_url: str) -> None:
    """edit --args sends the new arguments under the same action name; the audit log records the edit."""
    rid = paused(db_url, "t", id=7)
    result = cli(db_url, "edit", rid, "--as", "alice", "--args", '{"id": 8}', "--graph", GRAPH, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"]["edited_action"] == {
        "name": "delete_record",
        "args": {"id": 8},
    }
    with open_store(db_url) as store:
        row = store.inbox.get(rid)
        assert row is not None and row.decision is not None
        assert row.decision["edited_action"]["args"] == {"id": 8}
        assert [e["actor"] for e in store.audit.query(request_id=rid, event="edited")] == ["alice"]


def test_respond_sends_message(db_url: str) -> None:
    """respond passes the message to the graph instead of a verdict."""
    rid = paused(db_url, "t", id=7)
    result = cli(db_url, "respond", rid, "--as", "alice", "-m", "use the archive table", "--graph", GRAPH)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Responded to {rid[:12]} as alice.")
    assert status(db_url, rid) == "resumed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--args", "{id: 8}"], "Error: --args is not JSON"),
        (["--args", "[8]"], "Error: --args must be a JSON object, got list."),
    ],
)
def test_edit_bad_args_is_usage_error(db_url: str, args: list[str], message: str) -> None:
    """--args must be a JSON object; anything else exits 2 before anything is decided."""
    rid = paused(db_url, "t", id=7)
    result = cli(db_url, "edit", rid, "--as", "alice", *args, "--graph", GRAPH)
    assert result.exit_code == 2 and result.stderr.startswith(message)
    assert status(db_url, rid) == "pending"


def test_decide_without_graph_is_usage_error(db_url: str) -> None:
    """Deciding needs the graph; without --graph the command says how to give it."""
    rid = paused(db_url, "t", id=7)
    result = cli(db_url, "approve", rid, "--as", "alice")
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0]
        == "Error: `approve` resumes the paused graph, so it needs the graph: no --graph given."
    )
    assert "LANGGRAPH_HITL_GRAPH" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["edit", "--as", "alice", "--args", '{"id": 1}'], 5, "Decision type 'edit' is not allowed"),
        (["approve", "--as", "mallory", "--verify", "DELETE 9"], 6, "'mallory' may not decide request"),
        (["approve", "--as", "alice", "--verify", "DELETE 1"], 5, "Confirmation phrase does not match"),
        (["approve", "--as", "alice"], 5, "Confirmation phrase missing. Type exactly 'DELETE 9'"),
        (["approve", "--as", "agent", "--verify", "DELETE 9"], 6, "'agent' requested this action"),
    ],
)
def test_decide_refused_leaves_request_pending(
    db_url: str, strict_graph: str, args: list[str], code: int, message: str
) -> None:
    """A refused decision exits 5 (DecisionError) or 6 (AuthorizationError); the request stays pending."""
    rid = paused(db_url, "t", strict_builder(strict_graph), id=9)
    result = cli(db_url, args[0], rid, *args[1:], "--graph", strict_graph)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert (
        len(lines) == 2
        and message in lines[0]
        and lines[1].startswith(f"Hint: Request {rid[:12]} is still pending")
    )
    assert status(db_url, rid) == "pending"


def test_decide_twice_exits_4(db_url: str) -> None:
    """The second decision on a request loses: exit 4 naming who decided."""
    rid = paused(db_url, "t", id=7)
    assert cli(db_url, "approve", rid, "--as", "alice", "--graph", GRAPH).exit_code == 0
    result = cli(db_url, "reject", rid, "--as", "bob", "--graph", GRAPH)
    assert result.exit_code == 4
    assert result.stderr.splitlines()[0] == (
        f"Error: Request {rid} was already decided by 'alice' (approve); one decision wins."
    )


def test_decide_unknown_request_exits_3_before_loading_graph(db_url: str, tmp_path: Path) -> None:
    """An unknown request fails fast: exit 3, and the graph file is never imported."""
    paused(db_url, "t", id=7)
    (tmp_path / "boom.py").write_text("raise RuntimeError('imported')\n")
    result = cli(
        db_url, "approve", "0000000000", "--as", "alice", "--graph", f"{tmp_path / 'boom.py'}:builder"
    )
    assert result.exit_code == 3 and result.stderr.startswith("Error: No request '0000000000' in the inbox.")


def test_decide_expired_request_exits_3(db_url: str) -> None:
    """A request resolved by its deadline cannot be decided any more."""
    rid = paused(db_url, "t", build(timeout_s=60), clock=FakeClock(), id=7)
    with Approvals.open(build(timeout_s=60), db_url) as hitl:
        assert hitl.expire_overdue() == [rid]
    result = cli(db_url, "approve", rid, "--as", "alice", "--graph", GRAPH)
    assert result.exit_code == 3 and "is expired, no longer pending" in result.stderr


def test_unexpected_error_is_one_line_unless_debug(db_url: str, tmp_path: Path) -> None:
    """An unexpected error prints its type and message without a traceback; --debug adds the traceback."""
    rid = paused(db_url, "t", id=7)
    (tmp_path / "boom.py").write_text("raise RuntimeError('graph module is broken')\n")
    args = ["approve", rid, "--as", "alice", "--graph", f"{tmp_path / 'boom.py'}:builder"]
    quiet = cli(db_url, *args)
    assert quiet.exit_code == 1
    assert quiet.stderr.splitlines() == [
        "Error: RuntimeError: graph module is broken",
        "Hint: Rerun with --debug for the traceback.",
    ]
    loud = runner.invoke(app, ["--debug", "--db", db_url, *args], catch_exceptions=False)
    assert loud.exit_code == 1 and "Traceback (most recent call last)" in loud.stderr
    assert status(db_url, rid) == "pending"


# -- expire, recover, serve ------------------------------------------------------------------------


def test_expire_resolves_overdue_requests(db_url: str, tmp_path: Path) -> None:
    """expire rejects every request past its deadline, as system:timeout."""
    rid = paused(db_url, "t", build(timeout_s=60), clock=FakeClock(), id=7)
    (tmp_path / "timed.py").write_text(
        "from graphs import build\n\ndef builder() -> 'StateGraph':\n    return build(timeout_s=60)\n"
    )
    result = cli(db_url, "expire", "--graph", f"{tmp_path / 'timed.py'}:builder")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Expired 1 overdue request(s): {rid[:12]}"
    assert status(db_url, rid) == "expired"
    with open_store(db_url) as store:
        assert [e["actor"] for e in store.audit.query(request_id=rid, event="timed_out")] == [
            "system:timeout"
        ]


def test_expire_without_overdue_does_not_load_graph(db_url: str, tmp_path: Path) -> None:
    """With nothing overdue, expire answers from the store alone (cheap enough for cron)."""
    paused(db_url, "t", id=7)
    (tmp_path / "boom.py").write_text("raise RuntimeError('imported')\n")
    result = cli(db_url, "expire", "--json", "--graph", f"{tmp_path / 'boom.py'}:builder")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"expired": []}


def test_recover_on_clean_database_reports_nothing(db_url: str) -> None:
    """recover with nothing in flight changes nothing."""
    rid = paused(db_url, "t", id=7)
    result = cli(db_url, "recover", "--older-than", "0", "--graph", GRAPH, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "redriven": [],
        "already_resumed": [],
        "continued": [],
        "reindexed": [],
    }
    assert status(db_url, rid) == "pending"


def test_serve_without_web_inbox_explains(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve without the web module prints the extra to install and exits 1."""
    monkeypatch.setitem(sys.modules, "langgraph_hitl.web", None)
    result = cli(db_url, "serve", "--port", "8123")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: The web inbox is not available")
    assert lines[1] == 'Hint: Install it: pip install "langgraph-hitl[web]".'


def test_serve_without_approvers_is_usage_error(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve needs to know who may sign in; without --approvers or HITL_WEB_TOKENS it exits 2."""
    monkeypatch.delenv("HITL_WEB_TOKENS", raising=False)
    paused(db_url, "t", id=7)
    result = cli(db_url, "serve", "--port", "8123")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: create_app needs approvers")
    assert "Hint: Pass --approvers tokens.txt" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_starts_web_inbox_on_same_database(db_url: str, tmp_path: Path) -> None:
    """serve runs the web inbox on --host/--port; its API lists what `pending --json` lists."""
    rid = paused(db_url, "t", id=7)
    (tmp_path / "tokens.txt").write_text("alice:alice-secret-token\n")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_hitl.cli",
            "--db",
            db_url,
            "serve",
            "--port",
            str(port),
            "--approvers",
            str(tmp_path / "tokens.txt"),
            "--graph",
            GRAPH,
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/requests", headers={"Authorization": "Bearer alice-secret-token"}
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    listed = json.loads(response.read())
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "the web inbox did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert [i["request_id"] for i in listed["items"]] == [rid]
    assert listed == json.loads(cli(db_url, "pending", "--json").stdout)


# -- audit and stats -------------------------------------------------------------------------------


def test_audit_lists_and_filters_events(db_url: str) -> None:
    """audit tails the log; --actor and --event filter it."""
    rid = paused(db_url, "t", id=7)
    cli(db_url, "approve", rid, "--as", "alice", "--graph", GRAPH)
    table = cli(db_url, "audit").stdout.splitlines()
    assert table[0].split() == [
        "seq",
        "time",
        "(UTC)",
        "event",
        "actor",
        "action",
        "result",
        "request",
        "thread",
    ]
    assert [line.split()[3] for line in table[1:]] == ["proposed", "approved", "executed"]
    lines = cli(db_url, "audit", "--json", "--actor", "alice").stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["approved"]
    lines = cli(
        db_url, "audit", "--json", "--event", "proposed", "--event", "executed", "--limit", "0"
    ).stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["proposed", "executed"]
    assert len(cli(db_url, "audit", "--json", "--request", rid[:8]).stdout.splitlines()) == 1


def test_audit_unknown_event_is_usage_error(db_url: str) -> None:
    """--event must be one of the audit log's event names."""
    paused(db_url, "t", id=7)
    result = cli(db_url, "audit", "--event", "approve")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --event approve: no such audit event.")


def test_audit_verify_detects_tampering(db_url: str) -> None:
    """--verify passes on an intact log and exits 8 naming the first edited row."""
    paused(db_url, "t", id=7)
    ok = cli(db_url, "audit", "--verify")
    assert ok.exit_code == 0 and ok.stdout.startswith("Audit log verified: 1 events, hash chain intact")
    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    with conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'hitl_audit'"
        ):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 1")
    conn.close()
    bad = cli(db_url, "audit", "--verify", "--json")
    assert bad.exit_code == 8
    assert json.loads(bad.stdout)["first_bad_seq"] == 1
    assert bad.stderr.startswith(
        "Error: Audit log failed verification at seq 1: row 1's contents do not match"
    )


def test_stats_counts_decisions_per_gate(db_url: str) -> None:
    """stats reports decisions per gate, action and approver, as a table and as JSON."""
    for i, kind in enumerate(("approve", "reject")):
        rid = paused(db_url, f"t-{i}", id=i)
        with Approvals.open(build(), db_url) as hitl:
            hitl.decide(rid, {"type": kind}, approver="alice")
    data = json.loads(cli(db_url, "stats", "--json").stdout)
    assert data["totals"]["decisions"] == 2 and data["approvers"]["alice"]["rejected"] == 1
    table = cli(db_url, "stats").stdout
    assert table.startswith("2 decisions (all time): approved 1, edited 0, rejected 1")
    assert "gates" in table and "review" in table and "alice" in table


# -- help, extras, fast path -----------------------------------------------------------------------


def test_help_documents_exit_codes() -> None:
    """--help ends with the exit codes."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert (
        "Exit codes: 0 ok, 1 unexpected error, 2 usage error, 3 not found / not pending, 4 conflict" in text
    )
    for name in (
        "pending",
        "show",
        "approve",
        "reject",
        "edit",
        "respond",
        "expire",
        "recover",
        "audit",
        "stats",
        "serve",
    ):
        assert f" {name} " in text


def test_main_without_cli_extra_prints_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without typer the command prints one line naming the extra and exits 1."""
    monkeypatch.setitem(sys.modules, "typer", None)
    assert main(["pending"]) == 1
    assert (
        capsys.readouterr().err
        == 'langgraph-hitl: the command line needs the [cli] extra: pip install "langgraph-hitl[cli]"\n'
    )


def _typer_options(command: str) -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return {opt for p in params for opt in p.opts if opt.startswith("--") and opt != "--help"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_fast_parser_options_match_typer_commands(command: str) -> None:
    """The fast path knows exactly the options the typer command declares."""
    fast = COMMANDS[command]
    assert set(fast.values) | set(fast.flags) | set(fast.multi) == _typer_options(command)


def test_fast_parser_global_options_match_typer_callback() -> None:
    """The fast path's global options are the typer callback's, less --version and --help."""
    import typer.main

    params = typer.main.get_command(app).params
    declared = {o for p in params for o in p.opts if o.startswith("--")} - {"--version", "--help"}
    assert declared == set(GLOBAL_VALUES) | set(GLOBAL_FLAGS)


@pytest.mark.parametrize(
    "argv",
    [
        ["pending", "--help"],
        ["pending", "-h"],
        ["--version"],
        ["pending", "--limit", "0"],
        ["pending", "--limit", "x"],
        ["pending", "--lmit", "3"],
        ["show"],
        ["show", "a", "b"],
        ["pending", "--cursor"],
        ["approve", "x"],
        ["--graph"],
        ["pending", "--json=yes"],
        ["audit", "--limit", "-1"],
        ["pending", "--cursor", "--json"],
    ],
)
def test_fast_parser_defers_to_typer(argv: list[str]) -> None:
    """Help, typos, bad numbers, missing values and deciding commands are left to typer."""
    assert parse(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["pending"],
        ["pending", "--json", "--limit=2"],
        ["pending", "--risk", "high", "--approver", "alice"],
        ["show", "{rid}"],
        ["show", "--json", "{short}"],
        ["audit"],
        ["audit", "--json", "--event", "proposed"],
        ["audit", "--verify"],
        ["stats"],
        ["stats", "--json", "--min-samples", "1"],
        ["show", "zzzzzzzz"],
        ["pending", "--risk", "severe"],
        ["pending", "--thread", "t"],
        ["pending", "--json", "--thread=t"],
        ["show", "--thread", "t"],
        ["show", "--json", "--thread", "t"],
        ["show", "--thread", "T"],
        ["show", "{short}", "--thread", "t"],
    ],
)
def test_fast_path_output_matches_typer(
    db_url: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The fast path prints what the typer command prints, and exits the same."""
    rid = paused(db_url, "t", id=7)
    args = ["--db", db_url, *(a.format(rid=rid, short=rid[:8]) for a in argv)]
    assert parse(args) is not None
    code = main(args)
    fast = capsys.readouterr()
    slow = runner.invoke(app, args, catch_exceptions=False)
    assert (code, fast.out, fast.err) == (slow.exit_code, slow.stdout, slow.stderr)


# -- real processes --------------------------------------------------------------------------------

_WRAPPER = """
import json, sys
from langgraph_hitl.cli import main
{call}
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('langgraph', 'langchain_core', 'pydantic'))
sys.stderr.write('\\nMODULES ' + json.dumps(heavy) + '\\n')
sys.exit(code)
"""


@pytest.fixture
def seeded(db_url: str) -> Iterator[tuple[str, str]]:
    """A database with one pending and one decided request: (db_url, pending request id)."""
    done = paused(db_url, "done", id=1)
    with Approvals.open(build(), db_url) as hitl:
        hitl.decide(done, {"type": "approve"}, approver="alice")
    yield db_url, paused(db_url, "waiting", id=2)


@pytest.mark.parametrize("via", ["main", "typer"])
@pytest.mark.parametrize(
    "argv",
    [
        ["pending"],
        ["pending", "--json"],
        ["show", "{rid}"],
        ["show", "{rid}", "--json"],
        ["pending", "--thread", "waiting"],
        ["show", "--thread", "done", "--json"],
        ["audit"],
        ["audit", "--json"],
        ["audit", "--verify"],
        ["stats"],
        ["stats", "--json"],
    ],
)
def test_read_commands_never_import_langgraph(
    seeded: tuple[str, str], tmp_path: Path, argv: list[str], via: str
) -> None:
    """pending, show, audit and stats run without importing langgraph or langchain_core (nor pydantic on the fast path)."""
    db_url, rid = seeded
    args = ["--db", db_url, *(a.format(rid=rid) for a in argv)]
    call = (
        f"code = main({args!r})"
        if via == "main"
        else "from langgraph_hitl.cli._app import app\n"
        f"try:\n    app({args!r}, prog_name='langgraph-hitl')\nexcept SystemExit as e:\n    code = e.code"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER.format(call=call)],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    heavy = json.loads(proc.stderr.rsplit("MODULES ", 1)[1])
    assert not [m for m in heavy if not m.startswith("pydantic")], heavy
    if via == "main":
        assert heavy == [], heavy


@pytest.mark.slow
def test_end_to_end_in_real_processes(tmp_path: Path, strict_graph: str) -> None:
    """Pause a run, list it, show it, get refused three ways, approve it, and audit it: each a new process."""
    db_url = f"sqlite:///{tmp_path / 'hitl.db'}"
    rid = paused(db_url, "e2e", strict_builder(strict_graph), id=1002, table="customers")
    base = ["--db", db_url]

    listed = run_cli(tmp_path, *base, "pending")
    assert listed.returncode == 0 and rid[:12] in listed.stdout and "e2e" in listed.stdout, listed.stderr

    shown = run_cli(tmp_path, *base, "show", rid[:10])
    assert shown.returncode == 0 and "DELETE 1002" in shown.stdout and '"table": "customers"' in shown.stdout

    for args, code, message in (
        (["edit", "--args", '{"id": 1}', "--as", "alice"], 5, "Decision type 'edit' is not allowed"),
        (["approve", "--as", "mallory", "--verify", "DELETE 1002"], 6, "'mallory' may not decide request"),
        (["approve", "--as", "alice", "--verify", "DELETE 1"], 5, "Confirmation phrase does not match"),
    ):
        refused = run_cli(tmp_path, *base, args[0], rid[:10], *args[1:], "--graph", strict_graph)
        assert refused.returncode == code, refused.stderr
        assert message in refused.stderr and "Traceback" not in refused.stderr
        assert status(db_url, rid) == "pending"

    missing = run_cli(tmp_path, *base, "approve", "0123456789", "--as", "alice", "--graph", strict_graph)
    assert missing.returncode == 3 and "No request '0123456789'" in missing.stderr

    approved = run_cli(
        tmp_path,
        *base,
        "approve",
        rid[:10],
        "--as",
        "alice",
        "--verify",
        "DELETE 1002",
        "--graph",
        strict_graph,
    )
    assert approved.returncode == 0, approved.stderr
    assert "Thread e2e: done (status: executed)." in approved.stdout
    assert status(db_url, rid) == "resumed"

    trail = run_cli(tmp_path, *base, "audit", "--thread", "e2e", "--json")
    events = [(e["event"], e["actor"]) for e in map(json.loads, trail.stdout.splitlines())]
    assert ("approved", "alice") in events and events[-1] == ("executed", "executor")
    assert [a for e, a in events if e == "refused"] == ["alice", "mallory", "alice"]

    verified = run_cli(tmp_path, *base, "audit", "--verify")
    assert verified.returncode == 0 and "hash chain intact" in verified.stdout


@pytest.mark.slow
def test_cli_uses_the_audit_key_from_the_environment(tmp_path: Path, strict_graph: str) -> None:
    """A runner keyed by LANGGRAPH_HITL_AUDIT_KEY: the CLI verifies and appends with it, and refuses without it."""
    db_url = f"sqlite:///{tmp_path / 'hitl.db'}"
    os.environ["LANGGRAPH_HITL_AUDIT_KEY"] = "cli-key"
    try:
        rid = paused(db_url, "keyed", strict_builder(strict_graph), id=7, table="customers")
    finally:
        del os.environ["LANGGRAPH_HITL_AUDIT_KEY"]
    base = ["--db", db_url]
    unkeyed = run_cli(tmp_path, *base, "audit", "--verify")
    assert unkeyed.returncode == 8 and "opened without its key" in unkeyed.stderr + unkeyed.stdout
    refused = run_cli(tmp_path, *base, "approve", rid[:10], "--as", "alice", "--verify", "DELETE 7",
                      "--graph", strict_graph)  # fmt: skip
    assert refused.returncode == 8 and "opened without its key" in refused.stderr
    assert status(db_url, rid) == "pending"
    keyed_env = {**subprocess_env(), "LANGGRAPH_HITL_AUDIT_KEY": "cli-key"}

    def keyed(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "langgraph_hitl.cli", *base, *args], cwd=tmp_path,
                              env=keyed_env, capture_output=True, text=True, timeout=120)  # fmt: skip

    approved = keyed("approve", rid[:10], "--as", "alice", "--verify", "DELETE 7", "--graph", strict_graph)
    assert approved.returncode == 0, approved.stderr
    verified = keyed("audit", "--verify")
    assert verified.returncode == 0, verified.stderr + verified.stdout


@pytest.mark.slow
def test_cli_takes_the_audit_key_file_from_the_config_file(tmp_path: Path, strict_graph: str) -> None:
    """`audit_key_file` in langgraph-hitl.toml (a path relative to the file, e.g. a mounted secret):
    the CLI verifies a keyed log and appends to it with that key."""
    db_url = f"sqlite:///{tmp_path / 'hitl.db'}"
    os.environ["LANGGRAPH_HITL_AUDIT_KEY"] = "file-key"
    try:
        rid = paused(db_url, "keyed", strict_builder(strict_graph), id=7, table="customers")
    finally:
        del os.environ["LANGGRAPH_HITL_AUDIT_KEY"]
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "audit.key").write_text("file-key\n")
    (tmp_path / "langgraph-hitl.toml").write_text(
        f'db = "{db_url}"\ngraph = "{strict_graph}"\naudit_key_file = "secrets/audit.key"\n'
    )
    approved = run_cli(tmp_path, "approve", rid[:10], "--as", "alice", "--verify", "DELETE 7")
    assert approved.returncode == 0, approved.stderr
    verified = run_cli(tmp_path, "audit", "--verify")
    assert verified.returncode == 0 and "hash chain intact" in verified.stdout, verified.stderr
    (tmp_path / "langgraph-hitl.toml").write_text(
        f'db = "{db_url}"\naudit_key_file = "secrets/missing.key"\n'
    )
    missing = run_cli(tmp_path, "audit", "--verify")
    assert missing.returncode == 2 and "secrets/missing.key" in missing.stderr
    assert "audit_key_file in" in missing.stderr


@pytest.mark.parametrize(
    "payload",
    [
        {"action_requests": [{"name": "a"}], "review_configs": [{"allowed_decisions": ["approve", "reject"]}],
         "hitl": {"allowed_decisions": ["approve", "reject", "revise"]}},
        {"action_requests": [{"name": "a"}, {"name": "b"}],
         "review_configs": [{"allowed_decisions": ["approve"]}, {"allowed_decisions": ["reject", "edit"]}], "hitl": {}},
        {"action_requests": [{"name": "a"}], "review_configs": [{"allowed_decisions": ["approve", "respond"]}], "hitl": {}},
    ],
)  # fmt: skip
def test_cli_reads_allowed_decisions_as_the_decide_path_does(payload: dict[str, Any]) -> None:
    """The CLI keeps its own copy of `decisions.allowed_decisions` (no pydantic on its fast path): the same answers."""
    from langgraph_hitl import decisions
    from langgraph_hitl.cli import _calls

    for i in range(len(payload["action_requests"])):
        assert _calls.allowed_decisions(payload, i) == decisions.allowed_decisions(payload, i)
