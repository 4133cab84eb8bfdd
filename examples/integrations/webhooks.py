"""Standard Webhooks and CloudEvents: webhooks any receiver's own libraries can check and read.

`WebhookNotifier(..., signing="standard", layout="cloudevents")` signs each delivery as Standard
Webhooks do (`webhook-id`, `webhook-timestamp`, `webhook-signature`, a `whsec_` secret) and
frames it as a CloudEvents 1.0 event (`io.github.langgraph-hitl.request.pending`, `.decided`,
`.executed`, `.timed_out`). The receiver below is a plain HTTP server on 127.0.0.1 that checks
each delivery with the `standardwebhooks` library and reads it with the `cloudevents` SDK.

    pip install "langgraph-hitl[standards]"
    python examples/integrations/webhooks.py

Offline: the receiver runs in this process, on loopback.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from langgraph.graph import END, START, StateGraph
from standardwebhooks import Webhook

from langgraph_hitl import Approvals, HITLState, Policy, add_approval_flow
from langgraph_hitl.notify import WebhookNotifier

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()  # shared with the receiver


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = dict(self.headers.items())
        Webhook(SECRET).verify(body, headers)  # raises on a forged, altered or stale delivery
        event = from_http(HTTPMessage(headers=headers, body=body), JSONFormat())
        data = event.get_data()
        print(f"{event.get_type():<42} request {event.get_subject()[:8]}  {data.get('outcome', '')}")
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def delete_record(args: dict, *, idempotency_key: str) -> dict:
    return {"deleted": args["id"]}


builder = StateGraph(HITLState)
builder.add_node("plan", lambda state: {})
builder.add_edge(START, "plan")
policy = Policy(actions={"delete_record": "irreversible_high"})
add_approval_flow(
    builder, source="plan", target=END, policy=policy, handlers={"delete_record": delete_record}
)

server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hooks/hitl"

with tempfile.TemporaryDirectory() as folder:
    with WebhookNotifier(url, secret=SECRET, signing="standard", layout="cloudevents") as notifier:
        with Approvals.open(builder, f"sqlite:///{Path(folder) / 'hitl.db'}", notifier=notifier) as hitl:
            run = hitl.start("ticket-42", {"action": {"name": "delete_record", "args": {"id": 4821}}})
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        notifier.flush(10)
    print(
        f"delivered {notifier.stats.delivered} of {notifier.stats.enqueued}, failed {notifier.stats.failed}"
    )
server.shutdown()
