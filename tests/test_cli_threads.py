"""The CLI by thread id: `pending --thread`, `show --thread`, `approve|reject|edit|respond --thread`.

A thread is resolved to its request in the store (its one pending request, or the one
`--interrupt-id` names: the rules of `Approvals.resume`), then decided through the same path
as a request id. Thread ids match exactly: no prefixes, case counts. What the database holds
is printed inert. The cross-process door is in `tests/test_resume_by_thread.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_cli import GRAPH, cli, paused, status
from test_cli_terminal import assert_terminal_safe, escaped

from langgraph_hitl import Approvals
from langgraph_hitl.store import open_store

from graphs import build

PARALLEL = """
from langgraph.graph import StateGraph

from test_subgraphs import graph


def builder() -> StateGraph:
    return graph("parallel")
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings leak in from the environment or a config file in the working directory."""
    for name in ("LANGGRAPH_HITL_DB", "LANGGRAPH_HITL_GRAPH", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def parallel(tmp_path: Path) -> str:
    """A graph spec whose run pauses at two parallel reviews on one thread."""
    path = tmp_path / "parallel.py"
    path.write_text(PARALLEL)
    return f"{path}:builder"


def two_questions(db_url: str, spec: str, thread: str = "two") -> list[Any]:
    """Start `thread` on the parallel graph; its two pending requests."""
    from test_subgraphs import first_input

    from langgraph_hitl.graphspec import load_graph

    with Approvals.open(load_graph(spec), db_url) as hitl:
        run = hitl.start(thread, first_input("parallel", "delete_record"))
    assert len(run.pending) == 2, run
    return list(run.pending)


def interrupt_of(db_url: str, request_id: str) -> str:
    with Approvals.open(build(), db_url) as hitl:
        return hitl.get(request_id).interrupt_id


# -- pending and show ------------------------------------------------------------------------------


def test_pending_thread_lists_its_requests_with_their_interrupt_ids(db_url: str) -> None:
    """`pending --thread T` lists T's requests only, the interrupt id in place of the thread column."""
    rid = paused(db_url, "ticket-42", id=42)
    paused(db_url, "ticket-43", id=43)
    result = cli(db_url, "pending", "--thread", "ticket-42")
    assert result.exit_code == 0, result.output
    header, row, _, footer = result.stdout.splitlines()[:4]
    assert header.split() == ["request", "interrupt", "action", "risk", "age", "deadline", "approvers"]
    assert row.split()[:3] == [rid[:12], interrupt_of(db_url, rid), "delete_record"]
    assert footer == "1 pending on thread 'ticket-42'. Details: langgraph-hitl show --thread ticket-42"
    data = json.loads(cli(db_url, "pending", "--thread", "ticket-42", "--json").stdout)
    with Approvals.open(build(), db_url) as hitl:
        assert data == {"items": [hitl.get(rid).to_dict()], "next_cursor": None}
    assert data["items"][0]["interrupt_id"] == interrupt_of(db_url, rid)
    empty = cli(db_url, "pending", "--thread", "nobody")
    assert empty.exit_code == 0 and empty.stdout.strip() == "No pending requests on thread 'nobody'."


def test_show_thread_lists_every_request_and_the_history(db_url: str) -> None:
    """`show --thread T`: each request (decided and pending) on a line, the pending one in full, the
    history once; `--json` carries each request as `show REQUEST` has it."""
    first = paused(db_url, "prod", id=7, env="prod")  # critical: a second person reviews after alice
    with Approvals.open(build(), db_url) as hitl:
        second = hitl.decide(first, {"type": "approve"}, approver="alice").pending[0].request_id
    result = cli(db_url, "show", "--thread", "prod")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "thread prod: waits on 1 request"
    assert lines[2].split()[:3] == [first[:12], "decided", "alice"]
    assert lines[3].split()[:3] == [second[:12], "pending", "-"]
    assert f"request        {second}" in result.stdout and f"request        {first}" not in result.stdout
    assert result.stdout.count("history of thread prod") == 1 and "approved" in result.stdout
    data = json.loads(cli(db_url, "show", "--thread", "prod", "--json").stdout)
    alone = [json.loads(cli(db_url, "show", rid, "--json").stdout) for rid in (first, second)]
    assert data == {
        "thread_id": "prod",
        "requests": [{"request": a["request"], "outcome": a["outcome"]} for a in alone],
        "history": alone[0]["history"],
    }


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["show"], 2, "Error: `show` needs a request id or --thread THREAD."),
        (["show", "abcdef", "--thread", "t"], 2, "Error: `show` takes a request or --thread, not both."),
        (["show", "--thread", ""], 2, "Error: --thread is empty."),
        (["pending", "--thread", ""], 2, "Error: --thread is empty."),
        (
            ["show", "--thread", "T"],
            3,
            "Error: No thread 'T' in the inbox: it never paused for a decision here, or its id differs.",
        ),
        (["approve", "--as", "alice"], 2, "Error: `approve` needs a request id or --thread THREAD."),
        (
            ["reject", "abcdef", "--as", "alice", "--interrupt-id", "x"],
            2,
            "Error: --interrupt-id picks one of a thread's requests, but no --thread was given.",
        ),
    ],
)
def test_request_or_thread_usage_errors(db_url: str, args: list[str], code: int, error: str) -> None:
    """Exactly one of REQUEST and --thread, never an empty thread, --interrupt-id only with --thread;
    an unknown thread exits 3 naming it. Nothing is decided."""
    rid = paused(db_url, "t", id=1)
    result = cli(db_url, *args, "--graph", GRAPH) if args[0] in ("approve", "reject") else cli(db_url, *args)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == error and lines[1].startswith("Hint: ") and len(lines) == 2
    assert status(db_url, rid) == "pending"


# -- deciding --------------------------------------------------------------------------------------


def test_approve_by_thread_is_the_request_path(db_url: str) -> None:
    """`approve --thread T` decides T's one request: the same words, the same JSON fields, the same audit row."""
    by_id, by_thread = paused(db_url, "by-id", id=1), paused(db_url, "by-thread", id=2)
    result = cli(db_url, "approve", "--thread", "by-thread", "--as", "alice", "-m", "ok", "--graph", GRAPH)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Approved {by_thread[:12]} as alice.",
        "Thread by-thread: done (status: executed).",
        'Result: {"args": {"id": 2}, "done": "delete_record"}',
    ]
    assert (status(db_url, by_thread), status(db_url, by_id)) == ("resumed", "pending")
    with open_store(db_url) as store:
        trail = [(e["event"], e["actor"]) for e in store.audit.query(thread_id="by-thread")]
    assert trail == [("proposed", "agent"), ("approved", "alice"), ("executed", "executor")]
    again = paused(db_url, "json-thread", id=3)
    rejecting = ["--as", "bob", "--json", "--graph", GRAPH]
    keyed = json.loads(cli(db_url, "reject", "--thread", "json-thread", *rejecting).stdout)
    plain = json.loads(cli(db_url, "reject", by_id, *rejecting).stdout)
    assert keyed.keys() == plain.keys() and keyed["request_id"] == again
    assert (keyed["thread_id"], keyed["values"]["status"]) == ("json-thread", "rejected")


def test_a_prefix_or_another_case_is_another_thread(db_url: str) -> None:
    """`--thread ticket-4` is not `ticket-42`, and `Ticket-42` is neither: exact ids only."""
    long = paused(db_url, "ticket-42", id=42)
    short = paused(db_url, "ticket-4", id=4)
    upper = paused(db_url, "TICKET-42", id=420)

    def listed(thread: str) -> list[str]:
        items = json.loads(cli(db_url, "pending", "--thread", thread, "--json").stdout)["items"]
        return [i["request_id"] for i in items]

    assert (listed("ticket-4"), listed("ticket-42"), listed("TICKET-42")) == ([short], [long], [upper])
    assert listed("ticket") == [] and listed("Ticket-42") == []
    missing = cli(db_url, "approve", "--thread", "Ticket-42", "--as", "alice", "--graph", GRAPH)
    assert missing.exit_code == 3 and "No thread 'Ticket-42' in the inbox" in missing.stderr
    shown = cli(db_url, "show", "--thread", "ticket-4")
    assert short[:12] in shown.stdout and long[:12] not in shown.stdout
    assert cli(db_url, "approve", "--thread", "ticket-4", "--as", "alice", "--graph", GRAPH).exit_code == 0
    assert [status(db_url, r) for r in (short, long, upper)] == ["resumed", "pending", "pending"]


def test_several_pending_on_a_thread_are_listed_until_interrupt_id_picks_one(
    db_url: str, parallel: str
) -> None:
    """Two parallel reviews on one thread: `approve --thread` refuses (exit 2) listing both with their
    nodes, actions and interrupt ids; `--interrupt-id` decides the one it names, and only once."""
    first, second = two_questions(db_url, parallel)
    listing = cli(db_url, "pending", "--thread", "two")
    for p in (first, second):
        assert p.request_id[:12] in listing.stdout and p.interrupt_id in listing.stdout
    refused = cli(db_url, "approve", "--thread", "two", "--as", "alice", "--graph", parallel)
    assert refused.exit_code == 2, refused.output
    error, hint = refused.stderr.splitlines()
    assert error.startswith("Error: Thread 'two' waits on 2 requests: ")
    for p in (first, second):
        assert f"{p.request_id[:12]} (node '{p.node}', delete_record, interrupt id {p.interrupt_id})" in error
    assert hint == "Hint: Pick one with --thread two --interrupt-id ID, or name it by its request id."
    assert [status(db_url, p.request_id) for p in (first, second)] == ["pending", "pending"]
    pick = ["--thread", "two", "--interrupt-id", first.interrupt_id, "--as", "alice", "--graph", parallel]
    done = cli(db_url, "approve", *pick)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"Approved {first.request_id[:12]} as alice.")
    assert [status(db_url, p.request_id) for p in (first, second)] == ["resumed", "pending"]
    with open_store(db_url) as store:
        approved = store.audit.query(thread_id="two", event="approved")
    assert [(e["request_id"], e["actor"]) for e in approved] == [(first.request_id, "alice")]
    twice = cli(db_url, "approve", *pick)
    assert twice.exit_code == 3
    assert twice.stderr.startswith(
        f"Error: Thread 'two' has no pending request with interrupt id '{first.interrupt_id}'."
    )


def test_unknown_or_finished_thread_exits_3_naming_it_before_loading_the_graph(
    db_url: str, tmp_path: Path
) -> None:
    """An unknown thread and a finished one fail in the store, naming the thread; the graph is never imported."""
    rid = paused(db_url, "done", id=1)
    with Approvals.open(build(), db_url) as hitl:
        hitl.decide(rid, {"type": "reject"}, approver="bob")
    (tmp_path / "boom.py").write_text("raise RuntimeError('imported')\n")
    boom = f"{tmp_path / 'boom.py'}:builder"
    ghost = cli(db_url, "approve", "--thread", "ghost", "--as", "alice", "--graph", boom)
    assert ghost.exit_code == 3 and ghost.stderr.splitlines() == [
        "Error: No thread 'ghost' in the inbox: it never paused for a decision here, or its id differs.",
        "Hint: Thread ids match exactly (case too, no prefixes); `langgraph-hitl pending` lists the threads "
        "that wait.",
    ]
    done = cli(db_url, "respond", "--thread", "done", "--as", "alice", "-m", "hi", "--graph", boom)
    assert done.exit_code == 3 and done.stderr.splitlines() == [
        f"Error: Thread 'done' waits on no request: its last, {rid[:12]}, is decided by bob.",
        "Hint: See its story with `langgraph-hitl show --thread done`.",
    ]


# -- terminal safety -------------------------------------------------------------------------------

NASTY = "t\x1b[2J\x1b]0;pwned\x07[red]x[/]\u202eevil 'q'"


def test_thread_ids_with_escapes_are_printed_inert(db_url: str) -> None:
    """A thread id with ESC sequences, a bidi override and rich markup, typed on the command line or
    written to the database: every output escapes it, and none lets a control character through."""
    rid = paused(db_url, "plain", id=1)
    with open_store(db_url) as store:  # someone wrote to the database; the runner only takes printable ids
        row = store.inbox.get(rid)
        assert row is not None
        payload: Any = json.loads(json.dumps(row.payload))
        payload["hitl"]["request_id"] = "f" * 32
        store.inbox.index(NASTY, [("interrupt-1", "", payload)])
    runs = {
        "pending": cli(db_url, "pending", "--thread", NASTY),
        "show": cli(db_url, "show", "--thread", NASTY),
        "show --json": cli(db_url, "show", "--thread", NASTY, "--json"),
        "unknown": cli(db_url, "show", "--thread", NASTY + "\x9b"),
        "approve unknown": cli(db_url, "approve", "--thread", "\x1b[31m", "--as", "alice", "--graph", GRAPH),
        "approve stale": cli(db_url, "approve", "--thread", NASTY, "--as", "alice", "--graph", GRAPH),
    }
    for name, result in runs.items():
        assert_terminal_safe(result.stdout.encode("utf-8"), name)
        assert_terminal_safe(result.stderr.encode("utf-8"), name)
    assert runs["pending"].exit_code == 0 and "f" * 12 in runs["pending"].stdout
    assert escaped(NASTY) in runs["show"].stdout and "[red]x[/]" in runs["show"].stdout
    assert json.loads(runs["show --json"].stdout)["thread_id"] == NASTY
    assert runs["unknown"].exit_code == 3 and "\\x1b[2J" in runs["unknown"].stderr
    unknown = runs["approve unknown"]
    assert unknown.exit_code == 3 and "No thread '\\x1b[31m'" in unknown.stderr
    stale = runs["approve stale"]  # found by its thread, then refused by the runner: no checkpoint holds it
    assert stale.exit_code == 3 and f"Request {'f' * 32} is stale" in stale.stderr
    assert "\\x1b]0;pwned\\x07" in stale.stderr
    assert status(db_url, rid) == "pending"  # the other thread is untouched
