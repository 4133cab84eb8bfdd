"""Tests for langgraph_hitl.mcp_server: real `langgraph-hitl mcp` servers over stdio, driven by
the MCP SDK's own client, on a real SQLite database with paused graphs.

Three servers share one database for the whole module: alice and bob may approve, mallory
may not. Each test works on its own threads, so the tests do not depend on their order.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.types import CallToolResult
from mcp_clients import McpClients, server_env, server_params
from mcp_types import jsonrpc_message_adapter
from typer.testing import CliRunner

from langgraph_hitl import Approvals
from langgraph_hitl.cli._app import app
from langgraph_hitl.cli._errors import CLIError
from langgraph_hitl.cli._inbox_tools import InboxTools, answer_options, tool_error_text
from langgraph_hitl.cli._settings import graph_from_spec, resolve_settings
from langgraph_hitl.errors import AuthorizationError
from langgraph_hitl.mcp_server import lone_surrogates_replaced
from langgraph_hitl.store import open_store

from graphs import action

pytestmark = pytest.mark.slow

GRAPH_SOURCE = """
from langgraph.graph import END, START, StateGraph

from graphs import HANDLERS, State, plan, policy
from langgraph_hitl import Requirement, add_approval_flow


def builder() -> StateGraph:
    people = ["alice", "bob", "carol"]
    pol = policy(
        requirements={
            "high": Requirement(approvers=people),
            "critical": Requirement(approvers=people, required_approvals=2),
        },
        verify_phrases={"delete_record": "DELETE {id}"},
    )
    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_edge(START, "plan")
    add_approval_flow(graph, source="plan", target=END, policy=pol, handlers=HANDLERS)
    return graph
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(database URL, graph spec): a fresh SQLite file and the module's graph."""
    folder = tmp_path_factory.mktemp("mcp")
    (folder / "mcp_graph.py").write_text(GRAPH_SOURCE)
    return f"sqlite:///{folder / 'hitl.db'}", f"{folder / 'mcp_graph.py'}:builder"


def start(world: tuple[str, str], thread: str, name: str, **args: Any) -> str:
    """Run `thread` until it pauses; the pending request's id."""
    db, graph = world
    with Approvals.open(graph_from_spec(graph), db) as hitl:
        run = hitl.start(thread, action(name, **args))
    assert run.status == "paused", run
    return run.pending[0].request_id


@pytest.fixture(scope="module")
def mcp(world: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpClients]:
    """Servers deciding as alice, bob and mallory, with their stderr in a log file."""
    with Approvals.open(graph_from_spec(world[1]), world[0]):
        pass  # creates the database: a server never creates one
    log = tmp_path_factory.mktemp("mcp-log") / "servers.log"
    with log.open("w") as errlog, McpClients(*world, ["alice", "bob", "mallory"], errlog) as clients:
        yield clients


def ok(result: CallToolResult) -> dict[str, Any]:
    """A successful call's structured result."""
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error(result: CallToolResult) -> str:
    """A failed call's message."""
    assert result.is_error, result.structured_content
    return " ".join(str(getattr(c, "text", "")) for c in result.content)


def row(world: tuple[str, str], request_id: str) -> Any:
    """The inbox row of a request."""
    with open_store(world[0]) as store:
        found = store.inbox.get(request_id)
    assert found is not None
    return found


def events(world: tuple[str, str], thread: str) -> list[tuple[str, str]]:
    """(event, actor) of a thread's audit rows."""
    with open_store(world[0]) as store:
        return [(r["event"], r["actor"]) for r in store.audit.query(thread_id=thread)]


# -- reading -----------------------------------------------------------------------------------------


def test_tools_are_listed_and_none_takes_an_approver(mcp: McpClients) -> None:
    """The three tools are listed with honest annotations, and no tool has a parameter naming who decides."""
    tools = {t.name: t for t in mcp.run(mcp.sessions["alice"].list_tools()).tools}
    assert set(tools) == {"list_pending", "show_request", "decide"}
    assert tools["list_pending"].annotations is not None and tools["list_pending"].annotations.read_only_hint
    assert tools["decide"].annotations is not None and tools["decide"].annotations.destructive_hint
    for tool in tools.values():
        names = set(tool.input_schema.get("properties", {}))
        assert not names & {"approver", "as", "identity", "user", "actor"}, (tool.name, names)


def test_list_pending_lists_and_filters_by_identity(mcp: McpClients, world: tuple[str, str]) -> None:
    """`list_pending` shows a new request; `mine` keeps it for an approver and drops it for mallory."""
    request = start(world, "list-1", "delete_record", id=1)
    listed = ok(mcp.call("alice", "list_pending", {"thread_id": "list-1"}))["items"]
    assert [i["request_id"] for i in listed] == [request]
    assert listed[0]["action"] == {
        "name": "delete_record",
        "args": {"id": 1},
        "description": "delete_record(id=1)",
    }
    mine = ok(mcp.call("alice", "list_pending", {"mine": True, "limit": 500}))["items"]
    assert request in {i["request_id"] for i in mine}
    theirs = ok(mcp.call("mallory", "list_pending", {"mine": True, "limit": 500}))["items"]
    assert request not in {i["request_id"] for i in theirs}
    assert "risk" in error(mcp.call("alice", "list_pending", {"risk": "severe"}))


def test_show_request_by_prefix(mcp: McpClients, world: tuple[str, str]) -> None:
    """`show_request` takes a 6+ character prefix and returns the request, its status and its history."""
    request = start(world, "show-1", "delete_record", id=2)
    shown = ok(mcp.call("bob", "show_request", {"request_id": request[:8]}))
    assert shown["request"]["request_id"] == request
    assert shown["request"]["payload"]["hitl"]["verify_phrase"] == "DELETE 2"
    assert shown["outcome"]["status"].startswith("pending")
    assert [h["event"] for h in shown["history"]] == ["proposed"]


# -- deciding ----------------------------------------------------------------------------------------


def test_approve_decides_as_the_server_identity(mcp: McpClients, world: tuple[str, str]) -> None:
    """alice's server approves with the phrase; the action runs and the audit names alice."""
    request = start(world, "approve-1", "delete_record", id=3)
    done = ok(
        mcp.call("alice", "decide", {"request_id": request, "decision": "approve", "verify": "DELETE 3"})
    )
    assert (done["outcome"], done["values"]["status"]) == ("done", "executed")
    assert row(world, request).decided_by == "alice"
    assert ("approved", "alice") in events(world, "approve-1")


def test_forged_approver_argument_changes_nothing(mcp: McpClients, world: tuple[str, str]) -> None:
    """An `approver` argument is ignored: mallory's server stays mallory (refused), bob's stays bob."""
    request = start(world, "forge-1", "delete_record", id=4)
    forged = {"request_id": request, "decision": "approve", "verify": "DELETE 4", "approver": "alice"}
    refused = error(mcp.call("mallory", "decide", forged))
    assert "mallory" in refused and "'mallory'" in refused
    assert row(world, request).status == "pending"
    ok(mcp.call("bob", "decide", forged))
    assert row(world, request).decided_by == "bob"
    assert [e for e in events(world, "forge-1") if e[0] == "approved"] == [("approved", "bob")]


def test_unauthorized_approver_is_refused_and_the_request_stays_pending(
    mcp: McpClients, world: tuple[str, str]
) -> None:
    """mallory is not among the approvers: a tool error naming mallory, and nothing decided."""
    request = start(world, "unauth-1", "delete_record", id=5)
    message = error(mcp.call("mallory", "decide", {"request_id": request, "decision": "reject"}))
    assert "mallory" in message and "still pending" in message
    assert row(world, request).status == "pending"
    assert "approved" not in {e for e, _ in events(world, "unauth-1")}


def test_wrong_phrase_is_refused(mcp: McpClients, world: tuple[str, str]) -> None:
    """A missing or wrong confirmation phrase is refused with the reason; the request stays pending."""
    request = start(world, "phrase-1", "delete_record", id=6)
    message = error(
        mcp.call("alice", "decide", {"request_id": request, "decision": "approve", "verify": "DELETE 7"})
    )
    assert "phrase" in message.lower() and "still pending" in message
    assert row(world, request).status == "pending"


def test_reject_with_a_message(mcp: McpClients, world: tuple[str, str]) -> None:
    """bob rejects; nothing runs and the audit records bob's rejection."""
    request = start(world, "reject-1", "delete_record", id=8)
    done = ok(
        mcp.call("bob", "decide", {"request_id": request, "decision": "reject", "message": "not today"})
    )
    assert done["values"]["status"] == "rejected"
    assert ("rejected", "bob") in events(world, "reject-1")
    assert "executed" not in {e for e, _ in events(world, "reject-1")}


def test_edit_runs_the_edited_action(mcp: McpClients, world: tuple[str, str]) -> None:
    """An edit with `edited_args` runs the edited action, re-assessed, as alice."""
    request = start(world, "edit-1", "send_email", to="all@example.com")
    edited = {"request_id": request, "decision": "edit", "edited_args": {"to": "one@example.com"}}
    done = ok(mcp.call("alice", "decide", edited))
    assert done["values"]["status"] == "executed"
    assert done["values"]["result"]["args"] == {"to": "one@example.com"}
    assert ("edited", "alice") in events(world, "edit-1")


def test_edit_without_args_names_the_fix(mcp: McpClients, world: tuple[str, str]) -> None:
    """`edit` without `edited_args` is a tool error in the tool's own words."""
    request = start(world, "edit-2", "send_email", to="x@example.com")
    message = error(mcp.call("alice", "decide", {"request_id": request, "decision": "edit"}))
    assert "edited_args" in message and "--args" not in message


def test_four_eyes_across_two_server_identities(mcp: McpClients, world: tuple[str, str]) -> None:
    """A critical action needs two people: alice's server approves, alice again is refused, bob's completes it."""
    first = start(world, "four-eyes-1", "delete_record", id=9, env="prod")
    waiting = ok(
        mcp.call("alice", "decide", {"request_id": first, "decision": "approve", "verify": "DELETE 9"})
    )
    assert waiting["outcome"] == "waiting"
    second = waiting["pending"][0]["request_id"]
    again = {"request_id": second, "decision": "approve", "verify": "DELETE 9"}
    assert "alice" in error(mcp.call("alice", "decide", again))
    assert row(world, second).status == "pending"
    done = ok(mcp.call("bob", "decide", again))
    assert done["values"]["status"] == "executed"
    approvals = [actor for event, actor in events(world, "four-eyes-1") if event == "approved"]
    assert approvals == ["alice", "bob"]


def test_unknown_and_already_decided_requests(mcp: McpClients, world: tuple[str, str]) -> None:
    """An unknown id and a decided request are tool errors that say so and point to the fix."""
    assert "No request 'no-such-request'" in error(
        mcp.call("alice", "decide", {"request_id": "no-such-request", "decision": "approve"})
    )
    request = start(world, "twice-1", "send_email", to="y@example.com")
    ok(mcp.call("alice", "decide", {"request_id": request, "decision": "approve"}))
    message = error(mcp.call("bob", "decide", {"request_id": request, "decision": "reject"}))
    assert "already decided by 'alice'" in message
    assert row(world, request).decided_by == "alice"


@pytest.mark.parametrize(
    "odd",
    [
        "ｆ５ｄ１１ａａ７",
        "tâche-✓-ß-🙂",
        "abc\x00def",
        "x" * 100_000,
        "../../etc/passwd",
        " ",
        "\u202eabcdef",
    ],
)
def test_odd_request_ids_are_not_found_cleanly(mcp: McpClients, odd: str) -> None:
    """Unicode, NUL, huge, path-like, blank and bidi ids: a clean 'not found', never a crash."""
    message = error(mcp.call("alice", "show_request", {"request_id": odd}))
    assert "No request" in message and "list_pending" in message


def test_lone_surrogate_id_is_answered_cleanly(world: tuple[str, str], tmp_path: Path) -> None:
    """A JSON escape of a lone surrogate gets an answer (not found, as U+FFFD), and the server keeps serving.

    The SDK's client cannot even send one (its UTF-8 writer refuses it), so this speaks raw
    JSON-RPC to a real server; without the server's repair the SDK drops the message unanswered.
    """
    with Approvals.open(graph_from_spec(world[1]), world[0]):
        pass  # creates the database when this test runs alone (a server never creates one)
    params = server_params("alice", world[0], None, tmp_path)
    with (tmp_path / "err.log").open("w") as err:
        proc = subprocess.Popen(
            [params.command, *params.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=params.env,
            cwd=tmp_path,
        )
        try:
            rpc = RawRpc(proc)
            rpc.send(
                '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
                '"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
            )
            assert rpc.receive()["id"] == 1
            rpc.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
            for n, odd in enumerate(["ab\\ud800cdef", "\\udc00\\ud800xyzxyz", "ab\\ud83d\\ude00cd"], start=2):
                call = '"method":"tools/call","params":{"name":"show_request","arguments":{"request_id":'
                rpc.send(f'{{"jsonrpc":"2.0","id":{n},{call}"{odd}"}}}}}}')
                answer = rpc.receive()
                assert answer["id"] == n and answer["result"]["isError"], answer
                assert "No request" in answer["result"]["content"][0]["text"]
            # Nested too deeply to parse: the SDK drops it (as it drops one without escapes), and the
            # repair must not end the server by raising RecursionError out of its reader.
            deep = "[" * 5000 + "]" * 5000
            rpc.send(f'{{"jsonrpc":"2.0","id":8,{call}"ab\\u0041cd","x":{deep}}}}}}}')
            rpc.send(
                '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"list_pending","arguments":{}}}'
            )
            assert rpc.receive()["result"]["isError"] is False
        finally:
            proc.kill()
            proc.wait()


class RawRpc:
    """Newline-delimited JSON-RPC over a server's stdin and stdout, with a deadline per answer."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"no answer within {timeout} s"
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]


@pytest.mark.parametrize("escape", ["\\u0041", "\\ud800"])
@pytest.mark.parametrize("depth", [600, 990, 5000])
def test_a_line_too_deep_to_repair_is_passed_on_unchanged(escape: str, depth: int) -> None:
    """A message nested deeper than Python can parse or walk goes to the SDK as it came (which
    drops it, as it drops one without escapes): a RecursionError out of the reader ends the server."""
    line = f'{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"a":"{escape}","x":{"[" * depth}{"]" * depth}}}}}'
    assert lone_surrogates_replaced(line) == line


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12), st.booleans())
def test_repaired_lines_always_parse(text: str, ascii_only: bool) -> None:
    """Any string, escaped or raw, parses after the repair; a line without lone surrogates is untouched."""
    line = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": text, text: 1}}, ensure_ascii=ascii_only
    )
    lone = any("\ud800" <= c <= "\udfff" for c in text)
    if not ascii_only and lone:
        return  # not valid UTF-8 text on the wire at all; the SDK's reader makes such bytes U+FFFD
    repaired = lone_surrogates_replaced(line)
    message = jsonrpc_message_adapter.validate_json(repaired, by_name=False)
    assert (repaired == line) is not lone
    assert message.params["x"] == (text if not lone else re.sub("[\ud800-\udfff]", "\ufffd", text))  # type: ignore[union-attr]


def test_unicode_thread_and_its_audit_resource(mcp: McpClients, world: tuple[str, str]) -> None:
    """A unicode thread id lists, decides and reads back as `hitl://audit/{thread_id}`; `hitl://audit` has the newest events."""
    thread = "tâche/✓ ß?#"
    request = start(world, thread, "send_email", to="z@example.com")
    assert [i["request_id"] for i in ok(mcp.call("bob", "list_pending", {"thread_id": thread}))["items"]] == [
        request
    ]
    ok(mcp.call("bob", "decide", {"request_id": request, "decision": "approve"}))
    trail = json.loads(mcp.read("bob", f"hitl://audit/{urllib.parse.quote(thread, safe='')}"))
    assert {r["thread_id"] for r in trail} == {thread}
    assert [r["event"] for r in trail][:2] == ["proposed", "approved"]
    recent = json.loads(mcp.read("alice", "hitl://audit"))
    assert recent[-1]["seq"] >= trail[-1]["seq"] and len(recent) <= 50
    with pytest.raises(Exception, match="No audit events for thread 'never-seen'"):  # noqa: PT011
        mcp.read("alice", "hitl://audit/never-seen")


# -- in process: identity and messages ---------------------------------------------------------------


def test_identity_is_canonical_and_a_system_name_is_refused(world: tuple[str, str]) -> None:
    """`--as ' ALICE '` decides as alice; `system:` names, lookalikes and a missing database never start a server."""
    settings = resolve_settings(world[0], world[1])
    assert InboxTools(settings, identity=" ALICE ").identity == "alice"
    for bad in ("system:timeout", "аlice", "al\u200bice"):
        with pytest.raises(AuthorizationError):
            InboxTools(settings, identity=bad)
    result = CliRunner().invoke(app, ["mcp", "--as", "system:timeout", "--db", world[0]])
    assert result.exit_code == 6, result.output
    missing = CliRunner().invoke(
        app, ["mcp", "--as", "alice", "--db", f"sqlite:///{Path(world[0][10:]).parent}/none.db"]
    )
    assert missing.exit_code == 7 and "No database" in missing.output, missing.output


def test_decide_without_a_graph_says_so(world: tuple[str, str]) -> None:
    """A server started without --graph reads, and refuses to decide with a message naming the fix."""
    tools = InboxTools(resolve_settings(world[0], None), identity="alice")
    with pytest.raises(Exception) as caught:  # noqa: PT011
        tools.decide("whatever", answer_options("approve"))
    assert "--graph" in tool_error_text(caught.value, tools.identity)


def test_answer_options_map_per_call_arguments() -> None:
    """Per-call decisions, phrases and edited arguments become the CLI's ID=VALUE options."""
    opts = answer_options(
        "approve",
        calls={"c1": "edit"},
        call_verify={"c2": "DELETE 1"},
        call_args={"c1": {"id": 2}},
        all_calls=True,
        message="ok",
    )
    assert (opts.kind, opts.all_calls, opts.message) == ("approve", True, "ok")
    assert list(opts.calls) == ["c1=edit"]
    assert list(opts.verify) == ["c2=DELETE 1"]
    assert list(opts.args) == ['c1={"id": 2}']


def test_example_integrations_mcp_runs(tmp_path: Path) -> None:
    """`examples/integrations/mcp.py` runs offline: one refund paused, approved over MCP as alice
    (its forged `approver` ignored), and the audit trail names alice."""
    script = Path(__file__).resolve().parent.parent / "examples" / "integrations" / "mcp.py"
    env = {k: v for k, v in server_env().items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(script.parent.parent.parent)
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pending: refund(order=1042, amount=30) (risk medium)" in proc.stdout
    assert "thread order-1042: done, the refund returned {'order': 1042, 'refunded': 30}" in proc.stdout
    assert "approved by alice" in proc.stdout and "mallory" not in proc.stdout


def test_two_servers_deciding_at_once_one_wins(mcp: McpClients, world: tuple[str, str]) -> None:
    """alice and bob decide the same request at the same moment: one decision wins, the other is a
    tool error saying so, and the audit holds exactly one decision."""
    request = start(world, "race-1", "send_email", to="race@example.com")

    async def both() -> list[CallToolResult]:
        calls = [
            mcp.sessions[who].call_tool("decide", {"request_id": request, "decision": kind})
            for who, kind in (("alice", "approve"), ("bob", "reject"))
        ]
        return list(await asyncio.gather(*calls))

    results = mcp.run(both())
    assert sorted(r.is_error for r in results) == [False, True]
    loser = error(next(r for r in results if r.is_error))
    assert "already decided" in loser or "another decision" in loser.lower() or "conflict" in loser.lower(), (
        loser
    )
    decisions = [e for e in events(world, "race-1") if e[0] in ("approved", "rejected")]
    assert len(decisions) == 1 and decisions[0][1] == row(world, request).decided_by


def test_inbox_tools_decide_on_both_backends(store_url: str, tmp_path: Path) -> None:
    """The tools' decide path on SQLite and on Postgres: approve as the identity, then 'already decided'."""
    spec = f"{Path(__file__).resolve().parent / 'graphs.py'}:builder"
    with Approvals.open(graph_from_spec(spec), store_url) as hitl:
        request = hitl.start("backend-1", action("send_email", to="b@example.com")).pending[0].request_id
    tools = InboxTools(resolve_settings(store_url, spec), identity="Carol")
    try:
        assert [i["request_id"] for i in tools.list_pending(thread_id="backend-1")["items"]] == [request]
        done = tools.decide(request[:10], answer_options("approve", message="fine"))
        assert done["values"]["status"] == "executed"
        with pytest.raises(CLIError, match="already decided by 'carol'"):
            tools.decide(request, answer_options("reject"))
    finally:
        tools.close()
    assert [e["event"] for e in tools.audit(thread_id="backend-1")][-2:] == ["approved", "executed"]
