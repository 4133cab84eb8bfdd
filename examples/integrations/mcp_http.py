"""Review over MCP on the web inbox: `create_app(..., mcp=True)` serves the MCP tools at /mcp.

A run pauses for a refund; the web inbox runs under uvicorn on a loopback port, and an MCP client
(the SDK's own streamable HTTP client, as an IDE or an agent would connect) sends alice's bearer
token, lists what waits and approves it. The decider is the token's approver: an `approver`
argument changes nothing, and a request without a token gets 401 before MCP reads it.

    pip install "langgraph-hitl[web,cli,mcp]"
    python examples/integrations/mcp_http.py

Offline: the server and the client talk over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# examples/integrations/mcp.py sits beside this file: keep the folder off the path, so `import mcp` finds the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from langgraph_hitl import Approvals, HITLState, Policy, add_approval_flow  # noqa: E402
from langgraph_hitl.store import open_store  # noqa: E402
from langgraph_hitl.web import create_app  # noqa: E402


def refund(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """The action a person approves: here it only says what it would do."""
    return {"refunded": args["amount"], "order": args["order"]}


def build_graph() -> StateGraph:
    """plan -> approval flow -> END; a refund cannot be undone, so a person decides."""
    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    policy = Policy({"refund": "irreversible_low"})
    add_approval_flow(builder, source="plan", target=END, policy=policy, handlers={"refund": refund})
    return builder


async def review(url: str, token: str) -> None:
    """Connect as the token's approver, list, approve (with a forged `approver`), and try without a token."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.call_tool("list_pending", {"mine": True})
        request = listed.structured_content["items"][0]  # type: ignore[index]
        print(f"pending: {request['action']['description']} (risk {request['risk']})")
        forged = {"request_id": request["request_id"], "decision": "approve", "approver": "mallory"}
        done = (await session.call_tool("decide", forged)).structured_content or {}
        print(f"thread {done['thread_id']}: {done['status']}, the refund returned {done['values']['result']}")
    async with httpx2.AsyncClient() as anonymous:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        print("without a token:", (await anonymous.post(url, json=hello)).status_code)


def main() -> None:
    """Pause one run, serve the inbox with MCP on, review it over HTTP, stop."""
    db = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    token = secrets.token_urlsafe(24)
    app = create_app(db=db, graph=build_graph(), approvers={"alice": token}, mcp=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with Approvals.open(build_graph(), db) as agent:
            run = agent.start(
                "order-1042", {"action": {"name": "refund", "args": {"order": 1042, "amount": 30}}}
            )
        print(f"run {run.thread_id}: {run.status}")
        asyncio.run(review(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", token))
    finally:
        server.should_exit = True
        thread.join(30)
    with open_store(db) as store:
        print("decided by:", store.inbox.get(run.pending[0].request_id).decided_by)  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
