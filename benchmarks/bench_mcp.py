"""The MCP server over stdio: start-up, and each tool call's round trip, as a client sees them.

Prints one JSON object to stdout:

    python benchmarks/bench_mcp.py [--decisions N]

One `langgraph-hitl mcp --as alice` process on a SQLite file, driven by the SDK's own client
(`stdio_client` + `ClientSession`) on loopback pipes. N threads are paused before it starts.

- `start_s`: from spawning the server to `initialize` answered (Python, the CLI, the SDK).
- `ping_ms`: the baseline, the protocol's `ping` round trip (no database touched).
- `list_pending_ms`, `show_request_ms`: reading tools, one page of 50 / one request with its history.
- `first_decide_s`: the first `decide`, which opens the runner and imports the graph.
- `decide_ms`: every later `decide` (approve, the action runs, the thread finishes).
Medians over N calls; `*_ratio` divide by `ping_ms`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client

from langgraph_hitl import Approvals

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from graphs import action, build  # noqa: E402


async def measure(db: str, requests: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    args = ["-m", "langgraph_hitl.cli", "mcp", "--as", "alice", "--db", db]
    server = StdioServerParameters(
        command=sys.executable, args=[*args, "--graph", f"{ROOT / 'tests' / 'graphs.py'}:builder"], env=env
    )
    started = time.perf_counter()
    async with (
        stdio_client(server, errlog=sys.stderr) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        start_s = time.perf_counter() - started

        async def timed(call: Any) -> float:
            t = time.perf_counter()
            result = await call
            assert not getattr(result, "is_error", False), result
            return (time.perf_counter() - t) * 1000

        ping = [await timed(session.send_ping()) for _ in requests]
        listing = [await timed(session.call_tool("list_pending", {})) for _ in requests]
        shown = [await timed(session.call_tool("show_request", {"request_id": r})) for r in requests]
        decide = [
            await timed(session.call_tool("decide", {"request_id": r, "decision": "approve"}))
            for r in requests
        ]
    ping_ms = statistics.median(ping)
    out = {
        "start_s": round(start_s, 2),
        "ping_ms": round(ping_ms, 2),
        "list_pending_ms": round(statistics.median(listing), 2),
        "show_request_ms": round(statistics.median(shown), 2),
        "first_decide_s": round(decide[0] / 1000, 2),
        "decide_ms": round(statistics.median(decide[1:]), 2),
    }
    for key in ("list_pending_ms", "show_request_ms", "decide_ms"):
        out[key.replace("_ms", "_ratio")] = round(out[key] / ping_ms, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20)
    ns = parser.parse_args()
    db = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    with Approvals.open(build(), db) as hitl:
        requests = [
            hitl.start(f"bench-{i}", action("send_email", to=f"{i}@example.com")).pending[0].request_id
            for i in range(max(2, ns.decisions))
        ]
    result = asyncio.run(measure(db, requests))
    print(json.dumps({"decisions": len(requests), **result}))


if __name__ == "__main__":
    main()
