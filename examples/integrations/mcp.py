"""Review from any MCP client: `langgraph-hitl mcp` serves the inbox over stdio.

A run pauses for a refund; then an MCP client (the SDK's own, as Claude Desktop, an IDE or an
agent would connect) starts `langgraph-hitl mcp --as alice`, lists what waits, reads the
request and approves it. alice is the server's identity, fixed when it starts: no tool
argument can decide as someone else.

    pip install "langgraph-hitl[cli,mcp]"
    python examples/integrations/mcp.py

Offline: the server is a child process on this machine's stdin and stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

# This file is named mcp.py: keep its folder off the import path, so `import mcp` finds the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from langgraph.graph import END, START, StateGraph  # noqa: E402
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

from langgraph_hitl import Approvals, HITLState, Policy, add_approval_flow  # noqa: E402


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


async def review(db: str) -> None:
    """Connect to `langgraph-hitl mcp --as alice`, list, show and approve."""
    command = ["-m", "langgraph_hitl.cli", "mcp", "--as", "alice"]
    server = StdioServerParameters(
        command=sys.executable, args=[*command, "--db", db, "--graph", f"{__file__}:build_graph"]
    )
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.call_tool("list_pending", {"mine": True})
        request = listed.structured_content["items"][0]  # type: ignore[index]
        print(f"pending: {request['action']['description']} (risk {request['risk']})")
        shown = await session.call_tool("show_request", {"request_id": request["request_id"][:8]})
        print("history:", [event["event"] for event in shown.structured_content["history"]])  # type: ignore[index]
        forged = {"request_id": request["request_id"], "decision": "approve", "approver": "mallory"}
        done = await session.call_tool("decide", forged)  # `approver` is not a parameter: alice decides
        result = done.structured_content or {}
        print(
            f"thread {result['thread_id']}: {result['status']}, the refund returned {result['values']['result']}"
        )
        trail = await session.read_resource(f"hitl://audit/{result['thread_id']}")
        events = json.loads(trail.contents[0].text)  # type: ignore[union-attr]
        print("audit:", ", ".join(f"{e['event']} by {e['actor']}" for e in events))


def main() -> None:
    """Pause one run, then review it over MCP."""
    db = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    with Approvals.open(build_graph(), db) as hitl:
        run = hitl.start("order-1042", {"action": {"name": "refund", "args": {"order": 1042, "amount": 30}}})
    print(f"run {run.thread_id}: {run.status}, waiting on {run.pending[0].request_id[:8]}")
    asyncio.run(review(db))


if __name__ == "__main__":
    main()
