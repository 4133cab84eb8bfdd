"""LangGraph Server, offline: examples/server under `langgraph dev`, driven by langgraph_sdk and by ServerInbox."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, skip_or_fail

from langgraph_hitl import AuthorizationError, ConflictError, DecisionError, NotPendingError
from langgraph_hitl.approvals import Page, PendingRequest, RunResult

EXAMPLE = ROOT / "examples" / "server"
LANGGRAPH = Path(sys.executable).parent / "langgraph"
GRAPH = "approvals"
OFFLINE_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
}
TOKENS = {"alice": "tok-alice", "bob": "tok-bob", "agent": "tok-agent"}
"""People's own tokens for the example's custom auth (examples/server/auth.py)."""
INBOX_TOKEN = "tok-inbox"
"""The inbox service's token: it acts for the approver it names in `x-hitl-approver`."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class DevServer:
    """`langgraph dev` run from a copy of examples/server, in a process group of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.checkpoints = folder / "checkpoints.db"
        self.audit_url = f"sqlite:///{folder / 'audit.db'}"
        self.log = folder / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(
            OFFLINE_ENV,
            HITL_CHECKPOINT_URL=f"sqlite:///{self.checkpoints}",
            HITL_STORE_URL=self.audit_url,
            HITL_SERVER_TOKENS=",".join(f"{n}:{t}" for n, t in TOKENS.items()),
            HITL_INBOX_TOKEN=INBOX_TOKEN,
        )
        self.proc = subprocess.Popen(
            [
                str(LANGGRAPH),
                "dev",
                "--no-browser",
                "--no-reload",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=folder,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"langgraph dev exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"
                )
            if is_up(self.url):
                return
            time.sleep(0.2)
        raise AssertionError(
            f"langgraph dev not up on {self.url} after {timeout} s:\n{self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after 20 s; reap the leader."""
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """Serve a copy of examples/server with `langgraph dev` until the generator is closed
    (the body of each test module's `server` fixture)."""
    if not LANGGRAPH.exists():
        skip_or_fail(f"{LANGGRAPH} is missing: pip install 'langgraph-hitl[server]'")
    folder = tmp_path_factory.mktemp("server") / "app"
    shutil.copytree(
        EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", ".langgraph_api", "*.db*", "*.png")
    )
    srv = DevServer(folder)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()
    assert not srv.group_alive()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """The example deployment, served by `langgraph dev` on a free loopback port for this module."""
    yield from serve(tmp_path_factory)


@pytest.fixture
def client(server: DevServer) -> Any:

    return as_user(server, "alice")


def as_user(server: DevServer, name: str | None) -> Any:
    """A langgraph_sdk client authenticated as `name` (None: no credentials)."""
    return with_token(server, TOKENS[name] if name else None)


def with_token(server: DevServer, token: str | None) -> Any:
    """A langgraph_sdk client sending `token` as its API key."""
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=server.url, api_key=token)


@pytest.fixture
def inbox(server: DevServer) -> Any:
    from langgraph_hitl.server import ServerInbox

    return ServerInbox(server.url, graph_id=GRAPH, api_key=INBOX_TOKEN)


def start(client: Any, name: str = "delete_record", **args: Any) -> tuple[str, dict[str, Any]]:
    """Create a thread and run the graph until it pauses or ends; returns (thread_id, output)."""
    thread_id = client.threads.create()["thread_id"]
    out = client.runs.wait(thread_id, GRAPH, input={"action": {"name": name, "args": args}})
    return thread_id, out


def paused(client: Any, **args: Any) -> tuple[str, str]:
    """A thread paused at its review; returns (thread_id, request_id)."""
    thread_id, out = start(client, **args)
    return thread_id, out["__interrupt__"][0]["value"]["hitl"]["request_id"]


def test_server_example_pauses_with_review_request_and_resumes(server: DevServer, client: Any) -> None:
    """Under langgraph dev the example pauses with our ReviewRequest and resumes with a Command."""
    thread_id, out = start(client, id=7)
    [intr] = out["__interrupt__"]
    value = intr["value"]
    [asked] = value["action_requests"]  # langchain's keys, plus what Agent Inbox reads (test_agent_inbox.py)
    assert (asked["name"], asked["args"], asked["arguments"]) == ("delete_record", {"id": 7}, {"id": 7})
    assert asked["description"].startswith("HIGH risk · delete_record(id=7)\n")
    assert value["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "respond"]
    assert (value["hitl"]["node"], value["hitl"]["risk"], value["hitl"]["requested_by"]) == (
        "review",
        "high",
        "agent",
    )
    assert client.threads.get(thread_id)["status"] == "interrupted"
    done = client.runs.wait(thread_id, GRAPH, command={"resume": {"type": "approve"}})  # alice, by her token
    assert done["status"] == "executed" and done["result"]["deleted"] == 7
    assert "__interrupt__" not in done and client.threads.get(thread_id)["status"] == "idle"

    import sqlite3

    with sqlite3.connect(server.checkpoints) as conn:  # the custom checkpointer from langgraph.json holds it
        rows = conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (thread_id,)).fetchone()[
            0
        ]
    assert rows > 0
    from langgraph_hitl.store import open_store

    with open_store(server.audit_url) as store:  # HITL_STORE_URL: the graph audits next to the server
        events = [(e["event"], e["actor"]) for e in store.audit.query(thread_id=thread_id)]
        assert events == [("proposed", "agent"), ("approved", "alice"), ("executed", "executor")]
        assert store.audit.verify().ok


def test_server_raw_resume_takes_the_decider_from_authentication(server: DevServer, client: Any) -> None:
    """On the server the answer's 'approver' is not trusted: bob's token cannot answer as alice, nor as the runner."""
    thread_id, _ = start(client, id=17)
    bob = as_user(server, "bob")
    out = bob.runs.wait(thread_id, GRAPH, command={"resume": {"type": "approve", "approver": "alice"}})
    refused = out["__interrupt__"][0]["value"]["hitl"]["refused"]
    assert "identity comes from the submitter" in refused and out["status"] == "proposed"
    out = bob.runs.wait(
        thread_id, GRAPH, command={"resume": {"type": "timeout", "approver": "system:timeout"}}
    )
    assert "timeout" in out["__interrupt__"][0]["value"]["hitl"]["refused"]
    agent = as_user(server, "agent")  # the requester, authenticated, still may not approve its own action
    out = agent.runs.wait(thread_id, GRAPH, command={"resume": {"type": "approve"}})
    assert "requested this action" in out["__interrupt__"][0]["value"]["hitl"]["refused"]
    done = bob.runs.wait(thread_id, GRAPH, command={"resume": {"type": "approve"}})
    assert done["status"] == "executed"
    assert [(d["approver"], d["effect"]) for d in done["decisions"]][-1] == ("bob", "approved")


def test_server_langchain_and_agent_inbox_clients_answer_as_their_users(
    server: DevServer, client: Any
) -> None:
    """Unmodified client shapes under `langgraph dev`: langchain's `{"decisions": [{"type":
    "approve", "args": None}]}` as alice, then Agent Inbox's `[{"type": "accept", "args": None}]`
    as alice again (refused: the same person, four-eyes by the server identity) and as bob
    (runs). An unauthenticated resume is refused by the server. In 0.1 both shapes failed
    validation and put the thread into `error` status."""
    thread_id, out = start(client, id=21, env="prod")
    assert out["__interrupt__"][0]["value"]["hitl"]["risk"] == "critical"
    alice, bob = as_user(server, "alice"), as_user(server, "bob")
    out = alice.runs.wait(
        thread_id, GRAPH, command={"resume": {"decisions": [{"type": "approve", "args": None}]}}
    )
    assert out["__interrupt__"][0]["value"]["hitl"]["node"] == "second_review"
    inbox_answer = [{"type": "accept", "args": None}]
    out = alice.runs.wait(thread_id, GRAPH, command={"resume": inbox_answer})
    assert "alice" in out["__interrupt__"][0]["value"]["hitl"]["refused"]
    assert client.threads.get(thread_id)["status"] != "error"
    with pytest.raises(Exception, match="401"):  # the SDK's HTTP error for the server's 401
        as_user(server, None).runs.wait(thread_id, GRAPH, command={"resume": inbox_answer})
    done = bob.runs.wait(thread_id, GRAPH, command={"resume": inbox_answer})
    assert done["status"] == "executed"
    assert [(d["approver"], d["effect"]) for d in done["decisions"] if d["effect"] == "approved"] == [
        ("alice", "approved"),
        ("bob", "approved"),
    ]


def test_server_refuses_callers_without_a_token(server: DevServer) -> None:
    """The example deployment's auth answers 401 to a caller with no or an unknown token."""
    import httpx

    for client in (as_user(server, None), with_token(server, "tok-nobody")):
        with pytest.raises(httpx.HTTPStatusError) as info:
            client.threads.create()
        assert info.value.response.status_code == 401


def test_server_example_read_runs_without_pause(client: Any) -> None:
    """A low-risk action runs straight through on the server: no interrupt, no inbox entry."""
    _, out = start(client, "read_record", id=3)
    assert out["status"] == "executed" and "__interrupt__" not in out


def test_server_multitask_reject_refuses_second_run_on_busy_thread(server: DevServer, client: Any) -> None:
    """Pins the server behaviour ServerInbox relies on: a run on a thread with one pending is refused (409)."""
    import httpx

    thread_id, rid = paused(client, id=8)
    queued = client.runs.create(
        thread_id, GRAPH, command={"resume": {"type": "approve", "approver": "alice"}}, after_seconds=600
    )  # pending for ten minutes: the thread is busy
    try:
        with pytest.raises(httpx.HTTPStatusError) as info:
            as_user(server, "bob").runs.wait(
                thread_id, GRAPH, command={"resume": {"type": "reject"}}, multitask_strategy="reject"
            )
        assert info.value.response.status_code == 409
    finally:
        client.runs.cancel(thread_id, queued["run_id"])
    assert client.threads.get_state(thread_id)["interrupts"][0]["value"]["hitl"]["request_id"] == rid


def test_server_inbox_pending_lists_runner_shaped_requests(client: Any, inbox: Any) -> None:
    """pending() reads paused threads into the runner's PendingRequest, newest first, with filters and pages."""
    first_thread, first = paused(client, id=11)
    start(client, "read_record", id=12)
    second_thread, second = paused(client, id=13, env="prod")
    page = inbox.pending(limit=500)
    assert isinstance(page, Page) and all(isinstance(r, PendingRequest) for r in page.items)
    ids = [r.request_id for r in page.items]
    assert ids.index(second) < ids.index(first)  # newest first
    req = inbox.get(first)
    assert (req.thread_id, req.node, req.stage, req.status, req.risk) == (
        first_thread,
        "review",
        1,
        "pending",
        "high",
    )
    assert set(req.action) == {"name", "args", "description"}  # langchain's ActionRequest, as the runner's
    assert (req.action["name"], req.action["args"]) == ("delete_record", {"id": 11})
    assert req.action["description"].startswith("HIGH risk · delete_record(id=11)\n")
    assert (
        req.requested_by == "agent" and req.approvers is None and req.created_at > 0 and req.deadline is None
    )
    assert req.payload["hitl"]["request_id"] == first and req.to_dict()["status"] == "pending"
    assert inbox.get(first[:10]).request_id == first  # a unique prefix works, as with the runner
    assert [
        r.request_id for r in inbox.pending(risk="critical", limit=500).items if r.thread_id == second_thread
    ] == [second]
    assert first not in [r.request_id for r in inbox.pending(risk="critical", limit=500).items]
    assert inbox.pending(approver="agent", limit=500).items == []  # the requester may not decide
    seen, cursor = [], None
    while True:
        part = inbox.pending(limit=2, cursor=cursor)
        seen += [r.request_id for r in part.items]
        if part.next_cursor is None:
            break
        cursor = part.next_cursor
    assert seen == ids
    with pytest.raises(ValueError, match="risk='severe'"):
        inbox.pending(risk="severe")


def test_server_inbox_decide_validates_before_resuming(client: Any, inbox: Any) -> None:
    """G1 on the server: invalid decisions raise and never reach it; the thread still waits at the same question."""
    thread_id, rid = paused(client, id=21)
    runs_before = len(client.runs.list(thread_id))
    interrupt_before = client.threads.get_state(thread_id)["interrupts"][0]["id"]
    with pytest.raises(DecisionError, match="'aprove' is unknown"):
        inbox.decide(rid, {"type": "aprove"}, approver="alice")
    with pytest.raises(AuthorizationError, match="requested this action"):
        inbox.decide(rid, {"type": "approve"}, approver="agent")
    with pytest.raises(DecisionError, match="needs a message"):
        inbox.decide(rid, {"type": "respond"}, approver="alice")
    with pytest.raises(DecisionError, match="say who decides"):
        inbox.decide(rid, {"type": "approve"}, approver=" ")
    with pytest.raises(AuthorizationError, match="reserved for the runner"):
        inbox.decide(rid, {"type": "timeout"}, approver="system:timeout")
    assert len(client.runs.list(thread_id)) == runs_before  # nothing was sent to the server
    assert client.threads.get_state(thread_id)["interrupts"][0]["id"] == interrupt_before
    run = inbox.decide(rid, {"type": "approve"}, approver="alice")
    assert isinstance(run, RunResult) and (run.status, run.values["status"], run.pending) == (
        "done",
        "executed",
        [],
    )
    assert [(d["approver"], d["type"]) for d in run.values["decisions"]] == [("alice", "approve")]
    with pytest.raises(ConflictError, match="already decided by 'alice'"):
        inbox.decide(rid, {"type": "reject"}, approver="bob")
    with pytest.raises(NotPendingError, match="pending\\(\\)"):
        inbox.decide("f" * 32, {"type": "approve"}, approver="alice")


def test_server_inbox_two_stages_stale_first_answer_conflicts(client: Any, inbox: Any) -> None:
    """A critical action: stage one's decision moves the thread on; a late answer to stage one is a conflict."""
    thread_id, rid = paused(client, id=31, env="prod")
    run = inbox.decide(rid, {"type": "approve"}, approver="alice")
    [second] = run.pending
    assert run.status == "paused" and (second.node, second.stage) == ("second_review", 2)
    with pytest.raises(ConflictError, match="already decided by 'alice'"):
        inbox.decide(rid, {"type": "reject"}, approver="bob")
    with pytest.raises(AuthorizationError, match="four-eyes"):
        inbox.decide(second.request_id, {"type": "approve"}, approver="alice")
    assert inbox.get(second.request_id).status == "pending"
    assert inbox.decide(second.request_id, {"type": "approve"}, approver="bob").values["status"] == "executed"


def test_server_inbox_concurrent_decisions_one_wins(client: Any, server: DevServer) -> None:
    """G2 on one server: three reviewers race on each of four requests; exactly one decision wins each."""
    from langgraph_hitl.server import ServerInbox

    requests = [paused(client, id=40 + i) for i in range(4)]
    outcomes: dict[tuple[str, str], str] = {}
    barrier = threading.Barrier(3 * len(requests))

    def decide(rid: str, who: str, kind: str) -> None:
        inbox = ServerInbox(server.url, graph_id=GRAPH, api_key=INBOX_TOKEN)
        barrier.wait(timeout=60)
        try:
            inbox.decide(rid, {"type": kind}, approver=who)
            outcomes[(rid, who)] = "won"
        except (ConflictError, NotPendingError) as exc:
            outcomes[(rid, who)] = type(exc).__name__

    threads = [
        threading.Thread(target=decide, args=(rid, who, kind))
        for _, rid in requests
        for who, kind in (("alice", "approve"), ("bob", "reject"), ("carol", "approve"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 3 * len(requests)
    for thread_id, rid in requests:
        winners = [who for (r, who), what in outcomes.items() if r == rid and what == "won"]
        assert len(winners) == 1, outcomes
        values = client.threads.get_state(thread_id)["values"]
        assert [d["approver"] for d in values["decisions"]] == winners  # applied once, by the winner
        assert values["status"] in ("executed", "rejected")


def test_server_inbox_needs_a_server_url() -> None:
    """A URL that is not http(s) is refused when the inbox is built, with an example of a good one."""
    from langgraph_hitl.server import ServerInbox

    with pytest.raises(ValueError, match="http://127.0.0.1:2024"):
        ServerInbox("127.0.0.1:2024")


def test_server_inbox_keeps_a_request_whose_thread_errored(
    server: DevServer, client: Any, inbox: Any
) -> None:
    """A client's malformed resume puts the server thread in `error`; its question is still listed and decided."""
    thread_id, rid = paused(client, id=31)
    failed = client.runs.wait(thread_id, GRAPH, command={"resume": {"type": "aprove"}}, raise_error=False)
    assert "ValidationError" in str(failed)  # the response schema refused it before it was saved
    assert client.threads.get(thread_id)["status"] == "error"
    assert rid in {r.request_id for r in inbox.pending(limit=500).items}
    done = inbox.decide(rid, {"type": "approve"}, approver="alice")
    assert done.values["status"] == "executed"
