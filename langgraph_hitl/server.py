"""LangGraph Server: list and decide the approvals of deployed graphs, and record reviews ended there.

The import path users and `examples/server/` rely on; the code lives in the runners' wing:

- `ServerInbox` (`approvals/langgraph_server.py`): the client of LangGraph Server, with the
  reading and deciding API of `Approvals`; its module docstring says what it guarantees with
  nothing but the server behind it, and what it cannot do without langgraph-hitl's tables.
- `record_ended_reviews` (`approvals/ended_reviews.py`): wraps the server's checkpointer so a
  review ended without a decision (Agent Inbox's "Mark as Resolved") is recorded as `cancelled`.

Needs the `server` extra: `pip install "langgraph-hitl[server]"` (langgraph_sdk is imported
only when a `ServerInbox` is built).

Example:
    ```python
    from langgraph_hitl.server import ServerInbox

    inbox = ServerInbox("http://127.0.0.1:2024", graph_id="approvals")
    page = inbox.pending(approver="alice")          # the runner's Page of PendingRequest
    request = page.items[0]
    run = inbox.decide(request.request_id, {"type": "approve"}, approver="alice")
    ```
"""

from __future__ import annotations

from .approvals.ended_reviews import record_ended_reviews
from .approvals.langgraph_server import ServerInbox

__all__ = ["ServerInbox", "record_ended_reviews"]
