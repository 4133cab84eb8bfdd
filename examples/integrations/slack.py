"""Slack buttons: approve a paused run from its Slack message, as the Slack user mapped to an approver.

`create_app(slack=SlackSettings(...))` answers the Approve and Reject buttons of the review
messages (`slack_review_message`, what `WebhookNotifier(layout="slack")` posts) at
`POST /slack/interactions`. It checks Slack's signature and the 5-minute replay window, refuses
a request it saw before, maps the Slack user id to an approver, answers 200 at once, and then
decides through the same path as the inbox and the CLI before it updates the message with
`chat.update`. Reject, and an approval that needs a typed phrase, open a modal first.

Here a small HTTP server on 127.0.0.1 stands in for Slack's Web API, and the click is posted the
way Slack posts it, signed with the app's signing secret.

    pip install "langgraph-hitl[web,slack]"
    python examples/integrations/slack.py

Offline: the inbox (uvicorn) and the stand-in run in this process, on loopback.
"""

from __future__ import annotations

import json
import queue
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import httpx
import uvicorn
from langgraph.graph import END, START, StateGraph
from slack_sdk.signature import SignatureVerifier

from langgraph_hitl import HITLState, Policy, add_approval_flow
from langgraph_hitl.notify.slack import slack_review_message
from langgraph_hitl.web import create_app
from langgraph_hitl.web.slack import SlackSettings

SIGNING_SECRET = secrets.token_hex(16)  # the Slack app's; Slack signs every request with it
calls: queue.Queue[tuple[str, bytes]] = queue.Queue()


class FakeSlack(BaseHTTPRequestHandler):
    """Slack's Web API (views.open, chat.update) and the clicks' response_url: records each call."""

    def do_POST(self) -> None:
        calls.put((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, format: str, *args: object) -> None:
        pass


def send_email(args: dict, *, idempotency_key: str) -> dict:
    return {"sent_to": args["to"]}


builder = StateGraph(HITLState)
builder.add_node("plan", lambda state: {})
builder.add_edge(START, "plan")
add_approval_flow(
    builder,
    source="plan",
    target=END,
    policy=Policy(actions={"send_email": "irreversible_low"}),
    handlers={"send_email": send_email},
)

fake_slack = ThreadingHTTPServer(("127.0.0.1", 0), FakeSlack)
threading.Thread(target=fake_slack.serve_forever, daemon=True).start()
slack_url = f"http://127.0.0.1:{fake_slack.server_address[1]}"

with tempfile.TemporaryDirectory() as folder:
    settings = SlackSettings(
        signing_secret=SIGNING_SECRET,
        bot_token="xoxb-example",
        users={"U0ALICE": "alice"},  # Slack user id -> approver
        api_base=f"{slack_url}/api/",  # Slack's own addresses in production
        response_url_base=f"{slack_url}/hooks/",
    )
    app = create_app(
        db=f"sqlite:///{Path(folder) / 'hitl.db'}",
        graph=builder,
        approvers={"alice": secrets.token_hex(16)},  # the inbox's own sign-in
        slack=settings,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.05)
    inbox = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

    hitl = app.state.approvals  # the app's runner; an agent process would use its own
    run = hitl.start("ticket-7", {"action": {"name": "send_email", "args": {"to": "ops@example.com"}}})
    request = run.pending[0]
    approve = slack_review_message(request.payload)["blocks"][-1]["elements"][0]

    # Alice clicks Approve in Slack; Slack posts this to the app's interactivity URL.
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE"},
        "trigger_id": "trigger-1",
        "response_url": f"{slack_url}/hooks/click-1",
        "container": {"channel_id": "C0REVIEW", "message_ts": "1700000000.000100"},
        "actions": [approve],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body),
    }
    answer = httpx.post(f"{inbox}/slack/interactions", content=body, headers=headers)
    print(f"Slack's click answered {answer.status_code} at once")
    path, update = calls.get(timeout=30)  # the decision is applied after the answer
    print(f"{path}: {json.loads(update)['text']}")
    decided = hitl.get(request.request_id)
    print(f"request {request.request_id[:8]} {decided.status} by {decided.decided_by}")
    again = httpx.post(f"{inbox}/slack/interactions", content=body, headers=headers)
    print(f"the same click again: {again.status_code} {again.json()['detail']}")
    server.should_exit = True
    serving.join()
fake_slack.shutdown()
