"""Tests for langgraph_hitl.web.mcp_http: the web inbox's MCP endpoint, served by uvicorn on a loopback
port and driven by the MCP SDK's own streamable HTTP client with each approver's bearer token.

One server for the module, on a real SQLite database: alice, bob and carol may approve, mallory has a
token but is no approver. A separate runner (the agent) pauses the graphs. Each test works on its own
threads, so the tests do not depend on their order.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from mcp_clients import server_env

from langgraph_hitl import Approvals
from langgraph_hitl.cli._inbox_tools import answer_options
from langgraph_hitl.store import open_store
from langgraph_hitl.web import create_app
from langgraph_hitl.web.mcp_http import LOOPBACK_HOSTS, WebInboxTools, allowed_hosts
from langgraph_hitl.web.service import InboxService, ReadOnlyInboxError

from graphs import action, build

pytestmark = pytest.mark.slow

TOKENS = {
    "alice": "alice-token-7f3c0a9b2e",
    "bob": "bob-token-51d8e6c4a0f2",
    "carol": "carol-token-c29b7e1d44",
    "mallory": "mallory-token-0d1e2f3a4b",
}
PEOPLE = ["alice", "bob", "carol"]
SECRET = "mcp-http-test-secret-0123456789"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a background thread; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws="none", http="h11"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@dataclass
class Inbox:
    """The module's server: its MCP URL, its database, and the agent's runner that pauses graphs."""

    url: str
    db: str
    agent: Approvals

    def start(self, thread: str, name: str, **args: Any) -> str:
        """Run `thread` until it pauses; the pending request's id."""
        run = self.agent.start(thread, action(name, **args))
        assert run.status == "paused", run
        return run.pending[0].request_id

    def row(self, request_id: str) -> Any:
        with open_store(self.db) as store:
            found = store.inbox.get(request_id)
        assert found is not None
        return found

    def events(self, thread: str) -> list[tuple[str, str]]:
        with open_store(self.db) as store:
            return [(r["event"], r["actor"]) for r in store.audit.query(thread_id=thread)]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbox]:
    """The web inbox with MCP on, over a fresh SQLite file (wrong tokens are not throttled here)."""
    db = f"sqlite:///{tmp_path_factory.mktemp('mcp-http') / 'hitl.db'}"
    app = create_app(
        db=db,
        graph=build(approvers=PEOPLE),
        approvers=TOKENS,
        secret_key=SECRET,
        mcp=True,
        auth_failures=(10_000, 300.0),
    )
    with serve(app) as base, Approvals.open(build(approvers=PEOPLE), db) as agent:
        yield Inbox(f"{base}/mcp", db, agent)


@asynccontextmanager
async def connect(url: str, token: str, *, modern: bool = False) -> AsyncIterator[ClientSession]:
    """An MCP session over streamable HTTP, authenticated with `token`: initialized (protocol
    2025-11-25, a server session), or `modern` (2026-07-28: `server/discover`, then one
    self-contained POST per call, no server session)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await (session.discover() if modern else session.initialize())
        yield session


def call(inbox: Inbox, who: str, tool: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
    """One tool call on a session of its own, as `who`."""

    async def once() -> CallToolResult:
        async with connect(inbox.url, TOKENS[who]) as session:
            return await session.call_tool(tool, arguments or {})

    return asyncio.run(once())


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return " ".join(str(getattr(c, "text", "")) for c in result.content)


def messages(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether JSON or an event stream."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


def raw_session(url: str, token: str) -> str:
    """Open a session with raw HTTP (initialize, then initialized); its id."""
    auth = {"Authorization": f"Bearer {token}", **ACCEPT}
    opened = httpx.post(url, json=INIT, headers=auth, timeout=30)
    assert opened.status_code == 200, opened.text
    sid = opened.headers["mcp-session-id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    done = httpx.post(url, json=note, headers={**auth, "Mcp-Session-Id": sid}, timeout=30)
    assert done.status_code == 202, done.text
    return sid


# -- reading and deciding ------------------------------------------------------------------------------


@pytest.mark.parametrize("modern", [False, True], ids=["2025-11-25", "2026-07-28"])
def test_list_show_and_approve_as_alice(inbox: Inbox, modern: bool) -> None:
    """alice's token lists, shows (by prefix) and approves; the runner records alice, and the audit
    resource shows it, on both protocol eras. The tools are those of `langgraph-hitl mcp`, none with
    a parameter naming a person."""
    thread = f"http-approve-{modern}"
    request = inbox.start(thread, "send_email", to="a@example.com")

    async def review() -> tuple[Any, ...]:
        async with connect(inbox.url, TOKENS["alice"], modern=modern) as session:
            tools = (await session.list_tools()).tools
            listed = ok(await session.call_tool("list_pending", {"thread_id": thread, "mine": True}))
            shown = ok(await session.call_tool("show_request", {"request_id": request[:8]}))
            done = ok(await session.call_tool("decide", {"request_id": request, "decision": "approve"}))
            trail = await session.read_resource(f"hitl://audit/{thread}")
            return tools, listed, shown, done, trail

    tools, listed, shown, done, trail = asyncio.run(review())
    assert {t.name for t in tools} == {"list_pending", "show_request", "decide"}
    for tool in tools:
        assert not set(tool.input_schema.get("properties", {})) & {"approver", "identity", "user", "actor"}
    assert [i["request_id"] for i in listed["items"]] == [request]
    assert shown["request"]["request_id"] == request and [h["event"] for h in shown["history"]] == [
        "proposed"
    ]
    assert (done["outcome"], done["values"]["status"]) == ("done", "executed")
    assert inbox.row(request).decided_by == "alice"
    events = json.loads(trail.contents[0].text)
    assert ("approved", "alice") in [(e["event"], e["actor"]) for e in events]


def test_four_eyes_takes_two_authenticated_sessions(inbox: Inbox) -> None:
    """A critical action: alice's session approves, alice again is refused, bob's session completes it."""
    first = inbox.start("http-four-eyes-1", "delete_record", id=9, env="prod")
    waiting = ok(call(inbox, "alice", "decide", {"request_id": first, "decision": "approve"}))
    assert waiting["outcome"] == "waiting"
    second = waiting["pending"][0]["request_id"]
    again = {"request_id": second, "decision": "approve"}
    assert "alice" in error(call(inbox, "alice", "decide", again))
    assert inbox.row(second).status == "pending"
    done = ok(call(inbox, "bob", "decide", again))
    assert done["values"]["status"] == "executed"
    approvals = [actor for event, actor in inbox.events("http-four-eyes-1") if event == "approved"]
    assert approvals == ["alice", "bob"]


def test_forged_approver_argument_is_ignored(inbox: Inbox) -> None:
    """An `approver` argument changes nothing: mallory's token stays mallory (refused), bob's stays bob."""
    request = inbox.start("http-forge-1", "delete_record", id=4)
    forged = {"request_id": request, "decision": "approve", "approver": "alice"}
    refused = error(call(inbox, "mallory", "decide", forged))
    assert "'mallory'" in refused and "bearer token" in refused
    assert inbox.row(request).status == "pending"
    ok(call(inbox, "bob", "decide", forged))
    assert inbox.row(request).decided_by == "bob"
    assert [e for e in inbox.events("http-forge-1") if e[0] == "approved"] == [("approved", "bob")]


def test_a_token_of_someone_who_may_not_decide_is_refused_with_a_tool_error(inbox: Inbox) -> None:
    """mallory's token is valid but mallory is no approver: reading works, deciding is a tool error
    naming mallory and where the identity came from, and the request stays pending."""
    request = inbox.start("http-unauth-1", "delete_record", id=5)
    assert (
        ok(call(inbox, "mallory", "show_request", {"request_id": request}))["request"]["request_id"]
        == request
    )
    mine = ok(call(inbox, "mallory", "list_pending", {"mine": True, "limit": 500}))["items"]
    assert request not in {i["request_id"] for i in mine}
    message = error(call(inbox, "mallory", "decide", {"request_id": request, "decision": "reject"}))
    assert "mallory" in message and "still pending" in message
    assert "the approver whose bearer token authenticated this request" in message
    assert inbox.row(request).status == "pending"
    assert "rejected" not in {e for e, _ in inbox.events("http-unauth-1")}


def test_concurrent_sessions_each_decide_as_themselves(inbox: Inbox) -> None:
    """Three sessions with three tokens (bob's on the 2026-07-28 protocol, without a server session)
    decide nine requests at once, interleaved on one server, each call forging `approver`: every
    decision is recorded as the approver of the session that made it, and no other."""
    plan = {
        who: [inbox.start(f"http-bleed-{who}-{n}", "send_email", to=f"{n}@x.test") for n in range(3)]
        for who in PEOPLE
    }

    async def decide_all(who: str) -> list[CallToolResult]:
        async with connect(inbox.url, TOKENS[who], modern=who == "bob") as session:
            calls = [
                session.call_tool("decide", {"request_id": rid, "decision": "approve", "approver": "carol"})
                for rid in plan[who]
            ]
            return list(await asyncio.gather(*calls))

    async def everyone() -> list[list[CallToolResult]]:
        return list(await asyncio.gather(*(decide_all(who) for who in PEOPLE)))

    for results in asyncio.run(everyone()):
        for result in results:
            ok(result)
    for who, requests in plan.items():
        for n, request in enumerate(requests):
            assert inbox.row(request).decided_by == who
            assert ("approved", who) in inbox.events(f"http-bleed-{who}-{n}")


def test_decided_elsewhere_is_a_conflict_the_tool_names(inbox: Inbox) -> None:
    """A request decided through the JSON API is no longer pending for the MCP tools: one decide path."""
    request = inbox.start("http-api-1", "send_email", to="b@example.com")
    base = inbox.url.removesuffix("/mcp")
    api = httpx.post(
        f"{base}/api/requests/{request}/decision",
        json={"type": "reject", "message": "no"},
        headers={"Authorization": f"Bearer {TOKENS['carol']}"},
        timeout=30,
    )
    assert api.status_code == 200, api.text
    message = error(call(inbox, "alice", "decide", {"request_id": request, "decision": "approve"}))
    assert "carol" in message and inbox.row(request).decided_by == "carol"


# -- authentication, sessions, Host and Origin -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token-of-anyone"},
        {"Authorization": f"Basic {TOKENS['alice']}"},
        {"Authorization": "Bearer"},
        {"Cookie": "hitl_session=forged.value", "X-Approver": "alice"},
    ],
    ids=["none", "wrong", "basic", "empty", "cookie"],
)
def test_without_a_valid_token_every_request_is_401(inbox: Inbox, headers: dict[str, str]) -> None:
    """No token, an unknown one, another scheme or a cookie: 401 with `WWW-Authenticate: Bearer`, for
    every method, before MCP reads the body; no session is opened and no cookie set."""
    for method in ("POST", "GET", "DELETE"):
        body = json.dumps(INIT) if method == "POST" else None
        resp = httpx.request(method, inbox.url, content=body, headers={**ACCEPT, **headers}, timeout=30)
        assert resp.status_code == 401, (method, resp.text)
        assert resp.headers["www-authenticate"] == "Bearer" and "mcp-session-id" not in resp.headers
        assert "set-cookie" not in resp.headers and "token" in resp.json()["detail"].lower()


def test_the_sdk_client_with_a_wrong_token_gets_no_session(inbox: Inbox) -> None:
    """The SDK's client with a wrong token fails to initialize with an MCP error, within its timeout."""

    async def attempt() -> None:
        async with connect(inbox.url, "wrong-token-0123456789"):
            pass  # pragma: no cover - never reached

    with pytest.raises(BaseException) as caught:  # noqa: PT011 - the SDK wraps it in task-group errors
        asyncio.run(asyncio.wait_for(attempt(), 30))

    def leaves(exc: BaseException) -> list[BaseException]:
        inner = getattr(exc, "exceptions", None)
        return [leaf for sub in inner for leaf in leaves(sub)] if inner else [exc]

    assert any(isinstance(e, MCPError) for e in leaves(caught.value)), caught.value


def test_a_session_is_bound_to_the_approver_who_opened_it(inbox: Inbox) -> None:
    """bob's token with alice's session id is 'not found' (calling, streaming, deleting); alice's
    session keeps working, and bob never decides through it."""
    request = inbox.start("http-hijack-1", "send_email", to="c@example.com")
    sid = raw_session(inbox.url, TOKENS["alice"])
    decide = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "decide", "arguments": {"request_id": request, "decision": "reject"}},
    }
    bob = {"Authorization": f"Bearer {TOKENS['bob']}", "Mcp-Session-Id": sid, **ACCEPT}
    assert httpx.post(inbox.url, json=decide, headers=bob, timeout=30).status_code == 404
    assert httpx.get(inbox.url, headers=bob, timeout=30).status_code == 404
    assert httpx.delete(inbox.url, headers=bob, timeout=30).status_code == 404
    assert inbox.row(request).status == "pending"
    alice = {**bob, "Authorization": f"Bearer {TOKENS['alice']}"}
    answer = messages(httpx.post(inbox.url, json=decide, headers=alice, timeout=30))[-1]
    assert answer["id"] == 2 and answer["result"]["isError"] is False, answer
    assert inbox.row(request).decided_by == "alice"
    assert httpx.delete(inbox.url, headers=alice, timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"Host": "evil.example"}, 421),
        ({"Host": "evil.example:80"}, 421),
        ({"Host": "localhost.evil.example:80"}, 421),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://localhost.evil.example:3000"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://localhost:6274"}, 200),
        ({"Host": "localhost:8000"}, 200),
        ({"Host": "[::1]:8000"}, 200),
    ],
)
def test_dns_rebinding_protection_accepts_loopback_names_only(
    inbox: Inbox, extra: dict[str, str], status: int
) -> None:
    """With a valid token too, a Host or browser Origin that is not a loopback name is refused."""
    headers = {"Authorization": f"Bearer {TOKENS['alice']}", **ACCEPT, **extra}
    resp = httpx.post(inbox.url, json=INIT, headers=headers, timeout=30)
    assert resp.status_code == status, resp.text
    if status == 200:
        httpx.delete(
            inbox.url, headers={**headers, "Mcp-Session-Id": resp.headers["mcp-session-id"]}, timeout=30
        )


def test_odd_bodies_are_answered_and_the_session_goes_on(inbox: Inbox) -> None:
    """A lone surrogate escape is a JSON-RPC parse error (400), not a message dropped unanswered; a
    surrogate pair is its character (a clean 'not found'); a body over the app's limit is 413 before
    it is read; after all of them the session still answers."""
    sid = raw_session(inbox.url, TOKENS["alice"])
    headers = {"Authorization": f"Bearer {TOKENS['alice']}", "Mcp-Session-Id": sid, **ACCEPT}
    show = '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"show_request","arguments":'
    lone = httpx.post(inbox.url, content=f'{show}{{"request_id":"ab\\ud800cdef"}}}}}}', headers=headers)
    assert lone.status_code == 400 and lone.json()["error"]["code"] == -32700, lone.text
    pair = httpx.post(inbox.url, content=f'{show}{{"request_id":"ab\\ud83d\\ude00cd"}}}}}}', headers=headers)
    answer = messages(pair)[-1]["result"]
    assert answer["isError"] and "No request 'ab\U0001f600cd'" in answer["content"][0]["text"], answer
    huge = b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":"' + b"a" * 3_000_000 + b'"}}'
    too_big = httpx.post(inbox.url, content=huge, headers=headers, timeout=30)
    assert too_big.status_code == 413 and "at most 2097152 bytes" in too_big.json()["detail"]
    ping = {"jsonrpc": "2.0", "id": 4, "method": "ping"}
    assert messages(httpx.post(inbox.url, json=ping, headers=headers, timeout=30))[-1]["id"] == 4


# -- without uvicorn -------------------------------------------------------------------------------------


def _app(db: str, **kwargs: Any) -> Any:
    kwargs.setdefault("graph", build(approvers=PEOPLE))
    return create_app(db=db, approvers=TOKENS, secret_key=SECRET, **kwargs)


def test_wrong_tokens_are_throttled_like_the_api(db_url: str) -> None:
    """After `auth_failures` wrong tokens from one client, /mcp answers 429 with Retry-After, even to a right one."""
    with TestClient(
        _app(db_url, mcp=True, auth_failures=(2, 300.0)), base_url="http://127.0.0.1:8000"
    ) as client:
        for _ in range(2):
            assert (
                client.post(
                    "/mcp", json=INIT, headers={"Authorization": "Bearer wrong-0123456789abc"}
                ).status_code
                == 401
            )
        right = client.post(
            "/mcp", json=INIT, headers={"Authorization": f"Bearer {TOKENS['alice']}", **ACCEPT}
        )
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
        assert "try again" in right.json()["detail"]


def test_a_name_no_decision_can_be_made_as_is_403(db_url: str) -> None:
    """A tokens-file name that mixes scripts (Cyrillic `а` in `аlice`) signs in nowhere on /mcp: 403 naming why."""
    app = create_app(db=db_url, approvers={"\u0430lice": TOKENS["alice"]}, secret_key=SECRET, mcp=True)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        resp = client.post(
            "/mcp", json=INIT, headers={"Authorization": f"Bearer {TOKENS['alice']}", **ACCEPT}
        )
    assert resp.status_code == 403 and "tokens file" in resp.json()["detail"], resp.text


def test_the_endpoint_restarts_with_the_app_and_is_off_unless_asked(db_url: str) -> None:
    """Each lifespan runs a fresh session manager (a second start works), a stopped app answers 503,
    and an app built without `mcp` has no /mcp at all."""
    app = _app(db_url, mcp=True)
    alice = {"Authorization": f"Bearer {TOKENS['alice']}", **ACCEPT}
    for _ in range(2):
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            opened = client.post("/mcp", json=INIT, headers=alice)
            assert opened.status_code == 200 and opened.headers["mcp-session-id"]
            assert messages(opened)[0]["result"]["serverInfo"]["name"] == "langgraph-hitl"
    stopped = TestClient(app, base_url="http://127.0.0.1:8000").post("/mcp", json=INIT, headers=alice)
    assert stopped.status_code == 503
    with TestClient(_app(db_url)) as client:
        assert client.post("/mcp", json=INIT, headers=alice).status_code == 404


def test_a_read_only_inbox_refuses_to_decide(db_url: str) -> None:
    """Without a graph the tools read but `decide` is refused before anything is built, saying how to fix it."""
    with Approvals.open(build(approvers=PEOPLE), db_url) as agent:
        request = agent.start("read-only-1", action("send_email", to="d@example.com")).pending[0].request_id
    with open_store(db_url) as store:
        tools = WebInboxTools(InboxService(Approvals(None, store), can_decide=False), " Alice ")
        assert tools.identity == "alice"
        assert tools.show_request(request[:8])["request"]["request_id"] == request
        with pytest.raises(ReadOnlyInboxError, match="without one.*--graph"):
            tools.decide(request, answer_options("approve"))
        assert store.inbox.get(request).status == "pending"  # type: ignore[union-attr]


def test_cli_serve_mcp(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --mcp` serves /mcp behind the tokens; --mcp-host adds a Host name (and implies --mcp);
    a bad name is a usage error; without either flag there is no /mcp."""
    import uvicorn
    from typer.testing import CliRunner

    from langgraph_hitl.cli._app import app as cli_app

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{who}:{token}\n" for who, token in TOKENS.items()), encoding="utf-8")
    with open_store(db_url):
        pass
    base = ["--db", db_url, "serve", "--approvers", str(tokens)]
    runner = CliRunner()
    assert runner.invoke(cli_app, [*base, "--mcp"]).exit_code == 0
    assert runner.invoke(cli_app, [*base, "--mcp-host", "inbox.example.com"]).exit_code == 0
    assert runner.invoke(cli_app, base).exit_code == 0
    bad = runner.invoke(cli_app, [*base, "--mcp-host", "https://inbox.example.com/"])
    assert bad.exit_code == 2 and "not a host name" in bad.stderr and len(served) == 3
    alice = {"Authorization": f"Bearer {TOKENS['alice']}", **ACCEPT}
    (loopback, _), (named, _), (plain, _) = served
    with TestClient(loopback, base_url="http://localhost:8000") as client:
        assert client.post("/mcp", json=INIT).status_code == 401
        assert client.post("/mcp", json=INIT, headers=alice).status_code == 200
    with TestClient(loopback, base_url="http://inbox.example.com") as client:
        assert client.post("/mcp", json=INIT, headers=alice).status_code == 421
    with TestClient(named, base_url="https://inbox.example.com") as client:
        assert (
            client.post(
                "/mcp", json=INIT, headers={**alice, "Origin": "https://inbox.example.com"}
            ).status_code
            == 200
        )
    with TestClient(plain) as client:
        assert client.post("/mcp", json=INIT, headers=alice).status_code == 404
    monkeypatch.setitem(sys.modules, "mcp", None)  # the [mcp] extra is not installed
    missing = runner.invoke(cli_app, [*base, "--mcp"])
    assert missing.exit_code == 1 and 'pip install "langgraph-hitl[mcp]"' in missing.stderr
    with pytest.raises(ImportError, match=r"mcp>=2\.3"):
        _app(db_url, mcp=True)


def test_serve_mcp_decides_and_stops_on_ctrl_c_while_a_client_streams(tmp_path: Path) -> None:
    """A real `langgraph-hitl serve --mcp` process: alice's client approves over HTTP, and while it
    still holds its session (and event stream) open, SIGINT stops the server: it does not wait for
    the client, and the lifespan closes the session manager, then the runner."""
    db = f"sqlite:///{tmp_path / 'hitl.db'}"
    with Approvals.open(build(), db) as agent:
        request = agent.start("serve-1", action("send_email", to="f@example.com")).pending[0].request_id
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"alice:{TOKENS['alice']}\n", encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    args = ["--db", db, "serve", "--approvers", str(tokens), "--mcp", "--port", str(port)]
    args += ["--graph", f"{Path(__file__).parent / 'graphs.py'}:builder"]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "langgraph_hitl.cli", *args], env=server_env(), stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            try:
                if httpx.post(url, json=INIT, timeout=5).status_code == 401:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

        decided: dict[str, Any] = {}

        async def review_then_stop() -> None:
            async with connect(url, TOKENS["alice"]) as session:
                decided.update(
                    ok(await session.call_tool("decide", {"request_id": request, "decision": "approve"}))
                )
                proc.send_signal(signal.SIGINT)  # the session and its event stream are still open
                stopping = time.monotonic()
                while proc.poll() is None and time.monotonic() - stopping < 30:
                    await asyncio.sleep(0.05)

        try:
            asyncio.run(review_then_stop())
        except Exception:  # noqa: BLE001 - closing, the client's DELETE finds the server gone
            pass
        assert decided.get("outcome") == "done", decided
        assert proc.wait(30) == 0, (tmp_path / "serve.log").read_text()
        assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    with open_store(db) as store:
        assert store.inbox.get(request).decided_by == "alice"  # type: ignore[union-attr]


def test_example_integrations_mcp_http_runs(tmp_path: Path) -> None:
    """`examples/integrations/mcp_http.py` runs offline: one refund approved over HTTP MCP with alice's
    token (its forged `approver` ignored), 401 without a token, and the inbox names alice."""
    script = Path(__file__).resolve().parent.parent / "examples" / "integrations" / "mcp_http.py"
    env = {k: v for k, v in server_env().items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(script.parent.parent.parent)
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pending: refund(order=1042, amount=30) (risk medium)" in proc.stdout
    assert "thread order-1042: done, the refund returned {'order': 1042, 'refunded': 30}" in proc.stdout
    assert "without a token: 401" in proc.stdout and "decided by: alice" in proc.stdout


# -- the Host allow-list ----------------------------------------------------------------------------------


def test_allowed_hosts() -> None:
    """Loopback always; names added once, lowercased; a bare IPv6 address bracketed; `*` is no check."""
    assert allowed_hosts(True) == list(LOOPBACK_HOSTS)
    assert allowed_hosts(["Inbox.Example.com", "inbox.example.com:8443", "::1", "10.0.0.5"]) == [
        *LOOPBACK_HOSTS,
        "inbox.example.com",
        "inbox.example.com:8443",
        "10.0.0.5",
    ]
    assert allowed_hosts("fe80::1") == [*LOOPBACK_HOSTS, "[fe80::1]"]
    assert allowed_hosts(["*"]) is None
    for bad in (
        "",
        " ",
        "http://x.test",
        "x.test/path",
        "a b",
        "x.test:",
        "x.test:port",
        "user@x.test",
        "x\n",
    ):
        with pytest.raises(ValueError, match="not a host name"):
            allowed_hosts([bad])


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet="aZ9.-_:[]/@*# \n\u202e", max_size=16)))
def test_allowed_hosts_never_lets_an_odd_name_through(name: str) -> None:
    """Any text is refused, or is `*` (no check), or becomes a plain host[:port]: no scheme, path,
    space, control or `@`."""
    try:
        hosts = allowed_hosts([name])
    except ValueError as exc:
        assert "not a host name" in str(exc)
        return
    if name == "*":
        assert hosts is None  # no check: a proxy in front does it
        return
    assert hosts is not None and hosts[: len(LOOPBACK_HOSTS)] == list(LOOPBACK_HOSTS)
    for host in hosts:
        assert host.isascii() and host.isprintable() and not set(host) & set("/@ \\?#"), host


# -- Postgres --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_approve_over_http_on_postgres(pg_url: str) -> None:
    """The same endpoint over a real Postgres database: alice's token lists and approves."""
    app = _app(pg_url, mcp=True)
    with serve(app) as base, Approvals.open(build(approvers=PEOPLE), pg_url) as agent:
        request = agent.start("pg-http-1", action("send_email", to="e@example.com")).pending[0].request_id
        pg = Inbox(f"{base}/mcp", pg_url, agent)
        listed = ok(call(pg, "alice", "list_pending", {"thread_id": "pg-http-1"}))["items"]
        assert [i["request_id"] for i in listed] == [request]
        assert (
            ok(call(pg, "alice", "decide", {"request_id": request, "decision": "approve"}))["outcome"]
            == "done"
        )
        assert agent.get(request).decided_by == "alice"
