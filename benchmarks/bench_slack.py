"""The Slack endpoint's acknowledgement: how long Slack waits for its 200, and for the message update.

Prints one JSON object to stdout:

    python benchmarks/bench_slack.py [--clicks N] [--handler-ms MS]

The web inbox runs under uvicorn on loopback with the real runner on a SQLite file; a stand-in
for Slack's Web API records `chat.update`. Each click is a signed `block_actions` Approve on its
own pending request, posted one after another by one client.

- `ack_ms_unsigned`: the baseline, an unsigned request refused with 401 (no database touched).
- `ack_ms_click`: a signed Approve click answered 200 (signature, replay guard insert, scheduling).
- `update_ms_click`: from posting the click to Slack receiving `chat.update` (the decision applied).
- `ack_ms_click_slow`, `update_ms_click_slow`: the same while each decision's handler takes
  `--handler-ms` (the acknowledgement must not grow with it).
Medians and 95th percentiles over the clicks; `ack_ratio_*` divide by the baseline's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from langgraph.graph import END, START, StateGraph
from slack_sdk.signature import SignatureVerifier

from langgraph_hitl import HITLState, Policy, add_approval_flow
from langgraph_hitl.notify.slack import slack_review_message
from langgraph_hitl.web import create_app
from langgraph_hitl.web.slack import SlackSettings

SECRET = "bench-signing-secret-0123456789"
updates: dict[str, float] = {}
lock = threading.Lock()


class StandIn(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("chat.update"):
            ts = json.loads(body)["ts"]
            with lock:
                updates[ts] = time.perf_counter()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, format: str, *args: object) -> None:
        pass


def graph(handler_s: float) -> StateGraph:
    def send_email(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        time.sleep(handler_s)
        return {"sent": True}

    builder = StateGraph(HITLState)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    policy = Policy(actions={"send_email": "irreversible_low"})
    add_approval_flow(builder, source="plan", target=END, policy=policy, handlers={"send_email": send_email})
    return builder


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
    }


def _wait(ts: str) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if ts in updates:
                return updates[ts]
        time.sleep(0.001)
    raise SystemExit(f"no chat.update for {ts}")


def run(clicks: int, handler_s: float, slack_url: str) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        settings = SlackSettings(
            signing_secret=SECRET,
            bot_token="xoxb-bench",
            users={"U0ALICE": "alice"},
            api_base=f"{slack_url}/api/",
            response_url_base=f"{slack_url}/hooks/",
        )
        app = create_app(
            db=f"sqlite:///{Path(folder) / 'hitl.db'}",
            graph=graph(handler_s),
            approvers={"a": "t" * 20},
            slack=settings,
        )
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        serving = threading.Thread(target=server.run, daemon=True)
        serving.start()
        while not server.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/slack/interactions"
        out: dict[str, list[float]] = {"unsigned": [], "ack": [], "update": []}
        with httpx.Client() as client:
            for i in range(clicks):
                started = time.perf_counter()
                client.post(url, content=b"payload=%7B%7D")
                out["unsigned"].append((time.perf_counter() - started) * 1000)
                request = app.state.approvals.start(
                    f"t{i}", {"action": {"name": "send_email", "args": {"n": i}}}
                )
                button = slack_review_message(request.pending[0].payload)["blocks"][-1]["elements"][0]
                payload = {
                    "type": "block_actions",
                    "user": {"id": "U0ALICE"},
                    "trigger_id": f"tr{i}",
                    "container": {"channel_id": "C0", "message_ts": f"{handler_s}-{i}"},
                    "actions": [button],
                }
                body = urlencode({"payload": json.dumps(payload)}).encode()
                stamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": str(
                        SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
                    ),
                }
                started = time.perf_counter()
                assert client.post(url, content=body, headers=headers).status_code == 200
                out["ack"].append((time.perf_counter() - started) * 1000)
                out["update"].append((_wait(f"{handler_s}-{i}") - started) * 1000)
        server.should_exit = True
        serving.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--handler-ms", type=float, default=500.0)
    options = parser.parse_args()
    stand_in = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=stand_in.serve_forever, args=(0.05,), daemon=True).start()
    slack_url = f"http://127.0.0.1:{stand_in.server_address[1]}"
    fast = run(options.clicks, 0.0, slack_url)
    slow = run(options.clicks, options.handler_ms / 1000, slack_url)
    base = statistics.median(fast["unsigned"] + slow["unsigned"])
    result = {
        "clicks": options.clicks,
        "handler_ms": options.handler_ms,
        "ack_ms_unsigned": _stats(fast["unsigned"] + slow["unsigned"]),
        "ack_ms_click": _stats(fast["ack"]),
        "update_ms_click": _stats(fast["update"]),
        "ack_ms_click_slow": _stats(slow["ack"]),
        "update_ms_click_slow": _stats(slow["update"]),
        "ack_ratio_click": round(statistics.median(fast["ack"]) / base, 2),
        "ack_ratio_click_slow": round(statistics.median(slow["ack"]) / base, 2),
        "python": sys.version.split()[0],
    }
    stand_in.shutdown()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
