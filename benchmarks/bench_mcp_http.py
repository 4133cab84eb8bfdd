"""The web inbox's MCP endpoint (streamable HTTP at /mcp): each call's round trip, beside the JSON API's.

Prints one JSON object to stdout:

    python benchmarks/bench_mcp_http.py [--decisions N]

One web inbox (`create_app(..., mcp=True)`) under uvicorn on a loopback port, on a SQLite file,
driven by the SDK's own streamable HTTP client with alice's bearer token. 2N threads are paused
before it starts: N are decided over MCP, N through `POST /api/requests/{id}/decision`.

- `connect_ms`: from nothing to `initialize` answered (a new MCP session, token checked).
- `ping_ms`: the baseline, the protocol's `ping` round trip (authenticated, no database touched).
- `list_pending_ms`, `show_request_ms`: reading tools, one page of 50 / one request with its history.
- `decide_ms`: `decide` over MCP (approve, the action runs, the thread finishes).
- `api_decide_ms`: the same decision through the JSON API, for comparison (one decide path).
Medians over N calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from langgraph_hitl import Approvals
from langgraph_hitl.web import create_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from graphs import action, build  # noqa: E402

TOKEN = "alice-token-7f3c0a9b2e"


async def measure(url: str, requests: list[str]) -> dict[str, Any]:
    async def timed(call: Any) -> float:
        t = time.perf_counter()
        result = await call
        assert not getattr(result, "is_error", False), result
        return (time.perf_counter() - t) * 1000

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        started = time.perf_counter()
        async with (
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            connect_ms = (time.perf_counter() - started) * 1000
            ping = [await timed(s.send_ping()) for _ in requests]
            listing = [await timed(s.call_tool("list_pending", {})) for _ in requests]
            shown = [await timed(s.call_tool("show_request", {"request_id": r})) for r in requests]
            decide = [
                await timed(s.call_tool("decide", {"request_id": r, "decision": "approve"})) for r in requests
            ]
    return {
        "connect_ms": round(connect_ms, 1),
        "ping_ms": round(statistics.median(ping), 2),
        "list_pending_ms": round(statistics.median(listing), 2),
        "show_request_ms": round(statistics.median(shown), 2),
        "decide_ms": round(statistics.median(decide), 2),
    }


def api_decisions(base: str, requests: list[str]) -> float:
    times = []
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for r in requests:
            t = time.perf_counter()
            resp = client.post(f"{base}/api/requests/{r}/decision", json={"type": "approve"})
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, resp.text
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20)
    n = max(2, parser.parse_args().decisions)
    db = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    app = create_app(db=db, graph=build(), approvers={"alice": TOKEN}, secret_key="b" * 32, mcp=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws="none", http="h11"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with Approvals.open(build(), db) as agent:
            started = [
                agent.start(f"bench-{i}", action("send_email", to=f"{i}@example.com")) for i in range(2 * n)
            ]
        requests = [run.pending[0].request_id for run in started]
        result = asyncio.run(measure(f"{base}/mcp", requests[:n]))
        result["api_decide_ms"] = api_decisions(base, requests[n:])
    finally:
        server.should_exit = True
        thread.join(30)
    print(json.dumps({"decisions": n, **result}))


if __name__ == "__main__":
    main()
